//! swit's kernel programs.
//!
//! Only syscall tracepoints and uprobes: kprobes and fentry are missing or
//! refused on many hardened hosts (CONFIG_KPROBES off, lockdown), and the
//! tracepoints `syscalls:sys_{enter,exit}_*` exist on every kernel with
//! ftrace syscalls (all distribution kernels since 3.x). TLS plaintext comes
//! from uprobes on the TLS library (see `tls`) and on Go's crypto/tls (see
//! `go_tls`).
//!
//! Each data syscall is split in two: the enter hook filters (traced tgid?
//! TCP socket?) and remembers the arguments; the exit hook, which knows how
//! many bytes moved, copies a bounded prefix into the ring buffer. A process
//! that is not traced costs one hash lookup per hook.
//!
//! Kernel structures (task -> files -> fdtable -> file -> socket -> sock)
//! are read at offsets the agent resolves from the running kernel's BTF and
//! writes into `OFFSETS` before load; see swit-agent/src/probe/offsets.rs.
#![no_std]
#![no_main]

use aya_ebpf::{
    EbpfContext,
    helpers::{
        bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_kernel, bpf_probe_read_user,
        generated::bpf_get_current_task,
    },
    macros::{btf_map, map, tracepoint},
    maps::{Array, HashMap, PerCpuArray, RingBuf},
    programs::TracePointContext,
};
use swit_ebpf_common::{
    AF_INET, AF_INET6, CaptureConfig, DataHeader, EventHeader, KernelOffsets, MAX_CAPTURE,
    SockTuple, counter, direction, filter, kind, release, role, syscall, target,
};

/// Field offsets in the running kernel, written by the agent before load.
#[unsafe(no_mangle)]
static OFFSETS: KernelOffsets = KernelOffsets {
    task_files: 0,
    files_fdt: 0,
    fdtable_max_fds: 0,
    fdtable_fd: 0,
    file_private_data: 0,
    file_inode: 0,
    inode_mode: 0,
    socket_sk: 0,
    sk_family: 0,
    sk_num: 0,
    sk_dport: 0,
    sk_rcv_saddr: 0,
    sk_daddr: 0,
    sk_v6_rcv_saddr: 0,
    sk_v6_daddr: 0,
    sk_type: 0,
    sk_protocol: 0,
    tcp_copied_seq: 0,
    tcp_write_seq: 0,
    task_pid: 0,
    task_tgid: 0,
    files_count: 0,
    file_ref: 0,
    file_ref_one: 0,
    ready: 0,
};

/// Capture settings, written by the agent before load.
#[unsafe(no_mangle)]
static CONFIG: CaptureConfig = CaptureConfig {
    capture_bytes: MAX_CAPTURE,
    hooks_only: 0,
    wakeup_bytes: 0,
    task_regs: 0,
    bpf_loop: 0,
    floor: 0,
};

/// Traced processes: tgid -> [`target`] bits. Filled by the agent, the
/// fork hook and (for the TLS and Go bits) the uprobes.
#[map]
static TARGETS: HashMap<u32, u32> = HashMap::with_max_entries(16384, 0);

/// Traced cgroups (v2 ids, as `bpf_get_current_cgroup_id` returns them):
/// every process in one is traced. Filled by the agent.
#[map]
static CGROUPS: HashMap<u64, u32> = HashMap::with_max_entries(4096, 0);

/// `FILTER[0]`: which optional filters and reports are on ([`filter`]).
#[map]
static FILTER: Array<u32> = Array::with_max_entries(1, 0);

/// The syscall between its enter and exit hooks, in the calling thread's
/// own storage: a hash map keyed by pid_tgid cost a bucket lock (irqs off)
/// per enter and per exit, filled up at 32768 threads and kept the entries
/// of threads that died inside a syscall.
#[btf_map]
static INFLIGHT: TaskStorage<Inflight> = TaskStorage::new();

/// Records for the agent. Its size is set by the agent at load.
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(16 * 1024 * 1024, 0);

/// Loss and activity counters, one slot per [`counter`] index.
#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::COUNT, 0);

