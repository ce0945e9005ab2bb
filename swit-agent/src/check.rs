//! `swit-agent check`: what this host offers swit, one line per feature,
//! each saying what it means for tracing.
use std::{fmt, fs, path::Path};

use crate::{
    preflight,
    probe::features::{self, Avail, KernelFeatures},
    probe::private_mount::{self, Look},
    probe::{offsets, tracefs},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Present and usable.
    Yes,
    /// Absent, and swit does not need it.
    No,
    /// Absent, and swit cannot run without it.
    Missing,
    /// Could not be determined.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub feature: &'static str,
    pub status: Status,
    /// What was seen.
    pub detail: String,
    /// What it means for swit.
    pub meaning: &'static str,
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.status {
            Status::Yes => "ok  ",
            Status::No => "no  ",
            Status::Missing => "FAIL",
            Status::Unknown => "??  ",
        };
        write!(
            f,
            "{mark} {:<22} {:<34} {}",
            self.feature, self.detail, self.meaning
        )
    }
}

fn line(
    feature: &'static str,
    status: Status,
    detail: impl Into<String>,
    meaning: &'static str,
) -> Line {
    Line {
        feature,
        status,
        detail: detail.into(),
        meaning,
    }
}

fn kernel_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn cgroup2_mount() -> Option<String> {
    let mounts = fs::read_to_string("/proc/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(2) == Some(&"cgroup2")).then(|| f.get(1).map(|s| s.to_string()))?
    })
}

/// Every check, in the order printed.
pub fn run_checks() -> Vec<Line> {
    let mut out = Vec::new();
    let release = kernel_release();
    out.push(line(
        "kernel",
        Status::Yes,
        release.clone(),
        "swit needs 5.15+ with BTF (docs/supported-kernels.md)",
    ));

    let privileged = preflight::has_privileges();
    out.push(if privileged {
        line(
            "privileges",
            Status::Yes,
            "CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN",
            "can load programs",
        )
    } else {
        line(
            "privileges",
            Status::Missing,
            "not root",
            "run swit-agent as root (sudo)",
        )
    });

    out.push(match offsets::resolve(offsets::VMLINUX_BTF) {
        Ok(_) => line(
            "BTF",
            Status::Yes,
            offsets::VMLINUX_BTF,
            "kernel structures found (sockets, fd tables)",
        ),
        Err(e) if !Path::new(offsets::VMLINUX_BTF).exists() => {
            let _ = e;
            line(
                "BTF",
                Status::Missing,
                "no /sys/kernel/btf/vmlinux",
                "needs CONFIG_DEBUG_INFO_BTF=y",
            )
        }
        Err(_) => line(
            "BTF",
            Status::Missing,
            "a field swit reads is missing",
            "this kernel's layout is not supported",
        ),
    });

    out.extend(tracefs_lines());

    let features = privileged.then(features::probe);
    let unused = privileged.then(features::probe_unused);
    let probed = |f: fn(&KernelFeatures) -> &Avail| features.as_ref().map(f);

    out.push(match probed(|f| &f.ring_buffer) {
        Some(Avail::Yes) => line(
            "ring buffer",
            Status::Yes,
            "BPF_MAP_TYPE_RINGBUF created",
            "events reach the agent in order",
        ),
        Some(Avail::No(why)) => line(
            "ring buffer",
            Status::Missing,
            why.clone(),
            "swit needs the BPF ring buffer (5.8+)",
        ),
        None => not_probed("ring buffer"),
    });

    out.push(
        if Path::new("/sys/bus/event_source/devices/uprobe").exists() {
            line(
                "uprobes",
                Status::Yes,
                "uprobe PMU present",
                "TLS plaintext is captured (OpenSSL, Go crypto/tls)",
            )
        } else {
            line(
                "uprobes",
                Status::No,
                "no uprobe PMU (CONFIG_UPROBES off)",
                "TLS connections are seen as ciphertext only",
            )
        },
    );

    out.push(match cgroup2_mount() {
        Some(m) => line(
            "cgroup v2",
            Status::Yes,
            m,
            "--cgroup filters in the kernel by cgroup id",
        ),
        None => line(
            "cgroup v2",
            Status::No,
            "only cgroup v1",
            "--cgroup on v1 is matched by the agent",
        ),
    });

    out.push(match probed(|f| &f.task_regs) {
        Some(Avail::Yes) => line(
            "task registers",
            Status::Yes,
            "bpf_task_pt_regs from tracepoints",
            "Go: each syscall is tied to its goroutine",
        ),
        Some(Avail::No(why)) => line(
            "task registers",
            Status::No,
            why.clone(),
            "Go: syscalls tied to threads, not goroutines",
        ),
        None => not_probed("task registers"),
    });

    out.push(match probed(|f| &f.bpf_loop) {
        Some(Avail::Yes) => line(
            "bpf_loop",
            Status::Yes,
            "from tracepoints",
            "vectored I/O: up to 64 iovecs captured per call",
        ),
        Some(Avail::No(why)) => line(
            "bpf_loop",
            Status::No,
            why.clone(),
            "vectored I/O: the first 8 iovecs captured per call",
        ),
        None => not_probed("bpf_loop"),
    });

    out.push(match probed(|f| &f.attach_cookie) {
        Some(Avail::Yes) => line(
            "attach cookie",
            Status::Yes,
            "bpf_get_attach_cookie in uprobes",
            "Go crypto/tls: each hooked binary told apart",
        ),
        Some(Avail::No(why)) => line(
            "attach cookie",
            Status::Missing,
            why.clone(),
            "swit needs bpf_get_attach_cookie (5.15+)",
        ),
        None => not_probed("attach cookie"),
    });

    for (name, a) in [
        ("kprobes", unused.as_ref().map(|u| &u.kprobes)),
        ("fentry/fexit", unused.as_ref().map(|u| &u.fentry)),
    ] {
        out.push(match a {
            Some(Avail::Yes) => line(name, Status::Yes, "attachable", UNUSED),
            Some(Avail::No(why)) => line(name, Status::No, why.clone(), UNUSED),
            None => not_probed(name),
        });
    }

    out.push(match unused.as_ref().map(|u| &u.sk_msg) {
        Some(Avail::Yes) => line(
            "sk_msg on cgroups",
            Status::Yes,
            "sockops, sk_msg, msg_push_data",
            "not used yet: context injection needs it",
        ),
        Some(Avail::No(why)) => line(
            "sk_msg on cgroups",
            Status::No,
            why.clone(),
            "not used yet: context injection needs it",
        ),
        None => not_probed("sk_msg on cgroups"),
    });

    out.push(match features::lockdown() {
        Some(m) if m == "none" => line("lockdown", Status::Yes, "none", "no restriction"),
        Some(m) if m == "integrity" => line(
            "lockdown",
            Status::Yes,
            m,
            "user-memory writes refused; swit never writes user memory",
        ),
        Some(m) => line(
            "lockdown",
            Status::Missing,
            m,
            "kernel reads and tracefs refused: swit needs lockdown none or integrity",
        ),
        None => line(
            "lockdown",
            Status::Unknown,
            "securityfs not mounted",
            "swit needs lockdown none or integrity",
        ),
    });
    out
}

