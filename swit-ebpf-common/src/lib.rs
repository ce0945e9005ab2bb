//! Wire types shared by swit's kernel programs (`swit-ebpf`) and its agent.
//!
//! Everything here crosses the kernel/user boundary as raw bytes, so every
//! type is `#[repr(C)]`, has explicit padding, holds no `bool` or `enum`
//! (a kernel-written byte that is not a valid Rust `bool` would be undefined
//! behaviour on the user side), and has its size pinned by a `const` assert
//! so a layout change breaks the build rather than the decoding.
#![no_std]

/// Event kinds, the first `u32` of every ring-buffer record.
pub mod kind {
    /// A chunk of bytes read from or written to a traced TCP socket.
    pub const DATA: u32 = 1;
    /// A traced process accepted or connected a TCP socket.
    pub const OPEN: u32 = 2;
    /// A traced process closed the last descriptor of a TCP socket: the
    /// connection ends.
    pub const CLOSE: u32 = 3;
    /// A traced process forked: `aux` is the child's tgid, already traced.
    pub const PROC_FORK: u32 = 4;
    /// A process exec'd (traced, or any when the agent matches executables).
    pub const PROC_EXEC: u32 = 5;
    /// A traced process exited (its main thread): `aux` is its tgid.
    pub const PROC_EXIT: u32 = 6;
    /// A process started listening (when the agent matches ports): `aux`
    /// is the local port.
    pub const LISTEN: u32 = 7;
    /// A traced Go process started a goroutine: a [`GoSpawnRecord`].
    pub const GO_SPAWN: u32 = 8;
    /// A goroutine of a traced Go process handed an HTTP request to the
    /// connection goroutine that writes it (net/http's client): a
    /// [`GoSpawnRecord`] whose `parent_g` hands to `child_g`.
    pub const GO_HANDOFF: u32 = 9;
    /// A traced process closed a descriptor of a TCP socket that other
    /// references still hold (a dup, a forked child's copy, a descriptor
    /// passed over a unix socket): the connection goes on without this
    /// process. `role` is one of [`release`](super::release).
    pub const RELEASE: u32 = 10;
}

/// What the other references of a [`kind::RELEASE`] may be, from the
/// closer's descriptor table.
pub mod release {
    /// The table is the process's own: the other references are
    /// descriptors (or a message in flight) that outlive this close.
    pub const HELD: u32 = 0;
    /// The table is shared with other threads, each of which holds the
    /// file while inside a syscall on it: the other references may be
    /// such calls only, and end with them.
    pub const THREADS: u32 = 1;
}

/// Bits of a `TARGETS` value: what is known of a traced process, so the
/// syscall hooks look in the TLS and Go maps only for processes that use
/// them.
pub mod target {
    /// Traced: every entry has it (the agent writes it alone; the fork hook
    /// copies the parent's [`TLS`]).
    pub const TRACED: u32 = 1;
    /// The process entered a hooked TLS function (OpenSSL's or Go's): set
    /// by the entry probe itself, so before any syscall that call makes.
    pub const TLS: u32 = 2;
    /// A Go process whose goroutines are followed: set by the agent when it
    /// hooks the executable, and by the first goroutine start seen.
    pub const GO: u32 = 4;
}

/// Bits of `FILTER[0]`, set by the agent.
pub mod filter {
    /// Processes in a cgroup of `CGROUPS` are traced.
    pub const CGROUPS: u32 = 1;
    /// Report every exec (the agent matches executables).
    pub const EXEC: u32 = 2;
    /// Report every listen() (the agent matches ports).
    pub const LISTEN: u32 = 4;
}

/// A process lifecycle record (kinds PROC_* and LISTEN).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcRecord {
    pub kind: u32,
    pub aux: u32,
    pub ts_ns: u64,
    pub pid_tgid: u64,
    /// The task's command name at the hook (for PROC_EXEC: the new
    /// program's), so a process that is gone before the agent reads /proc
    /// still has a name.
    pub comm: [u8; 16],
}
const _: () = assert!(core::mem::size_of::<ProcRecord>() == 40);

