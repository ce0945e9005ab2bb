//! Finds the TLS libraries traced processes actually run and hooks them.
//!
//! A process may carry its own copy of libssl (psycopg2-binary ships
//! `libssl-<hash>.so.3`), or link OpenSSL statically and export its symbols
//! (node), so nothing is assumed about paths: each traced process's
//! /proc/PID/maps names the files it executes from, and a file is hooked
//! when its dynamic symbol table exports `SSL_read` and `SSL_write` (and the
//! `_ex` variants when present). Each file (device and inode) is looked at
//! once and hooked once, for every process, through /proc/PID/root so a
//! container's copy is found in its own filesystem.
//!
//! Libraries load late (Python imports `ssl` when a module needs it), so the
//! owner rescans its targets' maps every few seconds and at exec.
use std::{
    collections::{HashMap, HashSet},
    fs,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use object::{Object, ObjectSection, ObjectSymbol, read::ReadCache};

use super::{
    HookError,
    go_runtime::{self, GoSpawnHook},
    go_tls::{self, GoProbe, GoTlsBinary},
};

/// Files remembered (hooked, or looked at and left alone). Past it, new
/// files are not looked at: counted, logged once.
pub const MAX_FILES: usize = 4096;
/// TLS libraries hooked at most (8 uprobe links each).
pub const MAX_LIBRARIES: usize = 64;
/// Processes whose maps one scan reads, at most.
pub const MAX_SCAN_PIDS: usize = 1024;
/// Where the host's own libssl lives (Debian/Ubuntu multiarch, then the
/// rest), hooked at start.
pub const SYSTEM_LIB_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu",
    "/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
];
/// Processes whose maps one periodic rescan reads: a large fleet of
/// targets is covered over several rounds instead of all at once.
pub const RESCAN_PIDS: usize = 64;

/// One executable file mapping of /proc/PID/maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// (major, minor) of the device, and the inode: the file's identity.
    pub dev: (u32, u32),
    pub inode: u64,
    /// As the process sees it (inside its own mount namespace).
    pub path: String,
}

/// The executable, file-backed mappings of a maps file, one per file.
pub fn parse_maps(text: &str) -> Vec<Mapping> {
    let mut out: Vec<Mapping> = Vec::new();
    for line in text.lines() {
        // address perms offset dev inode path (the path may hold spaces).
        let mut f = line.splitn(6, ' ');
        let (Some(_), Some(perms), Some(_), Some(dev), Some(inode)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let path = f.next().unwrap_or("").trim_start();
        if !perms.contains('x') || !path.starts_with('/') || path.ends_with(" (deleted)") {
            continue;
        }
        let Some((maj, min)) = dev.split_once(':') else {
            continue;
        };
        let (Ok(maj), Ok(min), Ok(inode)) = (
            u32::from_str_radix(maj, 16),
            u32::from_str_radix(min, 16),
            inode.parse::<u64>(),
        ) else {
            continue;
        };
        if inode == 0 {
            continue;
        }
        let m = Mapping {
            dev: (maj, min),
            inode,
            path: path.to_string(),
        };
        if !out.iter().any(|o| o.dev == m.dev && o.inode == m.inode) {
            out.push(m);
        }
    }
    out
}

/// File offsets of the hooked functions in one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SslSymbols {
    pub read: u64,
    pub write: u64,
    pub read_ex: Option<u64>,
    pub write_ex: Option<u64>,
}

/// Whether a file name looks like OpenSSL's libssl (any build, any copy).
pub fn is_libssl_name(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with("libssl") && name.contains(".so") && !name.starts_with("libssl3.so")
}

/// The hooked functions exported by the ELF file at `path`, or `None` when
/// it does not export both SSL_read and SSL_write. Reads only the headers
/// and the dynamic symbol table, not the whole file (node is 100 MB).
pub fn ssl_symbols(path: &Path) -> Result<Option<SslSymbols>, HookError> {
    let cache = ReadCache::new(fs::File::open(path)?);
    let obj = object::File::parse(&cache)?;
    let mut found: [Option<u64>; 4] = [None; 4];
    for sym in obj.dynamic_symbols() {
        if !sym.is_definition() {
            continue;
        }
        let i = match sym.name() {
            Ok("SSL_read") => 0,
            Ok("SSL_write") => 1,
            Ok("SSL_read_ex") => 2,
            Ok("SSL_write_ex") => 3,
            _ => continue,
        };
        let Some(idx) = sym.section_index() else {
            continue;
        };
        let Ok(sec) = obj.section_by_index(idx) else {
            continue;
        };
        let Some((sec_off, _)) = sec.file_range() else {
            continue;
        };
        // The kernel wants a file offset, not a virtual address.
        found[i] = sym
            .address()
            .checked_sub(sec.address())
            .and_then(|d| d.checked_add(sec_off));
    }
    Ok(match (found[0], found[1]) {
        (Some(read), Some(write)) => Some(SslSymbols {
            read,
            write,
            read_ex: found[2],
            write_ex: found[3],
        }),
        _ => None,
    })
}

