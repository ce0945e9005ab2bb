//! Goroutines in traced Go processes: which one made each syscall, and
//! which one started which.
//!
//! A Go server reads a request on one goroutine and may serve it on
//! another (grpc-go starts one per stream); any goroutine runs on any
//! thread. So in a Go process the thread says nothing about which request
//! a database call belongs to, and the goroutine does.
//!
//! - `runtime.newproc1(fn, callergp, ...)` gets a uprobe at its entry (the
//!   caller's `g` is an argument: RBX, or RDI in Go 1.17's longer
//!   signature) and one at every RET (the new `g` in RAX). Never a
//!   uretprobe on Go code (see `go_tls`). newproc1 runs on the system
//!   stack, so entry and RET are on one thread with no goroutine switch.
//! - The first spawn seen in a traced process marks it as Go: from then on
//!   its DATA records carry the calling goroutine's `g`, read from R14 of
//!   the user registers the syscall saved (Go 1.17+ amd64 keeps `g` there).
//!   Only marked processes are read this way: elsewhere R14 is any value.
//! - net/http's client does not write a request on the caller's goroutine:
//!   `(*persistConn).roundTrip` passes it over a channel to the
//!   connection's `writeLoop` goroutine. A uprobe at writeLoop's entry
//!   remembers each connection's writer; one at roundTrip's entry reports
//!   "this goroutine hands its request to that writer" (`GO_HANDOFF`).
use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_kernel,
        generated::{bpf_get_current_task_btf, bpf_task_pt_regs},
    },
    macros::{map, uprobe},
    maps::{HashMap, LruHashMap},
    programs::ProbeContext,
};
use swit_ebpf_common::{GoSpawnRecord, counter, kind, target};

use crate::{EVENTS, VIA_CGROUP, count, is_traced, set_target_bit, wakeup};

/// Processes traced by their cgroup alone (no `TARGETS` entry to hold
/// [`target::GO`]) seen starting a goroutine or marked Go by the agent.
#[map]
static GO_PROCS: HashMap<u32, u32> = HashMap::with_max_entries(16384, 0);

/// Threads inside newproc1: the caller's `g`, by pid_tgid. LRU: a thread
/// that dies inside newproc1 must not pin a slot.
#[map]
static GO_SPAWNING: LruHashMap<u64, u64> = LruHashMap::with_max_entries(4096, 0);

/// net/http client connections (`*persistConn`) and the goroutine that
/// writes for each, by (tgid, pc). LRU: connections come and go unseen.
#[map]
static HTTP_WRITERS: LruHashMap<GoObj, u64> = LruHashMap::with_max_entries(16384, 0);

/// net/http client connections whose first request was handed over before
/// their writer ran its first instruction: the caller's `g`, by (tgid, pc).
#[map]
static HTTP_EARLY: LruHashMap<GoObj, u64> = LruHashMap::with_max_entries(4096, 0);

/// An object of one process (addresses are per process).
#[repr(C)]
#[derive(Clone, Copy)]
struct GoObj {
    tgid: u32,
    _pad: u32,
    addr: u64,
}

/// Offset of `r14` in the kernel's x86-64 `struct pt_regs` (r15, r14, ...):
/// fixed by the syscall entry code's layout.
const PT_REGS_R14: u64 = 8;

/// The calling goroutine's `g` if the current process (whose `TARGETS`
/// bits are `bits`) is a marked Go process, else 0.
#[inline(always)]
pub fn current_g(pid_tgid: u64, bits: u32) -> u64 {
    if bits & target::GO == 0 {
        if bits & VIA_CGROUP == 0 {
            return 0;
        }
        let tgid = (pid_tgid >> 32) as u32;
        // SAFETY: presence only.
        if unsafe { GO_PROCS.get(&tgid).is_none() } {
            return 0;
        }
    }
    if crate::config().task_regs == 0 {
        return 0;
    }
    // SAFETY: the current task and its saved user registers, read with a
    // probe read that fails cleanly.
    unsafe {
        let regs = bpf_task_pt_regs(bpf_get_current_task_btf()) as u64;
        if regs == 0 {
            return 0;
        }
        bpf_probe_read_kernel((regs + PT_REGS_R14) as *const u64).unwrap_or(0)
    }
}