/// What the enter hook saw, for the exit hook. `live` is non-zero from
/// the enter that filled it to the exit that takes it.
#[repr(C)]
#[derive(Clone, Copy)]
struct Inflight {
    /// `struct sock *` for data syscalls and connect; 0 for accept.
    sock: u64,
    /// User buffer, or the user iovec array when `iov` is non-zero.
    buf: u64,
    enter_ns: u64,
    /// Number of iovecs at `buf`; 0 means `buf` is a plain buffer.
    iov: u32,
    syscall: u32,
    direction: u32,
    fd: u32,
    live: u32,
    /// The process's [`target`] bits at enter.
    bits: u32,
}

const MSG_PEEK: u64 = 2;
const S_IFMT: u16 = 0o170000;
const S_IFSOCK: u16 = 0o140000;
const SOCK_STREAM: u16 = 1;
const IPPROTO_TCP: u16 = 6;
const EINPROGRESS: i64 = 115;

// Offsets of syscall tracepoint fields (see events/syscalls/*/format):
// every argument is a u64 slot after the 16-byte common header.
const ARG0: usize = 16;
const ARG1: usize = 24;
const ARG2: usize = 32;
const ARG3: usize = 40;
const RET: usize = 16;

/// One u64 field of a syscall tracepoint's record. A tracepoint program may
/// load from its context directly (any aligned offset inside the record):
/// a plain load instead of a `bpf_probe_read_kernel` call per argument.
#[inline(always)]
pub(crate) fn field(ctx: &TracePointContext, off: usize) -> u64 {
    // SAFETY: `off` is one of the constant slots above, inside every
    // syscall record; the verifier checks the access against the context.
    unsafe { core::ptr::read_volatile(ctx.as_ptr().cast::<u8>().add(off).cast::<u64>()) }
}

#[inline(always)]
fn count(index: u32) {
    if let Some(slot) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot; the program is not re-entered on this CPU
        // while it runs, so a plain add does not race.
        unsafe { *slot += 1 };
    }
}

/// Reads one field of `OFFSETS`. Volatile, so the compiler does not fold the
/// zero initialiser that the agent overwrites at load.
macro_rules! off {
    ($field:ident) => {{
        // SAFETY: a plain read of an initialised static.
        #[allow(unused_unsafe)]
        let v = unsafe { core::ptr::read_volatile(&$crate::OFFSETS.$field) };
        v
    }};
}

// After `off!`, which they use.
mod emit;
mod go_tls;
mod goroutines;
mod proc_events;
mod task_storage;
mod tls;

use emit::{emit_chunk, emit_iov};
use task_storage::TaskStorage;

#[inline(always)]
fn config() -> CaptureConfig {
    // SAFETY: as for `offsets`.
    unsafe { core::ptr::read_volatile(&CONFIG) }
}

/// The floor mode: programs return before doing anything.
#[inline(always)]
pub(crate) fn floor() -> bool {
    // SAFETY: as for `offsets`; one field, so the read stays a single load.
    unsafe { core::ptr::read_volatile(&CONFIG.floor) != 0 }
}

const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const BPF_RB_AVAIL_DATA: u64 = 0;

/// Flags for a ring-buffer submit (see [`CaptureConfig::wakeup_bytes`]).
#[inline(always)]
fn wakeup() -> u64 {
    let limit = config().wakeup_bytes as u64;
    if limit == 0 {
        0
    } else if EVENTS.query(BPF_RB_AVAIL_DATA) >= limit {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    }
}

#[inline(always)]
fn filter_flags() -> u32 {
    FILTER.get(0).copied().unwrap_or(0)
}

/// What [`traced`] says of a process traced by its cgroup alone: it has no
/// `TARGETS` entry to hold bits, so TLS is assumed and Go is asked of
/// `GO_PROCS`.
pub(crate) const VIA_CGROUP: u32 = 1 << 31;

