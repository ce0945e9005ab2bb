//! TLS plaintext from OpenSSL-compatible libraries: uprobes on SSL_read,
//! SSL_write, SSL_read_ex and SSL_write_ex, one uretprobe shared by all four.
//!
//! The agent attaches these to every libssl (or binary exporting the
//! symbols, like node) that a traced process maps, with no PID filter: the
//! entry probes filter by `TARGETS`/`CGROUPS` like the syscall hooks, so an
//! untraced caller pays one lookup (plus the uprobe trap itself).
//!
//! An SSL object is tied to its socket in two ways:
//! - a data syscall on a TCP socket made while the thread is inside one of
//!   these calls is that SSL object's transport (OpenSSL's socket BIO,
//!   libpq's and curl's callback BIOs): exact, and it overrides;
//! - a library that moves ciphertext through memory BIOs (node) makes its
//!   syscalls outside SSL calls. There, the socket this thread last read a
//!   TLS record from is taken at the next SSL_read entry of an SSL object
//!   not tied yet (node reads the socket, then decrypts what it read).
//!
//! A socket tied to a TLS session is marked in `TLS_SOCKS`; the syscall
//! hooks never send its bytes (ciphertext), only its plaintext travels, at
//! positions counted per direction in the same entry.
use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_user},
    macros::{map, uprobe, uretprobe},
    maps::LruHashMap,
    programs::{ProbeContext, RetProbeContext},
};
use swit_ebpf_common::{
    DataHeader, EventHeader, SockTuple, counter, data_flags, direction, kind, syscall, target,
};

use crate::{config, count, emit_chunk, is_traced, read_tuple, set_target_bit};

/// Which hooked function a thread is in.
const OP_READ: u32 = 0;
const OP_WRITE: u32 = 1;
const OP_READ_EX: u32 = 2;
const OP_WRITE_EX: u32 = 3;

/// A thread inside a hooked SSL call, between entry and return.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SslCall {
    ssl: u64,
    buf: u64,
    /// `size_t *` result of the _ex variants; 0 otherwise.
    out: u64,
    enter_ns: u64,
    op: u32,
    _pad: u32,
}

/// An SSL object of one process (addresses are per process).
#[repr(C)]
#[derive(Clone, Copy)]
struct SslKey {
    tgid: u32,
    _pad: u32,
    ssl: u64,
}

/// The socket an SSL object writes to and reads from.
#[repr(C)]
#[derive(Clone, Copy)]
struct SslBinding {
    sock: u64,
    /// `TlsSock::gen` when tied: a socket closed (or evicted) and marked
    /// again has a new one, so a stale tie is not followed.
    gen_: u64,
}

/// A socket known to carry TLS.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct TlsSock {
    pub gen_: u64,
    /// Plaintext bytes so far, by [`direction`].
    pub pos: [u32; 2],
}

/// Threads inside a hooked SSL call. LRU: a thread killed inside a call
/// leaves an entry that must not pin a slot forever.
#[map]
pub static SSL_CALLS: LruHashMap<u64, SslCall> = LruHashMap::with_max_entries(32768, 0);

#[map]
static SSL_SOCKS: LruHashMap<SslKey, SslBinding> = LruHashMap::with_max_entries(65536, 0);

#[map]
pub static TLS_SOCKS: LruHashMap<u64, TlsSock> = LruHashMap::with_max_entries(65536, 0);

/// A TLS socket's mark after close, with the addresses close saw: a thread
/// can still be inside a Write on it. Go's HTTP/2 server flushes from one
/// goroutine and closes from another, so the flush's Write can return
/// after the close: its bytes went out and still belong to the stream.
#[repr(C)]
#[derive(Clone, Copy)]
struct ClosedTls {
    tls: TlsSock,
    tuple: SockTuple,
}

/// Only calls in flight at a close look here, right after it: a small map
/// whose oldest entries make room is enough.
#[map]
static CLOSED_TLS: LruHashMap<u64, ClosedTls> = LruHashMap::with_max_entries(4096, 0);

/// The socket each thread last read a TLS record from (for memory BIOs).
#[map]
static LAST_TLS_READ: LruHashMap<u64, u64> = LruHashMap::with_max_entries(16384, 0);

/// Whether `b` starts like a TLS record: content type 20..=23
/// (change_cipher_spec, alert, handshake, application_data) and version 3.x.
#[inline(always)]
pub fn looks_like_tls(b: &[u8; 3]) -> bool {
    (0x14..=0x17).contains(&b[0]) && b[1] == 3 && b[2] <= 4
}

/// Marks `sock` as TLS (if not yet) and returns its generation.
#[inline(always)]
pub fn mark_tls(sock: u64) -> Option<u64> {
    if let Some(t) = TLS_SOCKS.get_ptr(&sock) {
        // SAFETY: a map value pointer, valid during this program.
        return Some(unsafe { (*t).gen_ });
    }
    // SAFETY: helper without arguments.
    let gen_ = unsafe { bpf_ktime_get_ns() };
    let v = TlsSock { gen_, pos: [0; 2] };
    TLS_SOCKS.insert(&sock, &v, 0).ok()?;
    Some(gen_)
}

