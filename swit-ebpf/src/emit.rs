//! Payload records: one syscall's bytes into the ring, from one buffer
//! (`emit_chunk`) or gathered from its iovecs (`emit_iov`).

use core::ffi::c_void;

use aya_ebpf::{
    helpers::{
        bpf_probe_read_user,
        generated::{
            bpf_get_smp_processor_id, bpf_loop, bpf_probe_read_user as raw_probe_read_user,
        },
    },
    macros::map,
    maps::Array,
};
use swit_ebpf_common::{BUCKETS, DataEvent, DataHeader, MAX_CAPTURE, MAX_IOV, counter};

use crate::{EVENTS, config, count, wakeup};

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
pub(crate) fn emit_iov(h: &mut DataHeader, iov: u64, iovcnt: u32, len: u32, limit: u32) {
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
pub(crate) fn emit_chunk(h: &mut DataHeader, src: u64, len: u32, limit: u32) {
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
