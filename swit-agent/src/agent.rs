//! `swit-agent run`: starts everything, runs until a signal, stops.
//!
//! Threads: the ring reader (copies records, never parses), this thread
//! (the `stage`: reorder -> connections -> protocols -> correlator), the
//! export thread, and, when asked for, the metrics server and the OTLP
//! metrics push. Every queue between them is bounded and drops with a
//! count. The probe and the reader live in a `session`, ended and
//! started again when `signals` switch tracing off and on.
mod session;
mod signals;
pub mod stage;
mod totals;

use std::{
    io::{self, Write},
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use swit_ebpf_common::counter;

pub use self::signals::Reload;
use self::{
    session::{Received, TracingSession},
    signals::Signals,
    stage::Stage,
    totals::Totals,
};
use crate::{
    capture::reader::ReaderCounters,
    config::{ConfigError, Settings, Targets},
    export::{
        build,
        otlp::{OtlpError, metrics::MetricsClient},
        pipeline::{ExportCounters, ExportPipeline},
    },
    memory::{self, Budget, BudgetError},
    metrics::{
        board::Board,
        push::OtlpPush,
        server::{self, MetricsServer},
    },
    preflight::{self, PreflightError},
    probe::ProbeError,
    selection::TargetError,
    trace::correlate::Clock,
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
    /// The SIGINT, SIGTERM, SIGHUP or SIGUSR1 handler could not be set.
    #[error("cannot handle signals: {0}")]
    Signals(#[source] io::Error),
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

/// How often traced processes' maps are read again for TLS libraries.
const TLS_RESCAN: Duration = Duration::from_secs(2);

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
    let signals = Signals::register().map_err(AgentError::Signals)?;

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
    let budget = Budget::new(cfg.memory_limit, resident)?;
    log::info!(
        "memory: {} MiB at start, the {} MiB ring (mapped twice) included; agent.limits.memory {} MiB leaves {} MiB for traffic",
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
    if let Some(s) = &session {
        s.introduce(&mut stage);
    }
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

    let mut trimmer = memory::Trimmer::default();
    let mut last_tick = Instant::now();
    let mut last_check = Instant::now();
    let mut last_tls_scan = Instant::now();
    let mut last_publish = Some(Instant::now());
    loop {
        let stopping = signals.stopping();
        let wait = Duration::from_millis(50);
        match session.as_ref().map(|s| s.recv(wait)) {
            // --capture-only: read and decoded, then dropped.
            Some(Received::Batch(_)) if cfg.capture_only => {}
            Some(Received::Batch(batch)) => {
                stage.drained(batch.drained_ns);
                stage.push(batch);
            }
            Some(Received::Idle) => {}
            Some(Received::Closed) => break,
            None => std::thread::park_timeout(wait),
        }
        stage.release(Clock::mono_ns(), &sender);
        if let Some(s) = session.as_mut() {
            s.follow(&mut stage, &sender);
        }
        if last_tick.elapsed() >= Duration::from_millis(100) {
            last_tick = Instant::now();
            let now = Clock::mono_ns();
            stage.tick(now, &sender);
            let resident = trimmer.keep(&budget, now);
            stage.keep_to(&budget, resident);
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
        match signals.switch(&settings, reload.as_ref(), session.as_mut(), &mut targets) {
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
                        s.introduce(&mut stage);
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

/// The "tracing ..." line (scripts and tests wait for it) and the stable
/// readiness line, once the probes are attached and the reader runs.
fn announce(prefix: &str, session: Option<&TracingSession>, targets: &Targets, description: &str) {
    let Some(s) = session else { return };
    log::info!(
        "{prefix}tracing {}, {} hooks attached, {} TLS libraries hooked, spans to {description}; Ctrl-C to stop",
        s.describe(targets),
        s.probe.attached(),
        s.tls.hooked(),
    );
    // Printed whatever RUST_LOG says: `grep -m1 '^swit-agent ready'`.
    eprintln!("swit-agent ready");
    let _ = io::stderr().flush();
}
