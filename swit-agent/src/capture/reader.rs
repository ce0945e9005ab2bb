//! The ring-buffer reader: a thread that only copies records out and hands
//! them on in batches, so the kernel side never waits on parsing.
use std::{
    ops::{Deref, DerefMut},
    os::fd::AsRawFd,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel},
    },
    thread::JoinHandle,
};

use aya::maps::{MapData, RingBuf};

use super::event::{Event, decode};

/// Batches queued between the reader and the pipeline.
pub const QUEUE_BATCHES: usize = 4096;
/// Records per batch, at most.
const BATCH: usize = 256;
/// How often the reader looks at the ring when the kernel did not wake it
/// (it does at an eighth full). Each look that finds records costs three
/// thread wake-ups down the pipeline, which at a few thousand requests a
/// second weighed more than the records; records waiting longer are still
/// in order, as long as this stays well inside the reordering window
/// (`reorder::WINDOW_NS`, 20 ms): a record read after its window closed
/// would be late.
const POLL_MS: i32 = 10;
const _: () = assert!(POLL_MS as u64 * 2_000_000 <= super::reorder::WINDOW_NS);
/// Emptied batch vectors handed back to the reader, at most: a new one is
/// a large allocation (it makes malloc consolidate its free lists).
const SPARE_BATCHES: usize = 8;

/// A batch of records from the reader: dereferences to its events and,
/// once dropped (the stage drains it), hands its emptied vector back to the
/// reader for a later batch. Dropped vectors beyond [`SPARE_BATCHES`], or
/// of another size (a carried backlog), are freed.
pub struct Batch {
    events: Vec<Event>,
    spare: SyncSender<Vec<Event>>,
}

impl Batch {
    pub fn new(events: Vec<Event>, spare: SyncSender<Vec<Event>>) -> Batch {
        Batch { events, spare }
    }
}

impl Deref for Batch {
    type Target = Vec<Event>;
    fn deref(&self) -> &Vec<Event> {
        &self.events
    }
}

impl DerefMut for Batch {
    fn deref_mut(&mut self) -> &mut Vec<Event> {
        &mut self.events
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        let mut v = std::mem::take(&mut self.events);
        if (BATCH..=2 * BATCH).contains(&v.capacity()) {
            v.clear();
            let _ = self.spare.try_send(v);
        }
    }
}

/// A vector for the next batch: a spare one if the pipeline handed one
/// back.
fn fresh(spare: &Receiver<Vec<Event>>) -> Vec<Event> {
    match spare.try_recv() {
        Ok(v) => v,
        Err(TryRecvError::Empty | TryRecvError::Disconnected) => Vec::with_capacity(BATCH),
    }
}

#[derive(Debug, Default)]
pub struct ReaderCounters {
    pub records: AtomicU64,
    /// Records that could not be decoded.
    pub malformed: AtomicU64,
    /// Records dropped because the pipeline was behind.
    pub dropped: AtomicU64,
    /// Bytes handed on and not yet taken (see [`ReaderCounters::taken`]).
    pub queued_bytes: AtomicU64,
    /// Most bytes queued at once (0: no bound but the batch count): a
    /// stalled pipeline must not hold the memory the bound gives the rest.
    pub queue_limit: AtomicU64,
}

impl ReaderCounters {
    /// The pipeline took `batch` off the queue.
    pub fn taken(&self, batch: &[Event]) {
        self.queued_bytes
            .fetch_sub(batch_bytes(batch), Ordering::Relaxed);
    }
}

/// What a batch holds in memory, near enough: the events and their payloads.
fn batch_bytes(batch: &[Event]) -> u64 {
    let payload: usize = batch
        .iter()
        .map(|e| match e {
            Event::Data(d) => d.bytes.capacity(),
            Event::Proc { comm, .. } => comm.capacity(),
            _ => 0,
        })
        .sum();
    (payload + std::mem::size_of_val(batch)) as u64
}

pub struct Reader {
    handle: JoinHandle<()>,
}

