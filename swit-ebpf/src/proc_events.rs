//! Process lifecycle: forks of traced processes are traced from their
//! first instruction; execs, exits and listens are reported to the agent.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};
use swit_ebpf_common::{ProcRecord, counter, filter, kind, target};

use crate::{
    ARG0, EVENTS, TARGETS, count, filter_flags, goroutines, is_traced, read_at, tcp_sock_of_fd,
    tls, wakeup,
};

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
    // SAFETY: map value copied out.
    let Some(&bits) = (unsafe { TARGETS.get(&parent) }) else {
        return 0;
    };
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
    // The child holds the parent's sockets, TLS ones included. Go's bit is
    // not copied: a Go process forks only to exec, and the mark would make
    // another program's R14 a goroutine.
    let bits = target::TRACED | (bits & target::TLS);
    if TARGETS.insert(tgid as u32, bits, 0).is_err() {
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
    let fd = crate::field(&ctx, ARG0);
    let Some(sk) = tcp_sock_of_fd(fd as u32) else {
        return 0;
    };
    // SAFETY: probe read.
    let port: u16 = unsafe { read_at(sk, off!(sk_num)) }.unwrap_or(0);
    emit_proc(kind::LISTEN, port as u32, bpf_get_current_pid_tgid());
    0
}
