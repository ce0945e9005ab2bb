//! `swit-agent run`: wires the stages together and runs until a signal.
//!
//! Threads: the ring reader (copies records, never parses), this thread
//! (reorder -> connections -> protocols -> correlator), and the export
//! thread. Every queue between them is bounded and drops with a count.
use std::{
    io::{self, Write},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc::RecvTimeoutError,
    },
    time::{Duration, Instant},
};

use crate::{
    capture::{
        closing::Closing,
        conn::ConnTable,
        event::{ConnInfo, Event},
        listening::ListenCache,
        reader::{Reader, ReaderCounters},
        reorder::Reorder,
    },
    config::{ConfigError, Settings, Targets},
    export::{
        build,
        otlp::OtlpError,
        pipeline::{ExportCounters, ExportPipeline, SpanSender},
    },
    metrics::{Held, Snapshot, TlsSnapshot},
    preflight::{self, PreflightError},
    probe::{Probe, ProbeError, ProbeOptions, tls::TlsHooks},
    target::{
        TargetError,
        manager::{Follow, ProcChange, TargetManager},
        process::{ResourcePolicy, Resources},
    },
    trace::correlate::{Clock, Correlator, TraceOptions},
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
}

impl AgentError {
    /// Exit code: 2 for what the operator can fix, 1 for the rest.
    pub fn exit_code(&self) -> i32 {
        match self {
            AgentError::Config(_)
            | AgentError::Preflight(_)
            | AgentError::Target(_)
            | AgentError::Exporter(_) => 2,
            AgentError::Probe(
                ProbeError::Offsets(_) | ProbeError::Tracefs(_) | ProbeError::NoObject,
            ) => 2,
            _ => 1,
        }
    }
}

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