/// A goroutine started by another (Go's `runtime.newproc1`): lets the agent
/// follow a request from the goroutine that read it to the goroutines that
/// serve it. Goroutines are named by their `g` address, which the runtime
/// reuses: a spawn record is also the end of whatever that `g` did before.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GoSpawnRecord {
    /// [`kind::GO_SPAWN`].
    pub kind: u32,
    pub _pad: u32,
    pub ts_ns: u64,
    pub pid_tgid: u64,
    /// The goroutine that ran the `go` statement.
    pub parent_g: u64,
    /// The new goroutine.
    pub child_g: u64,
}
const _: () = assert!(core::mem::size_of::<GoSpawnRecord>() == 40);

/// Which way the bytes of a DATA event went, seen from the traced process.
pub mod direction {
    /// The process received the bytes (read, recvfrom, recvmsg, readv).
    pub const INGRESS: u32 = 0;
    /// The process sent the bytes (write, sendto, sendmsg, writev).
    pub const EGRESS: u32 = 1;
}

/// How the traced process came to own the socket of an OPEN event.
pub mod role {
    /// Not known: the connection predates the agent.
    pub const UNKNOWN: u32 = 0;
    /// The process accepted the connection: it is the server.
    pub const SERVER: u32 = 1;
    /// The process connected out: it is the client.
    pub const CLIENT: u32 = 2;
}

/// Syscalls swit hooks, carried in DATA events for diagnostics.
pub mod syscall {
    pub const READ: u32 = 0;
    pub const WRITE: u32 = 1;
    pub const READV: u32 = 2;
    pub const WRITEV: u32 = 3;
    pub const RECVFROM: u32 = 4;
    pub const SENDTO: u32 = 5;
    pub const RECVMSG: u32 = 6;
    pub const SENDMSG: u32 = 7;
    pub const ACCEPT: u32 = 8;
    pub const CONNECT: u32 = 9;
    /// Bytes sent from a file (nginx's static files): the length travels,
    /// the bytes do not, so the stream stays whole without a gap.
    pub const SENDFILE: u32 = 10;
    /// Plaintext returned by SSL_read(_ex) or passed to SSL_write(_ex)
    /// (a uretprobe, not a syscall): see [`data_flags::TLS`].
    pub const SSL: u32 = 11;
    /// Plaintext of Go's crypto/tls.(*Conn).Read/Write (uprobes at the
    /// entry and at every RET): see [`data_flags::TLS`].
    pub const GO_TLS: u32 = 12;
}

/// Bits of [`DataHeader::flags`].
pub mod data_flags {
    /// The chunk is TLS plaintext from a TLS library: `seq` counts
    /// plaintext bytes of the connection's direction (from 0 when the
    /// kernel first tied the socket to its TLS session), not TCP bytes.
    pub const TLS: u32 = 1;
}

/// Indices of the kernel's per-CPU counter array (`COUNTERS`).
pub mod counter {
    /// Records the ring buffer had no room for; their bytes become a gap.
    pub const RINGBUF_FULL: u32 = 0;
    /// Chunks whose bytes were cut to the capture limit (length still sent).
    pub const TRUNCATED: u32 = 1;
    /// `bpf_probe_read_user` failures while copying a payload.
    pub const READ_FAILED: u32 = 2;
    /// Syscalls with more iovecs than the kernel side walks; the rest is sent as a length.
    pub const IOV_OVERFLOW: u32 = 3;
    /// A call or process could not be remembered, so it was not traced: a
    /// thread's storage for its syscall in flight could not be allocated
    /// (or was busy: a program nested on the CPU), or a table of calls in
    /// flight (TLS, Go) or of processes (`TARGETS`, `GO_PROCS`) was full.
    /// The syscall path's old 32768-entry table no longer exists.
    pub const INFLIGHT_FULL: u32 = 4;
    /// Kernel structure reads (fd table, socket) that failed.
    pub const SOCK_READ_FAILED: u32 = 5;
    /// DATA records submitted.
    pub const DATA_EVENTS: u32 = 6;
    /// OPEN and CLOSE records submitted.
    pub const CONN_EVENTS: u32 = 7;
    /// Syscalls on a socket tied to a TLS session: ciphertext, not sent.
    pub const TLS_CIPHERTEXT: u32 = 8;
    /// TLS plaintext dropped because its SSL object was not (yet) tied to a
    /// socket, so it had no connection to belong to.
    pub const TLS_UNBOUND: u32 = 9;
    /// Go crypto/tls calls whose tls.Conn did not lead to a TCP socket (the
    /// net.Conn inside is not a *net.TCPConn, or a read failed): their
    /// plaintext is not sent.
    pub const GO_TLS_NO_SOCK: u32 = 10;
    /// Number of counters; the array's size.
    pub const COUNT: u32 = 11;
}

