//! The single-threaded middle of the agent: records put back in order,
//! per-connection streams, protocol parsing and the correlator, which hands
//! finished spans to the export queue.
use std::sync::Arc;

use crate::{
    capture::{
        closing::Closing,
        conn::{ConnEvent, ConnTable},
        event::{ConnInfo, Event, ProcChange},
        listening::ListenCache,
        reorder::Reorder,
    },
    config::{ExporterKind, Settings},
    export::pipeline::SpanSender,
    memory::{self, Budget},
    trace::{
        correlate::{Clock, Correlator, TraceOptions},
        resource::{ResourcePolicy, Resources},
        span::Span,
    },
};

/// Reorder, connections, protocols, correlator: the single-threaded middle.
pub struct Stage {
    pub reorder: Reorder,
    /// Closes released by `reorder`, taking effect a little later.
    closing: Closing,
    pub conns: ConnTable,
    pub correlator: Correlator,
    scratch: Vec<ConnEvent>,
    /// Process changes released in order, for the target manager.
    pub changes: Vec<ProcChange>,
    /// Connections shed in the current memory episode, if one is going on.
    shedding: Option<u64>,
    /// Processes found gone without their exit record released yet, with
    /// when: see [`Stage::reaped`].
    reaped: Vec<(u32, u64)>,
    /// Events released by `reorder` and closes come due, kept for their
    /// capacity between calls.
    released: Vec<Event>,
    due: Vec<ConnInfo>,
    /// Spans made during one call, handed to the export queue together at
    /// its end.
    spans: Vec<Span>,
    /// The reader's drain mark; `u64::MAX` until one came (a stage fed
    /// directly, as in the harnesses, releases by the clock alone).
    drained_ns: u64,
}

/// How long a process found gone waits for its exit record before its
/// connections are closed anyway (the record was lost).
const REAP_GRACE_NS: u64 = 1_000_000_000;

/// Spans that make a handoff to the export thread on their own; fewer wait
/// for the next tick (100 ms). Each handoff wakes that thread: at a few
/// thousand requests a second, handing over every ring batch cost more in
/// wake-ups than the spans' encoding, and export batches for 200 ms anyway.
const HANDOFF_SPANS: usize = 256;

impl Stage {
    pub fn new(settings: &Settings) -> Self {
        let t = &settings.tracing;
        let resources = Resources::new(ResourcePolicy {
            agent: Some(settings.agent.clone()),
            service_name: t.service_name_configured.then(|| t.service_name.clone()),
            attributes: t
                .resource_attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        });
        let opts = TraceOptions {
            sampler: t.sampler,
            propagators: t.propagators.clone(),
            capture_headers: Arc::new(t.redaction.capture_headers.clone()),
            routes: settings.agent.routes.clone(),
            // Recorded only where something reads them: the Prometheus
            // endpoint or an OTLP collector.
            metric_series: (settings.agent.metrics_addr.is_some()
                || t.exporter.kind != ExporterKind::Console)
                .then_some(settings.agent.metric_series),
        };
        let mut conns = ConnTable::new();
        conns.set_idle_ns(settings.agent.idle_timeout.as_nanos() as u64);
        let mut listening = ListenCache::default();
        conns.set_role_hint(Box::new(move |pid, tuple| listening.role_of(pid, tuple)));
        Stage {
            reorder: Reorder::new(),
            closing: Closing::default(),
            conns,
            correlator: Correlator::new(Clock::now(), opts, Box::new(resources)),
            scratch: Vec::new(),
            changes: Vec::new(),
            shedding: None,
            reaped: Vec::new(),
            released: Vec::new(),
            due: Vec::new(),
            spans: Vec::new(),
            drained_ns: u64::MAX,
        }
    }

    /// The reader's latest drain mark (see
    /// [`crate::capture::reader::Batch::drained_ns`]): records
    /// are released for order up to it, not up to the clock.
    pub fn drained(&mut self, mark: u64) {
        self.drained_ns = match self.drained_ns {
            u64::MAX => mark,
            held => held.max(mark),
        };
    }

    /// Forgets every connection and request (tracing switched off: what
    /// is half seen now would never complete) and keeps the counters.
    pub fn reset(&mut self, settings: &Settings) {
        let old = std::mem::replace(self, Stage::new(settings));
        self.conns.stats = old.conns.stats;
        self.correlator.stats = old.correlator.stats;
        // Counters since the start: the metrics go on across a switch.
        self.correlator.red = old.correlator.red;
        self.reorder.late = old.reorder.late;
    }