/// What became of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Hooked,
    /// Not a TLS library, or one swit cannot hook (said once in the log).
    Skipped,
}

/// What hooking needs from the probe (the real one, or a fake in tests).
pub trait TlsAttach {
    /// Attaches the TLS programs to `target` at `syms`.
    fn attach_tls(&mut self, target: &Path, syms: &SslSymbols) -> Result<(), HookError>;
    /// Attaches the Go crypto/tls programs to the Go executable `target`.
    fn attach_go_tls(&mut self, target: &Path, bin: &GoTlsBinary) -> Result<(), HookError>;
    /// Attaches the goroutine-start programs to the Go executable `target`.
    fn attach_go_spawn(&mut self, target: &Path, hook: &GoSpawnHook) -> Result<(), HookError>;
    /// Process `pid` runs a Go executable whose goroutine starts are
    /// hooked: its syscalls carry their goroutine from now on, not only
    /// from its next goroutine start (a connection older than the agent
    /// may bring a request before any goroutine starts).
    fn mark_go(&mut self, _pid: u32) {}
}

/// Remembers which files were looked at and hooked.
#[derive(Debug, Default)]
pub struct TlsHooks {
    seen: HashMap<((u32, u32), u64), Seen>,
    /// Go executables whose goroutine starts are hooked.
    go_files: HashSet<((u32, u32), u64)>,
    hooked: usize,
    full_logged: bool,
    /// The last PID a periodic rescan read; the next one starts after it.
    cursor: u32,
}

impl TlsHooks {
    pub fn new() -> Self {
        Self::default()
    }

    /// TLS libraries (or binaries) hooked so far.
    pub fn hooked(&self) -> usize {
        self.hooked
    }

    /// Hooks the host's own libssl before any process is seen mapping it:
    /// a traced shell that execs curl gets its first SSL_write in before
    /// the agent hears of the exec, so waiting for the maps would miss it.
    pub fn hook_system(&mut self, probe: &mut dyn TlsAttach) {
        for dir in SYSTEM_LIB_DIRS {
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            // Symlinks (libssl.so -> libssl.so.3) name the real file.
            let mut names: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| is_libssl_name(&p.to_string_lossy()))
                .filter_map(|p| fs::canonicalize(p).ok())
                .collect();
            names.sort();
            names.dedup();
            for path in names {
                let Ok(meta) = fs::metadata(&path) else {
                    continue;
                };
                let m = Mapping {
                    dev: (libc::major(meta.dev()), libc::minor(meta.dev())),
                    inode: meta.ino(),
                    path: path.to_string_lossy().into_owned(),
                };
                self.consider(0, Path::new("/"), &m, probe);
            }
        }
    }

    /// The periodic rescan: the next [`RESCAN_PIDS`] of `pids` (sorted)
    /// after the last one read, wrapping around.
    pub fn rescan(&mut self, pids: &[u32], probe: &mut dyn TlsAttach) {
        let batch = next_batch(pids, self.cursor, RESCAN_PIDS);
        if let Some(&last) = batch.last() {
            self.cursor = last;
        }
        self.scan(batch, probe);
    }

    /// Looks at what each process maps; hooks new TLS libraries.
    pub fn scan(&mut self, pids: impl IntoIterator<Item = u32>, probe: &mut dyn TlsAttach) {
        for pid in pids.into_iter().take(MAX_SCAN_PIDS) {
            let Ok(text) = fs::read_to_string(format!("/proc/{pid}/maps")) else {
                continue;
            };
            let root = PathBuf::from(format!("/proc/{pid}/root"));
            for m in parse_maps(&text) {
                self.consider(pid, &root, &m, probe);
                if self.go_files.contains(&(m.dev, m.inode)) {
                    probe.mark_go(pid);
                }
            }
        }
    }

    /// `pid` 0: a file of the host, not seen in a process yet.
    fn consider(&mut self, pid: u32, root: &Path, m: &Mapping, probe: &mut dyn TlsAttach) {
        let key = (m.dev, m.inode);
        let who = if pid == 0 {
            "the host's".to_string()
        } else {
            format!("PID {pid}")
        };
        if self.seen.contains_key(&key) {
            return;
        }
        if self.seen.len() >= MAX_FILES {
            if !self.full_logged {
                self.full_logged = true;
                log::warn!(
                    "TLS: {MAX_FILES} files looked at already; libraries mapped from now on are not hooked"
                );
            }
            return;
        }
        let target = root.join(m.path.trim_start_matches('/'));
        let named = is_libssl_name(&m.path);
        let outcome = match ssl_symbols(&target) {
            Ok(Some(syms)) if self.hooked >= MAX_LIBRARIES => {
                log::warn!(
                    "TLS: {} ({who}) not hooked: {MAX_LIBRARIES} TLS libraries hooked already",
                    m.path
                );
                let _ = syms;
                Seen::Skipped
            }
            Ok(Some(syms)) => match probe.attach_tls(&target, &syms) {
                Ok(()) => {
                    self.hooked += 1;
                    log::info!(
                        "TLS: hooked {} ({who}){}",
                        m.path,
                        if syms.read_ex.is_some() {
                            ""
                        } else {
                            " (no SSL_read_ex/SSL_write_ex)"
                        }
                    );
                    Seen::Hooked
                }
                Err(e) => {
                    log::warn!(
                        "TLS: cannot hook {} ({who}): {e}; its connections are traced as plaintext only",
                        m.path
                    );
                    Seen::Skipped
                }
            },
            // Not an OpenSSL: maybe a Go executable with crypto/tls.
            Ok(None) if !named => self.consider_go(&target, m, &who, probe),
            Ok(None) => {
                if named {
                    log::info!(
                        "TLS: {} ({who}) exports no SSL_read/SSL_write; its connections are traced as plaintext only",
                        m.path
                    );
                }
                Seen::Skipped
            }
            Err(e) => {
                if named {
                    log::info!(
                        "TLS: cannot read {} ({who}): {e}; its connections are traced as plaintext only",
                        m.path
                    );
                }
                Seen::Skipped
            }
        };
        self.seen.insert(key, outcome);
    }
}