/// The largest payload prefix one DATA record can carry. The agent's
/// `--capture-bytes` may lower it, never raise it.
pub const MAX_CAPTURE: u32 = 16384;

/// Payload buckets. A record is reserved at the smallest bucket that holds
/// its bytes, so a 40-byte request does not take 16 KiB of ring space.
pub const BUCKETS: [u32; 4] = [256, 1024, 4096, MAX_CAPTURE];

/// iovecs walked per readv/writev/recvmsg/sendmsg (gathered into one
/// record); bytes past them are sent as a length so the agent keeps its
/// place. grpcio writes a message as one iovec per header name and value.
pub const MAX_IOV: u32 = 64;

/// Address family values as the kernel stores them.
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

/// A TCP connection's endpoints as the traced process sees them.
///
/// Ports are in host byte order; addresses are network order, IPv4 in the
/// first four bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SockTuple {
    pub family: u16,
    pub local_port: u16,
    pub remote_port: u16,
    pub _pad: u16,
    pub local_addr: [u8; 16],
    pub remote_addr: [u8; 16],
}
const _: () = assert!(core::mem::size_of::<SockTuple>() == 40);

/// The header every ring-buffer record starts with.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EventHeader {
    /// One of [`kind`].
    pub kind: u32,
    /// For OPEN: one of [`role`]; for RELEASE: one of [`release`].
    /// Otherwise 0.
    pub role: u32,
    /// `bpf_ktime_get_ns` at the syscall's exit (CLOCK_MONOTONIC).
    pub ts_ns: u64,
    /// `bpf_get_current_pid_tgid`: tgid in the high half, thread id in the low.
    pub pid_tgid: u64,
    /// Address of the kernel's `struct sock`: the connection's identity
    /// while it lives (the agent pairs it with the tuple against reuse).
    pub sock: u64,
    pub tuple: SockTuple,
}
const _: () = assert!(core::mem::size_of::<EventHeader>() == 72);

/// The fixed part of a DATA record; `captured` payload bytes follow it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct DataHeader {
    pub hdr: EventHeader,
    /// `bpf_ktime_get_ns` at the syscall's entry.
    pub enter_ns: u64,
    /// TCP sequence number of the chunk's first byte in its direction
    /// (`copied_seq`/`write_seq` based), so chunks order themselves and
    /// bytes moved by calls swit does not see (sendfile, splice) show as gaps.
    /// For TLS plaintext ([`data_flags::TLS`]): the plaintext byte offset.
    pub seq: u32,
    /// Bytes this chunk stands for in the stream.
    pub len: u32,
    /// Bytes of the chunk actually copied after this header (`<= len`).
    pub captured: u32,
    /// One of [`direction`].
    pub direction: u32,
    /// One of [`syscall`].
    pub syscall: u32,
    /// Bits of [`data_flags`].
    pub flags: u32,
    /// In a Go process whose goroutine starts swit follows: the `g` of the
    /// goroutine that made the call (R14 under Go's register ABI); else 0.
    pub g: u64,
}
const _: () = assert!(core::mem::size_of::<DataHeader>() == 112);

/// A DATA record as reserved in the ring buffer for one payload bucket.
#[repr(C)]
pub struct DataEvent<const N: usize> {
    pub header: DataHeader,
    pub data: [u8; N],
}

