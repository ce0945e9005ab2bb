//! The export stage: a bounded queue in front of one thread that batches
//! spans into a [`SpanSink`].
//!
//! The correlator must never wait on a slow sink (a stalled collector, a
//! paused terminal), so [`SpanSender::send`] drops when the queue is full,
//! counts the drop and warns once, as opentelemetry-rust's batch processor
//! does.
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError, sync_channel},
    },
    thread::JoinHandle,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::Context;

use super::SpanSink;
use crate::trace::span::Span;

/// Most spans handed to the sink in one `export` call.
pub const MAX_BATCH: usize = 512;
/// Longest a span waits in a partial batch.
pub const BATCH_TIMEOUT: Duration = Duration::from_millis(200);
/// How often the sink's `tick` is called.
pub const TICK_INTERVAL: Duration = Duration::from_millis(100);
/// Emptied handoff vectors the export thread keeps for senders, at most.
const SPARE_HANDOFFS: usize = 4;
/// Export failures are logged at most once per this period, with a count,
/// so a down collector does not flood the log.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Span counts for metrics; shared with whoever reports them.
#[derive(Debug, Default)]
pub struct ExportCounters {
    /// Spans the sink accepted.
    pub exported: AtomicU64,
    /// Spans dropped because the queue was full or the pipeline had stopped.
    pub dropped: AtomicU64,
    /// Spans in batches the sink rejected.
    pub failed: AtomicU64,
    /// Spans in the queue now (a gauge).
    pub queued: AtomicU64,
    /// Their [`Span::approx_bytes`], summed.
    pub queued_bytes: AtomicU64,
}

enum Msg {
    Span(Box<Span>),
    /// Spans handed over together (see [`SpanSender::send_all`]).
    Spans(Vec<Span>),
    Shutdown,
}

/// The producer side of the queue. Cheap to clone; never blocks.
#[derive(Clone)]
pub struct SpanSender {
    tx: SyncSender<Msg>,
    counters: Arc<ExportCounters>,
    warned: Arc<AtomicBool>,
    /// Handoff vectors the export thread emptied, for reuse (a new one
    /// per handoff is a large allocation).
    spare: Spare,
    /// Most spans queued (the queue's capacity), and their bytes.
    max_spans: u64,
    max_bytes: u64,
}

impl SpanSender {
    /// Queues `span` for export. Returns `false` if it was dropped.
    pub fn send(&self, span: Span) -> bool {
        let size = span.approx_bytes() as u64;
        if let Err(why) = self.admit(size) {
            self.dropped(1, why);
            return false;
        }
        let Err(e) = self.tx.try_send(Msg::Span(Box::new(span))) else {
            return true;
        };
        self.unadmit(1, size);
        self.dropped(1, why(&e));
        false
    }

    /// Queues `spans`, leaving the vector empty, as one handoff to the
    /// export thread (one message and one wake for all): each span is
    /// taken or dropped, in order, by the same bounds as [`send`], and the
    /// drops are counted the same way. Returns how many were dropped.
    ///
    /// [`send`]: SpanSender::send
    pub fn send_all(&self, spans: &mut Vec<Span>) -> usize {
        if spans.is_empty() {
            return 0;
        }
        let n = spans.len();
        let mut taken = self
            .spare
            .lock()
            .ok()
            .and_then(|mut s| s.pop())
            .unwrap_or_default();
        taken.reserve(n);
        let mut bytes = 0;
        let mut refused = None;
        for s in spans.drain(..) {
            let size = s.approx_bytes() as u64;
            match self.admit(size) {
                Ok(()) => {
                    bytes += size;
                    taken.push(s);
                }
                Err(why) => refused = refused.or(Some(why)),
            }
        }
        let mut dropped = n - taken.len();
        if let Some(why) = refused {
            self.dropped(dropped as u64, why);
        }
        if !taken.is_empty() {
            let k = taken.len();
            if let Err(e) = self.tx.try_send(Msg::Spans(taken)) {
                self.unadmit(k as u64, bytes);
                self.dropped(k as u64, why(&e));
                dropped += k;
            }
        }
        dropped
    }

