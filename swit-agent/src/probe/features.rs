//! What the running kernel offers swit's programs, found by asking it:
//! tiny programs and maps are loaded (aya's feature probes, libbpf's
//! method), so the answer holds whatever the version string, the
//! distribution's configuration or the lockdown mode. `swit-agent check`
//! prints these, and the agent logs them at start with the path it takes.
use std::{fmt, fs, path::Path};

use super::private_mount::{self, Look};
use crate::config::KernelFeature;
use aya::{
    maps::MapType,
    programs::ProgramType,
    sys::{BpfHelper, is_helper_supported, is_map_supported, is_program_supported},
};

/// One feature's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Avail {
    Yes,
    /// Absent or refused, and why.
    No(String),
}

impl Avail {
    pub fn is_yes(&self) -> bool {
        matches!(self, Avail::Yes)
    }
}

impl fmt::Display for Avail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Avail::Yes => f.write_str("yes"),
            Avail::No(why) => f.write_str(why),
        }
    }
}

/// A probe's result: a clean no says the kernel lacks it; an error says
/// the kernel refused the probe (privileges, lockdown, a policy).
fn answer<E: std::error::Error>(r: Result<bool, E>, absent: &str) -> Avail {
    match r {
        Ok(true) => Avail::Yes,
        Ok(false) => Avail::No(absent.to_string()),
        Err(e) => Avail::No(format!("refused: {}", root_cause(&e))),
    }
}

/// The innermost error of a chain: aya wraps the errno that says why.
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut e = e;
    while let Some(inner) = e.source() {
        e = inner;
    }
    let s = e.to_string();
    // "Operation not permitted (os error 1)": the words say it.
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// What swit's programs may use on this kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFeatures {
    /// BPF_MAP_TYPE_RINGBUF (5.8): every record reaches the agent through it.
    pub ring_buffer: Avail,
    /// `bpf_get_current_task_btf` (5.11) and `bpf_task_pt_regs` (5.15)
    /// from tracepoints: a syscall's user registers, where Go keeps the
    /// running goroutine.
    pub task_regs: Avail,
    /// `bpf_loop` (5.17) from tracepoints: a vectored syscall's iovecs are
    /// walked by one verified step, up to 64 of them.
    pub bpf_loop: Avail,
    /// `bpf_get_attach_cookie` (5.15) in uprobes: the Go crypto/tls
    /// programs tell the hooked binaries (and their offsets) apart by it.
    pub attach_cookie: Avail,
}

/// What swit does not use but `check` reports: attach points a faster
/// path could use one day, and what context injection would need. The
/// agent does not probe these at start (the fentry probe parses the
/// kernel's BTF again: seconds on a slow machine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusedFeatures {
    /// kprobe attach points (CONFIG_KPROBES, and not under lockdown
    /// confidentiality).
    pub kprobes: Avail,
    /// fentry/fexit (BPF trampolines).
    pub fentry: Avail,
    /// sockops programs on cgroups, sk_msg programs on a sockhash, and
    /// `bpf_msg_push_data`: how context would be injected without writing
    /// user memory.
    pub sk_msg: Avail,
}

const KPROBE_PMU: &str = "/sys/bus/event_source/devices/kprobe";

/// Probes what swit's programs use. Needs the privileges that loading
/// programs needs; without them every answer says it was refused.
pub fn probe() -> KernelFeatures {
    let task_regs = [
        (
            BpfHelper::BPF_FUNC_get_current_task_btf,
            "bpf_get_current_task_btf (5.11+)",
        ),
        (BpfHelper::BPF_FUNC_task_pt_regs, "bpf_task_pt_regs (5.15+)"),
    ]
    .into_iter()
    .map(|(h, name)| {
        answer(
            is_helper_supported(ProgramType::TracePoint, h),
            &format!("no {name}"),
        )
    })
    .find(|a| !a.is_yes())
    .unwrap_or(Avail::Yes);

    KernelFeatures {
        bpf_loop: answer(
            is_helper_supported(ProgramType::TracePoint, BpfHelper::BPF_FUNC_loop),
            "no bpf_loop (5.17+)",
        ),
        ring_buffer: answer(
            is_map_supported(MapType::RingBuf),
            "no BPF ring buffer (5.8+)",
        ),
        attach_cookie: answer(
            is_helper_supported(ProgramType::KProbe, BpfHelper::BPF_FUNC_get_attach_cookie),
            "no bpf_get_attach_cookie in uprobes (5.15+)",
        ),
        task_regs,
    }
}