impl TlsHooks {
    /// A file that exports no SSL_* symbols: hooked if it is a Go
    /// executable with crypto/tls (see `go_tls`); a Go binary that uses
    /// crypto/tls but cannot be hooked is said once.
    fn consider_go(
        &mut self,
        target: &Path,
        m: &Mapping,
        who: &str,
        probe: &mut dyn TlsAttach,
    ) -> Seen {
        let plain = "its TLS connections are traced as plaintext only (ciphertext set aside)";
        match go_runtime::go_spawn_hook(target) {
            Ok(None) => return Seen::Skipped,
            Ok(Some(hook)) => match probe.attach_go_spawn(target, &hook) {
                Ok(()) => {
                    self.go_files.insert((m.dev, m.inode));
                    log::info!(
                        "Go: following goroutine starts in {} ({who}; {} return sites)",
                        m.path,
                        hook.func.rets.len()
                    )
                }
                Err(e) => log::warn!(
                    "Go: cannot hook goroutine starts in {} ({who}): {e}; its requests are linked by thread only",
                    m.path
                ),
            },
            Err(e) => log::info!(
                "Go: goroutine starts in {} ({who}) not followed: {e}; its requests are linked by thread only",
                m.path
            ),
        }
        match go_tls::go_tls_binary(target) {
            Ok(GoProbe::NotGo) | Ok(GoProbe::NoTls) | Err(_) => Seen::Skipped,
            Ok(GoProbe::Unhookable(why)) => {
                log::info!(
                    "TLS: Go binary {} ({who}) not hooked: {why}; {plain}",
                    m.path
                );
                Seen::Skipped
            }
            Ok(GoProbe::Ready(_)) if self.hooked >= MAX_LIBRARIES => {
                log::warn!(
                    "TLS: Go binary {} ({who}) not hooked: {MAX_LIBRARIES} TLS libraries hooked already",
                    m.path
                );
                Seen::Skipped
            }
            Ok(GoProbe::Ready(bin)) => match probe.attach_go_tls(target, &bin) {
                Ok(()) => {
                    self.hooked += 1;
                    log::info!(
                        "TLS: hooked Go crypto/tls in {} ({who}; {} + {} return sites)",
                        m.path,
                        bin.write.rets.len(),
                        bin.read.rets.len()
                    );
                    Seen::Hooked
                }
                Err(e) => {
                    log::warn!(
                        "TLS: cannot hook Go binary {} ({who}): {e}; {plain}",
                        m.path
                    );
                    Seen::Skipped
                }
            },
        }
    }
}

/// Up to `n` of the sorted `pids` after `cursor`, then from the start.
fn next_batch(pids: &[u32], cursor: u32, n: usize) -> Vec<u32> {
    let split = pids.partition_point(|&p| p <= cursor);
    pids[split..]
        .iter()
        .chain(&pids[..split])
        .take(n)
        .copied()
        .collect()
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