    /// Counts a span of `size` bytes as queued, if the queue has room for
    /// it: by count, and by bytes (an empty queue takes any one span,
    /// however large). Counted before the send so the worker never counts
    /// below zero.
    fn admit(&self, size: u64) -> Result<(), &'static str> {
        let c = &self.counters;
        let spans = c.queued.fetch_add(1, Ordering::Relaxed);
        let before = c.queued_bytes.fetch_add(size, Ordering::Relaxed);
        if spans >= self.max_spans || (before > 0 && before + size > self.max_bytes) {
            self.unadmit(1, size);
            return Err("export queue full");
        }
        Ok(())
    }

    fn unadmit(&self, n: u64, bytes: u64) {
        self.counters.queued.fetch_sub(n, Ordering::Relaxed);
        self.counters
            .queued_bytes
            .fetch_sub(bytes, Ordering::Relaxed);
    }

    fn dropped(&self, n: u64, why: &str) {
        self.counters.dropped.fetch_add(n, Ordering::Relaxed);
        if !self.warned.swap(true, Ordering::Relaxed) {
            log::warn!("{why}: dropping spans (counted in dropped spans; warning only once)");
        }
    }
}

fn why(e: &TrySendError<Msg>) -> &'static str {
    match e {
        TrySendError::Full(_) => "export queue full",
        TrySendError::Disconnected(_) => "export stopped",
    }
}

/// The running export thread. Call [`ExportPipeline::shutdown`] to drain it;
/// dropping it does the same.
pub struct ExportPipeline {
    /// Used only to send `Shutdown`, which queues behind every span already
    /// sent, so nothing accepted before shutdown is lost.
    control: SyncSender<Msg>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

impl ExportPipeline {
    /// Starts the export thread. `queue_capacity` bounds the spans waiting
    /// for it (at least 1), and `queue_bytes` their size.
    pub fn start(
        sink: Box<dyn SpanSink>,
        queue_capacity: usize,
        queue_bytes: usize,
        metrics: Arc<ExportCounters>,
    ) -> (SpanSender, ExportPipeline) {
        let (tx, rx) = sync_channel(queue_capacity.max(1));
        let spare = Spare::default();
        let worker = Worker::new(sink, metrics.clone(), spare.clone());
        let thread = std::thread::Builder::new()
            .name("swit-export".to_string())
            .spawn(move || worker.run(rx));
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                // Without a thread every span is dropped and counted, which
                // is the same failure mode as a stuck sink, not a crash.
                log::error!("cannot start export thread: {e}");
                None
            }
        };
        let sender = SpanSender {
            tx: tx.clone(),
            counters: metrics,
            warned: Arc::new(AtomicBool::new(false)),
            spare,
            max_spans: queue_capacity.max(1) as u64,
            max_bytes: queue_bytes as u64,
        };
        (
            sender,
            ExportPipeline {
                control: tx,
                thread,
            },
        )
    }

    /// Stops taking spans, exports everything already queued, flushes the
    /// sink and waits for the thread. Senders still alive afterwards drop
    /// (and count) what they send.
    pub fn shutdown(mut self) -> anyhow::Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> anyhow::Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        // Blocks only while the queue is full, which the thread is draining;
        // fails only if the thread is gone, and join says why below.
        let _ = self.control.send(Msg::Shutdown);
        match thread.join() {
            Ok(result) => result,
            Err(_) => anyhow::bail!("export thread panicked"),
        }
    }
}

impl Drop for ExportPipeline {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            log::error!("export shutdown: {e:#}");
        }
    }
}

type Spare = Arc<Mutex<Vec<Vec<Span>>>>;

struct Worker {
    sink: Box<dyn SpanSink>,
    spare: Spare,
    counters: Arc<ExportCounters>,
    batch: Vec<Span>,
    /// When the first span of the current batch arrived.
    batch_started: Instant,
    errors: ErrorLog,
}

impl Worker {
    fn new(sink: Box<dyn SpanSink>, counters: Arc<ExportCounters>, spare: Spare) -> Self {
        Self {
            sink,
            spare,
            counters,
            batch: Vec::with_capacity(MAX_BATCH),
            batch_started: Instant::now(),
            errors: ErrorLog::default(),
        }
    }