/// Probes what swit does not use, for `check`.
pub fn probe_unused() -> UnusedFeatures {
    let kprobes = if !Path::new(KPROBE_PMU).exists() {
        Avail::No("no kprobe PMU (CONFIG_KPROBES off)".into())
    } else if lockdown().as_deref() == Some("confidentiality") {
        Avail::No("refused under lockdown=confidentiality".into())
    } else {
        Avail::Yes
    };

    // Loads an fentry program on a kernel function and attaches it, so a
    // kernel that verifies trampolines but cannot install them says no.
    let fentry = answer(
        is_program_supported(ProgramType::Tracing),
        "no BPF trampolines",
    );

    let sk_msg = [
        answer(
            is_program_supported(ProgramType::SockOps),
            "no sockops programs",
        ),
        answer(
            is_program_supported(ProgramType::SkMsg),
            "no sk_msg programs",
        ),
        answer(is_map_supported(MapType::SockHash), "no sockhash maps"),
        answer(
            is_helper_supported(ProgramType::SkMsg, BpfHelper::BPF_FUNC_msg_push_data),
            "no bpf_msg_push_data",
        ),
    ]
    .into_iter()
    .find(|a| !a.is_yes())
    .unwrap_or(Avail::Yes);

    UnusedFeatures {
        kprobes,
        fentry,
        sk_msg,
    }
}

const SECURITYFS: &str = "/sys/kernel/security";

/// The kernel's lockdown mode: from securityfs (mounted privately to look
/// when it is not mounted), else the command line.
pub fn lockdown() -> Option<String> {
    if let Ok(s) = fs::read_to_string(format!("{SECURITYFS}/lockdown")) {
        return active_lockdown(s.as_bytes()).map(str::to_string);
    }
    let modes = ["none", "integrity", "confidentiality"];
    let code = private_mount::look(
        "securityfs",
        SECURITYFS,
        Look::Read("lockdown", |b| {
            let m = active_lockdown(b);
            ["none", "integrity", "confidentiality"]
                .iter()
                .position(|x| Some(*x) == m)
                .map_or(0, |i| i as u8 + 1)
        }),
    );
    if let Some(c @ 1..=3) = code {
        return Some(modes[c as usize - 1].to_string());
    }
    let cmdline = fs::read_to_string("/proc/cmdline").ok()?;
    cmdline
        .split_whitespace()
        .find_map(|a| a.strip_prefix("lockdown="))
        .map(str::to_string)
}

/// "none [integrity] confidentiality": the bracketed mode is active.
fn active_lockdown(text: &[u8]) -> Option<&str> {
    std::str::from_utf8(text)
        .ok()?
        .split_whitespace()
        .find(|w| w.starts_with('['))
        .map(|w| w.trim_matches(['[', ']']))
}

/// Why a feature the kernel has is not used.
const TURNED_OFF: &str = "turned off by agent.capture.disable_kernel_features";

impl KernelFeatures {
    /// Why the programs cannot load here: a feature with no portable path
    /// is missing.
    pub fn missing_required(&self) -> Option<&str> {
        [&self.ring_buffer, &self.attach_cookie]
            .into_iter()
            .find_map(|a| match a {
                Avail::Yes => None,
                Avail::No(why) => Some(why.as_str()),
            })
    }

    /// The portable path for `off`, where the kernel had the feature.
    pub fn turn_off(&mut self, off: &[KernelFeature]) {
        for f in off {
            let slot = match f {
                KernelFeature::BpfLoop => &mut self.bpf_loop,
            };
            if slot.is_yes() {
                *slot = Avail::No(format!("{} {TURNED_OFF}", f.name()));
            }
        }
    }

    /// What the agent does on this kernel, for its start-up log: the hooks
    /// it uses, and each optional feature with what its absence costs.
    pub fn summary(&self) -> String {
        let mut parts = vec!["syscall tracepoints and uprobes (the portable path)".to_string()];
        parts.push(match &self.task_regs {
            Avail::Yes => "Go goroutines read at syscalls (bpf_task_pt_regs)".into(),
            Avail::No(why) => format!("Go goroutines not read at syscalls: {why}"),
        });
        parts.push(match &self.bpf_loop {
            Avail::Yes => "iovecs walked by bpf_loop (64 per syscall)".into(),
            Avail::No(why) => format!("iovecs unrolled (8 per syscall): {why}"),
        });
        parts.push("kprobes and fentry not needed".into());
        parts.join("; ")
    }
}

#[cfg(test)]
#[path = "features_tests.rs"]
mod tests;