/// The calling process's [`target`] bits if it is traced: by tgid, or, when
/// cgroup targets exist, by its cgroup ([`VIA_CGROUP`]). An untraced
/// process pays one lookup (two with cgroup targets).
#[inline(always)]
fn traced(pid_tgid: u64) -> Option<u32> {
    let tgid = (pid_tgid >> 32) as u32;
    // SAFETY: map value copied out.
    if let Some(&bits) = unsafe { TARGETS.get(&tgid) } {
        return Some(bits | target::TRACED);
    }
    if filter_flags() & filter::CGROUPS == 0 {
        return None;
    }
    // SAFETY: helper without arguments.
    let cg = unsafe { aya_ebpf::helpers::generated::bpf_get_current_cgroup_id() };
    // SAFETY: presence only.
    unsafe { CGROUPS.get(&cg).is_some() }.then_some(VIA_CGROUP)
}

#[inline(always)]
fn is_traced(pid_tgid: u64) -> bool {
    traced(pid_tgid).is_some()
}

/// Whether a process with these bits may have TLS sockets or be inside a
/// TLS call: only then do the syscall hooks look in the TLS maps.
#[inline(always)]
pub(crate) fn may_use_tls(bits: u32) -> bool {
    bits & (target::TLS | VIA_CGROUP) != 0
}

/// Sets `bit` in the calling process's `TARGETS` entry; false when it has
/// none (traced by cgroup, or not at all). A plain read-modify-write: two
/// bits set at once on two CPUs (or by the agent) can lose one, and every
/// hook that sets a bit sets it again each time it finds it missing, before
/// the syscalls that need it.
#[inline(always)]
pub(crate) fn set_target_bit(tgid: u32, bit: u32) -> bool {
    let Some(v) = TARGETS.get_ptr_mut(&tgid) else {
        return false;
    };
    // SAFETY: a map value pointer, valid during this program.
    unsafe {
        if *v & bit == 0 {
            *v |= bit;
        }
    }
    true
}

#[inline(always)]
unsafe fn read_at<T>(base: u64, off: u32) -> Result<T, i32> {
    unsafe { bpf_probe_read_kernel((base + off as u64) as *const T) }
}

/// The TCP `struct sock *` behind `fd` of the current task, or `None` when
/// `fd` is not an IPv4/IPv6 TCP socket.
#[inline(always)]
fn tcp_sock_of_fd(fd: u32) -> Option<u64> {
    // SAFETY: every read goes through bpf_probe_read_kernel, which fails
    // cleanly on a bad address.
    let r: Result<Option<u64>, i32> = unsafe {
        (|| {
            let task = bpf_get_current_task();
            let files: u64 = read_at(task, off!(task_files))?;
            let fdt: u64 = read_at(files, off!(files_fdt))?;
            // Each probe read is a helper call with its own fault handling:
            // fields next to each other are read as one (the offsets are
            // constants the verifier knows, so one branch is loaded).
            let (max_fds, fd_array) = if off!(fdtable_fd) == off!(fdtable_max_fds) + 8 {
                let both: [u64; 2] = read_at(fdt, off!(fdtable_max_fds))?;
                (both[0] as u32, both[1])
            } else {
                let max_fds: u32 = read_at(fdt, off!(fdtable_max_fds))?;
                (max_fds, read_at::<u64>(fdt, off!(fdtable_fd))?)
            };
            if fd >= max_fds {
                return Ok(None);
            }
            let file: u64 = bpf_probe_read_kernel((fd_array + fd as u64 * 8) as *const u64)?;
            if file == 0 {
                return Ok(None);
            }
            let inode: u64 = read_at(file, off!(file_inode))?;
            let mode: u16 = read_at(inode, off!(inode_mode))?;
            if mode & S_IFMT != S_IFSOCK {
                return Ok(None);
            }
            let socket: u64 = read_at(file, off!(file_private_data))?;
            let sk: u64 = read_at(socket, off!(socket_sk))?;
            if sk == 0 {
                return Ok(None);
            }
            let family: u16 = read_at(sk, off!(sk_family))?;
            if family != AF_INET && family != AF_INET6 {
                return Ok(None);
            }
            // Adjacent u16s since 5.6 (bitfields before, which the agent
            // refuses).
            let (ty, proto) = if off!(sk_protocol) == off!(sk_type) + 2 {
                let both: u32 = read_at(sk, off!(sk_type))?;
                (both as u16, (both >> 16) as u16)
            } else {
                let ty: u16 = read_at(sk, off!(sk_type))?;
                (ty, read_at::<u16>(sk, off!(sk_protocol))?)
            };
            if ty != SOCK_STREAM || proto != IPPROTO_TCP {
                return Ok(None);
            }
            Ok(Some(sk))
        })()
    };
    match r {
        Ok(sk) => sk,
        Err(_) => {
            count(counter::SOCK_READ_FAILED);
            None
        }
    }
}