impl Reader {
    /// Starts the reader thread. It stops when `stop` is set, after a last
    /// drain of the ring. Returns the batches' queue and where to hand
    /// emptied batch vectors back (see [`Batch`]).
    pub fn start(
        ring: RingBuf<MapData>,
        stop: Arc<AtomicBool>,
        counters: Arc<ReaderCounters>,
    ) -> (Receiver<Vec<Event>>, SyncSender<Vec<Event>>, Reader) {
        let (tx, rx) = sync_channel(QUEUE_BATCHES);
        let (spare_tx, spare) = sync_channel(SPARE_BATCHES);
        let handle = std::thread::Builder::new()
            .name("swit-ring".into())
            .spawn(move || run(ring, stop, counters, tx, spare))
            .expect("spawn reader thread");
        (rx, spare_tx, Reader { handle })
    }

    pub fn join(self) {
        let _ = self.handle.join();
    }
}

fn run(
    mut ring: RingBuf<MapData>,
    stop: Arc<AtomicBool>,
    counters: Arc<ReaderCounters>,
    tx: SyncSender<Vec<Event>>,
    spare: Receiver<Vec<Event>>,
) {
    let fd = ring.as_raw_fd();
    let mut queue = Queue {
        tx,
        counters: counters.clone(),
        carry: Vec::new(),
    };
    let mut batch = fresh(&spare);
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        while let Some(item) = ring.next() {
            counters.records.fetch_add(1, Ordering::Relaxed);
            match decode(&item) {
                Ok(e) => batch.push(e),
                Err(_) => {
                    counters.malformed.fetch_add(1, Ordering::Relaxed);
                }
            }
            if batch.len() >= BATCH {
                queue.send(std::mem::replace(&mut batch, fresh(&spare)));
            }
        }
        if !batch.is_empty() || !queue.carry.is_empty() {
            queue.send(std::mem::replace(&mut batch, fresh(&spare)));
        }
        if stopping {
            queue.finish();
            return;
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // The kernel queues records without waking this thread until the
        // ring holds an eighth of its size: the timeout is what picks up a
        // quiet trickle (and bounds how long a stop waits).
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, POLL_MS) };
    }
}

/// Control events kept while the pipeline is behind, at most.
const MAX_CARRY: usize = 65536;

/// The reader's side of the queue. When the pipeline is behind, payloads
/// go first: opens, closes and process changes are kept (carried to the
/// next batch if need be), since losing one leaks a connection's state or
/// loses a process, while a lost payload is a gap the parsers resync from.
struct Queue {
    tx: SyncSender<Vec<Event>>,
    counters: Arc<ReaderCounters>,
    carry: Vec<Event>,
}

impl Queue {
    fn send(&mut self, mut batch: Vec<Event>) {
        if !self.carry.is_empty() {
            let mut c = std::mem::take(&mut self.carry);
            c.append(&mut batch);
            batch = c;
        }
        let c = &self.counters;
        let limit = c.queue_limit.load(Ordering::Relaxed);
        if limit > 0 && c.queued_bytes.load(Ordering::Relaxed) + batch_bytes(&batch) > limit {
            self.drop_payloads(&mut batch);
        }
        if batch.is_empty() {
            return;
        }
        let bytes = batch_bytes(&batch);
        // Counted before the send: the pipeline may take it at once.
        c.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        match self.tx.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(mut b)) => {
                c.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                self.drop_payloads(&mut b);
                let room = MAX_CARRY.saturating_sub(self.carry.len());
                if b.len() > room {
                    c.dropped
                        .fetch_add((b.len() - room) as u64, Ordering::Relaxed);
                    b.truncate(room);
                }
                self.carry = b;
            }
            Err(TrySendError::Disconnected(b)) => {
                c.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                c.dropped.fetch_add(b.len() as u64, Ordering::Relaxed);
            }
        }
    }

    fn drop_payloads(&self, batch: &mut Vec<Event>) {
        let before = batch.len();
        batch.retain(|e| !matches!(e, Event::Data(_)));
        self.counters
            .dropped
            .fetch_add((before - batch.len()) as u64, Ordering::Relaxed);
    }

    /// At stop: what is still carried goes if there is room, else counts.
    fn finish(mut self) {
        if !self.carry.is_empty() {
            self.send(Vec::new());
        }
        let left = self.carry.len() as u64;
        self.counters.dropped.fetch_add(left, Ordering::Relaxed);
    }
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