#[inline(always)]
fn bind(tgid: u32, ssl: u64, sock: u64) {
    let Some(gen_) = mark_tls(sock) else {
        return;
    };
    let key = SslKey { tgid, _pad: 0, ssl };
    let _ = SSL_SOCKS.insert(&key, &SslBinding { sock, gen_ }, 0);
}

/// What `ssl` was last tied to, current or not.
#[inline(always)]
fn binding(tgid: u32, ssl: u64) -> Option<SslBinding> {
    let key = SslKey { tgid, _pad: 0, ssl };
    // SAFETY: map value copied out.
    unsafe { SSL_SOCKS.get(&key).copied() }
}

/// The socket `ssl` is tied to, if the tie is still current.
#[inline(always)]
fn bound_sock(tgid: u32, ssl: u64) -> Option<u64> {
    let b = binding(tgid, ssl)?;
    // SAFETY: map value copied out.
    let t = unsafe { *TLS_SOCKS.get(&b.sock)? };
    (t.gen_ == b.gen_).then_some(b.sock)
}

/// Called by the syscall enter hooks once they know the TCP socket. Returns
/// true when the syscall's bytes are ciphertext and must not be sent.
#[inline(always)]
pub fn on_socket_syscall(pid_tgid: u64, sock: u64) -> bool {
    // SAFETY: map value copied out.
    if let Some(call) = unsafe { SSL_CALLS.get(&pid_tgid) } {
        bind((pid_tgid >> 32) as u32, call.ssl, sock);
        count(counter::TLS_CIPHERTEXT);
        return true;
    }
    // SAFETY: presence only.
    if unsafe { TLS_SOCKS.get(&sock).is_some() } {
        count(counter::TLS_CIPHERTEXT);
        return true;
    }
    false
}

/// Called by the ingress syscall exit hook with the first bytes read: a TLS
/// record read outside an SSL call is what a memory-BIO library decrypts next.
#[inline(always)]
pub fn on_ingress_prefix(pid_tgid: u64, sock: u64, prefix: &[u8; 3]) {
    if looks_like_tls(prefix) {
        let _ = LAST_TLS_READ.insert(&pid_tgid, &sock, 0);
    }
}

/// The socket is closed: its TLS mark (and so every tie to it) ends, and
/// moves to `CLOSED_TLS` for the writes still on their way out.
#[inline(always)]
pub fn on_close(sock: u64) {
    // SAFETY: map value copied out.
    if let Some(tls) = unsafe { TLS_SOCKS.get(&sock).copied() } {
        let mut c = ClosedTls {
            tls,
            tuple: SockTuple::default(),
        };
        // At close entry the socket is whole; later it may be freed and reused.
        read_tuple(sock, &mut c.tuple);
        let _ = CLOSED_TLS.insert(&sock, &c, 0);
        let _ = TLS_SOCKS.remove(&sock);
    }
}

/// Takes `len` bytes at the next plaintext position of `dir` on `sock`
/// (marked TLS with generation `gen_`) and fills in its addresses. None when
/// the mark is gone or newer than the call: the bytes cannot be placed.
///
/// A write that returns after its socket closed still gets its place: it
/// started before the close, and the agent orders sends by their start, so
/// its bytes reach the connection before the close does. A read that
/// returns after the close would come after it and open a stray
/// connection; it is not placed.
#[inline(always)]
pub fn claim(sock: u64, gen_: u64, dir: u32, len: u32, tuple: &mut SockTuple) -> Option<u32> {
    if let Some(t) = TLS_SOCKS.get_ptr_mut(&sock) {
        // SAFETY: a map value pointer, valid during this program.
        let t = unsafe { &mut *t };
        if t.gen_ == gen_ {
            read_tuple(sock, tuple);
            return Some(advance(&mut t.pos, dir, len));
        }
    }
    if dir != direction::EGRESS {
        return None;
    }
    let c = CLOSED_TLS.get_ptr_mut(&sock)?;
    // SAFETY: a map value pointer, valid during this program.
    let c = unsafe { &mut *c };
    if c.tls.gen_ != gen_ {
        return None;
    }
    *tuple = c.tuple;
    Some(advance(&mut c.tls.pos, dir, len))
}

/// The position `len` bytes start at in `dir`, moving it on past them.
#[inline(always)]
fn advance(pos: &mut [u32; 2], dir: u32, len: u32) -> u32 {
    let slot = &mut pos[(dir & 1) as usize];
    let s = *slot;
    *slot = s.wrapping_add(len);
    s
}

/// A thread ended: forget a call it never returned from.
#[inline(always)]
pub fn on_thread_exit(pid_tgid: u64) {
    let _ = SSL_CALLS.remove(&pid_tgid);
    let _ = LAST_TLS_READ.remove(&pid_tgid);
}