/// The head of `struct sock_common` as every kernel since 4.x lays it out:
/// the IPv4 addresses, the hash, the ports and the family in 18 bytes.
#[repr(C)]
#[derive(Clone, Copy)]
struct SkHead {
    daddr: [u8; 4],
    rcv_saddr: [u8; 4],
    _hash: u32,
    dport: u16,
    num: u16,
    family: u16,
    _state: u16,
}

/// Whether the running kernel's offsets are [`SkHead`]'s.
#[inline(always)]
fn sk_head_packed() -> bool {
    let base = off!(sk_daddr);
    off!(sk_rcv_saddr) == base + 4
        && off!(sk_dport) == base + 12
        && off!(sk_num) == base + 14
        && off!(sk_family) == base + 16
}

#[inline(always)]
fn read_tuple(sk: u64, t: &mut SockTuple) {
    if sk_head_packed() {
        // SAFETY: one probe read; a failure leaves the tuple zero.
        let Ok(h) = (unsafe { read_at::<SkHead>(sk, off!(sk_daddr)) }) else {
            return;
        };
        t.family = h.family;
        t.local_port = h.num;
        t.remote_port = u16::from_be(h.dport);
        if t.family == AF_INET6 {
            // SAFETY: probe reads; a failed read leaves a zero field.
            unsafe {
                t.local_addr = read_at(sk, off!(sk_v6_rcv_saddr)).unwrap_or([0; 16]);
                t.remote_addr = read_at(sk, off!(sk_v6_daddr)).unwrap_or([0; 16]);
            }
        } else {
            t.local_addr[..4].copy_from_slice(&h.rcv_saddr);
            t.remote_addr[..4].copy_from_slice(&h.daddr);
        }
        return;
    }
    // SAFETY: probe reads; a failed read leaves a zero field.
    unsafe {
        t.family = read_at(sk, off!(sk_family)).unwrap_or(0);
        t.local_port = read_at(sk, off!(sk_num)).unwrap_or(0);
        t.remote_port = u16::from_be(read_at(sk, off!(sk_dport)).unwrap_or(0));
        if t.family == AF_INET6 {
            t.local_addr = read_at(sk, off!(sk_v6_rcv_saddr)).unwrap_or([0; 16]);
            t.remote_addr = read_at(sk, off!(sk_v6_daddr)).unwrap_or([0; 16]);
        } else {
            let l: [u8; 4] = read_at(sk, off!(sk_rcv_saddr)).unwrap_or([0; 4]);
            let r: [u8; 4] = read_at(sk, off!(sk_daddr)).unwrap_or([0; 4]);
            t.local_addr[..4].copy_from_slice(&l);
            t.remote_addr[..4].copy_from_slice(&r);
        }
    }
}

// ---------------------------------------------------------------- data path

