//! Keeps the kernel's view of what to trace in step with the selectors
//! (PIDs, cgroups, executables, ports) as processes start, fork, exec and
//! exit.
//!
//! The kernel does the urgent part itself: a traced process's child is
//! added to `TARGETS` by the fork hook before it runs, and a cgroup v2
//! target is matched by cgroup id on every syscall, so neither waits for
//! the agent. The agent adds what needs /proc: executables matched at exec,
//! ports matched at listen(), processes in v1 cgroups, and cgroups created
//! below a target later (found by a rescan every second).
use std::{
    collections::{BTreeSet, HashSet},
    fs,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use swit_ebpf_common::filter;

use super::{TargetError, pid_exists, with_descendants};
use crate::capture::event::ProcChange;
use crate::config::{Targets, glob};

/// What the manager needs from the kernel side (the probe, or a fake).
pub trait TargetMap {
    fn add_target(&mut self, tgid: u32);
    fn remove_target(&mut self, tgid: u32);
    fn add_cgroup(&mut self, id: u64);
    fn remove_cgroup(&mut self, id: u64);
    fn set_filter(&mut self, flags: u32);
}

/// What the caller must do after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    Nothing,
    /// A new process is traced.
    Added(u32),
    /// The process runs a new program: its resource (service name) changed.
    Renamed(u32),
    /// The process is gone: drop everything kept for it.
    Gone(u32),
}

/// cgroup2's filesystem magic (statfs f_type).
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
/// cgroups below one target, at most (a rescan stops there).
const MAX_CGROUPS: usize = 4096;

pub struct TargetManager {
    sel: Targets,
    /// tgids this manager put in (or the kernel's fork hook added to) TARGETS.
    traced: BTreeSet<u32>,
    /// cgroup v2 ids in CGROUPS.
    cgroup_ids: HashSet<u64>,
    /// Targets that are v1 cgroup directories (no kernel id filter).
    v1_cgroups: Vec<PathBuf>,
    v2_cgroups: Vec<PathBuf>,
}

fn is_cgroup2(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: a valid path and an out struct.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0) && st.f_type as i64 == CGROUP2_SUPER_MAGIC
}

/// A cgroup directory and every cgroup below it.
fn cgroup_tree(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() && out.len() < MAX_CGROUPS {
        if let Ok(rd) = fs::read_dir(&out[i]) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    out.push(e.path());
                }
            }
        }
        i += 1;
    }
    out
}

/// The processes of a v1 cgroup and its children.
fn v1_procs(root: &Path) -> Vec<u32> {
    cgroup_tree(root)
        .iter()
        .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
        .flat_map(|s| {
            s.lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// Whether process `pid` runs an executable matching one of `globs`
/// (against the full path or the file name).
fn exe_matches(pid: u32, globs: &[String]) -> bool {
    let Ok(exe) = fs::read_link(format!("/proc/{pid}/exe")) else {
        return false;
    };
    let path = exe.to_string_lossy();
    let path = path.trim_end_matches(" (deleted)");
    let name = path.rsplit('/').next().unwrap_or(path);
    globs
        .iter()
        .any(|g| glob(g.as_bytes(), path.as_bytes()) || glob(g.as_bytes(), name.as_bytes()))
}

fn all_pids() -> Vec<u32> {
    fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Socket inodes listening on one of `ports` (from /proc/net/tcp and tcp6).
pub fn listening_inodes(ports: &[u16]) -> HashSet<u64> {
    let mut out = HashSet::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(f) else {
            continue;
        };
        out.extend(listening_inodes_in(&text, ports));
    }
    out
}

/// The parsing half of [`listening_inodes`], on the text of /proc/net/tcp.
pub fn listening_inodes_in(text: &str, ports: &[u16]) -> Vec<u64> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // local_address is ADDR:PORT in hex; st 0A is LISTEN.
            let port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
            (f.get(3)? == &"0A" && ports.contains(&port)).then(|| f.get(9)?.parse().ok())?
        })
        .collect()
}

/// Processes holding one of the socket inodes.
fn owners_of(inodes: &HashSet<u64>) -> Vec<u32> {
    if inodes.is_empty() {
        return Vec::new();
    }
    all_pids()
        .into_iter()
        .filter(|pid| {
            fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|d| {
                d.flatten().any(|e| {
                    fs::read_link(e.path()).is_ok_and(|l| {
                        let l = l.to_string_lossy();
                        l.strip_prefix("socket:[")
                            .and_then(|r| r.strip_suffix(']'))
                            .and_then(|n| n.parse().ok())
                            .is_some_and(|n: u64| inodes.contains(&n))
                    })
                })
            })
        })
        .collect()
}

