//! `swit-agent run`: wires the stages together and runs until a signal.
//!
//! Threads: the ring reader (copies records, never parses), this thread
//! (reorder -> connections -> protocols -> correlator), the export thread,
//! and, when asked for, the metrics server and the OTLP metrics push. Every
//! queue between them is bounded and drops with a count.
mod session;
mod totals;

use std::{
    io::{self, Write},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use swit_ebpf_common::counter;

use self::{
    session::{Received, TracingSession},
    totals::Totals,
};
use crate::{
    capture::{
        closing::Closing,
        conn::ConnTable,
        event::{ConnInfo, Event, ProcChange},
        listening::ListenCache,
        reader::ReaderCounters,
        reorder::Reorder,
    },
    config::{ConfigError, Settings, Targets},
    export::{
        build,
        otlp::{OtlpError, metrics::MetricsClient},
        pipeline::{ExportCounters, ExportPipeline, SpanSender},
    },
    memory::{self, Budget, BudgetError},
    metrics::{
        board::Board,
        push::OtlpPush,
        server::{self, MetricsServer},
    },
    preflight::{self, PreflightError},
    probe::ProbeError,
    selection::{TargetError, manager::TargetManager},
    trace::{
        correlate::{Clock, Correlator, TraceOptions},
        resource::{ResourcePolicy, Resources},
    },
};

/// Why `run` stopped early.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error("exporter: {0}")]
    Exporter(#[from] OtlpError),
    #[error("export: {0}")]
    Export(anyhow::Error),
    #[error(transparent)]
    Memory(#[from] BudgetError),
    #[error(
        "metrics address {addr}: cannot listen: {source} (choose another --metrics-addr or agent.metrics_addr)"
    )]
    MetricsAddr {
        addr: String,
        #[source]
        source: io::Error,
    },
}

impl AgentError {
    /// Exit code: 2 for what the operator can fix, 1 for the rest.
    pub fn exit_code(&self) -> i32 {
        match self {
            AgentError::Config(_)
            | AgentError::Preflight(_)
            | AgentError::Target(_)
            | AgentError::Exporter(_)
            | AgentError::Memory(_)
            | AgentError::MetricsAddr { .. } => 2,
            AgentError::Probe(
                ProbeError::Offsets(_)
                | ProbeError::Tracefs(_)
                | ProbeError::NoObject
                | ProbeError::KernelTooOld(_),
            ) => 2,
            _ => 1,
        }
    }
}

/// How long a stop works off records already read before dropping them.
const STOP_DRAIN: Duration = Duration::from_secs(5);

/// How often traced processes' maps are read again for TLS libraries.
const TLS_RESCAN: Duration = Duration::from_secs(2);

fn mono_now() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Re-reads the configuration (SIGHUP): the file's targets may change.
pub type Reload = Box<dyn Fn() -> Result<Settings, ConfigError>>;

