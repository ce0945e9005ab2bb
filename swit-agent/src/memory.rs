//! What the agent holds in memory, and the bound it keeps to
//! (`agent.limits.memory`).
//!
//! The binary installs [`CountingAlloc`], so the heap in use is known
//! exactly and at once: the resident size cannot tell, because the C
//! allocator keeps freed pages. The bound covers the whole process, so the
//! heap's share is what is left of it after what the process held before
//! any traffic (the ring buffer's mapping included) and a slack for what
//! the allocator holds beyond the bytes counted.
use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicUsize, Ordering},
};

static HEAP: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting the bytes it hands out.
pub struct CountingAlloc;

// SAFETY: every call is forwarded to `System` unchanged; the counter is
// only arithmetic on the sizes asked for.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            HEAP.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            HEAP.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        HEAP.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            HEAP.fetch_add(new_size, Ordering::Relaxed);
            HEAP.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

/// Heap bytes in use; 0 where [`CountingAlloc`] is not installed (the
/// library's unit tests), which never sheds anything.
pub fn heap_bytes() -> u64 {
    HEAP.load(Ordering::Relaxed) as u64
}

/// Returns the heap's free pages to the kernel. The C allocator keeps
/// what was freed for later allocations: after a large passing use (the
/// load's BTF parse) those pages stay resident though nothing uses them.
pub fn give_back_freed() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The process's resident and peak resident bytes (`VmRSS`, `VmHWM`).
pub fn resident() -> Option<(u64, u64)> {
    parse_status(&std::fs::read_to_string("/proc/self/status").ok()?)
}

fn parse_status(status: &str) -> Option<(u64, u64)> {
    let kib = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse::<u64>()
            .ok()
    };
    Some((kib("VmRSS:")? * 1024, kib("VmHWM:")? * 1024))
}

/// The least heap the bound must leave; below it the agent could not hold
/// even a few thousand idle connections.
pub const MIN_HEAP_BUDGET: u64 = 16 << 20;

/// Resident memory the heap's count does not see: the C allocator's
/// arenas for the agent's threads, chunk headers, and freed pages it keeps
/// after a burst. 10,000 connections opened at once with a 24 MiB heap
/// share took the process 42 MiB past its start size, the heap shedding
/// all along.
pub const ALLOCATOR_SLACK: u64 = 32 << 20;

/// Past this share of its budget the heap sheds connection state ...
const HIGH_PERCENT: u64 = 80;
/// ... until it is back under this share.
const LOW_PERCENT: u64 = 60;

/// The heap's share of the bound, and when to shed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// `agent.limits.memory`: the whole process.
    pub limit: u64,
    /// Heap bytes allowed: the limit less the fixed part.
    pub heap: u64,
}

/// Why the bound cannot be kept at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "agent.limits.memory is {limit} bytes, but the agent holds {fixed} bytes at start (the ring \
     buffer, mapped twice, included), which with {slack} for the allocator leaves less than {min} \
     for traffic: raise agent.limits.memory (or --memory-limit) or lower agent.capture.ring_bytes",
    slack = ALLOCATOR_SLACK,
    min = MIN_HEAP_BUDGET
)]
pub struct BudgetError {
    pub limit: u64,
    pub fixed: u64,
}

impl Budget {
    /// `resident_at_start`: what the process held before any traffic
    /// (code, libraries, loaded programs) with the ring mapped. The kernel
    /// maps every page of the ring when it is mapped (its data pages
    /// twice), so they are already in that figure. The heap gets the rest
    /// but [`ALLOCATOR_SLACK`].
    pub fn new(limit: u64, resident_at_start: u64) -> Result<Budget, BudgetError> {
        let fixed = resident_at_start;
        match limit.checked_sub(fixed + ALLOCATOR_SLACK) {
            Some(heap) if heap >= MIN_HEAP_BUDGET => Ok(Budget { limit, heap }),
            _ => Err(BudgetError { limit, fixed }),
        }
    }

    /// Whether to shed now: past the high mark, or, once shedding, until
    /// back under the low one (so one episode does not end and start
    /// again at every tick).
    pub fn shed(&self, heap: u64, shedding: bool) -> bool {
        let mark = if shedding { LOW_PERCENT } else { HIGH_PERCENT };
        heap * 100 > self.heap * mark
    }

    /// What the reader may have queued for the pipeline: a quarter of the
    /// heap, so a stalled pipeline cannot take it all.
    pub fn reader_queue(&self) -> u64 {
        self.heap / 4
    }
}

/// Parses a size: bytes, or a number with KiB, MiB or GiB (also K, M, G,
/// KB, MB, GB, all powers of 1024: memory, not disks).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    n.checked_mul(1 << shift)
}

#[cfg(test)]
#[path = "memory_tests.rs"]
mod tests;
