//! Tests of pipeline.rs: the bounded queue, batches, drops and shutdown.
use std::sync::{Condvar, Mutex};

use super::*;
use crate::{
    export::testkit::MemorySink,
    trace::span::{Resource, SpanId, SpanKind, StatusCode, TraceId},
};

const DEADLINE: Duration = Duration::from_secs(10);

fn span(id: u8) -> Span {
    Span {
        trace_id: TraceId([1; 16]),
        span_id: SpanId([id; 8]),
        parent_span_id: None,
        flags: 1,
        trace_state: String::new(),
        name: format!("span {id}").into(),
        kind: SpanKind::Server,
        start_unix_ns: 1,
        end_unix_ns: 2,
        attributes: vec![],
        status: StatusCode::Unset,
        status_message: String::new(),
        resource: Arc::new(Resource {
            service_name: "svc".to_string(),
            attributes: vec![],
        }),
    }
}

/// A flag set by one thread and awaited, with a deadline, by another.
#[derive(Default)]
struct Signal {
    state: Mutex<u64>,
    cond: Condvar,
}

impl Signal {
    fn add(&self) {
        *self.state.lock().unwrap() += 1;
        self.cond.notify_all();
    }
    /// Waits until the count reaches `n`; false on deadline.
    fn wait_for(&self, n: u64) -> bool {
        let guard = self.state.lock().unwrap();
        let (guard, _) = self
            .cond
            .wait_timeout_while(guard, DEADLINE, |c| *c < n)
            .unwrap();
        *guard >= n
    }
}

/// Blocks in `export` until released, so the queue can be filled.
struct BlockingSink {
    entered: Arc<Signal>,
    release: Arc<Signal>,
    inner: MemorySink,
}

impl BlockingSink {
    /// The sink, its entered and release signals, and where it puts spans.
    fn new() -> (Self, Arc<Signal>, Arc<Signal>, MemorySink) {
        let entered = Arc::new(Signal::default());
        let release = Arc::new(Signal::default());
        let mem = MemorySink::default();
        let sink = BlockingSink {
            entered: entered.clone(),
            release: release.clone(),
            inner: mem.clone(),
        };
        (sink, entered, release, mem)
    }
}