/// The process exited: its tgid may be reused by anything.
#[inline(always)]
pub fn forget(tgid: u32) {
    let _ = GO_PROCS.remove(&tgid);
}

#[inline(always)]
fn spawn_enter(callergp: u64) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if callergp == 0 || !is_traced(pid_tgid) {
        return 0;
    }
    let _ = GO_SPAWNING.insert(&pid_tgid, &callergp, 0);
    0
}

/// newproc1 entry, Go 1.18+: `(fn, callergp, callerpc, ...)`.
#[uprobe]
pub fn go_newproc1_rbx(ctx: ProbeContext) -> u32 {
    // SAFETY: the trapped registers.
    spawn_enter(unsafe { (*ctx.regs).rbx })
}

/// newproc1 entry, Go 1.17: `(fn, argp, narg, callergp, callerpc)`.
#[uprobe]
pub fn go_newproc1_rdi(ctx: ProbeContext) -> u32 {
    // SAFETY: the trapped registers.
    spawn_enter(unsafe { (*ctx.regs).rdi })
}

/// At a method's entry in a traced process: pid_tgid, the receiver (RAX)
/// as an object of the process, and the running goroutine (R14).
#[inline(always)]
fn receiver(ctx: &ProbeContext) -> Option<(u64, GoObj, u64)> {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_traced(pid_tgid) {
        return None;
    }
    // SAFETY: the trapped registers.
    let (addr, g) = unsafe { ((*ctx.regs).rax, (*ctx.regs).r14) };
    let key = GoObj {
        tgid: (pid_tgid >> 32) as u32,
        _pad: 0,
        addr,
    };
    Some((pid_tgid, key, g))
}

/// `(*persistConn).writeLoop` entry: the receiver in RAX, the writer in R14.
#[uprobe]
pub fn go_http_write_loop(ctx: ProbeContext) -> u32 {
    let Some((pid_tgid, key, g)) = receiver(&ctx) else {
        return 0;
    };
    let _ = HTTP_WRITERS.insert(&key, &g, 0);
    // SAFETY: value copied out.
    if let Some(caller) = unsafe { HTTP_EARLY.get(&key).copied() } {
        let _ = HTTP_EARLY.remove(&key);
        emit(kind::GO_HANDOFF, pid_tgid, caller, g);
    }
    0
}

/// `(*persistConn).roundTrip` entry: the caller (R14) hands its request
/// to the connection's writer.
#[uprobe]
pub fn go_http_round_trip(ctx: ProbeContext) -> u32 {
    let Some((pid_tgid, key, g)) = receiver(&ctx) else {
        return 0;
    };
    // SAFETY: value copied out.
    match unsafe { HTTP_WRITERS.get(&key).copied() } {
        Some(writer) => emit(kind::GO_HANDOFF, pid_tgid, g, writer),
        // A new connection whose writer has not started running yet: the
        // hand-off is reported when it does.
        None => {
            let _ = HTTP_EARLY.insert(&key, &g, 0);
        }
    }
    0
}

fn emit(k: u32, pid_tgid: u64, from: u64, to: u64) {
    let rec = GoSpawnRecord {
        kind: k,
        _pad: 0,
        // SAFETY: helper without arguments.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        pid_tgid,
        parent_g: from,
        child_g: to,
    };
    if EVENTS.output(rec, wakeup()).is_err() {
        count(counter::RINGBUF_FULL);
    }
}

/// A RET of newproc1: the new goroutine is in RAX.
#[uprobe]
pub fn go_newproc1_ret(ctx: ProbeContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    // SAFETY: this thread's own entry.
    let Some(&parent) = (unsafe { GO_SPAWNING.get(&pid_tgid) }) else {
        return 0;
    };
    let _ = GO_SPAWNING.remove(&pid_tgid);
    // SAFETY: the trapped registers.
    let child = unsafe { (*ctx.regs).rax };
    if child == 0 {
        return 0;
    }
    let tgid = (pid_tgid >> 32) as u32;
    // SAFETY: presence only.
    if !set_target_bit(tgid, target::GO)
        && unsafe { GO_PROCS.get(&tgid).is_none() }
        && GO_PROCS.insert(&tgid, &1, 0).is_err()
    {
        count(counter::INFLIGHT_FULL);
    }
    emit(kind::GO_SPAWN, pid_tgid, parent, child);
    0
}