/// Offsets of the kernel structure fields the programs read, found by the
/// agent in the running kernel's BTF and written into the programs' global
/// data before load. This is swit's CO-RE: one object, any kernel with BTF.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelOffsets {
    pub task_files: u32,
    pub files_fdt: u32,
    pub fdtable_max_fds: u32,
    pub fdtable_fd: u32,
    pub file_private_data: u32,
    pub file_inode: u32,
    pub inode_mode: u32,
    pub socket_sk: u32,
    pub sk_family: u32,
    pub sk_num: u32,
    pub sk_dport: u32,
    pub sk_rcv_saddr: u32,
    pub sk_daddr: u32,
    pub sk_v6_rcv_saddr: u32,
    pub sk_v6_daddr: u32,
    pub sk_type: u32,
    pub sk_protocol: u32,
    pub tcp_copied_seq: u32,
    pub tcp_write_seq: u32,
    pub task_pid: u32,
    pub task_tgid: u32,
    /// `files_struct.count`: how many tasks share the descriptor table.
    pub files_count: u32,
    /// The reference count of `struct file` (a long): `f_count` (up to
    /// 6.12), or `f_ref.refcnt` (6.13+, a `file_ref_t`).
    pub file_ref: u32,
    /// The value at `file_ref` of a file held once: 1 for `f_count`, 0 for
    /// `file_ref_t`, which stores the count minus one.
    pub file_ref_one: u32,
    /// Non-zero once the agent has filled the struct; programs do nothing until then.
    pub ready: u32,
}
const _: () = assert!(core::mem::size_of::<KernelOffsets>() == 100);

/// Run-time settings the agent writes into the programs' global data.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureConfig {
    /// Payload bytes copied per chunk, at most [`MAX_CAPTURE`]. Zero sends
    /// lengths only.
    pub capture_bytes: u32,
    /// Non-zero: hooks filter and return without emitting anything (the
    /// benchmark's hook-floor mode).
    pub hooks_only: u32,
    /// Records are queued without waking the agent, which polls every few
    /// milliseconds, until this many bytes wait in the ring; then the
    /// record wakes it. A wake-up is an interrupt to another CPU per record
    /// otherwise. Zero: wake on every record.
    pub wakeup_bytes: u32,
    /// Non-zero: `bpf_get_current_task_btf` and `bpf_task_pt_regs` may be
    /// called from tracepoints (5.15+), so a Go syscall's goroutine is read
    /// from its saved registers. Zero: the call is skipped (and pruned by
    /// the verifier, so the programs load where the helpers do not exist).
    pub task_regs: u32,
    /// Non-zero: `bpf_loop` (5.17+) walks a vectored syscall's iovecs (up
    /// to [`MAX_IOV`]). Zero: an unrolled loop walks the first 8, which
    /// older verifiers accept.
    pub bpf_loop: u32,
    /// Non-zero: every program returns at once, before any map or helper:
    /// what the kernel's own dispatch of the hooks costs (the benchmark's
    /// floor mode).
    pub floor: u32,
}
const _: () = assert!(core::mem::size_of::<CaptureConfig>() == 24);

/// Go binaries whose crypto/tls the agent hooks, at most: the size of
/// the kernel's `GO_TLS_BINS` array, indexed by the uprobes' cookie.
pub const MAX_GO_BINARIES: u32 = 64;

/// How to get from a Go `*tls.Conn` to its socket's file descriptor in one
/// Go binary: field offsets the agent reads from the binary's DWARF, so a
/// Go release that moves a field is followed rather than misread.
///
/// `tls.Conn.conn` is a `net.Conn` interface (itab, data); for a TCP
/// connection the data word is a `*net.TCPConn`, whose embedded
/// `net.conn.fd` is a `*net.netFD`, whose `pfd.Sysfd` is the fd.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GoTlsParams {
    /// Offset of `conn` (the net.Conn interface) in `crypto/tls.Conn`.
    pub conn: u32,
    /// Offset of `conn.fd` (the `*netFD`) in `net.TCPConn`.
    pub tcp_fd: u32,
    /// Offset of `pfd.Sysfd` in `net.netFD`.
    pub sysfd: u32,
    /// Non-zero once the agent filled this slot.
    pub ready: u32,
    /// Address of `go:itab.*net.TCPConn,net.Conn`: the interface's itab
    /// must be this for the data word to be a `*net.TCPConn`. Zero when
    /// not known (a position-independent binary): then only the socket
    /// checks of the fd lookup guard the walk.
    pub tcp_conn_itab: u64,
}
const _: () = assert!(core::mem::size_of::<GoTlsParams>() == 24);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: as below.
    unsafe impl aya::Pod for super::GoTlsParams {}
    // SAFETY: all of these are repr(C), made of integers and integer arrays,
    // with explicit padding fields, so every bit pattern is a valid value.
    unsafe impl aya::Pod for super::KernelOffsets {}
    unsafe impl aya::Pod for super::CaptureConfig {}
}