#[inline(always)]
fn enter(ctx: &ProbeContext, op: u32) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_traced(pid_tgid) || off!(ready) == 0 {
        return 0;
    }
    let ssl: u64 = ctx.arg(0).unwrap_or(0);
    let buf: u64 = ctx.arg(1).unwrap_or(0);
    if ssl == 0 || buf == 0 {
        return 0;
    }
    // Before this call's syscalls: they look in SSL_CALLS only when it is set.
    set_target_bit((pid_tgid >> 32) as u32, target::TLS);
    let out: u64 = if op == OP_READ_EX || op == OP_WRITE_EX {
        ctx.arg(3).unwrap_or(0)
    } else {
        0
    };
    if op == OP_READ || op == OP_READ_EX {
        // Taken on every read so that a stale socket is never used later.
        // SAFETY: map value copied out.
        let last = unsafe { LAST_TLS_READ.get(&pid_tgid).copied() };
        if let Some(sock) = last {
            let _ = LAST_TLS_READ.remove(&pid_tgid);
            let tgid = (pid_tgid >> 32) as u32;
            // A socket tied already belongs to another SSL object: the
            // guess is wrong (a socket-BIO library's syscalls will tell).
            // SAFETY: presence only.
            let taken = unsafe { TLS_SOCKS.get(&sock).is_some() };
            if !taken && bound_sock(tgid, ssl).is_none() {
                bind(tgid, ssl, sock);
            }
        }
    }
    let call = SslCall {
        ssl,
        buf,
        out,
        // SAFETY: helper without arguments.
        enter_ns: unsafe { bpf_ktime_get_ns() },
        op,
        _pad: 0,
    };
    if SSL_CALLS.insert(&pid_tgid, &call, 0).is_err() {
        count(counter::INFLIGHT_FULL);
    }
    0
}

#[uprobe]
pub fn ssl_read(ctx: ProbeContext) -> u32 {
    enter(&ctx, OP_READ)
}

#[uprobe]
pub fn ssl_write(ctx: ProbeContext) -> u32 {
    enter(&ctx, OP_WRITE)
}

#[uprobe]
pub fn ssl_read_ex(ctx: ProbeContext) -> u32 {
    enter(&ctx, OP_READ_EX)
}

#[uprobe]
pub fn ssl_write_ex(ctx: ProbeContext) -> u32 {
    enter(&ctx, OP_WRITE_EX)
}

/// The return of any of the four: how many plaintext bytes moved, and where.
#[uretprobe]
pub fn ssl_return(ctx: RetProbeContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    // SAFETY: map value copied out before removal.
    let Some(call) = (unsafe { SSL_CALLS.get(&pid_tgid).copied() }) else {
        return 0;
    };
    let _ = SSL_CALLS.remove(&pid_tgid);
    // Both return int; the upper half of the register is not defined.
    let ret = ctx.ret::<u64>() as i32;
    let n: u64 = if call.op == OP_READ_EX || call.op == OP_WRITE_EX {
        if ret != 1 || call.out == 0 {
            return 0;
        }
        // SAFETY: a probe read of the caller's size_t.
        match unsafe { bpf_probe_read_user(call.out as *const u64) } {
            Ok(v) => v,
            Err(_) => {
                count(counter::READ_FAILED);
                return 0;
            }
        }
    } else {
        if ret <= 0 {
            return 0;
        }
        ret as u64
    };
    if n == 0 {
        return 0;
    }
    let cfg = config();
    if cfg.hooks_only != 0 {
        return 0;
    }
    let Some(b) = binding((pid_tgid >> 32) as u32, call.ssl) else {
        count(counter::TLS_UNBOUND);
        return 0;
    };
    let len = if n > u32::MAX as u64 {
        u32::MAX
    } else {
        n as u32
    };
    let dir = if call.op == OP_READ || call.op == OP_READ_EX {
        direction::INGRESS
    } else {
        direction::EGRESS
    };
    let mut tuple = SockTuple::default();
    // An SSL object is not used by two threads at once (OpenSSL forbids
    // it), so the position's read-modify-write does not race with itself.
    let Some(seq) = claim(b.sock, b.gen_, dir, len, &mut tuple) else {
        count(counter::TLS_UNBOUND);
        return 0;
    };
    let mut h = DataHeader {
        hdr: EventHeader {
            kind: kind::DATA,
            role: 0,
            // SAFETY: helper without arguments.
            ts_ns: unsafe { bpf_ktime_get_ns() },
            pid_tgid,
            sock: b.sock,
            tuple,
        },
        enter_ns: call.enter_ns,
        seq,
        len,
        captured: 0,
        direction: dir,
        syscall: syscall::SSL,
        flags: data_flags::TLS,
        g: 0,
    };
    emit_chunk(&mut h, call.buf, len, cfg.capture_bytes);
    0
}