impl SpanSink for BlockingSink {
    fn export(&mut self, batch: &mut Vec<Span>) -> anyhow::Result<()> {
        self.entered.add();
        self.release.wait_for(1);
        self.inner.export(batch)
    }
    fn flush(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The ids of the spans `mem` got, in order.
fn ids(mem: &MemorySink) -> Vec<SpanId> {
    mem.spans
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.span_id)
        .collect()
}

#[test]
fn sent_spans_reach_the_sink_by_shutdown() {
    let mem = MemorySink::default();
    let counters = Arc::new(ExportCounters::default());
    let (tx, pipeline) =
        ExportPipeline::start(Box::new(mem.clone()), 1024, usize::MAX, counters.clone());
    let tx2 = tx.clone();
    for i in 0..100 {
        assert!(tx.send(span(i)));
    }
    assert!(tx2.send(span(200)));
    pipeline.shutdown().unwrap();

    let got = mem.spans.lock().unwrap();
    assert_eq!(got.len(), 101);
    assert_eq!(got[0].span_id, SpanId([0; 8]));
    assert_eq!(counters.exported.load(Ordering::Relaxed), 101);
    assert_eq!(counters.dropped.load(Ordering::Relaxed), 0);

    // After shutdown the queue is closed: sends drop and count.
    assert!(!tx.send(span(1)));
    assert_eq!(counters.dropped.load(Ordering::Relaxed), 1);
}

#[test]
fn full_queue_drops_and_counts_without_blocking() {
    let (sink, entered, release, mem) = BlockingSink::new();
    let counters = Arc::new(ExportCounters::default());
    let (tx, pipeline) = ExportPipeline::start(Box::new(sink), 1, usize::MAX, counters.clone());

    assert!(tx.send(span(1)));
    // The thread takes span 1 and blocks exporting it (after the batch
    // timeout); then the queue holds one more, and the rest drop.
    assert!(entered.wait_for(1), "sink never called");
    assert!(tx.send(span(2)));
    assert!(!tx.send(span(3)));
    assert!(!tx.send(span(4)));
    assert_eq!(counters.dropped.load(Ordering::Relaxed), 2);

    release.add();
    pipeline.shutdown().unwrap();
    assert_eq!(ids(&mem), [1, 2].map(|i| SpanId([i; 8])));
    assert_eq!(counters.exported.load(Ordering::Relaxed), 2);
}

#[test]
fn the_queue_is_bounded_in_bytes_too() {
    let (sink, entered, release, mem) = BlockingSink::new();
    let one = span(0).approx_bytes();
    let counters = Arc::new(ExportCounters::default());
    // Room for 1000 spans by count, for three by size.
    let (tx, pipeline) = ExportPipeline::start(Box::new(sink), 1000, 3 * one, counters.clone());
    assert!(tx.send(span(1)));
    assert!(entered.wait_for(1), "sink never called");
    let sent: Vec<bool> = (2..=6).map(|i| tx.send(span(i))).collect();
    assert_eq!(sent, [true, true, true, false, false]);
    assert_eq!(counters.dropped.load(Ordering::Relaxed), 2);
    assert_eq!(
        counters.queued_bytes.load(Ordering::Relaxed),
        3 * one as u64
    );
    release.add();
    pipeline.shutdown().unwrap();
    assert_eq!(mem.spans.lock().unwrap().len(), 4);
    assert_eq!(counters.queued_bytes.load(Ordering::Relaxed), 0);
}

struct FailingSink {
    ticks: Arc<Signal>,
    flushed: Arc<Signal>,
}

impl SpanSink for FailingSink {
    fn export(&mut self, _batch: &mut Vec<Span>) -> anyhow::Result<()> {
        anyhow::bail!("collector unreachable")
    }
    fn tick(&mut self, now_unix_ns: u64) -> anyhow::Result<()> {
        assert!(now_unix_ns > 1_600_000_000_000_000_000);
        self.ticks.add();
        Ok(())
    }
    fn flush(&mut self) -> anyhow::Result<()> {
        self.flushed.add();
        Ok(())
    }
}

#[test]
fn failures_are_counted_ticks_run_and_flush_is_called() {
    let ticks = Arc::new(Signal::default());
    let flushed = Arc::new(Signal::default());
    let sink = FailingSink {
        ticks: ticks.clone(),
        flushed: flushed.clone(),
    };
    let counters = Arc::new(ExportCounters::default());
    let (tx, pipeline) = ExportPipeline::start(Box::new(sink), 16, usize::MAX, counters.clone());
    assert!(ticks.wait_for(2), "tick not called");
    for i in 0..3 {
        tx.send(span(i));
    }
    pipeline.shutdown().unwrap();
    assert!(flushed.wait_for(1));
    assert_eq!(counters.failed.load(Ordering::Relaxed), 3);
    assert_eq!(counters.exported.load(Ordering::Relaxed), 0);
}

#[test]
fn large_volume_is_split_into_bounded_batches() {
    struct Sizes(Arc<Mutex<Vec<usize>>>);
    impl SpanSink for Sizes {
        fn export(&mut self, batch: &mut Vec<Span>) -> anyhow::Result<()> {
            self.0.lock().unwrap().push(batch.len());
            Ok(())
        }
        fn flush(&mut self) -> anyhow::Result<()> {
            Ok(())
        }
    }
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let counters = Arc::new(ExportCounters::default());
    let (tx, pipeline) = ExportPipeline::start(
        Box::new(Sizes(sizes.clone())),
        4096,
        usize::MAX,
        counters.clone(),
    );
    for i in 0..1300u32 {
        assert!(tx.send(span(i as u8)));
    }
    drop(pipeline); // Drop drains like shutdown.
    let sizes = sizes.lock().unwrap();
    assert!(sizes.iter().all(|&n| n <= MAX_BATCH), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 1300);
    assert_eq!(counters.exported.load(Ordering::Relaxed), 1300);
}

#[test]
fn a_handoff_keeps_the_bounds_and_counts_its_drops() {
    let (sink, entered, release, mem) = BlockingSink::new();
    let counters = Arc::new(ExportCounters::default());
    // Room for three spans.
    let (tx, pipeline) = ExportPipeline::start(Box::new(sink), 3, usize::MAX, counters.clone());
    assert!(tx.send(span(1)));
    assert!(entered.wait_for(1), "sink never called");
    let mut spans: Vec<Span> = (2..=6).map(span).collect();
    assert_eq!(tx.send_all(&mut spans), 2);
    assert!(spans.is_empty());
    assert_eq!(counters.dropped.load(Ordering::Relaxed), 2);
    assert_eq!(counters.queued.load(Ordering::Relaxed), 3);
    assert_eq!(tx.send_all(&mut spans), 0, "nothing to hand over");
    release.add();
    pipeline.shutdown().unwrap();
    assert_eq!(ids(&mem), [1, 2, 3, 4].map(|i| SpanId([i; 8])));
    assert_eq!(counters.exported.load(Ordering::Relaxed), 4);
    assert_eq!(counters.queued.load(Ordering::Relaxed), 0);
    assert_eq!(counters.queued_bytes.load(Ordering::Relaxed), 0);

    // After shutdown a handoff drops and counts it all.
    let mut late = vec![span(7), span(8)];
    assert_eq!(tx.send_all(&mut late), 2);
    assert_eq!(counters.dropped.load(Ordering::Relaxed), 4);
}
