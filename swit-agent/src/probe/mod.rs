//! Loads swit's kernel programs, attaches them, and owns their maps.
//!
//! Dropping a [`Probe`] detaches every program and frees every map: links
//! and maps are file descriptors held by aya, so nothing is pinned and
//! nothing outlives the agent.
pub mod features;
pub mod go_runtime;
pub mod go_tls;
pub mod offsets;
pub mod private_mount;
pub mod tls;
pub mod tracefs;

use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, MapData, PerCpuArray, RingBuf},
    programs::{
        Program, RawTracePoint, TracePoint, UProbe,
        uprobe::{UProbeAttachLocation, UProbeAttachPoint, UProbeScope},
    },
};
use std::path::Path;

use crate::config::KernelFeature;

use swit_ebpf_common::{
    CaptureConfig, GoTlsParams, KernelOffsets, MAX_CAPTURE, MAX_GO_BINARIES, counter, target,
};

/// `bpf_map_update_elem` flags: only when the key is absent / present.
const BPF_NOEXIST: u64 = 1;
const BPF_EXIST: u64 = 2;

/// The kernel programs, built by build.rs for bpfel.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/swit"));

#[derive(Debug, Clone, Copy)]
pub struct ProbeOptions<'a> {
    /// Payload bytes copied per chunk (0..=16384).
    pub capture_bytes: u32,
    /// Ring buffer size in bytes; a power of two multiple of the page size.
    pub ring_bytes: u32,
    /// Attach and filter but emit nothing (the benchmark's hook floor).
    pub hooks_only: bool,
    /// Programs return at once (the benchmark's floor).
    pub floor: bool,
    /// Take the portable path for these even where the kernel has them.
    pub disabled: &'a [KernelFeature],
}

