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

use core::ffi::c_void;

use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_kernel, bpf_probe_read_user,
        generated::{
            bpf_get_current_task, bpf_get_smp_processor_id, bpf_loop,
            bpf_probe_read_user as raw_probe_read_user,
        },
    },
    macros::{map, raw_tracepoint, tracepoint},
    maps::{Array, HashMap, PerCpuArray, RingBuf},
    programs::{RawTracePointContext, TracePointContext},
};
use swit_ebpf_common::{
    AF_INET, AF_INET6, BUCKETS, CaptureConfig, DataEvent, DataHeader, EventHeader, KernelOffsets,
    MAX_CAPTURE, MAX_IOV, ProcRecord, SockTuple, counter, direction, filter, kind, role, syscall,
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
    _pad: 0,
};

/// Traced processes: tgid -> reserved flags. Filled by the agent.
#[map]
static TARGETS: HashMap<u32, u32> = HashMap::with_max_entries(16384, 0);

/// Traced cgroups (v2 ids, as `bpf_get_current_cgroup_id` returns them):
/// every process in one is traced. Filled by the agent.
#[map]
static CGROUPS: HashMap<u64, u32> = HashMap::with_max_entries(4096, 0);

/// `FILTER[0]`: which optional filters and reports are on ([`filter`]).
#[map]
static FILTER: Array<u32> = Array::with_max_entries(1, 0);

/// Syscalls between their enter and exit hooks, by pid_tgid.
#[map]
static INFLIGHT: HashMap<u64, Inflight> = HashMap::with_max_entries(32768, 0);

/// Records for the agent. Its size is set by the agent at load.
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(16 * 1024 * 1024, 0);

/// Loss and activity counters, one slot per [`counter`] index.
#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::COUNT, 0);

/// What the enter hook saw, for the exit hook.
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
mod go_tls;
mod goroutines;
mod tls;