#[inline(always)]
fn enter_data(ctx: &TracePointContext, sys: u32, dir: u32) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let Some(bits) = traced(pid_tgid) else {
        return 0;
    };
    if off!(ready) == 0 {
        return 0;
    }
    // SAFETY: tracepoint fields at their documented offsets.
    let fd = field(ctx, ARG0);
    let (buf, iov) = match sys {
        syscall::READV | syscall::WRITEV => (field(ctx, ARG1), field(ctx, ARG2) as u32),
        syscall::RECVMSG | syscall::SENDMSG => {
            let msg = field(ctx, ARG1);
            // struct user_msghdr: msg_iov at 16, msg_iovlen at 24.
            // SAFETY: a probe read of the caller's memory.
            let [iov, n] =
                unsafe { bpf_probe_read_user((msg + 16) as *const [u64; 2]) }.unwrap_or([0; 2]);
            (iov, n as u32)
        }
        // The payload comes from a file the process never reads.
        syscall::SENDFILE => (0, 0),
        _ => (field(ctx, ARG1), 0),
    };
    // A peek leaves the bytes in the socket: they will be read again.
    let flags = match sys {
        syscall::RECVFROM => field(ctx, ARG3),
        syscall::RECVMSG => field(ctx, ARG2),
        _ => 0,
    };
    if flags & MSG_PEEK != 0 || (buf == 0 && sys != syscall::SENDFILE) {
        return 0;
    }
    if (sys == syscall::READV
        || sys == syscall::WRITEV
        || sys == syscall::RECVMSG
        || sys == syscall::SENDMSG)
        && iov == 0
    {
        return 0;
    }
    let Some(sock) = tcp_sock_of_fd(fd as u32) else {
        return 0;
    };
    if may_use_tls(bits) && tls::on_socket_syscall(pid_tgid, sock) {
        return 0;
    }
    keep_inflight(Inflight {
        sock,
        buf,
        enter_ns: unsafe { bpf_ktime_get_ns() },
        iov,
        syscall: sys,
        direction: dir,
        fd: fd as u32,
        live: 1,
        bits,
    });
    0
}

/// Keeps `rec` for this thread's exit hook.
#[inline(always)]
fn keep_inflight(rec: Inflight) {
    match INFLIGHT.current_or_create() {
        // SAFETY: the current task's own value: no other thread writes it,
        // and this thread runs one hook at a time.
        Some(slot) => unsafe { *slot = rec },
        // No memory for the thread's storage, or the storage busy on this
        // CPU (a nested program): this syscall is not traced.
        None => count(counter::INFLIGHT_FULL),
    }
}

/// Takes what this thread's enter hook kept, leaving the slot empty.
#[inline(always)]
fn take_inflight() -> Option<Inflight> {
    let slot = INFLIGHT.current()?;
    // SAFETY: as in `keep_inflight`.
    unsafe {
        if (*slot).live == 0 {
            return None;
        }
        (*slot).live = 0;
        Some(*slot)
    }
}

/// A data syscall's exit. `VECTORED` is fixed per program (readv, writev,
/// recvmsg, sendmsg gather iovecs; the others copy one buffer), so each
/// program carries one copy path only: with both, the verifier walks the
/// plain path's branches times the iovec loop's, which older verifiers
/// (6.1's) give up on past a million instructions.
fn exit_data<const VECTORED: bool>(ctx: &TracePointContext) -> u32 {
    let Some(rec) = take_inflight() else {
        return 0;
    };
    let pid_tgid = bpf_get_current_pid_tgid();
    // A record left by another syscall's enter (its exit hook was not
    // attached yet) is not this one's.
    if (rec.iov != 0) != VECTORED {
        return 0;
    }
    let ret = field(ctx, RET) as i64;
    if ret <= 0 {
        return 0;
    }
    let cfg = config();
    if cfg.hooks_only != 0 {
        return 0;
    }
    let len = if ret > u32::MAX as i64 {
        u32::MAX
    } else {
        ret as u32
    };
    let seq_off = if rec.direction == direction::INGRESS {
        off!(tcp_copied_seq)
    } else {
        off!(tcp_write_seq)
    };
    // At exit the socket's sequence counter already includes this call's
    // bytes, so the chunk started `len` bytes before it.
    let seq_end: u32 = unsafe { read_at(rec.sock, seq_off) }.unwrap_or(0);
    let mut h = DataHeader {
        hdr: EventHeader {
            kind: kind::DATA,
            role: 0,
            ts_ns: unsafe { bpf_ktime_get_ns() },
            pid_tgid,
            sock: rec.sock,
            tuple: SockTuple::default(),
        },
        enter_ns: rec.enter_ns,
        seq: seq_end.wrapping_sub(len),
        len,
        captured: 0,
        direction: rec.direction,
        syscall: rec.syscall,
        flags: 0,
        g: goroutines::current_g(pid_tgid, rec.bits),
    };
    read_tuple(rec.sock, &mut h.hdr.tuple);

    if !VECTORED {
        // Only plain reads here: on the vectored path these branches would
        // multiply the states the verifier walks through the iovec loop.
        if rec.direction == direction::INGRESS && len >= 3 {
            // SAFETY: a probe read of the bytes this read returned.
            if let Ok(prefix) = unsafe { bpf_probe_read_user(rec.buf as *const [u8; 3]) } {
                tls::on_ingress_prefix(pid_tgid, rec.sock, &prefix);
            }
        }
        emit_chunk(&mut h, rec.buf, len, cfg.capture_bytes);
        return 0;
    }
    emit_iov(&mut h, rec.buf, rec.iov, len, cfg.capture_bytes);
    0
}