impl Default for ProbeOptions<'_> {
    fn default() -> Self {
        ProbeOptions {
            capture_bytes: MAX_CAPTURE,
            ring_bytes: crate::config::DEFAULT_RING_BYTES,
            hooks_only: false,
            floor: false,
            disabled: &[],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(
        "this swit-agent was built without its kernel programs (AYA_BUILD_SKIP); rebuild it with `cargo xtask build`"
    )]
    NoObject,
    #[error(
        "this kernel cannot run swit's programs ({0}): swit needs Linux 5.15 or later (see docs/supported-kernels.md)"
    )]
    KernelTooOld(String),
    #[error(transparent)]
    Offsets(#[from] offsets::OffsetError),
    #[error(transparent)]
    Tracefs(#[from] tracefs::TracefsError),
    #[error("loading the kernel programs failed: {0}")]
    Load(#[source] aya::EbpfError),
    #[error("the kernel refused program {program}: {source}")]
    Program {
        program: String,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("map {name}: {source}")]
    Map {
        name: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
}

/// Why a TLS library or a Go executable cannot be read or hooked. The log
/// line names the file; this says why, and the file is then traced as
/// plaintext only.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The file cannot be opened (gone, or not readable by the agent).
    #[error("{0}")]
    Open(#[from] std::io::Error),
    /// The file is not an ELF object, or a section of it cannot be read.
    #[error("{0}")]
    Elf(#[from] object::Error),
    /// The binary's DWARF does not parse.
    #[error("{0}")]
    Dwarf(#[from] gimli::Error),
    /// A Go binary for another architecture: the registers the Go probes
    /// read are amd64's.
    #[error("not x86-64 (the register ABI read here is amd64's)")]
    NotX86_64,
    /// A hooked Go function's symbol names no section.
    #[error("a function without a section")]
    NoSection,
    /// A hooked function is empty, outside the text, or larger than
    /// decoding is allowed to read.
    #[error("unexpected function at {addr:#x} ({size} bytes)")]
    UnexpectedFunction { addr: u64, size: u64 },
    /// The text section holding a hooked function has no bytes in the file.
    #[error("text section without file bytes")]
    NoFileBytes,
    /// A hooked function's symbol reaches past its section.
    #[error("function outside its section")]
    OutsideSection,
    /// A byte of a hooked function does not decode: a probe could land
    /// inside an instruction.
    #[error("undecodable instruction at {0:#x}")]
    Undecodable(u64),
    /// A hooked function has more RET instructions than this code expects.
    #[error("more than {} RET instructions", go_tls::MAX_RETS)]
    TooManyRets,
    /// A hooked function has no RET to put the return probe on.
    #[error("no RET in the function at {0:#x}")]
    NoRet(u64),
    /// The DWARF lacks a struct member the fd walk needs (struct, member),
    /// or its offset is implausibly large.
    #[error("no DWARF offset for {0}.{1}")]
    NoMember(&'static str, &'static str),
    /// The fd walk's offsets do not add up within 32 bits.
    #[error("offset overflow")]
    OffsetOverflow,
    /// A Go binary without `runtime.newproc1` in `.symtab` (stripped).
    #[error("no runtime.newproc1 in .symtab (stripped?)")]
    NoNewproc1,
    /// The DWARF does not describe this function.
    #[error("no DWARF for {0}")]
    NoDwarfFor(&'static str),
    /// `runtime.newproc1` takes parameters (named here) swit does not know
    /// where to find the caller's goroutine in.
    #[error("runtime.newproc1({0}) is not a signature swit knows")]
    UnknownSignature(String),
    /// The kernel object lacks a program (an agent built from mismatched
    /// sources).
    #[error("no program {0} in the object")]
    NoProgram(&'static str),
    /// A program is not a uprobe.
    #[error("{program}: {source}")]
    NotUprobe {
        program: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },
    /// The kernel refused a uprobe at this file offset.
    #[error("{program} at {offset:#x}: {source}")]
    Attach {
        program: &'static str,
        offset: u64,
        #[source]
        source: aya::programs::ProgramError,
    },
    /// Every `GO_TLS_BINS` slot holds a hooked Go binary already.
    #[error("{MAX_GO_BINARIES} Go binaries hooked already")]
    GoBinariesFull,
    /// The kernel object lacks the `GO_TLS_BINS` map.
    #[error("no map GO_TLS_BINS in the object")]
    NoGoTlsBins,
    /// A Go binary's parameters cannot be written to `GO_TLS_BINS`.
    #[error("GO_TLS_BINS: {0}")]
    GoTlsBins(#[source] aya::maps::MapError),
}

/// The running kernel's offsets, read from its BTF once per agent: the
/// kernel cannot change under it, and parsing vmlinux's BTF is most of
/// what switching tracing back on (SIGUSR1, SIGHUP) would otherwise cost.
fn kernel_offsets() -> Result<KernelOffsets, offsets::OffsetError> {
    static RESOLVED: std::sync::OnceLock<KernelOffsets> = std::sync::OnceLock::new();
    if let Some(o) = RESOLVED.get() {
        return Ok(*o);
    }
    let o = offsets::resolve(offsets::VMLINUX_BTF)?;
    Ok(*RESOLVED.get_or_init(|| o))
}

pub struct Probe {
    // Holds the programs and their links; dropping it detaches them.
    ebpf: Ebpf,
    targets: HashMap<MapData, u32, u32>,
    go_procs: HashMap<MapData, u32, u32>,
    cgroups: HashMap<MapData, u64, u32>,
    filter: Array<MapData, u32>,
    counters: PerCpuArray<MapData, u64>,
    ring: Option<RingBuf<MapData>>,
    attached: usize,
    /// Go binaries hooked: the next free slot of `GO_TLS_BINS`.
    go_binaries: u32,
    /// What this kernel offered at load, and so which paths were taken.
    kernel: features::KernelFeatures,
}

impl Probe {
    /// Resolves kernel offsets, loads and attaches every program.
    pub fn load(opts: &ProbeOptions) -> Result<Probe, ProbeError> {
        if OBJECT.is_empty() {
            return Err(ProbeError::NoObject);
        }
        let t0 = std::time::Instant::now();
        let offsets = kernel_offsets()?;
        let t_btf = t0.elapsed();
        tracefs::ensure_mounted()?;
        let mut kernel = features::probe();
        kernel.turn_off(opts.disabled);
        if let Some(why) = kernel.missing_required() {
            return Err(ProbeError::KernelTooOld(why.to_string()));
        }
        let cfg = CaptureConfig {
            capture_bytes: opts.capture_bytes.min(MAX_CAPTURE),
            hooks_only: opts.hooks_only as u32,
            // An eighth of the ring: the reader's poll comes long before.
            wakeup_bytes: opts.ring_bytes / 8,
            // Without the helpers the programs skip the call: the verifier
            // prunes the branch, so they load on kernels before 5.15.
            task_regs: kernel.task_regs.is_yes() as u32,
            bpf_loop: kernel.bpf_loop.is_yes() as u32,
            floor: opts.floor as u32,
        };
        let mut ebpf = EbpfLoader::new()
            .override_global("OFFSETS", &offsets, true)
            .override_global("CONFIG", &cfg, true)
            .map_max_entries("EVENTS", opts.ring_bytes)
            // One gather buffer per CPU a program can run on.
            .map_max_entries("GATHER", possible_cpus())
            // INFLIGHT is task storage, which aya creates from BTF but has
            // no map type for; the agent never opens it.
            .allow_unsupported_maps()
            .load(OBJECT)
            .map_err(ProbeError::Load)?;
        // The loader parsed the kernel's BTF (about 16 MiB of small
        // allocations) and has freed it, but the C allocator keeps the pages:
        // given back now, before the ring is mapped, they are not counted
        // on top of it for the agent's whole life.
        crate::memory::give_back_freed();

        let t_load = t0.elapsed();
        let names: Vec<String> = ebpf.programs().map(|(n, _)| n.to_string()).collect();
        let mut attached = 0;
        for name in names {
            let t_prog = std::time::Instant::now();
            let err = |source| ProbeError::Program {
                program: name.clone(),
                source,
            };
            match ebpf.program_mut(&name).expect("listed program") {
                Program::TracePoint(tp) => {
                    let tp: &mut TracePoint = tp;
                    tp.load().map_err(err)?;
                    // Program names are the tracepoints' names.
                    let category = if name.starts_with("sched_") {
                        "sched"
                    } else {
                        "syscalls"
                    };
                    tp.attach(category, &name).map_err(err)?;
                }
                Program::RawTracePoint(rtp) => {
                    let rtp: &mut RawTracePoint = rtp;
                    rtp.load().map_err(err)?;
                    rtp.attach(&name).map_err(err)?;
                }
                // TLS uprobes: loaded (verified) now, attached per library
                // as traced processes map one (see `tls`).
                Program::UProbe(up) => {
                    let up: &mut UProbe = up;
                    up.load().map_err(err)?;
                    log_verified(&name, up.info().ok(), t_prog);
                    continue;
                }
                other => {
                    return Err(ProbeError::Program {
                        program: name.clone(),
                        source: aya::programs::ProgramError::UnexpectedProgramType,
                    })
                    .inspect_err(|_| {
                        log::error!("unexpected program type {:?}", other.prog_type())
                    });
                }
            }
            let info = ebpf.program(&name).and_then(|p| p.info().ok());
            log_verified(&name, info, t_prog);
            attached += 1;
        }

        log::debug!(
            "kernel offsets from BTF in {t_btf:?}; object loaded by {t_load:?}; {attached} programs verified and attached by {:?}",
            t0.elapsed()
        );
        let map = |ebpf: &mut Ebpf, name: &'static str| {
            ebpf.take_map(name).ok_or(ProbeError::Map {
                name,
                source: aya::maps::MapError::InvalidName { name: name.into() },
            })
        };
        let targets =
            HashMap::try_from(map(&mut ebpf, "TARGETS")?).map_err(|source| ProbeError::Map {
                name: "TARGETS",
                source,
            })?;
        let go_procs =
            HashMap::try_from(map(&mut ebpf, "GO_PROCS")?).map_err(|source| ProbeError::Map {
                name: "GO_PROCS",
                source,
            })?;
        let cgroups =
            HashMap::try_from(map(&mut ebpf, "CGROUPS")?).map_err(|source| ProbeError::Map {
                name: "CGROUPS",
                source,
            })?;
        let filter =
            Array::try_from(map(&mut ebpf, "FILTER")?).map_err(|source| ProbeError::Map {
                name: "FILTER",
                source,
            })?;
        let counters = PerCpuArray::try_from(map(&mut ebpf, "COUNTERS")?).map_err(|source| {
            ProbeError::Map {
                name: "COUNTERS",
                source,
            }
        })?;
        let ring =
            RingBuf::try_from(map(&mut ebpf, "EVENTS")?).map_err(|source| ProbeError::Map {
                name: "EVENTS",
                source,
            })?;
        Ok(Probe {
            ebpf,
            targets,
            go_procs,
            cgroups,
            filter,
            counters,
            ring: Some(ring),
            attached,
            go_binaries: 0,
            kernel,
        })
    }

    /// What the kernel offered and which paths the programs take.
    pub fn kernel(&self) -> &features::KernelFeatures {
        &self.kernel
    }

    /// Number of programs attached.
    pub fn attached(&self) -> usize {
        self.attached
    }

    /// Hooks one TLS library: the return probe first, so that an entry
    /// probe never fires without the return probe that clears its record
    /// (a stale record would make the thread's syscalls look like TLS).
    pub fn attach_tls(&mut self, target: &Path, syms: &tls::SslSymbols) -> Result<(), HookError> {
        let points = [
            ("ssl_read", Some(syms.read)),
            ("ssl_write", Some(syms.write)),
            ("ssl_read_ex", syms.read_ex),
            ("ssl_write_ex", syms.write_ex),
        ];
        let points = points
            .into_iter()
            .filter_map(|(name, offset)| Some((name, offset?)))
            .flat_map(|(name, offset)| [("ssl_return", offset), (name, offset)]);
        self.attach_at(target, points, None)
    }

    /// Hooks Go crypto/tls in one executable: its parameters into a free
    /// `GO_TLS_BINS` slot, named by every link's cookie; the RET probes
    /// before the entries, so an entry never records a call whose return
    /// nobody sees (the record would wait in the LRU map until evicted).
    pub fn attach_go_tls(
        &mut self,
        target: &Path,
        bin: &go_tls::GoTlsBinary,
    ) -> Result<(), HookError> {
        let slot = self.go_binaries;
        if slot >= MAX_GO_BINARIES {
            return Err(HookError::GoBinariesFull);
        }
        let bins = self.ebpf.map_mut("GO_TLS_BINS");
        let mut bins: Array<&mut MapData, GoTlsParams> =
            Array::try_from(bins.ok_or(HookError::NoGoTlsBins)?).map_err(HookError::GoTlsBins)?;
        bins.set(slot, bin.params, 0)
            .map_err(HookError::GoTlsBins)?;
        self.go_binaries += 1;
        let rets = bin.write.rets.iter().chain(&bin.read.rets);
        let points = rets.map(|&o| ("go_tls_ret", o)).chain([
            ("go_tls_write", bin.write.entry),
            ("go_tls_read", bin.read.entry),
        ]);
        self.attach_at(target, points, Some(slot as u64))
    }

    /// Hooks `runtime.newproc1` of the Go executable `target`: its entry
    /// (the program that reads the caller's `g` where this Go puts it) and
    /// every RET.
    pub fn attach_go_spawn(
        &mut self,
        target: &Path,
        hook: &go_runtime::GoSpawnHook,
    ) -> Result<(), HookError> {
        let points = hook
            .func
            .rets
            .iter()
            .map(|&o| ("go_newproc1_ret", o))
            .chain([(hook.caller_g.program(), hook.func.entry)]);
        let http = hook
            .http_client
            .iter()
            .flat_map(|&(round_trip, write_loop)| {
                [
                    ("go_http_round_trip", round_trip),
                    ("go_http_write_loop", write_loop),
                ]
            });
        self.attach_at(target, points.chain(http), None)
    }

    /// Attaches each (program, file offset) of `points` in `target`.
    fn attach_at(
        &mut self,
        target: &Path,
        points: impl Iterator<Item = (&'static str, u64)>,
        cookie: Option<u64>,
    ) -> Result<(), HookError> {
        for (program, offset) in points {
            let up: &mut UProbe = self
                .ebpf
                .program_mut(program)
                .ok_or(HookError::NoProgram(program))?
                .try_into()
                .map_err(|source| HookError::NotUprobe { program, source })?;
            let point = UProbeAttachPoint {
                location: UProbeAttachLocation::AbsoluteOffset(offset),
                cookie,
            };
            up.attach(point, target, UProbeScope::AllProcesses)
                .map_err(|source| HookError::Attach {
                    program,
                    offset,
                    source,
                })?;
        }
        Ok(())
    }

    /// Starts tracing process `tgid`. An entry already there (the kernel's
    /// fork hook adds a child before the agent hears of it) is kept with the
    /// bits the kernel set in it.
    pub fn add_target(&mut self, tgid: u32) -> Result<(), ProbeError> {
        match self.targets.insert(tgid, target::TRACED, BPF_NOEXIST) {
            Err(aya::maps::MapError::SyscallError(e))
                if e.io_error.raw_os_error() == Some(libc::EEXIST) =>
            {
                Ok(())
            }
            r => r.map_err(|source| ProbeError::Map {
                name: "TARGETS",
                source,
            }),
        }
    }

    /// Stops tracing process `tgid`; unknown tgids are ignored.
    pub fn remove_target(&mut self, tgid: u32) {
        let _ = self.targets.remove(&tgid);
    }

    /// The ring buffer, handed once to the reader thread.
    pub fn take_ring(&mut self) -> Option<RingBuf<MapData>> {
        self.ring.take()
    }

    /// The kernel's counters summed over CPUs, indexed by [`counter`].
    pub fn counters(&self) -> [u64; counter::COUNT as usize] {
        let mut out = [0u64; counter::COUNT as usize];
        for (i, slot) in out.iter_mut().enumerate() {
            if let Ok(v) = self.counters.get(&(i as u32), 0) {
                *slot = v.iter().sum();
            }
        }
        out
    }
}

impl tls::TlsAttach for Probe {
    fn attach_tls(&mut self, target: &Path, syms: &tls::SslSymbols) -> Result<(), HookError> {
        Probe::attach_tls(self, target, syms)
    }
    fn attach_go_tls(&mut self, target: &Path, bin: &go_tls::GoTlsBinary) -> Result<(), HookError> {
        Probe::attach_go_tls(self, target, bin)
    }
    fn attach_go_spawn(
        &mut self,
        target: &Path,
        hook: &go_runtime::GoSpawnHook,
    ) -> Result<(), HookError> {
        Probe::attach_go_spawn(self, target, hook)
    }
    /// A process traced by PID keeps the mark in its `TARGETS` bits, the
    /// one lookup its syscalls make; one traced by its cgroup in `GO_PROCS`.
    /// Not atomic with the kernel's own bit setting: a TLS bit set in
    /// between is lost until the process's next TLS call sets it again.
    fn mark_go(&mut self, pid: u32) {
        if let Ok(bits) = self.targets.get(&pid, 0) {
            if bits & target::GO == 0 {
                let _ = self.targets.insert(pid, bits | target::GO, BPF_EXIST);
            }
            return;
        }
        if let Err(e) = self.go_procs.insert(pid, 1, 0) {
            log::warn!("Go: PID {pid}'s goroutines not followed: GO_PROCS: {e}");
        }
    }
}

/// The manager's view of the kernel maps. A full map is logged, not fatal:
/// the process is then not traced, which the log says.
impl crate::selection::manager::TargetMap for Probe {
    fn add_target(&mut self, tgid: u32) {
        if let Err(e) = Probe::add_target(self, tgid) {
            log::warn!("cannot trace PID {tgid}: {e}");
        }
    }
    fn remove_target(&mut self, tgid: u32) {
        Probe::remove_target(self, tgid);
    }
    fn add_cgroup(&mut self, id: u64) {
        if let Err(e) = self.cgroups.insert(id, 1, 0) {
            log::warn!("cannot trace cgroup id {id}: {e}");
        }
    }
    fn remove_cgroup(&mut self, id: u64) {
        let _ = self.cgroups.remove(&id);
    }
    fn set_filter(&mut self, flags: u32) {
        if let Err(e) = self.filter.set(0, flags, 0) {
            log::warn!("cannot set the kernel filter flags: {e}");
        }
    }
}

/// How much work the kernel's verifier did for one program: the number
/// that grows towards its one-million-instruction limit on older kernels.
fn log_verified(name: &str, info: Option<aya::programs::ProgramInfo>, t0: std::time::Instant) {
    let insns = info.and_then(|i| i.verified_instruction_count());
    log::debug!(
        "program {name}: {} instructions verified, loaded in {:?}",
        insns.map_or("?".into(), |n| n.to_string()),
        t0.elapsed()
    );
}

/// CPUs the kernel may run on (ids are below this), from sysfs; 256 if it
/// cannot be read, which covers most hosts at a small memory cost.
fn possible_cpus() -> u32 {
    aya::util::nr_cpus()
        .ok()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n > 0)
        .unwrap_or(256)
}