/// How often the main loop publishes its counters for the metrics
/// endpoint and the OTLP metrics thread.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// Runs with resolved settings (see `config`); the caller has already
/// handled `tracing.enabled: false` at start. `reload`, when given, is
/// called on SIGHUP: its targets replace the current ones and its
/// `tracing.enabled` switches tracing off or on. SIGUSR1 switches tracing
/// off or on.
pub fn run(settings: Settings, reload: Option<Reload>) -> Result<(), AgentError> {
    settings.check_runnable()?;
    let cfg = &settings.agent;
    preflight::check()?;
    // Built before the probes load, so a bad endpoint, TLS file or metrics
    // address costs nothing but its one-line message.
    let built = build::build(&settings)?;
    let listener = match cfg.metrics_addr {
        Some(addr) => Some(
            server::bind(addr).map_err(|source| AgentError::MetricsAddr {
                addr: addr.to_string(),
                source,
            })?,
        ),
        None => None,
    };
    let metrics_client = match built.otlp {
        Some(_) => Some(MetricsClient::new(&build::otlp_options(&settings))?),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicBool::new(false));
    let usr1 = Arc::new(AtomicBool::new(false));
    let signal = |sig, flag: &Arc<AtomicBool>| {
        signal_hook::flag::register(sig, flag.clone()).map_err(|e| AgentError::Export(e.into()))
    };
    signal(signal_hook::consts::SIGINT, &stop)?;
    signal(signal_hook::consts::SIGTERM, &stop)?;
    signal(signal_hook::consts::SIGHUP, &hup)?;
    signal(signal_hook::consts::SIGUSR1, &usr1)?;

    let board = Board::default();
    let server = match listener {
        Some(l) => {
            let addr = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
            let s =
                MetricsServer::start(l, board.clone()).map_err(|e| AgentError::Export(e.into()))?;
            log::info!("metrics on http://{addr}/metrics, health on http://{addr}/healthz");
            Some(s)
        }
        None => None,
    };
    let mut totals = Totals {
        reader: Arc::new(ReaderCounters::default()),
        export: Arc::new(ExportCounters::default()),
        otlp: built.otlp.clone(),
        kernel_before: [0; counter::COUNT as usize],
        memory_limit: 0,
        last_held: (0, 0, 0),
    };
    let mut targets = cfg.targets.clone();
    let mut session = Some(TracingSession::start(cfg, &targets, totals.reader.clone())?);
    // Measured now: what the process holds before any traffic (the probe
    // loaded). A session started again later is bound by the same budget.
    let (resident, _) = memory::resident().unwrap_or_default();
    let budget = Budget::new(cfg.memory_limit, resident, cfg.ring_bytes as u64)?;
    log::info!(
        "memory: {} MiB at start and the {} MiB ring (mapped twice); agent.limits.memory {} MiB leaves {} MiB for traffic",
        resident >> 20,
        cfg.ring_bytes >> 20,
        budget.limit >> 20,
        budget.heap >> 20
    );
    totals
        .reader
        .queue_limit
        .store(budget.reader_queue(), Ordering::Relaxed);
    totals.memory_limit = budget.limit;
    let (sender, pipeline) = ExportPipeline::start(
        built.sink,
        cfg.export_queue,
        cfg.span_queue_bytes(),
        totals.export.clone(),
    );
    let description = built.description;
    let mut stage = Stage::new(&settings);
    board.publish(totals.snapshot(&stage, session.as_ref()));
    announce("", session.as_ref(), &targets, &description);
    let push = metrics_client.map(|c| {
        log::debug!(
            "agent metrics to OTLP {} every {:?}",
            c.target,
            cfg.metrics_export_interval
        );
        OtlpPush::start(c, board.clone(), cfg.metrics_export_interval)
    });

    let mut last_tick = Instant::now();
    let mut last_check = Instant::now();
    let mut last_tls_scan = Instant::now();
    let mut last_publish = Some(Instant::now());
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let wait = Duration::from_millis(50);
        match session.as_ref().map(|s| s.recv(wait)) {
            // --capture-only: read and decoded, then dropped.
            Some(Received::Batch(_)) if cfg.capture_only => {}
            Some(Received::Batch(batch)) => stage.push(batch),
            Some(Received::Idle) => {}
            Some(Received::Closed) => break,
            None => std::thread::park_timeout(wait),
        }
        stage.release(mono_now(), &sender);
        if let Some(s) = session.as_mut() {
            s.follow(&mut stage, &sender);
        }
        if last_tick.elapsed() >= Duration::from_millis(100) {
            last_tick = Instant::now();
            stage.tick(mono_now(), &sender);
            stage.keep_to(&budget);
        }
        if last_check.elapsed() >= Duration::from_secs(1) {
            last_check = Instant::now();
            if let Some(s) = session.as_mut() {
                s.rescan(&mut stage);
            }
        }
        if last_tls_scan.elapsed() >= TLS_RESCAN {
            last_tls_scan = Instant::now();
            if let Some(s) = session.as_mut() {
                s.rescan_tls();
            }
        }
        let mut want: Option<(bool, &str)> = None;
        if usr1.swap(false, Ordering::Relaxed) {
            want = Some((session.is_none(), "SIGUSR1"));
        }
        if hup.swap(false, Ordering::Relaxed)
            && let Some(on) = reread(&settings, reload.as_ref(), session.as_mut(), &mut targets)
        {
            want = Some((on, "SIGHUP, tracing.enabled"));
        }
        match want {
            Some((false, why)) if !stopping => {
                if let Some(s) = session.take() {
                    board.switching();
                    totals.end(s, &mut stage, &sender, cfg.capture_only);
                    stage.reset(&settings);
                    last_publish = None;
                    log::info!("tracing switched off ({why}): every probe detached");
                }
            }
            Some((true, why)) if !stopping && session.is_none() => {
                board.switching();
                match TracingSession::start(cfg, &targets, totals.reader.clone()) {
                    Ok(s) => {
                        session = Some(s);
                        // Published before the readiness line: whoever
                        // waits on it finds /healthz saying ok.
                        board.publish(totals.snapshot(&stage, session.as_ref()));
                        announce(
                            &format!("tracing switched on ({why}): "),
                            session.as_ref(),
                            &targets,
                            &description,
                        );
                    }
                    Err(e) => log::warn!("{why}: cannot switch tracing on, staying off: {e}"),
                }
                last_publish = None;
            }
            _ => {}
        }
        if last_publish.is_none_or(|t| t.elapsed() >= PUBLISH_EVERY) {
            last_publish = Some(Instant::now());
            board.publish(totals.snapshot(&stage, session.as_ref()));
        }
        if stopping {
            break;
        }
    }
    if let Some(s) = session.take() {
        totals.end(s, &mut stage, &sender, cfg.capture_only);
    }
    drop(sender);
    let export_result = pipeline.shutdown();

    let snap = totals.summary(&stage);
    // The last push and the last scrape see the final counts.
    board.publish(snap.clone());
    drop(push);
    drop(server);
    if snap.losses() > 0 {
        log::warn!("stopped; {snap}");
    } else {
        log::info!("stopped; {snap}");
    }
    // What could not be delivered is counted in the summary above; a
    // collector that is away at shutdown is not the operator's mistake, so
    // the exit stays 0 (SIGINT/SIGTERM promise a clean stop).
    if let Err(e) = export_result {
        log::warn!("export at shutdown: {e:#}");
    }
    Ok(())
}

