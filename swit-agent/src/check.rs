//! `swit-agent check`: what this host offers swit, one line per feature,
//! each saying what it means for tracing.
use std::{fmt, fs, path::Path};

use crate::{preflight, probe::offsets, probe::tracefs};

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

/// (major, minor) of a release string like `6.18.44-foo`.
pub fn parse_release(r: &str) -> Option<(u32, u32)> {
    let mut it = r.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// The kernel's lockdown mode: securityfs when mounted, else the command line.
pub fn lockdown() -> Option<String> {
    if let Ok(s) = fs::read_to_string("/sys/kernel/security/lockdown") {
        // "none [integrity] confidentiality": the bracketed one is active.
        return s
            .split_whitespace()
            .find(|w| w.starts_with('['))
            .map(|w| w.trim_matches(['[', ']']).to_string());
    }
    let cmdline = fs::read_to_string("/proc/cmdline").ok()?;
    cmdline
        .split_whitespace()
        .find_map(|a| a.strip_prefix("lockdown="))
        .map(str::to_string)
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
    let version = parse_release(&release);
    out.push(line(
        "kernel",
        Status::Yes,
        release.clone(),
        "swit needs 5.8+ (BPF ring buffer) with BTF",
    ));

    out.push(if preflight::has_privileges() {
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

    out.push(if tracefs::is_mounted() {
        line(
            "tracefs",
            Status::Yes,
            "mounted",
            "tracepoints can be attached",
        )
    } else if Path::new(tracefs::TRACEFS).is_dir() {
        line(
            "tracefs",
            Status::Yes,
            "not mounted (mountable)",
            "the agent mounts it at start",
        )
    } else {
        line(
            "tracefs",
            Status::Missing,
            "no /sys/kernel/tracing",
            "tracepoints cannot be attached",
        )
    });

    let events = [
        "/sys/kernel/tracing/events",
        "/sys/kernel/debug/tracing/events",
    ]
    .into_iter()
    .find(|d| Path::new(d).is_dir());
    out.push(match events {
        Some(d) if Path::new(d).join("syscalls/sys_enter_read").is_dir() => line(
            "syscall tracepoints",
            Status::Yes,
            "syscalls:sys_{enter,exit}_*",
            "socket traffic is captured (the portable base)",
        ),
        Some(_) => line(
            "syscall tracepoints",
            Status::Missing,
            "no syscalls/ events",
            "needs CONFIG_FTRACE_SYSCALLS",
        ),
        None => line(
            "syscall tracepoints",
            Status::Unknown,
            "tracefs not mounted",
            "mounted and checked by `run`",
        ),
    });
    out.push(match events {
        Some(d) if Path::new(d).join("sched/sched_process_fork").is_dir() => line(
            "sched tracepoints",
            Status::Yes,
            "fork, exec, exit",
            "new processes are followed",
        ),
        Some(_) => line(
            "sched tracepoints",
            Status::Missing,
            "no sched/ events",
            "processes cannot be followed",
        ),
        None => line(
            "sched tracepoints",
            Status::Unknown,
            "tracefs not mounted",
            "mounted and checked by `run`",
        ),
    });

    out.push(if version.is_some_and(|v| v >= (5, 8)) {
        line(
            "ring buffer",
            Status::Yes,
            "BPF_MAP_TYPE_RINGBUF (5.8+)",
            "events reach the agent in order",
        )
    } else {
        line(
            "ring buffer",
            Status::Missing,
            "kernel before 5.8",
            "swit needs the BPF ring buffer",
        )
    });

    out.push(
        if Path::new("/sys/bus/event_source/devices/uprobe").exists() {
            line(
                "uprobes",
                Status::Yes,
                "event source present",
                "OpenSSL TLS plaintext is captured (SSL_read/SSL_write)",
            )
        } else {
            line(
                "uprobes",
                Status::No,
                "no uprobe event source",
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

    let kprobes = Path::new("/sys/bus/event_source/devices/kprobe").exists()
        || Path::new("/sys/kernel/tracing/kprobe_events").exists();
    out.push(if kprobes {
        line(
            "kprobes",
            Status::Yes,
            "available",
            "not needed; a faster optional path later",
        )
    } else {
        line(
            "kprobes",
            Status::No,
            "CONFIG_KPROBES off",
            "not needed: swit uses tracepoints",
        )
    });

    out.push(fentry_line());

    out.push(match lockdown() {
        Some(m) if m == "none" => line("lockdown", Status::Yes, "none", "no restriction"),
        Some(m) => line(
            "lockdown",
            Status::Yes,
            m,
            "user-memory writes refused; swit never writes user memory",
        ),
        None => line(
            "lockdown",
            Status::Unknown,
            "securityfs not mounted",
            "swit works in every mode",
        ),
    });
    out
}

/// fentry needs BTF-based tracing programs, which lockdown or a missing
/// ftrace direct-call support refuse. swit does not use them; the line
/// says whether a future fast path could.
fn fentry_line() -> Line {
    let direct = fs::read_to_string("/sys/kernel/tracing/available_filter_functions").is_ok();
    match lockdown().as_deref() {
        Some("integrity") | Some("confidentiality") => line(
            "fentry/fexit",
            Status::No,
            "refused under lockdown",
            "not needed: swit uses tracepoints",
        ),
        _ if direct => line(
            "fentry/fexit",
            Status::Unknown,
            "not probed",
            "not needed: swit uses tracepoints",
        ),
        _ => line(
            "fentry/fexit",
            Status::No,
            "no function tracer",
            "not needed: swit uses tracepoints",
        ),
    }
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
mod tests {
    use super::*;

    #[test]
    fn releases_parse() {
        assert_eq!(parse_release("6.18.44-fc-v595"), Some((6, 18)));
        assert_eq!(parse_release("6.1.0-28-amd64"), Some((6, 1)));
        assert_eq!(parse_release("garbage"), None);
    }

    #[test]
    fn a_missing_requirement_means_cannot_run() {
        let ok = line("x", Status::Yes, "", "");
        let no = line("y", Status::No, "", "");
        let fail = line("z", Status::Missing, "", "");
        assert!(can_run(&[ok.clone(), no.clone()]));
        assert!(!can_run(&[ok, no, fail]));
    }
}