#[inline(always)]
fn config() -> CaptureConfig {
    // SAFETY: as for `offsets`.
    unsafe { core::ptr::read_volatile(&CONFIG) }
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

/// Whether the calling process is traced: by tgid, or, when cgroup targets
/// exist, by its cgroup. An untraced process pays one lookup (two with
/// cgroup targets).
#[inline(always)]
fn is_traced(pid_tgid: u64) -> bool {
    let tgid = (pid_tgid >> 32) as u32;
    // SAFETY: only the presence of the key is used.
    if unsafe { TARGETS.get(&tgid).is_some() } {
        return true;
    }
    if filter_flags() & filter::CGROUPS == 0 {
        return false;
    }
    // SAFETY: helper without arguments.
    let cg = unsafe { aya_ebpf::helpers::generated::bpf_get_current_cgroup_id() };
    // SAFETY: presence only.
    unsafe { CGROUPS.get(&cg).is_some() }
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
            let max_fds: u32 = read_at(fdt, off!(fdtable_max_fds))?;
            if fd >= max_fds {
                return Ok(None);
            }
            let fd_array: u64 = read_at(fdt, off!(fdtable_fd))?;
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
            let ty: u16 = read_at(sk, off!(sk_type))?;
            let proto: u16 = read_at(sk, off!(sk_protocol))?;
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

#[inline(always)]
fn read_tuple(sk: u64, t: &mut SockTuple) {
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
    if !is_traced(pid_tgid) || off!(ready) == 0 {
        return 0;
    }
    // SAFETY: tracepoint fields at their documented offsets.
    let fd: u64 = match unsafe { ctx.read_at(ARG0) } {
        Ok(v) => v,
        Err(_) => return 0,
    };
    let (buf, iov) = unsafe {
        match sys {
            syscall::READV | syscall::WRITEV => (
                ctx.read_at::<u64>(ARG1).unwrap_or(0),
                ctx.read_at::<u64>(ARG2).unwrap_or(0) as u32,
            ),
            syscall::RECVMSG | syscall::SENDMSG => {
                let msg: u64 = ctx.read_at(ARG1).unwrap_or(0);
                // struct user_msghdr: msg_iov at 16, msg_iovlen at 24.
                let iov: u64 = bpf_probe_read_user((msg + 16) as *const u64).unwrap_or(0);
                let n: u64 = bpf_probe_read_user((msg + 24) as *const u64).unwrap_or(0);
                (iov, n as u32)
            }
            // The payload comes from a file the process never reads.
            syscall::SENDFILE => (0, 0),
            _ => (ctx.read_at::<u64>(ARG1).unwrap_or(0), 0),
        }
    };
    // A peek leaves the bytes in the socket: they will be read again.
    let flags: u64 = unsafe {
        match sys {
            syscall::RECVFROM => ctx.read_at(ARG3).unwrap_or(0),
            syscall::RECVMSG => ctx.read_at(ARG2).unwrap_or(0),
            _ => 0,
        }
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
    if tls::on_socket_syscall(pid_tgid, sock) {
        return 0;
    }
    let rec = Inflight {
        sock,
        buf,
        enter_ns: unsafe { bpf_ktime_get_ns() },
        iov,
        syscall: sys,
        direction: dir,
        fd: fd as u32,
    };
    if INFLIGHT.insert(pid_tgid, rec, 0).is_err() {
        count(counter::INFLIGHT_FULL);
    }
    0
}

#[inline(always)]
fn take_inflight(pid_tgid: u64) -> Option<Inflight> {
    // SAFETY: the entry belongs to this thread (key = pid_tgid) and is
    // copied out before removal.
    let rec = unsafe { *INFLIGHT.get(&pid_tgid)? };
    let _ = INFLIGHT.remove(&pid_tgid);
    Some(rec)
}

/// A data syscall's exit. `VECTORED` is fixed per program (readv, writev,
/// recvmsg, sendmsg gather iovecs; the others copy one buffer), so each
/// program carries one copy path only: with both, the verifier walks the
/// plain path's branches times the iovec loop's, which older verifiers
/// (6.1's) give up on past a million instructions.
fn exit_data<const VECTORED: bool>(ctx: &TracePointContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let Some(rec) = take_inflight(pid_tgid) else {
        return 0;
    };
    // A record left by another syscall's enter (its exit hook was not
    // attached yet) is not this one's.
    if (rec.iov != 0) != VECTORED {
        return 0;
    }
    let ret: i64 = unsafe { ctx.read_at(RET) }.unwrap_or(0);
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
        g: goroutines::current_g(pid_tgid),
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

/// Room to gather a vectored syscall's iovecs into one record: the header,
/// then the payload. The payload area is three times the capture limit so
/// that every copy (offset masked below the limit, length masked below
/// twice it) is in bounds where the verifier can see it, without branches.
#[repr(C)]
struct Gather {
    header: DataHeader,
    data: [u8; 3 * MAX_CAPTURE as usize],
    walk: Walk,
}

/// The gather's state, kept in map memory rather than in registers: a
/// value loaded from a map is unknown to the verifier, so each step is
/// verified once, whatever the steps before it did.
#[repr(C)]
struct Walk {
    /// The user iovec array.
    iov: u64,
    /// Bytes copied into `data` so far.
    off: u32,
    /// Bytes of the syscall not yet accounted to an iovec.
    remaining: u32,
    /// Bytes to copy at most (the capture limit).
    limit: u32,
    _pad: u32,
}

/// iovecs gathered per syscall where `bpf_loop` (5.17) is missing.
const MAX_IOV_UNROLLED: u32 = 8;

/// One per CPU, indexed by CPU id: a program runs to completion on its
/// CPU. Not a per-CPU map: their values are limited to 32 KiB. The agent
/// sizes it to the possible CPUs at load.
#[map]
static GATHER: Array<Gather> = Array::with_max_entries(1, 0);

/// This CPU's gather buffer.
#[inline(always)]
fn gather_buf() -> Option<*mut Gather> {
    // SAFETY: no arguments.
    let cpu = unsafe { bpf_get_smp_processor_id() };
    GATHER.get_ptr_mut(cpu)
}

/// Copies iovec `i` after what the earlier ones copied: `bpf_loop`'s
/// callback. Returns 1 to stop (done, capture limit, unreadable), else 0.
#[inline(never)]
extern "C" fn gather_step(i: u64, _ctx: *mut c_void) -> i64 {
    let Some(g) = gather_buf() else {
        return 1;
    };
    // SAFETY: `g` points at this CPU's Gather; volatile accesses keep the
    // state in map memory (see `Walk`).
    let walk = unsafe { &raw mut (*g).walk };
    let (iov, off, remaining, limit) = unsafe {
        (
            core::ptr::read_volatile(&raw const (*walk).iov),
            core::ptr::read_volatile(&raw const (*walk).off),
            core::ptr::read_volatile(&raw const (*walk).remaining),
            core::ptr::read_volatile(&raw const (*walk).limit),
        )
    };
    if remaining == 0 || off >= limit {
        return 1;
    }
    // struct iovec { void *iov_base; size_t iov_len; }
    let Ok(v) = (unsafe { bpf_probe_read_user((iov + (i & 0xff) * 16) as *const [u64; 2]) }) else {
        return 1;
    };
    let seg = if v[1] > remaining as u64 {
        remaining
    } else {
        v[1] as u32
    };
    let room = limit - off;
    let take = if seg > room { room } else { seg };
    let o = off & (MAX_CAPTURE - 1);
    let t = take & (2 * MAX_CAPTURE - 1);
    // SAFETY: o < MAX_CAPTURE and t < 2 * MAX_CAPTURE: inside `data`.
    let rc = unsafe {
        raw_probe_read_user(
            (*g).data.as_mut_ptr().add(o as usize) as *mut c_void,
            t,
            v[0] as *const c_void,
        )
    };
    if rc != 0 {
        // The captured bytes must stay a prefix of the stream.
        count(counter::READ_FAILED);
        return 1;
    }
    // SAFETY: as above.
    unsafe {
        core::ptr::write_volatile(&raw mut (*walk).off, off + take);
        core::ptr::write_volatile(&raw mut (*walk).remaining, remaining - seg);
    }
    0
}

/// Sends a vectored syscall's bytes as one record. Writers that build a
/// message from many small iovecs (grpcio: a frame header, each header
/// name and value apart) would otherwise cost a record per piece; and the
/// agent sees the syscall's bytes as the one chunk they are.
#[inline(always)]
fn emit_iov(h: &mut DataHeader, iov: u64, iovcnt: u32, len: u32, limit: u32) {
    let Some(g) = gather_buf() else {
        return;
    };
    let limit = if limit > MAX_CAPTURE {
        MAX_CAPTURE
    } else {
        limit
    };
    let steps = if iovcnt > MAX_IOV { MAX_IOV } else { iovcnt };
    // SAFETY: `g` points at this CPU's Gather (see `Walk`).
    unsafe {
        let walk = &raw mut (*g).walk;
        core::ptr::write_volatile(
            walk,
            Walk {
                iov,
                off: 0,
                remaining: len,
                limit,
                _pad: 0,
            },
        );
    }
    if config().bpf_loop != 0 {
        // SAFETY: the callback is a subprogram of this object; no context.
        unsafe { bpf_loop(steps, gather_step as *mut c_void, core::ptr::null_mut(), 0) };
    } else {
        // Before 5.17: the verifier walks each step, so fewer of them.
        let mut i = 0;
        while i < MAX_IOV_UNROLLED && i < steps {
            if gather_step(i as u64, core::ptr::null_mut()) != 0 {
                break;
            }
            i += 1;
        }
    }
    // SAFETY: as above.
    let off = unsafe { core::ptr::read_volatile(&raw const (*g).walk.off) };
    if off < len {
        // Past MAX_IOV iovecs, past the capture limit, or unreadable: the
        // record still stands for every byte, so the agent skips the rest
        // in place.
        let max = if config().bpf_loop != 0 {
            MAX_IOV
        } else {
            MAX_IOV_UNROLLED
        };
        if iovcnt > max && off < limit {
            count(counter::IOV_OVERFLOW);
        } else {
            count(counter::TRUNCATED);
        }
    }
    h.len = len;
    h.captured = off;
    // SAFETY: `g` points at this CPU's Gather.
    unsafe { (*g).header = *h };
    let hdr = core::mem::size_of::<DataHeader>() as u32;
    let n = if off > MAX_CAPTURE { MAX_CAPTURE } else { off };
    // SAFETY: header and n <= MAX_CAPTURE payload bytes lie inside `Gather`.
    let record = unsafe { core::slice::from_raw_parts(g as *const u8, (hdr + n) as usize) };
    if EVENTS.output::<[u8]>(record, wakeup()).is_ok() {
        count(counter::DATA_EVENTS);
    } else {
        count(counter::RINGBUF_FULL);
    }
}

/// Sends one chunk of `len` stream bytes at `src`, copying at most `limit`.
#[inline(always)]
fn emit_chunk(h: &mut DataHeader, src: u64, len: u32, limit: u32) {
    let limit = if limit > MAX_CAPTURE {
        MAX_CAPTURE
    } else {
        limit
    };
    let want = if src == 0 {
        0
    } else if len > limit {
        limit
    } else {
        len
    };
    if want < len && src != 0 {
        count(counter::TRUNCATED);
    }
    h.len = len;
    if want <= BUCKETS[0] {
        emit_bucket::<256>(h, src, want);
    } else if want <= BUCKETS[1] {
        emit_bucket::<1024>(h, src, want);
    } else if want <= BUCKETS[2] {
        emit_bucket::<4096>(h, src, want);
    } else {
        emit_bucket::<{ MAX_CAPTURE as usize }>(h, src, want);
    }
}

#[inline(always)]
fn emit_bucket<const N: usize>(h: &mut DataHeader, src: u64, want: u32) {
    let Some(mut entry) = EVENTS.reserve::<DataEvent<N>>(0) else {
        count(counter::RINGBUF_FULL);
        return;
    };
    let ev = entry.as_mut_ptr();
    // The caller already bounded `want`, so the compiler would drop this
    // check and hand the verifier an older, unbounded copy. Reloading it
    // through a volatile read makes the bound stick to the register the
    // helper receives.
    // SAFETY: reads a local.
    let mut n = unsafe { core::ptr::read_volatile(&want) };
    if n as usize > N {
        n = N as u32;
    }
    let mut captured = 0;
    if n > 0 {
        // SAFETY: `ev` points at N payload bytes reserved in the ring; n <= N.
        let rc = unsafe {
            raw_probe_read_user(
                (*ev).data.as_mut_ptr() as *mut c_void,
                n,
                src as *const c_void,
            )
        };
        if rc == 0 {
            captured = n;
        } else {
            count(counter::READ_FAILED);
        }
    }
    h.captured = captured;
    // SAFETY: the header fits in the reserved record.
    unsafe { core::ptr::write(&mut (*ev).header, *h) };
    entry.submit(wakeup());
    count(counter::DATA_EVENTS);
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
    if !is_traced(pid_tgid) || off!(ready) == 0 {
        return 0;
    }
    let fd: u64 = unsafe { ctx.read_at(ARG0) }.unwrap_or(u64::MAX);
    let rec = Inflight {
        sock: 0,
        buf: 0,
        enter_ns: unsafe { bpf_ktime_get_ns() },
        iov: 0,
        syscall: sys,
        direction: 0,
        fd: fd as u32,
    };
    if INFLIGHT.insert(pid_tgid, rec, 0).is_err() {
        count(counter::INFLIGHT_FULL);
    }
    0
}

#[inline(always)]
fn exit_conn(ctx: &TracePointContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let Some(rec) = take_inflight(pid_tgid) else {
        return 0;
    };
    let ret: i64 = unsafe { ctx.read_at(RET) }.unwrap_or(-1);
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
            enter_data(&ctx, $sys, $dir)
        }
        #[tracepoint]
        pub fn $exit(ctx: TracePointContext) -> u32 {
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
            enter_conn(&ctx, $sys)
        }
        #[tracepoint]
        pub fn $exit(ctx: TracePointContext) -> u32 {
            exit_conn(&ctx)
        }
    };
}

conn_hooks!(sys_enter_accept, sys_exit_accept, syscall::ACCEPT);
conn_hooks!(sys_enter_accept4, sys_exit_accept4, syscall::ACCEPT);
conn_hooks!(sys_enter_connect, sys_exit_connect, syscall::CONNECT);

/// close(2): the fd still names its socket at entry, not at exit.
#[tracepoint]
pub fn sys_enter_close(ctx: TracePointContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_traced(pid_tgid) || off!(ready) == 0 || config().hooks_only != 0 {
        return 0;
    }
    let fd: u64 = unsafe { ctx.read_at(ARG0) }.unwrap_or(u64::MAX);
    if let Some(sk) = tcp_sock_of_fd(fd as u32) {
        tls::on_close(sk);
        emit_conn(kind::CLOSE, role::UNKNOWN, pid_tgid, sk);
    }
    0
}

// ------------------------------------------------------ process lifecycle

fn emit_proc(k: u32, aux: u32, pid_tgid: u64) {
    let rec = ProcRecord {
        kind: k,
        aux,
        // SAFETY: helper without arguments.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        pid_tgid,
        comm: aya_ebpf::helpers::bpf_get_current_comm().unwrap_or([0; 16]),
    };
    if EVENTS.output(rec, wakeup()).is_err() {
        count(counter::RINGBUF_FULL);
    } else {
        count(counter::CONN_EVENTS);
    }
}

/// sched_process_fork(parent, child): a traced process's child is traced
/// from its first instruction, before the agent hears of it. Threads
/// (child pid != child tgid) share their process's entry already.
#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sched_process_fork(ctx: RawTracePointContext) -> i32 {
    if off!(ready) == 0 {
        return 0;
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    let parent = (pid_tgid >> 32) as u32;
    // SAFETY: presence only.
    if unsafe { TARGETS.get(&parent).is_none() } {
        return 0;
    }
    let child: u64 = ctx.arg(1);
    // SAFETY: probe reads of the child task.
    let (pid, tgid) = unsafe {
        (
            read_at::<i32>(child, off!(task_pid)).unwrap_or(0),
            read_at::<i32>(child, off!(task_tgid)).unwrap_or(0),
        )
    };
    if pid <= 0 || pid != tgid {
        return 0;
    }
    if TARGETS.insert(tgid as u32, 1, 0).is_err() {
        count(counter::INFLIGHT_FULL);
    }
    emit_proc(kind::PROC_FORK, tgid as u32, pid_tgid);
    0
}

/// sched_process_exec: the process now runs another program (its service
/// name may change); with executable matching on, every exec is reported.
#[tracepoint]
pub fn sched_process_exec(_ctx: TracePointContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if filter_flags() & filter::EXEC != 0 || is_traced(pid_tgid) {
        emit_proc(kind::PROC_EXEC, 0, pid_tgid);
    }
    0
}

/// sched_process_exit fires per thread; the main thread's exit ends the
/// process for swit (its tgid may be reused).
#[tracepoint]
pub fn sched_process_exit(_ctx: TracePointContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    if !is_traced(pid_tgid) {
        return 0;
    }
    tls::on_thread_exit(pid_tgid);
    if tgid != pid_tgid as u32 {
        return 0;
    }
    let _ = TARGETS.remove(&tgid);
    goroutines::forget(tgid);
    emit_proc(kind::PROC_EXIT, tgid, pid_tgid);
    0
}

/// listen(2) entry: with port matching on, report which port a process
/// starts listening on (the socket is bound by now).
#[tracepoint]
pub fn sys_enter_listen(ctx: TracePointContext) -> u32 {
    if filter_flags() & filter::LISTEN == 0 || off!(ready) == 0 {
        return 0;
    }
    let fd: u64 = unsafe { ctx.read_at(ARG0) }.unwrap_or(u64::MAX);
    let Some(sk) = tcp_sock_of_fd(fd as u32) else {
        return 0;
    };
    // SAFETY: probe read.
    let port: u16 = unsafe { read_at(sk, off!(sk_num)) }.unwrap_or(0);
    emit_proc(kind::LISTEN, port as u32, bpf_get_current_pid_tgid());
    0
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