// ------------------------------------------------------ connection lifecycle

fn emit_conn(k: u32, r: u32, pid_tgid: u64, sk: u64) {
    let Some(mut entry) = EVENTS.reserve::<EventHeader>(0) else {
        count(counter::RINGBUF_FULL);
        return;
    };
    let mut h = EventHeader {
        kind: k,
        role: r,
        ts_ns: unsafe { bpf_ktime_get_ns() },
        pid_tgid,
        sock: sk,
        tuple: SockTuple::default(),
    };
    read_tuple(sk, &mut h.tuple);
    entry.write(h);
    entry.submit(wakeup());
    count(counter::CONN_EVENTS);
}

#[inline(always)]
fn enter_conn(ctx: &TracePointContext, sys: u32) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let Some(bits) = traced(pid_tgid) else {
        return 0;
    };
    if off!(ready) == 0 {
        return 0;
    }
    let fd = field(ctx, ARG0);
    keep_inflight(Inflight {
        sock: 0,
        buf: 0,
        enter_ns: unsafe { bpf_ktime_get_ns() },
        iov: 0,
        syscall: sys,
        direction: 0,
        fd: fd as u32,
        live: 1,
        bits,
    });
    0
}

#[inline(always)]
fn exit_conn(ctx: &TracePointContext) -> u32 {
    let Some(rec) = take_inflight() else {
        return 0;
    };
    let pid_tgid = bpf_get_current_pid_tgid();
    let ret = field(ctx, RET) as i64;
    let (fd, r) = if rec.syscall == syscall::ACCEPT {
        if ret < 0 {
            return 0;
        }
        (ret as u32, role::SERVER)
    } else {
        // A non-blocking connect returns EINPROGRESS and completes later.
        if ret != 0 && ret != -EINPROGRESS {
            return 0;
        }
        (rec.fd, role::CLIENT)
    };
    if config().hooks_only != 0 {
        return 0;
    }
    if let Some(sk) = tcp_sock_of_fd(fd) {
        emit_conn(kind::OPEN, r, pid_tgid, sk);
    }
    0
}

// ------------------------------------------------------------- tracepoints

macro_rules! data_hooks {
    ($enter:ident, $exit:ident, $sys:expr, $dir:expr) => {
        data_hooks!($enter, $exit, $sys, $dir, false);
    };
    ($enter:ident, $exit:ident, $sys:expr, $dir:expr, $vectored:expr) => {
        #[tracepoint]
        pub fn $enter(ctx: TracePointContext) -> u32 {
            if floor() {
                return 0;
            }
            enter_data(&ctx, $sys, $dir)
        }
        #[tracepoint]
        pub fn $exit(ctx: TracePointContext) -> u32 {
            if floor() {
                return 0;
            }
            exit_data::<$vectored>(&ctx)
        }
    };
}