/// SIGHUP: re-reads the file, applies its targets (now, or at the next
/// switch-on), names the changed keys that wait for a restart, and
/// returns its `tracing.enabled` when that differs from
/// whether tracing is on.
fn reread(
    running: &Settings,
    reload: Option<&Reload>,
    session: Option<&mut TracingSession>,
    targets: &mut Targets,
) -> Option<bool> {
    let new = match reload.map(|r| r()) {
        None => {
            log::warn!("SIGHUP: no configuration file to re-read (start with --config FILE)");
            return None;
        }
        Some(Err(e)) => {
            log::warn!("SIGHUP: keeping the current targets: {e}");
            return None;
        }
        Some(Ok(new)) => new,
    };
    let waiting = crate::config::reload::needs_restart(running, &new);
    if !waiting.is_empty() {
        log::warn!(
            "SIGHUP: {} changed in the file; only tracing.enabled and agent.targets apply now, the rest at the next restart",
            waiting.join(", ")
        );
    }
    let on = new.tracing.enabled;
    let tracing = session.is_some();
    match session {
        Some(s) if on => match s.manager.reload(new.agent.targets.clone(), &mut s.probe) {
            Ok(warnings) => {
                warnings.iter().for_each(|w| log::warn!("{w}"));
                *targets = new.agent.targets;
                log::info!(
                    "SIGHUP: now tracing {}",
                    describe_targets(targets, &s.manager)
                );
            }
            Err(e) => log::warn!("SIGHUP: keeping the current targets: {e}"),
        },
        // Checked when tracing is switched on.
        _ => *targets = new.agent.targets,
    }
    (on != tracing).then_some(on)
}

