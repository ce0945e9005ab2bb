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
use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_kernel,
        generated::{bpf_get_current_task_btf, bpf_task_pt_regs},
    },
    macros::{map, uprobe},
    maps::{HashMap, LruHashMap},
    programs::ProbeContext,
};
use swit_ebpf_common::{GoSpawnRecord, counter, kind};

use crate::{EVENTS, count, is_traced};

/// Traced processes seen starting a goroutine (so: Go), by tgid.
#[map]
static GO_PROCS: HashMap<u32, u32> = HashMap::with_max_entries(16384, 0);

/// Threads inside newproc1: the caller's `g`, by pid_tgid. LRU: a thread
/// that dies inside newproc1 must not pin a slot.
#[map]
static GO_SPAWNING: LruHashMap<u64, u64> = LruHashMap::with_max_entries(4096, 0);

/// Offset of `r14` in the kernel's x86-64 `struct pt_regs` (r15, r14, ...):
/// fixed by the syscall entry code's layout.
const PT_REGS_R14: u64 = 8;

/// The calling goroutine's `g` if the current process is a marked Go
/// process, else 0.
#[inline(always)]
pub fn current_g(pid_tgid: u64) -> u64 {
    let tgid = (pid_tgid >> 32) as u32;
    // SAFETY: presence only.
    if unsafe { GO_PROCS.get(&tgid).is_none() } {
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
    if unsafe { GO_PROCS.get(&tgid).is_none() } && GO_PROCS.insert(&tgid, &1, 0).is_err() {
        count(counter::INFLIGHT_FULL);
    }
    let rec = GoSpawnRecord {
        kind: kind::GO_SPAWN,
        _pad: 0,
        // SAFETY: helper without arguments.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        pid_tgid,
        parent_g: parent,
        child_g: child,
    };
    if EVENTS.output(rec, 0).is_err() {
        count(counter::RINGBUF_FULL);
    }
    0
}