data_hooks!(
    sys_enter_read,
    sys_exit_read,
    syscall::READ,
    direction::INGRESS
);
data_hooks!(
    sys_enter_write,
    sys_exit_write,
    syscall::WRITE,
    direction::EGRESS
);
data_hooks!(
    sys_enter_readv,
    sys_exit_readv,
    syscall::READV,
    direction::INGRESS,
    true
);
data_hooks!(
    sys_enter_writev,
    sys_exit_writev,
    syscall::WRITEV,
    direction::EGRESS,
    true
);
data_hooks!(
    sys_enter_recvfrom,
    sys_exit_recvfrom,
    syscall::RECVFROM,
    direction::INGRESS
);
data_hooks!(
    sys_enter_sendto,
    sys_exit_sendto,
    syscall::SENDTO,
    direction::EGRESS
);
data_hooks!(
    sys_enter_recvmsg,
    sys_exit_recvmsg,
    syscall::RECVMSG,
    direction::INGRESS,
    true
);
data_hooks!(
    sys_enter_sendmsg,
    sys_exit_sendmsg,
    syscall::SENDMSG,
    direction::EGRESS,
    true
);
data_hooks!(
    sys_enter_sendfile64,
    sys_exit_sendfile64,
    syscall::SENDFILE,
    direction::EGRESS
);

macro_rules! conn_hooks {
    ($enter:ident, $exit:ident, $sys:expr) => {
        #[tracepoint]
        pub fn $enter(ctx: TracePointContext) -> u32 {
            if floor() {
                return 0;
            }
            enter_conn(&ctx, $sys)
        }
        #[tracepoint]
        pub fn $exit(ctx: TracePointContext) -> u32 {
            if floor() {
                return 0;
            }
            exit_conn(&ctx)
        }
    };
}

conn_hooks!(sys_enter_accept, sys_exit_accept, syscall::ACCEPT);
conn_hooks!(sys_enter_accept4, sys_exit_accept4, syscall::ACCEPT);
conn_hooks!(sys_enter_connect, sys_exit_connect, syscall::CONNECT);

/// close(2): the fd still names its socket at entry, not at exit.
///
/// Only the last reference to the socket's file ends the connection: a
/// forked child's copy, a dup, a descriptor passed over a unix socket keep
/// it open after this close. So the close of a file still held elsewhere
/// is a RELEASE, not a CLOSE.
#[tracepoint]
pub fn sys_enter_close(ctx: TracePointContext) -> u32 {
    if floor() {
        return 0;
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    let Some(bits) = traced(pid_tgid) else {
        return 0;
    };
    if off!(ready) == 0 || config().hooks_only != 0 {
        return 0;
    }
    let fd = field(&ctx, ARG0);
    if let Some(sk) = tcp_sock_of_fd(fd as u32) {
        match other_holders(fd as u32) {
            Some(how) => emit_conn(kind::RELEASE, how, pid_tgid, sk),
            None => {
                if may_use_tls(bits) {
                    tls::on_close(sk);
                }
                emit_conn(kind::CLOSE, role::UNKNOWN, pid_tgid, sk);
            }
        }
    }
    0
}

/// Whether anything besides descriptor `fd` of the current task holds its
/// file, as close(2) begins (nothing has dropped a reference yet): `None`
/// when this close is the last, else which [`release`] kind. A read that
/// fails counts as the last, as every close did before references were
/// counted.
///
/// Apart from the fd table walk, which `tcp_sock_of_fd` also does, kept
/// here: the data path's lookup stays as it is.
#[inline(always)]
fn other_holders(fd: u32) -> Option<u32> {
    // SAFETY: every read goes through bpf_probe_read_kernel.
    let r: Result<Option<u32>, i32> = unsafe {
        (|| {
            let task = bpf_get_current_task();
            let files: u64 = read_at(task, off!(task_files))?;
            let fdt: u64 = read_at(files, off!(files_fdt))?;
            let fd_array: u64 = read_at(fdt, off!(fdtable_fd))?;
            let file: u64 = bpf_probe_read_kernel((fd_array + fd as u64 * 8) as *const u64)?;
            let refs: i64 = read_at(file, off!(file_ref))?;
            if refs == off!(file_ref_one) as i64 {
                return Ok(None);
            }
            // A task whose table is shared takes a reference for each
            // syscall on a descriptor (fdget); one that owns its table
            // borrows the table's.
            let sharers: i32 = read_at(files, off!(files_count))?;
            Ok(Some(if sharers > 1 {
                release::THREADS
            } else {
                release::HELD
            }))
        })()
    };
    r.unwrap_or(None)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