    /// Takes a batch's events, leaving it empty (a reader's [`Batch`]
    /// then goes back to the reader).
    ///
    /// [`Batch`]: crate::capture::reader::Batch
    pub fn push(&mut self, mut batch: impl std::ops::DerefMut<Target = Vec<Event>>) {
        for e in batch.drain(..) {
            self.reorder.push(e);
        }
    }

    fn handle(&mut self, e: Event) {
        if log::log_enabled!(log::Level::Trace) {
            log_event(&e);
        }
        match e {
            Event::Data(d) => {
                self.closing.claimed(d.conn.sock, d.enter_ns);
                self.conns.data(d, &mut self.scratch)
            }
            Event::Open { conn, role } => {
                if let Some(old) = self.closing.reopened(conn.sock) {
                    self.close_now(&old);
                } else if self.conns.holds(conn.sock) {
                    // The kernel reused the socket of a connection whose
                    // end was never seen (a release whose other holder
                    // closed unseen, a lost record): it ended by now, and
                    // what it left open must not pair with the new one's.
                    self.close_now(&conn);
                }
                self.conns.open(&conn, role)
            }
            Event::Close { conn } => {
                self.closing.push(conn);
                return;
            }
            // Not the last reference: the connection goes on, held by
            // others (see `Closing` for a closer with threads).
            Event::Release { conn, threads } => {
                self.conns.release(&conn);
                if threads {
                    self.closing.push_probation(conn);
                }
                return;
            }
            // In order with the process's syscalls: its exit comes after
            // its last bytes.
            Event::Proc {
                change,
                comm,
                ts_ns,
            } => {
                if let ProcChange::Exec { pid } = change {
                    self.correlator.name_hint(pid, comm);
                }
                // The kernel closes what an exiting process left open, with
                // no close(2) to see: exchanges still open there end now, cut
                // short (a client that gave up, a server that crashed).
                if let ProcChange::Exit { pid } = change {
                    self.close_pid(pid, ts_ns);
                }
                self.changes.push(change);
            }
            Event::GoSpawn {
                pid, parent, child, ..
            } => self.correlator.go_spawn(pid, parent, child),
            Event::GoHandoff { pid, from, to, .. } => self.correlator.go_handoff(pid, from, to),
        }
        self.emit();
    }

    fn emit(&mut self) {
        let spans = &mut self.spans;
        for ev in self.scratch.drain(..) {
            self.correlator.on_event(ev, &mut |span| spans.push(span));
        }
    }

    /// Hands the spans made so far to the export queue, in one handoff.
    fn send_spans(&mut self, sender: &SpanSender) {
        sender.send_all(&mut self.spans);
    }

    pub fn release(&mut self, now: u64, sender: &SpanSender) {
        let mut out = std::mem::take(&mut self.released);
        self.reorder
            .release(now.min(self.drained_ns), &mut |e| out.push(e));
        for e in out.drain(..) {
            self.handle(e);
        }
        self.released = out;
        let mut due = std::mem::take(&mut self.due);
        self.closing.due(now, &mut |c| due.push(c));
        for c in due.drain(..) {
            self.close_now(&c);
        }
        self.due = due;
        self.forget_reaped(now, sender);
        if self.spans.len() >= HANDOFF_SPANS {
            self.send_spans(sender);
        }
    }

    fn close_now(&mut self, conn: &ConnInfo) {
        self.conns.close(conn, &mut self.scratch);
        self.emit();
        self.correlator.forget_sock(conn.sock);
    }

    pub fn tick(&mut self, now: u64, sender: &SpanSender) {
        let evicted = self.conns.stats.evicted;
        self.conns.tick(now, &mut self.scratch);
        if self.conns.stats.evicted > evicted {
            log::debug!(
                "forgot {} idle connection(s); {} held",
                self.conns.stats.evicted - evicted,
                self.conns.len()
            );
        }
        self.emit();
        self.send_spans(sender);
        self.forget_forgotten();
    }

