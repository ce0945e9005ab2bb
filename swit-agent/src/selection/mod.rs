//! Which processes to trace: PIDs (with the descendants they have when the
//! agent starts: nginx's workers are children of the master an operator
//! names), cgroups, executables and ports, kept up to date as processes
//! come and go (see `manager`).
pub mod manager;

use std::{collections::BTreeSet, fs};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("no process with PID {0}: check the PID (`ps -p {0}`)")]
    NoSuchPid(u32),
    #[error(
        "{0} is not a cgroup directory: give a path under /sys/fs/cgroup (e.g. /sys/fs/cgroup/system.slice/nginx.service)"
    )]
    NoSuchCgroup(String),
}

/// Whether `pid` names a live process (not a thread of one).
pub fn pid_exists(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Tgid:"))
                .map(|t| t.trim() == pid.to_string())
        })
        .unwrap_or(false)
}

/// The parent PID from the text of /proc/PID/stat (the command name may
/// hold spaces and parentheses, so parse from the last ')').
pub fn parse_stat_ppid(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The parent of every live process.
fn parents() -> Vec<(u32, u32)> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, parse_stat_ppid(&stat)?))
        })
        .collect()
}

/// `roots` and every live descendant of them.
pub fn with_descendants(roots: &[u32]) -> BTreeSet<u32> {
    let tree = parents();
    let mut set: BTreeSet<u32> = roots.iter().copied().collect();
    loop {
        let before = set.len();
        for (pid, ppid) in &tree {
            if set.contains(ppid) {
                set.insert(*pid);
            }
        }
        if set.len() == before {
            return set;
        }
    }
}

#[cfg(test)]
mod tests;