const UNUSED: &str = "not needed: swit uses syscall tracepoints";

/// A kernel feature found by loading programs, which needs the privileges.
fn not_probed(feature: &'static str) -> Line {
    line(
        feature,
        Status::Unknown,
        "not probed (needs root)",
        "found by loading a test program",
    )
}

/// Events the programs attach to, under the tracefs mount.
const EVENTS: [&str; 2] = [
    "events/syscalls/sys_enter_read",
    "events/sched/sched_process_fork",
];

/// tracefs, and the tracepoints in it. An unmounted tracefs is mounted
/// in a private mount namespace to look, as the agent would mount it.
fn tracefs_lines() -> Vec<Line> {
    let (fs_line, found) = if let Some(dir) = tracefs::mounted_at() {
        let found = EVENTS.map(|e| Path::new(dir).join(e).is_dir()).to_vec();
        (
            line(
                "tracefs",
                Status::Yes,
                format!("mounted at {dir}"),
                "tracepoints can be attached",
            ),
            Some(found),
        )
    } else if !tracefs::is_known() {
        return vec![line(
            "tracefs",
            Status::Missing,
            "not in /proc/filesystems",
            "needs CONFIG_TRACING (ftrace)",
        )];
    } else {
        match private_mount::look("tracefs", tracefs::TRACEFS, Look::Exists(&EVENTS)) {
            Some(bits) => (
                line(
                    "tracefs",
                    Status::Yes,
                    "not mounted (mountable)",
                    "the agent mounts it at start",
                ),
                Some((0..EVENTS.len()).map(|i| bits & (1 << i) != 0).collect()),
            ),
            None => (
                line(
                    "tracefs",
                    Status::Unknown,
                    "not mounted",
                    "the agent mounts it at start (needs root)",
                ),
                None,
            ),
        }
    };
    let mut out = vec![fs_line];
    let get = |i: usize| found.as_ref().map(|f| f[i]);
    let tp = |name, found: Option<bool>, yes: [&'static str; 2], no: [&'static str; 2]| match found
    {
        Some(true) => line(name, Status::Yes, yes[0], yes[1]),
        Some(false) => line(name, Status::Missing, no[0], no[1]),
        None => line(
            name,
            Status::Unknown,
            "tracefs not mounted",
            "checked by `run`",
        ),
    };
    out.push(tp(
        "syscall tracepoints",
        get(0),
        [
            "syscalls:sys_{enter,exit}_*",
            "socket traffic is captured (the portable base)",
        ],
        ["no syscalls/ events", "needs CONFIG_FTRACE_SYSCALLS"],
    ));
    out.push(tp(
        "sched tracepoints",
        get(1),
        ["fork, exec, exit", "new processes are followed"],
        ["no sched/ events", "processes cannot be followed"],
    ));
    out
}

/// Whether swit can run with these results.
pub fn can_run(lines: &[Line]) -> bool {
    lines.iter().all(|l| l.status != Status::Missing)
}

/// Prints the report; returns the exit code (0 can run, 2 cannot).
pub fn report(out: &mut impl std::io::Write) -> i32 {
    let lines = run_checks();
    for l in &lines {
        let _ = writeln!(out, "{l}");
    }
    if can_run(&lines) {
        let _ = writeln!(out, "swit can run on this host");
        0
    } else {
        let _ = writeln!(
            out,
            "swit cannot run on this host: fix the FAIL lines above"
        );
        2
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