impl TargetManager {
    pub fn new(sel: Targets) -> Self {
        TargetManager {
            sel,
            traced: BTreeSet::new(),
            cgroup_ids: HashSet::new(),
            v1_cgroups: Vec::new(),
            v2_cgroups: Vec::new(),
        }
    }

    /// Processes traced by tgid (not counting cgroup v2 members).
    pub fn traced(&self) -> &BTreeSet<u32> {
        &self.traced
    }

    pub fn cgroups(&self) -> usize {
        self.cgroup_ids.len()
    }

    /// Every process traced now: by PID, and the members of traced v2
    /// cgroups (which the kernel matches by cgroup id, without a PID).
    pub fn scan_pids(&self) -> Vec<u32> {
        let mut pids: BTreeSet<u32> = self.traced.clone();
        for root in &self.v2_cgroups {
            // cgroup.procs reads the same in v1 and v2.
            pids.extend(v1_procs(root));
        }
        pids.into_iter().collect()
    }

    /// Applies the selectors: fills the kernel maps and returns warnings
    /// for selectors that match nothing yet (the agent waits for them).
    /// The named PIDs and cgroups exist: checked before anything is loaded
    /// or mounted, so a mistyped target is one line and nothing else.
    pub fn check(&self) -> Result<(), TargetError> {
        if let Some(&p) = self.sel.pids.iter().find(|&&p| !pid_exists(p)) {
            return Err(TargetError::NoSuchPid(p));
        }
        if let Some(cg) = self
            .sel
            .cgroups
            .iter()
            .find(|cg| !cg.join("cgroup.procs").exists())
        {
            return Err(TargetError::NoSuchCgroup(cg.display().to_string()));
        }
        Ok(())
    }

    pub fn start(&mut self, map: &mut dyn TargetMap) -> Result<Vec<String>, TargetError> {
        let mut warnings = Vec::new();
        self.check()?;
        for cg in &self.sel.cgroups {
            if is_cgroup2(cg) {
                self.v2_cgroups.push(cg.clone());
            } else {
                self.v1_cgroups.push(cg.clone());
            }
        }
        let mut flags = 0;
        if !self.v2_cgroups.is_empty() {
            flags |= filter::CGROUPS;
        }
        // v1 cgroups have no kernel id filter: new processes are checked at
        // exec, like executables.
        if !self.sel.exes.is_empty() || !self.v1_cgroups.is_empty() {
            flags |= filter::EXEC;
        }
        if !self.sel.ports.is_empty() {
            flags |= filter::LISTEN;
        }
        map.set_filter(flags);
        self.rescan_cgroups(map);
        for p in with_descendants(&self.sel.pids) {
            self.add(p, map);
        }
        if !self.sel.exes.is_empty() {
            let matched: Vec<u32> = all_pids()
                .into_iter()
                .filter(|p| *p != std::process::id() && exe_matches(*p, &self.sel.exes))
                .collect();
            if matched.is_empty() {
                warnings.push(format!(
                    "no running process matches --exe {}; waiting for one to start",
                    self.sel.exes.join(" --exe ")
                ));
            }
            for p in with_descendants(&matched) {
                self.add(p, map);
            }
        }
        if !self.sel.ports.is_empty() {
            let owners = owners_of(&listening_inodes(&self.sel.ports));
            if owners.is_empty() {
                let ports: Vec<String> = self.sel.ports.iter().map(|p| p.to_string()).collect();
                warnings.push(format!(
                    "nobody listens on port {} yet; waiting for a process to listen",
                    ports.join(", ")
                ));
            }
            for p in owners {
                self.add(p, map);
            }
        }
        Ok(warnings)
    }

    fn add(&mut self, pid: u32, map: &mut dyn TargetMap) -> bool {
        if self.traced.insert(pid) {
            map.add_target(pid);
            return true;
        }
        false
    }

    /// Adds a process and the children it forked before it was added (the
    /// kernel's fork hook catches every later one): nginx forks its workers
    /// within milliseconds of exec, before the agent hears of the exec.
    fn add_tree(&mut self, pid: u32, map: &mut dyn TargetMap) {
        self.add(pid, map);
        for p in with_descendants(&[pid]) {
            self.add(p, map);
        }
    }

