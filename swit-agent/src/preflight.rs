//! Checks made before touching the kernel, so that a missing privilege or
//! kernel feature is one clear sentence, not a loader error.
use std::{fs, path::Path};

use crate::probe::offsets::VMLINUX_BTF;

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PreflightError {
    #[error(
        "swit-agent needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN) to load kernel programs: run it with sudo"
    )]
    Privileges,
    #[error(
        "this kernel has no BTF ({VMLINUX_BTF} is missing): swit needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distribution kernels since 5.4)"
    )]
    NoBtf,
}

/// The effective capability set of this process.
fn effective_caps() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

pub fn has_privileges() -> bool {
    let caps = effective_caps();
    let has = |c: u32| caps & (1u64 << c) != 0;
    has(CAP_SYS_ADMIN)
        && (has(CAP_BPF) || has(CAP_SYS_ADMIN))
        && (has(CAP_PERFMON) || has(CAP_SYS_ADMIN))
}

pub fn check() -> Result<(), PreflightError> {
    if !has_privileges() {
        return Err(PreflightError::Privileges);
    }
    if !Path::new(VMLINUX_BTF).exists() {
        return Err(PreflightError::NoBtf);
    }
    Ok(())
}