/// The "tracing ..." line (scripts and tests wait for it) and the stable
/// readiness line, once the probes are attached and the reader runs.
fn announce(prefix: &str, session: Option<&TracingSession>, targets: &Targets, description: &str) {
    let Some(s) = session else { return };
    log::info!(
        "{prefix}tracing {}, {} hooks attached, {} TLS libraries hooked, spans to {description}; Ctrl-C to stop",
        describe_targets(targets, &s.manager),
        s.probe.attached(),
        s.tls.hooked(),
    );
    // Printed whatever RUST_LOG says: `grep -m1 '^swit-agent ready'`.
    eprintln!("swit-agent ready");
    let _ = io::stderr().flush();
}

/// `3 process(es) (PIDs 1 2 3), cgroup /sys/fs/cgroup/x, exe nginx, port 80`
fn describe_targets(t: &Targets, m: &TargetManager) -> String {
    let pids: Vec<String> = m.traced().iter().map(|p| p.to_string()).collect();
    let mut parts = Vec::new();
    // With only cgroup, exe or port targets, "0 processes" would read as
    // "nothing traced".
    if !pids.is_empty() || (t.cgroups.is_empty() && t.exes.is_empty() && t.ports.is_empty()) {
        parts.push(format!(
            "{} process(es) (PIDs {})",
            pids.len(),
            pids.join(" ")
        ));
    }
    parts.extend(t.cgroups.iter().map(|c| {
        let now = std::fs::read_to_string(c.join("cgroup.procs"))
            .map(|procs| procs.lines().count())
            .unwrap_or(0);
        format!("cgroup {} ({now} process(es) in it now)", c.display())
    }));
    parts.extend(t.exes.iter().map(|e| format!("exe {e}")));
    parts.extend(t.ports.iter().map(|p| format!("port {p}")));
    parts.join(", ")
}

/// Reorder, connections, protocols, correlator: the single-threaded middle.
struct Stage {
    reorder: Reorder,
    /// Closes released by `reorder`, taking effect a little later.
    closing: Closing,
    conns: ConnTable,
    correlator: Correlator,
    scratch: Vec<crate::capture::conn::ConnEvent>,
    /// Process changes released in order, for the target manager.
    changes: Vec<ProcChange>,
    /// Connections shed in the current memory episode, if one is going on.
    shedding: Option<u64>,
    /// Processes found gone without their exit record released yet, with
    /// when: see [`Stage::reaped`].
    reaped: Vec<(u32, u64)>,
}

/// How long a process found gone waits for its exit record before its
/// connections are closed anyway (the record was lost).
const REAP_GRACE_NS: u64 = 1_000_000_000;

