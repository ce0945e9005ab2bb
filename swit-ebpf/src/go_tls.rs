//! TLS plaintext from Go's crypto/tls: uprobes on `(*Conn).Write` and
//! `(*Conn).Read` entries, and one program at every RET instruction of the
//! two functions (never a uretprobe: it rewrites the return address on the
//! goroutine's stack, which Go moves and copies, and the process crashes).
//!
//! Go 1.17+ register ABI, amd64: the receiver in RAX, the `[]byte` in RBX
//! (pointer), RCX (length), RDI (capacity); at the RET, `n` in RAX. R14
//! always holds the current goroutine's `g`.
//!
//! Calls are keyed by (tgid, g), not by thread: a goroutine that blocks in
//! Read (the netpoller) resumes on whichever thread is free, and returns
//! there.
//!
//! The socket comes from the tls.Conn itself, not from the syscalls made
//! during the call (Read's successful read(2) can happen on another thread
//! after the goroutine parks): `tls.Conn.conn` is a net.Conn interface whose
//! data word is a `*net.TCPConn` -> `conn.fd *netFD` -> `pfd.Sysfd`. The
//! field offsets come from the binary's DWARF (see the agent's
//! probe/go_tls.rs), one [`GoTlsParams`] per binary, found through the
//! uprobe's cookie. The fd then goes the way of the syscall hooks'
//! (`tcp_sock_of_fd`), so the socket is the kernel's own.
use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_user,
        generated::bpf_get_attach_cookie,
    },
    macros::{map, uprobe},
    maps::{Array, LruHashMap},
    programs::ProbeContext,
};
use swit_ebpf_common::{
    DataHeader, EventHeader, GoTlsParams, MAX_GO_BINARIES, SockTuple, counter, data_flags,
    direction, kind, syscall, target,
};

use crate::{config, count, emit_chunk, is_traced, set_target_bit, tcp_sock_of_fd, tls};

/// Per Go binary, indexed by the uprobe cookie. Filled by the agent before
/// it attaches the binary's probes.
#[map]
static GO_TLS_BINS: Array<GoTlsParams> = Array::with_max_entries(MAX_GO_BINARIES, 0);

/// A goroutine of one process (g addresses are per process).
#[repr(C)]
#[derive(Clone, Copy)]
struct GoKey {
    tgid: u32,
    _pad: u32,
    g: u64,
}

/// A goroutine inside Read or Write, between its entry and a RET.
#[repr(C)]
#[derive(Clone, Copy)]
struct GoCall {
    sock: u64,
    /// `TlsSock::gen_` at entry: bytes of a socket closed and marked again
    /// meanwhile do not go to the new one.
    gen_: u64,
    buf: u64,
    enter_ns: u64,
    /// One of [`direction`].
    dir: u32,
    _pad: u32,
}

/// Goroutines inside a hooked call. LRU: a goroutine that never returns
/// (its program exits mid-call) must not pin a slot forever.
#[map]
static GO_CALLS: LruHashMap<GoKey, GoCall> = LruHashMap::with_max_entries(32768, 0);

/// The TCP socket behind the `*tls.Conn` at `tls_conn`, if it wraps a
/// `*net.TCPConn`. Every read is a probe read of the caller's memory.
#[inline(always)]
fn conn_sock(tls_conn: u64, p: &GoTlsParams) -> Option<u64> {
    // SAFETY: probe reads fail cleanly on a bad address.
    unsafe {
        let iface = tls_conn + p.conn as u64;
        let itab: u64 = bpf_probe_read_user(iface as *const u64).ok()?;
        // Another net.Conn (a test pipe, a wrapper) has no netFD where a
        // TCPConn has one: reading on would pick a random number as fd.
        if p.tcp_conn_itab != 0 && itab != p.tcp_conn_itab {
            return None;
        }
        let tcp: u64 = bpf_probe_read_user((iface + 8) as *const u64).ok()?;
        let netfd: u64 = bpf_probe_read_user((tcp + p.tcp_fd as u64) as *const u64).ok()?;
        let fd: i64 = bpf_probe_read_user((netfd + p.sysfd as u64) as *const i64).ok()?;
        if !(0..=i32::MAX as i64).contains(&fd) {
            return None;
        }
        tcp_sock_of_fd(fd as u32)
    }
}