    /// Past the high mark the least recently active eighth of the
    /// connections goes, each tick, until the heap is under the low mark
    /// (or nothing is left to forget). A resident size near the limit that
    /// a trim could not bring down sheds too: the pages held are freed
    /// chunks among live ones, which only forgetting live state gives back.
    pub fn keep_to(&mut self, budget: &Budget, resident: u64) {
        let heap = memory::heap_bytes();
        let past_heap = budget.shed(heap, self.shedding.is_some());
        let past_resident = budget.resident_pressure(resident);
        if !past_heap && !past_resident {
            if let Some(n) = self.shedding.take() {
                log::info!(
                    "memory: back under the bound (heap {} MiB, resident {} MiB) after forgetting {n} connections",
                    heap >> 20,
                    resident >> 20,
                );
            }
            return;
        }
        if self.shedding.is_none() {
            if past_heap {
                log::warn!(
                    "memory: heap {} MiB is past 80% of the {} MiB agent.limits.memory leaves for traffic; \
                     forgetting the least recently active connections (their requests in flight are lost; \
                     raise agent.limits.memory to keep them)",
                    heap >> 20,
                    budget.heap >> 20
                );
            } else {
                log::warn!(
                    "memory: resident {} MiB is near the {} MiB of agent.limits.memory in pages the allocator \
                     cannot give back; forgetting the least recently active connections (their requests in \
                     flight are lost; raise agent.limits.memory to keep them)",
                    resident >> 20,
                    budget.limit >> 20
                );
            }
        }
        // With nothing left to forget, what holds the heap is not
        // connection state (spans waiting for the collector, records
        // waiting for order), which has bounds of its own; the episode
        // stays open, so the warning is not repeated.
        let n = self.conns.shed((self.conns.len() / 8).max(1));
        *self.shedding.get_or_insert(0) += n as u64;
        self.forget_forgotten();
    }

    /// Connections the table let go without a close: the correlator's
    /// requests on them will never be answered.
    fn forget_forgotten(&mut self) {
        for sock in self.conns.take_forgotten() {
            self.correlator.forget_sock(sock);
        }
    }

    /// The connections of a process that ended close with it at `ts_ns`
    /// (one closed by close(2) just before keeps that time).
    fn close_pid(&mut self, pid: u32, ts_ns: u64) {
        for conn in self.conns.of_pid(pid, ts_ns) {
            let conn = self.closing.reopened(conn.sock).unwrap_or(conn);
            self.close_now(&conn);
        }
    }

    /// A traced process is gone: what it still has open closes at `ts_ns`
    /// (its exit record closed it already, unless the record was lost).
    pub fn forget_pid(&mut self, pid: u32, ts_ns: u64, sender: &SpanSender) {
        self.close_pid(pid, ts_ns);
        self.correlator.forget_pid(pid);
        self.send_spans(sender);
    }

    /// The once-a-second check found `pid` gone. Its last records, and its
    /// exit's, may still be on their way (held for order, or in the ring):
    /// closing its connections now would cut exchanges whose answers are
    /// about to arrive. They close after [`REAP_GRACE_NS`] and the
    /// reordering window, if the exit record has not closed them by then.
    pub fn reaped(&mut self, pid: u32) {
        self.reaped.push((pid, Clock::mono_ns()));
    }

    fn forget_reaped(&mut self, now_ns: u64, sender: &SpanSender) {
        let due = REAP_GRACE_NS + self.reorder.window_ns();
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.reaped)
            .into_iter()
            .partition(|&(_, at)| now_ns.saturating_sub(at) >= due);
        self.reaped = wait;
        for (pid, at) in ready {
            self.forget_pid(pid, at, sender);
        }
    }

    pub fn finish(&mut self, sender: &SpanSender) {
        let mut out = Vec::new();
        self.reorder.drain(&mut |e| out.push(e));
        for e in out {
            self.handle(e);
        }
        let mut due = Vec::new();
        self.closing.drain(&mut |c| due.push(c));
        for c in due {
            self.close_now(&c);
        }
        self.send_spans(sender);
    }
}

fn log_event(e: &Event) {
    match e {
        Event::Data(d) => log::trace!(
            // Never the payload: it holds what the spans redact.
            "data sock={:x} pid={} tid={} g={:x} {:?} seq={} len={} {} -> {}",
            d.conn.sock,
            d.conn.pid,
            d.conn.tid,
            d.g,
            d.direction,
            d.seq,
            d.len,
            d.conn.tuple.local,
            d.conn.tuple.remote,
        ),
        Event::Open { conn, role } => log::trace!(
            "open sock={:x} pid={} {role:?} {:?}",
            conn.sock,
            conn.pid,
            conn.tuple
        ),
        Event::Close { conn } => log::trace!(
            "close sock={:x} pid={} {:?}",
            conn.sock,
            conn.pid,
            conn.tuple
        ),
        Event::Release { conn, threads } => log::trace!(
            "release sock={:x} pid={} threads={threads} {:?}",
            conn.sock,
            conn.pid,
            conn.tuple
        ),
        Event::Proc { change, .. } => log::trace!("{change:?}"),
        Event::GoSpawn {
            pid, parent, child, ..
        } => log::trace!("go pid={pid} g={parent:x} started g={child:x}"),
        Event::GoHandoff { pid, from, to, .. } => {
            log::trace!("go pid={pid} g={from:x} hands a request to g={to:x}")
        }
    }
}
