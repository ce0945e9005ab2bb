//! Syscall tracepoints attach through tracefs; a fresh host may not have it
//! mounted, so the agent mounts it where the kernel documents it.
use std::{ffi::CString, path::Path};

pub const TRACEFS: &str = "/sys/kernel/tracing";
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

#[derive(Debug, thiserror::Error)]
pub enum TracefsError {
    #[error(
        "tracefs is not mounted and mounting it at {TRACEFS} failed ({0}); mount it with `mount -t tracefs nodev {TRACEFS}`"
    )]
    Mount(std::io::Error),
}

/// Whether tracefs is usable already.
pub fn is_mounted() -> bool {
    Path::new(TRACEFS).join("events").is_dir() || Path::new(DEBUGFS_TRACING).join("events").is_dir()
}

/// Mounts tracefs at /sys/kernel/tracing when no tracefs is visible.
/// Returns true when this call mounted it.
pub fn ensure_mounted() -> Result<bool, TracefsError> {
    if is_mounted() {
        return Ok(false);
    }
    let c = |s: &str| CString::new(s).expect("no NUL");
    let (src, dst, fs) = (c("nodev"), c(TRACEFS), c("tracefs"));
    // SAFETY: valid NUL-terminated strings; no data argument.
    let rc = unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), fs.as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        return Err(TracefsError::Mount(std::io::Error::last_os_error()));
    }
    log::info!("mounted tracefs at {TRACEFS} (syscall tracepoints need it)");
    Ok(true)
}

/// Whether the kernel knows tracefs at all (CONFIG_TRACING).
pub fn is_known() -> bool {
    std::fs::read_to_string("/proc/filesystems").is_ok_and(|s| {
        s.lines()
            .any(|l| l.split_whitespace().last() == Some("tracefs"))
    })
}

/// Where a tracefs with events is visible, if anywhere.
pub fn mounted_at() -> Option<&'static str> {
    [TRACEFS, DEBUGFS_TRACING]
        .into_iter()
        .find(|d| Path::new(d).join("events").is_dir())
}