impl Stage {
    fn new(settings: &Settings) -> Self {
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
        }
    }

    /// Forgets every connection and request (tracing switched off: what
    /// is half seen now would never complete) and keeps the counters.
    fn reset(&mut self, settings: &Settings) {
        let old = std::mem::replace(self, Stage::new(settings));
        self.conns.stats = old.conns.stats;
        self.correlator.stats = old.correlator.stats;
        self.reorder.late = old.reorder.late;
    }

    fn push(&mut self, batch: Vec<Event>) {
        for e in batch {
            self.reorder.push(e);
        }
    }

    fn handle(&mut self, e: Event, sender: &SpanSender) {
        if log::log_enabled!(log::Level::Trace) {
            log_event(&e);
        }
        match e {
            Event::Data(d) => self.conns.data(d, &mut self.scratch),
            Event::Open { conn, role } => {
                if let Some(old) = self.closing.reopened(conn.sock) {
                    self.close_now(&old, sender);
                }
                self.conns.open(&conn, role)
            }
            Event::Close { conn } => {
                self.closing.push(conn);
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
                    self.close_pid(pid, ts_ns, sender);
                }
                self.changes.push(change);
            }
            Event::GoSpawn {
                pid, parent, child, ..
            } => self.correlator.go_spawn(pid, parent, child),
            Event::GoHandoff { pid, from, to, .. } => self.correlator.go_handoff(pid, from, to),
        }
        self.emit(sender);
    }

    fn emit(&mut self, sender: &SpanSender) {
        for ev in self.scratch.drain(..) {
            self.correlator.on_event(ev, &mut |span| {
                sender.send(span);
            });
        }
    }

    fn release(&mut self, now: u64, sender: &SpanSender) {
        let mut out = Vec::new();
        self.reorder.release(now, &mut |e| out.push(e));
        for e in out {
            self.handle(e, sender);
        }
        let mut due = Vec::new();
        self.closing.due(now, &mut |c| due.push(c));
        for c in due {
            self.close_now(&c, sender);
        }
        self.forget_reaped(now, sender);
    }

    fn close_now(&mut self, conn: &ConnInfo, sender: &SpanSender) {
        self.conns.close(conn, &mut self.scratch);
        self.emit(sender);
        self.correlator.forget_sock(conn.sock);
    }

    fn tick(&mut self, now: u64, sender: &SpanSender) {
        let evicted = self.conns.stats.evicted;
        self.conns.tick(now, &mut self.scratch);
        if self.conns.stats.evicted > evicted {
            log::debug!(
                "forgot {} idle connection(s); {} held",
                self.conns.stats.evicted - evicted,
                self.conns.len()
            );
        }
        self.emit(sender);
        self.forget_forgotten();
    }

    /// Past the high mark the least recently active eighth of the
    /// connections goes, each tick, until the heap is under the low mark
    /// (or nothing is left to forget).
    fn keep_to(&mut self, budget: &Budget) {
        let heap = memory::heap_bytes();
        if !budget.shed(heap, self.shedding.is_some()) {
            if let Some(n) = self.shedding.take() {
                log::info!(
                    "memory: back under the bound (heap {} MiB) after forgetting {n} connections",
                    heap >> 20,
                );
            }
            return;
        }
        if self.shedding.is_none() {
            log::warn!(
                "memory: heap {} MiB is past 80% of the {} MiB agent.limits.memory leaves for traffic; \
                 forgetting the least recently active connections (their requests in flight are lost; \
                 raise agent.limits.memory to keep them)",
                heap >> 20,
                budget.heap >> 20
            );
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
    fn close_pid(&mut self, pid: u32, ts_ns: u64, sender: &SpanSender) {
        for conn in self.conns.of_pid(pid, ts_ns) {
            let conn = self.closing.reopened(conn.sock).unwrap_or(conn);
            self.close_now(&conn, sender);
        }
    }

    /// A traced process is gone: what it still has open closes at `ts_ns`
    /// (its exit record closed it already, unless the record was lost).
    fn forget_pid(&mut self, pid: u32, ts_ns: u64, sender: &SpanSender) {
        self.close_pid(pid, ts_ns, sender);
        self.correlator.forget_pid(pid);
    }

    /// The once-a-second check found `pid` gone. Its last records, and its
    /// exit's, may still be on their way (held for order, or in the ring):
    /// closing its connections now would cut exchanges whose answers are
    /// about to arrive. They close after [`REAP_GRACE_NS`] and the
    /// reordering window, if the exit record has not closed them by then.
    fn reaped(&mut self, pid: u32) {
        self.reaped.push((pid, mono_now()));
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

    fn finish(&mut self, sender: &SpanSender) {
        let mut out = Vec::new();
        self.reorder.drain(&mut |e| out.push(e));
        for e in out {
            self.handle(e, sender);
        }
        let mut due = Vec::new();
        self.closing.drain(&mut |c| due.push(c));
        for c in due {
            self.close_now(&c, sender);
        }
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
        Event::Proc { change, .. } => log::trace!("{change:?}"),
        Event::GoSpawn {
            pid, parent, child, ..
        } => log::trace!("go pid={pid} g={parent:x} started g={child:x}"),
        Event::GoHandoff { pid, from, to, .. } => {
            log::trace!("go pid={pid} g={from:x} hands a request to g={to:x}")
        }
    }
}
