//! The ring-buffer reader: a thread that only copies records out and hands
//! them on in batches, so the kernel side never waits on parsing.
use std::{
    os::fd::AsRawFd,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc::{Receiver, SyncSender, TrySendError, sync_channel},
    },
    thread::JoinHandle,
};

use aya::maps::{MapData, RingBuf};

use super::event::{Event, decode};

/// Batches queued between the reader and the pipeline.
pub const QUEUE_BATCHES: usize = 4096;
/// Records per batch, at most.
const BATCH: usize = 256;
/// How often the reader looks at the ring when the kernel did not wake it.
const POLL_MS: i32 = 5;

#[derive(Debug, Default)]
pub struct ReaderCounters {
    pub records: AtomicU64,
    /// Records that could not be decoded.
    pub malformed: AtomicU64,
    /// Records dropped because the pipeline was behind.
    pub dropped: AtomicU64,
    /// Batches sent and not yet received (a gauge); the receiver counts
    /// them down.
    pub queued: AtomicU64,
}

pub struct Reader {
    handle: JoinHandle<()>,
}

impl Reader {
    /// Starts the reader thread. It stops when `stop` is set, after a last
    /// drain of the ring.
    pub fn start(
        ring: RingBuf<MapData>,
        stop: Arc<AtomicBool>,
        counters: Arc<ReaderCounters>,
    ) -> (Receiver<Vec<Event>>, Reader) {
        let (tx, rx) = sync_channel(QUEUE_BATCHES);
        let handle = std::thread::Builder::new()
            .name("swit-ring".into())
            .spawn(move || run(ring, stop, counters, tx))
            .expect("spawn reader thread");
        (rx, Reader { handle })
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
) {
    let fd = ring.as_raw_fd();
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(item) = ring.next() {
            counters.records.fetch_add(1, Ordering::Relaxed);
            match decode(&item) {
                Ok(e) => batch.push(e),
                Err(_) => {
                    counters.malformed.fetch_add(1, Ordering::Relaxed);
                }
            }
            if batch.len() >= BATCH {
                send(
                    &tx,
                    std::mem::replace(&mut batch, Vec::with_capacity(BATCH)),
                    &counters,
                );
            }
        }
        if !batch.is_empty() {
            send(&tx, batch, &counters);
        }
        if stopping {
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

fn send(tx: &SyncSender<Vec<Event>>, batch: Vec<Event>, counters: &ReaderCounters) {
    let n = batch.len() as u64;
    // Counted before the send so the receiver never counts below zero.
    counters.queued.fetch_add(1, Ordering::Relaxed);
    match tx.try_send(batch) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
            counters.queued.fetch_sub(1, Ordering::Relaxed);
            counters.dropped.fetch_add(n, Ordering::Relaxed);
        }
    }
}