#[inline(always)]
fn enter(ctx: &ProbeContext, dir: u32) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_traced(pid_tgid) || off!(ready) == 0 {
        return 0;
    }
    // SAFETY: the helper reads the cookie of the link that fired.
    let cookie = unsafe { bpf_get_attach_cookie(ctx.regs as *mut _) };
    let Some(p) = GO_TLS_BINS.get(cookie as u32).copied() else {
        return 0;
    };
    if p.ready == 0 {
        return 0;
    }
    // SAFETY: the trapped registers, readable by the program.
    let (conn, buf, g) = unsafe { ((*ctx.regs).rax, (*ctx.regs).rbx, (*ctx.regs).r14) };
    if conn == 0 || g == 0 {
        return 0;
    }
    let Some(sock) = conn_sock(conn, &p) else {
        count(counter::GO_TLS_NO_SOCK);
        return 0;
    };
    // From now on the socket's syscalls are ciphertext and are not sent:
    // the process's syscalls look in TLS_SOCKS once its bit is set.
    set_target_bit((pid_tgid >> 32) as u32, target::TLS);
    let Some(gen_) = tls::mark_tls(sock) else {
        return 0;
    };
    let key = GoKey {
        tgid: (pid_tgid >> 32) as u32,
        _pad: 0,
        g,
    };
    let call = GoCall {
        sock,
        gen_,
        buf,
        // SAFETY: helper without arguments.
        enter_ns: unsafe { bpf_ktime_get_ns() },
        dir,
        _pad: 0,
    };
    // A stack growth at entry (morestack) re-runs the prologue: the second
    // entry overwrites the first with the same values.
    if GO_CALLS.insert(&key, &call, 0).is_err() {
        count(counter::INFLIGHT_FULL);
    }
    0
}

#[uprobe]
pub fn go_tls_write(ctx: ProbeContext) -> u32 {
    enter(&ctx, direction::EGRESS)
}

#[uprobe]
pub fn go_tls_read(ctx: ProbeContext) -> u32 {
    enter(&ctx, direction::INGRESS)
}

/// At a RET of Read or Write: `n` bytes moved through the caller's buffer.
#[uprobe]
pub fn go_tls_ret(ctx: ProbeContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    // SAFETY: the trapped registers, readable by the program.
    let (n, g) = unsafe { ((*ctx.regs).rax as i64, (*ctx.regs).r14) };
    let key = GoKey {
        tgid: (pid_tgid >> 32) as u32,
        _pad: 0,
        g,
    };
    // SAFETY: map value copied out before removal.
    let Some(call) = (unsafe { GO_CALLS.get(&key).copied() }) else {
        return 0;
    };
    let _ = GO_CALLS.remove(&key);
    if n <= 0 {
        return 0;
    }
    let cfg = config();
    if cfg.hooks_only != 0 {
        return 0;
    }
    let len = if n > u32::MAX as i64 {
        u32::MAX
    } else {
        n as u32
    };
    let mut tuple = SockTuple::default();
    // tls.Conn serialises Writes (c.out) and Reads (c.in), and the two
    // directions have their own positions.
    let Some(seq) = tls::claim(call.sock, call.gen_, call.dir, len, &mut tuple) else {
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
            sock: call.sock,
            tuple,
        },
        enter_ns: call.enter_ns,
        seq,
        len,
        captured: 0,
        direction: call.dir,
        syscall: syscall::GO_TLS,
        flags: data_flags::TLS,
        g,
    };
    emit_chunk(&mut h, call.buf, len, cfg.capture_bytes);
    0
}