    /// Cgroups created below a target since the last look, and processes
    /// that joined a v1 target.
    pub fn rescan_cgroups(&mut self, map: &mut dyn TargetMap) -> Vec<u32> {
        for root in &self.v2_cgroups {
            for dir in cgroup_tree(root) {
                // A cgroup v2 id is its directory's inode number.
                if let Ok(m) = fs::metadata(&dir)
                    && self.cgroup_ids.len() < MAX_CGROUPS
                    && self.cgroup_ids.insert(m.ino())
                {
                    map.add_cgroup(m.ino());
                }
            }
        }
        let mut added = Vec::new();
        let v1: Vec<u32> = self.v1_cgroups.iter().flat_map(|d| v1_procs(d)).collect();
        for p in v1 {
            if self.add(p, map) {
                added.push(p);
            }
        }
        added
    }

    /// Forgets traced PIDs whose process is gone (an exit the kernel hook
    /// could not report, e.g. a lost record).
    pub fn reap(&mut self, map: &mut dyn TargetMap) -> Vec<u32> {
        let gone: Vec<u32> = self
            .traced
            .iter()
            .copied()
            .filter(|p| !pid_exists(*p))
            .collect();
        for p in &gone {
            self.traced.remove(p);
            map.remove_target(*p);
        }
        gone
    }

    /// Takes one lifecycle event.
    pub fn on_change(&mut self, change: ProcChange, map: &mut dyn TargetMap) -> Follow {
        match change {
            ProcChange::Fork { child } => {
                // The kernel added it already; remember it for reloads and reaping.
                self.traced.insert(child);
                Follow::Added(child)
            }
            ProcChange::Exec { pid } => {
                if self.traced.contains(&pid) {
                    return Follow::Renamed(pid);
                }
                let in_v1 = !self.v1_cgroups.is_empty()
                    && self.v1_cgroups.iter().any(|d| v1_procs(d).contains(&pid));
                if in_v1 || (!self.sel.exes.is_empty() && exe_matches(pid, &self.sel.exes)) {
                    self.add_tree(pid, map);
                    return Follow::Added(pid);
                }
                // A member of a traced v2 cgroup: traced by the kernel; its
                // name may have changed all the same.
                Follow::Renamed(pid)
            }
            ProcChange::Exit { pid } => {
                self.traced.remove(&pid);
                map.remove_target(pid);
                Follow::Gone(pid)
            }
            ProcChange::Listen { pid, port } => {
                if self.sel.ports.contains(&port) && !self.traced.contains(&pid) {
                    self.add_tree(pid, map);
                    return Follow::Added(pid);
                }
                Follow::Nothing
            }
        }
    }

    /// New selectors (SIGHUP): everything derived from the old ones is
    /// withdrawn, the new ones applied. Children found by fork follow their
    /// parents' fate: they are re-derived as descendants.
    pub fn reload(
        &mut self,
        sel: Targets,
        map: &mut dyn TargetMap,
    ) -> Result<Vec<String>, TargetError> {
        let mut next = TargetManager::new(sel);
        let mut staged = Staged::default();
        let warnings = next.start(&mut staged)?;
        for p in self.traced.difference(&next.traced) {
            map.remove_target(*p);
        }
        for p in next.traced.difference(&self.traced) {
            map.add_target(*p);
        }
        for id in self.cgroup_ids.difference(&next.cgroup_ids) {
            map.remove_cgroup(*id);
        }
        for id in next.cgroup_ids.difference(&self.cgroup_ids) {
            map.add_cgroup(*id);
        }
        map.set_filter(staged.flags);
        *self = next;
        Ok(warnings)
    }
}

/// Records what `start` would do, applied as a difference by `reload`.
#[derive(Default)]
struct Staged {
    flags: u32,
}

impl TargetMap for Staged {
    fn add_target(&mut self, _: u32) {}
    fn remove_target(&mut self, _: u32) {}
    fn add_cgroup(&mut self, _: u64) {}
    fn remove_cgroup(&mut self, _: u64) {}
    fn set_filter(&mut self, flags: u32) {
        self.flags = flags;
    }
}

#[cfg(test)]
#[path = "manager_tests.rs"]
mod tests;