/// Runs with resolved settings (see `config`); the caller has already
/// handled `tracing.enabled: false`. `reload`, when given, is called on
/// SIGHUP and its targets replace the current ones.
pub fn run(settings: Settings, reload: Option<Reload>) -> Result<(), AgentError> {
    settings.check_runnable()?;
    let cfg = &settings.agent;
    preflight::check()?;
    // Built before the probes load, so a bad endpoint or TLS file costs
    // nothing but its one-line message.
    let built = build::build(&settings)?;
    let mut manager = TargetManager::new(cfg.targets.clone());

    let mut probe = Probe::load(&ProbeOptions {
        capture_bytes: cfg.capture_bytes,
        ring_bytes: cfg.ring_bytes,
        hooks_only: cfg.hooks_only,
    })?;
    for w in manager.start(&mut probe)? {
        log::warn!("{w}");
    }
    log::info!("kernel: {}", probe.kernel().summary());
    // Before the "tracing" line: what runs now is hooked by then.
    let mut tls = TlsHooks::new();
    tls.hook_system(&mut probe);
    tls.scan(manager.scan_pids(), &mut probe);
    let stop = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| AgentError::Export(e.into()))?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())
        .map_err(|e| AgentError::Export(e.into()))?;
    let reader_counters = Arc::new(ReaderCounters::default());
    let ring = probe.take_ring().expect("ring taken once");
    let (rx, reader) = Reader::start(ring, stop.clone(), reader_counters.clone());
    let export_counters = Arc::new(ExportCounters::default());
    let otlp_counters = built.otlp.clone();
    let (sender, pipeline) =
        ExportPipeline::start(built.sink, cfg.export_queue, export_counters.clone());
    log::info!(
        "tracing {}, {} hooks attached, {} TLS libraries hooked, spans to {}; Ctrl-C to stop",
        describe_targets(&cfg.targets, &manager),
        probe.attached(),
        tls.hooked(),
        built.description
    );
    let _ = io::stderr().flush();

    let mut stage = Stage::new(&settings);
    let mut last_tick = Instant::now();
    let mut last_check = Instant::now();
    let mut last_tls_scan = Instant::now();
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        match rx.recv_timeout(Duration::from_millis(50)) {
            // --capture-only: read and decoded, then dropped.
            Ok(_) if cfg.capture_only => {}
            Ok(batch) => stage.push(batch),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        stage.release(mono_now(), &sender);
        for change in std::mem::take(&mut stage.changes) {
            match manager.on_change(change, &mut probe) {
                Follow::Gone(pid) => stage.forget_pid(pid),
                Follow::Renamed(pid) | Follow::Added(pid) => {
                    stage.correlator.renamed(pid);
                    // A new program maps new libraries; a forked child
                    // maps its parent's.
                    if !matches!(change, ProcChange::Fork { .. }) {
                        tls.scan([pid], &mut probe);
                    }
                }
                Follow::Nothing => {}
            }
        }
        if last_tick.elapsed() >= Duration::from_millis(100) {
            last_tick = Instant::now();
            stage.tick(mono_now(), &sender);
        }
        if last_check.elapsed() >= Duration::from_secs(1) {
            last_check = Instant::now();
            for p in manager.rescan_cgroups(&mut probe) {
                log::debug!("PID {p} joined a traced cgroup");
            }
            // An exit whose record was lost: the PID may be reused by an
            // unrelated process, so stop tracing it.
            for p in manager.reap(&mut probe) {
                stage.forget_pid(p);
            }
        }
        // Libraries loaded late (Python's `import ssl`) show up here.
        if last_tls_scan.elapsed() >= TLS_RESCAN {
            last_tls_scan = Instant::now();
            tls.rescan(&manager.scan_pids(), &mut probe);
        }
        if hup.swap(false, Ordering::Relaxed) {
            match reload.as_ref().map(|r| r()) {
                None => log::warn!(
                    "SIGHUP: no configuration file to re-read (start with --config FILE)"
                ),
                Some(Err(e)) => log::warn!("SIGHUP: keeping the current targets: {e}"),
                Some(Ok(new)) => match manager.reload(new.agent.targets.clone(), &mut probe) {
                    Ok(warnings) => {
                        warnings.iter().for_each(|w| log::warn!("{w}"));
                        log::info!(
                            "SIGHUP: now tracing {}",
                            describe_targets(&new.agent.targets, &manager)
                        );
                    }
                    Err(e) => log::warn!("SIGHUP: keeping the current targets: {e}"),
                },
            }
        }
        if stopping {
            break;
        }
    }
    // The reader drains the ring once more after seeing the stop flag.
    stop.store(true, Ordering::Relaxed);
    reader.join();
    while let Ok(batch) = rx.try_recv() {
        stage.push(batch);
    }
    stage.finish(&sender);
    drop(sender);
    let export_result = pipeline.shutdown();

    let (open, serving, calls, resources) = stage.correlator.held();
    let snap = Snapshot {
        kernel: probe.counters(),
        records: reader_counters.records.load(Ordering::Relaxed),
        malformed_records: reader_counters.malformed.load(Ordering::Relaxed),
        reader_dropped: reader_counters.dropped.load(Ordering::Relaxed),
        connections: stage.conns.stats.opened,
        gap_bytes: stage.conns.stats.gap_bytes,
        stale_chunks: stage.conns.stats.stale_chunks,
        late_events: stage.reorder.late,
        undetected: stage.conns.stats.undetected,
        parse_errors: stage.correlator.stats.parse_errors,
        orphan_responses: stage.correlator.stats.orphan_responses,
        dropped_requests: stage.correlator.stats.dropped_requests,
        spans: stage.correlator.stats.spans,
        exported: export_counters.exported.load(Ordering::Relaxed),
        export_dropped: export_counters.dropped.load(Ordering::Relaxed),
        export_failed: export_counters.failed.load(Ordering::Relaxed),
        unsampled: stage.correlator.stats.unsampled,
        otlp: otlp_counters.as_deref().map(Into::into),
        held: Held {
            targets: manager.traced().len(),
            cgroups: manager.cgroups(),
            connections: stage.conns.len(),
            open_requests: open + serving + calls,
            resources,
        },
        tls: TlsSnapshot {
            libraries: tls.hooked(),
            connections: stage.conns.stats.tls,
            ciphertext_connections: stage.conns.stats.ciphertext,
        },
    };
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
}

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
        };
        let mut conns = ConnTable::new();
        let mut listening = ListenCache::default();
        conns.set_role_hint(Box::new(move |pid, tuple| listening.role_of(pid, tuple)));
        Stage {
            reorder: Reorder::new(),
            closing: Closing::default(),
            conns,
            correlator: Correlator::new(Clock::now(), opts, Box::new(resources)),
            scratch: Vec::new(),
            changes: Vec::new(),
        }
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
            Event::Proc { change, comm, .. } => {
                if let ProcChange::Exec { pid } = change {
                    self.correlator.name_hint(pid, comm);
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
    }

    fn close_now(&mut self, conn: &ConnInfo, sender: &SpanSender) {
        self.conns.close(conn, &mut self.scratch);
        self.emit(sender);
        self.correlator.forget_sock(conn.sock);
    }

    fn tick(&mut self, now: u64, sender: &SpanSender) {
        self.conns.tick(now, &mut self.scratch);
        self.emit(sender);
    }

    fn forget_pid(&mut self, pid: u32) {
        self.conns.forget_pid(pid);
        self.correlator.forget_pid(pid);
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
            "data sock={:x} pid={} tid={} g={:x} {:?} seq={} len={} {} -> {} {:?}",
            d.conn.sock,
            d.conn.pid,
            d.conn.tid,
            d.g,
            d.direction,
            d.seq,
            d.len,
            d.conn.tuple.local,
            d.conn.tuple.remote,
            String::from_utf8_lossy(&d.bytes[..d.bytes.len().min(60)])
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
