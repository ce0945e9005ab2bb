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

/// Resident bytes now, from `/proc/self/statm`: a line of numbers, cheap
/// enough to read at every tick.
pub fn resident_now() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_ascii_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a constant of the system.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
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

    /// Past this resident size (what the start and a full heap explain)
    /// the allocator is asked to give back the pages it keeps, so that the
    /// whole slack is left for a burst between two ticks: a pipeline
    /// behind its reader took 14 MiB more in 50 ms.
    pub fn trim_mark(&self) -> u64 {
        self.limit - ALLOCATOR_SLACK
    }

    /// Past this resident size, even after a trim, what the allocator
    /// keeps is pages it cannot give back (freed chunks among live ones):
    /// only shedding live state frees them.
    pub fn resident_pressure(&self, resident: u64) -> bool {
        resident > self.limit - ALLOCATOR_SLACK / 4
    }

    /// What the reader may have queued for the pipeline: a quarter of the
    /// heap, so a stalled pipeline cannot take it all.
    pub fn reader_queue(&self) -> u64 {
        self.heap / 4
    }
}

/// Keeps the resident size under the bound by handing the allocator's
/// free pages back to the kernel when it nears the limit. The heap's count
/// does not see them: connections that come and go leave freed chunks in
/// every thread's arena, and under load (the pipeline behind, connections
/// shed and opened again) they grew past the slack.
#[derive(Debug, Default)]
pub struct Trimmer {
    /// A trim that gave back little waits until then: the pages held are
    /// in use, and walking the arenas again each tick would find none.
    quiet_until_ns: u64,
    /// Trims done, for the debug log.
    pub trims: u64,
}

/// Less than this given back makes the next trim wait a second.
const TRIM_WORTH: u64 = 1 << 20;

impl Trimmer {
    pub fn due(&self, budget: &Budget, resident: u64, now_ns: u64) -> bool {
        resident > budget.trim_mark() && now_ns >= self.quiet_until_ns
    }

    pub fn trimmed(&mut self, before: u64, after: u64, now_ns: u64) {
        self.trims += 1;
        if before.saturating_sub(after) < TRIM_WORTH {
            self.quiet_until_ns = now_ns + 1_000_000_000;
        }
    }

    /// The resident size, after a trim when one is due (a few hundred
    /// microseconds for a hundred MiB of arenas).
    pub fn keep(&mut self, budget: &Budget, now_ns: u64) -> u64 {
        let Some(before) = resident_now() else {
            return 0;
        };
        if !self.due(budget, before, now_ns) {
            return before;
        }
        give_back_freed();
        let after = resident_now().unwrap_or(before);
        self.trimmed(before, after, now_ns);
        log::debug!(
            "memory: resident {} MiB near the {} MiB bound; the allocator gave back {} KiB",
            before >> 20,
            budget.limit >> 20,
            before.saturating_sub(after) >> 10
        );
        after
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