    fn run(mut self, rx: Receiver<Msg>) -> anyhow::Result<()> {
        let mut next_tick = Instant::now() + TICK_INTERVAL;
        loop {
            let mut deadline = next_tick;
            if !self.batch.is_empty() {
                deadline = deadline.min(self.batch_started + BATCH_TIMEOUT);
            }
            let wait = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(Msg::Span(span)) => self.push(*span),
                Ok(Msg::Spans(spans)) => self.push_all(spans),
                Ok(Msg::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            let now = Instant::now();
            if !self.batch.is_empty() && now >= self.batch_started + BATCH_TIMEOUT {
                self.export();
            }
            if now >= next_tick {
                if let Err(e) = self.sink.tick(unix_now_ns()) {
                    self.errors.record("tick", 0, &e);
                }
                next_tick = now + TICK_INTERVAL;
            }
        }
        // Spans sent by other senders just before shutdown may sit behind
        // the Shutdown message; take them too.
        loop {
            match rx.try_recv() {
                Ok(Msg::Span(span)) => self.push(*span),
                Ok(Msg::Spans(spans)) => self.push_all(spans),
                Ok(Msg::Shutdown) => {}
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        // Closing the queue before the (possibly slow) flush makes late
        // senders drop at once instead of filling a queue nobody reads.
        drop(rx);
        self.export();
        self.errors.report_pending();
        self.sink.flush().context("flushing span sink")
    }

    /// A handoff's spans; its emptied vector goes back to the senders.
    fn push_all(&mut self, mut spans: Vec<Span>) {
        for s in spans.drain(..) {
            self.push(s);
        }
        if let Ok(mut spare) = self.spare.lock()
            && spare.len() < SPARE_HANDOFFS
        {
            spare.push(spans);
        }
    }

    fn push(&mut self, span: Span) {
        self.counters.queued.fetch_sub(1, Ordering::Relaxed);
        self.counters
            .queued_bytes
            .fetch_sub(span.approx_bytes() as u64, Ordering::Relaxed);
        if self.batch.is_empty() {
            self.batch_started = Instant::now();
        }
        self.batch.push(span);
        if self.batch.len() >= MAX_BATCH {
            self.export();
        }
    }

    fn export(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let n = self.batch.len() as u64;
        let result = self.sink.export(&mut self.batch);
        // Whatever the sink left is dropped here; the vector stays.
        self.batch.clear();
        match result {
            Ok(()) => {
                self.counters.exported.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters.failed.fetch_add(n, Ordering::Relaxed);
                self.errors.record("export", n, &e);
            }
        }
    }
}

/// Logs the first sink error at once, then at most one summary per
/// [`ERROR_LOG_INTERVAL`].
#[derive(Default)]
struct ErrorLog {
    last_logged: Option<Instant>,
    /// Errors and spans since the last log line.
    suppressed_errors: u64,
    suppressed_spans: u64,
}

impl ErrorLog {
    fn record(&mut self, what: &str, spans: u64, e: &anyhow::Error) {
        let due = self
            .last_logged
            .is_none_or(|t| t.elapsed() >= ERROR_LOG_INTERVAL);
        if due {
            log::error!(
                "span sink {what} failed: {e:#} (plus {} failures, {} spans, since the last report)",
                self.suppressed_errors,
                self.suppressed_spans
            );
            self.last_logged = Some(Instant::now());
            self.suppressed_errors = 0;
            self.suppressed_spans = 0;
        } else {
            self.suppressed_errors += 1;
            self.suppressed_spans += spans;
        }
    }

    fn report_pending(&mut self) {
        if self.suppressed_errors > 0 {
            log::error!(
                "span sink: {} more failures ({} spans) not reported before shutdown",
                self.suppressed_errors,
                self.suppressed_spans
            );
        }
    }
}

fn unix_now_ns() -> u64 {
    // A clock before 1970 or past 2554 is a broken host, not a reason to
    // stop exporting; 0 only makes the pretty console print sooner.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_nanos()).ok())
        .unwrap_or(0)
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
