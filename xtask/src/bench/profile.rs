//! Where the time goes: a system-wide `perf record` during an extra,
//! unmeasured run, then `perf report --stdio` self time of one process by
//! symbol and by object. Optional: without /usr/bin/perf the report says it was skipped.
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::term::Term;

const PERF: &str = "/usr/bin/perf";

pub fn available() -> bool {
    Command::new(PERF)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A system-wide `perf record` in progress.
pub struct Recording {
    proc: Term,
    file: PathBuf,
}

/// Samples every CPU (user and kernel, with call graphs) at 999 Hz for
/// `seconds`. System-wide rather than `-p PID`: per-task counters are
/// switched at every context switch, which shows up in the profile of a
/// process that switches 10 000s of times a second.
pub fn record(seconds: u64, file: &Path) -> Result<Recording> {
    let proc = Term::spawn(
        Command::new(PERF)
            .args(["record", "-a", "-F", "999", "-g", "-o"])
            .arg(file)
            .args(["--", "sleep", &seconds.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    Ok(Recording {
        proc,
        file: file.to_path_buf(),
    })
}

/// Kernel symbols on the path of a syscall tracepoint's eBPF program:
/// the programs, the helpers and maps they call, and the tracepoint glue.
const HOOK_PATH: &[&str] = &[
    "bpf",
    "htab_",
    "ringbuf",
    "copy_from_kernel_nofault",
    "perf_syscall",
    "syscall_trace",
    "trace_call",
    "perf_trace",
];

/// Kernel symbols of waking a task on another CPU: the wake-up's lock
/// release and the x2APIC write that sends the inter-processor interrupt.
const WAKEUP: &[&str] = &[
    "native_write_msr",
    "_raw_spin_unlock_irqrestore",
    "try_to_wake_up",
    "irq_work",
];

/// `(percent, name)` rows of `perf report --sort KEY` over the samples
/// `filter` selects (`--pid P` or `--comm C`), self time, as shares of
/// those samples.
fn rows(file: &Path, key: &str, filter: &[&str]) -> Result<Vec<(f64, String)>> {
    let out = Command::new(PERF)
        .args(["report", "--stdio", "--no-children", "-g", "none"])
        .args(["--percentage", "relative", "--sort", key])
        .args(filter)
        .arg("-i")
        .arg(file)
        .stderr(Stdio::null())
        .output()?;
    if !out.status.success() {
        bail!("perf report failed on {}", file.display());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (pct, name) = l.trim().split_once('%')?;
            Some((pct.parse().ok()?, name.trim().to_string()))
        })
        .collect())
}

impl Recording {
    /// Waits for perf to finish.
    pub fn done(mut self) -> Result<PathBuf> {
        if !self.proc.wait(Duration::from_secs(120)) {
            bail!("perf record did not finish");
        }
        Ok(self.file.clone())
    }
}

/// One process's share of a recording: the top `n` symbols, the kernel's
/// share (`[k]` symbols; perf's per-object split misplaces kernel samples
/// in system-wide recordings here), and the share on the hook path
/// ([`HOOK_PATH`]).
pub fn summary(file: &Path, what: &str, filter: &[&str], n: usize) -> Result<Value> {
    let syms = rows(file, "sym", filter)?;
    let share = |names: &[&str]| -> f64 {
        syms.iter()
            .filter(|(_, s)| names.iter().any(|h| s.contains(h)))
            .map(|(p, _)| p)
            .sum::<f64>()
            + 0.0 // an empty sum is -0.0
    };
    let kernel: f64 = syms
        .iter()
        .filter(|(_, s)| s.starts_with("[k]"))
        .map(|(p, _)| p)
        .sum();
    let row = |(p, s): &(f64, String)| json!({"percent": p, "name": s});
    Ok(json!({
        "process": what,
        "top_symbols": syms.iter().take(n).map(row).collect::<Vec<_>>(),
        "kernel_percent": kernel,
        "hook_path_percent": share(HOOK_PATH),
        "wakeup_percent": share(WAKEUP),
    }))
}

/// The markdown of one summary.
pub fn markdown(v: &Value) -> String {
    let list = |key: &str| {
        v[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        format!(
                            "{:.1} % `{}`",
                            r["percent"].as_f64().unwrap_or(0.0),
                            r["name"].as_str().unwrap_or("").replace('`', "'")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    format!(
        "- {}: kernel {:.1} %.\n  Top symbols (self time): {}.\n  On the hook path (eBPF programs, their helpers and maps, tracepoint glue): {:.1} %; waking other CPUs' tasks: {:.1} %.\n",
        v["process"].as_str().unwrap_or(""),
        v["kernel_percent"].as_f64().unwrap_or(0.0),
        list("top_symbols"),
        v["hook_path_percent"].as_f64().unwrap_or(0.0),
        v["wakeup_percent"].as_f64().unwrap_or(0.0)
    )
}
