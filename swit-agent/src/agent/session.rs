//! One stretch of tracing: the kernel programs loaded and attached, the
//! targets in their maps, TLS libraries hooked and the ring reader running.
//! Switching tracing off (SIGUSR1, or a reload with `tracing.enabled:
//! false`) ends the session: the reader stops after a last drain and the
//! probe is dropped, which detaches every program and closes every map
//! (they are file descriptors aya holds; nothing is pinned). Switching it
//! on starts a new one, as at startup.
//!
//! Why not keep the loaded programs and detach only their links: the maps
//! would keep what they held at the switch (in-flight syscalls, TLS
//! records, Go binary slots, target PIDs that may be reused meanwhile) and
//! need clearing one by one; a new probe starts empty by construction and
//! shares the startup path. The cost is verifying the programs again, a
//! few seconds, which a switch can afford.
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
    mpsc::{Receiver, RecvTimeoutError, SyncSender},
};
use std::time::{Duration, Instant};

use swit_ebpf_common::counter;

use super::{AgentError, stage::Stage};
use crate::{
    capture::{
        event::{Event, ProcChange},
        reader::{Batch, Reader, ReaderCounters, Sent},
    },
    config::{AgentSettings, Targets},
    export::pipeline::SpanSender,
    probe::{Probe, ProbeOptions, tls::TlsHooks},
    selection::manager::{Follow, TargetManager},
    trace::correlate::Clock,
};

/// How long a stop works off records already read before dropping them.
const STOP_DRAIN: Duration = Duration::from_secs(5);

pub struct TracingSession {
    pub probe: Probe,
    pub manager: TargetManager,
    pub tls: TlsHooks,
    reader: Reader,
    rx: Receiver<Sent>,
    /// Where batches hand their emptied vectors back to the reader.
    spare: SyncSender<Vec<Event>>,
    /// The reader's own stop flag: a session ends without the agent ending.
    reader_stop: Arc<AtomicBool>,
    counters: Arc<ReaderCounters>,
}

/// What the main loop got from the reader.
pub enum Received {
    Idle,
    Batch(Batch),
    /// The reader is gone.
    Closed,
}

impl TracingSession {
    /// Loads and attaches the programs, applies `targets`, hooks TLS
    /// libraries and starts the reader. Warnings (selectors that match
    /// nothing yet) are logged.
    pub fn start(
        cfg: &AgentSettings,
        targets: &Targets,
        counters: Arc<ReaderCounters>,
    ) -> Result<TracingSession, AgentError> {
        let mut manager = TargetManager::new(targets.clone());
        manager.check()?;
        let mut probe = Probe::load(&ProbeOptions {
            capture_bytes: cfg.capture_bytes,
            ring_bytes: cfg.ring_bytes,
            hooks_only: cfg.hooks_only,
            floor: cfg.floor,
            disabled: &cfg.disabled_kernel_features,
        })?;
        for w in manager.start(&mut probe)? {
            log::warn!("{w}");
        }
        log::info!("kernel: {}", probe.kernel().summary());
        // Before the "tracing" line: what runs now is hooked by then.
        let mut tls = TlsHooks::new();
        tls.hook_system(&mut probe);
        tls.scan(manager.scan_pids(), &mut probe);
        let ring = probe.take_ring().expect("ring taken once");
        let reader_stop = Arc::new(AtomicBool::new(false));
        let (rx, spare, reader) = Reader::start(ring, reader_stop.clone(), counters.clone());
        Ok(TracingSession {
            probe,
            manager,
            tls,
            reader,
            rx,
            spare,
            reader_stop,
            counters,
        })
    }

    /// Waits up to `wait` for the next batch of records.
    pub fn recv(&self, wait: Duration) -> Received {
        match self.rx.recv_timeout(wait) {
            Ok(batch) => {
                self.counters.taken(&batch.events);
                Received::Batch(Batch::new(batch, self.spare.clone()))
            }
            Err(RecvTimeoutError::Timeout) => Received::Idle,
            Err(RecvTimeoutError::Disconnected) => Received::Closed,
        }
    }

    /// Applies the process changes the stage released.
    pub fn follow(&mut self, stage: &mut Stage, sender: &SpanSender) {
        for change in std::mem::take(&mut stage.changes) {
            let follow = self.manager.on_change(change, &mut self.probe);
            match follow {
                Follow::Gone(pid) => stage.forget_pid(pid, Clock::mono_ns(), sender),
                Follow::Renamed(pid) | Follow::Added(pid) => {
                    if let (Follow::Added(_), Some(why)) = (follow, matched_because(&change)) {
                        // Matching by executable or port happens here, after
                        // the process started: from this line on its
                        // requests are traced.
                        log::info!("tracing PID {pid} ({}): {why}", comm(pid));
                    }
                    stage.correlator.renamed(pid);
                    stage.correlator.know(pid);
                    // A new program maps new libraries; a forked child
                    // maps its parent's.
                    if !matches!(change, ProcChange::Fork { .. }) {
                        self.tls.scan([pid], &mut self.probe);
                    }
                }
                Follow::Nothing => {}
            }
        }
    }

    /// Once a second: cgroups joined, exits whose record was lost.
    pub fn rescan(&mut self, stage: &mut Stage) {
        for p in self.manager.rescan_cgroups(&mut self.probe) {
            log::debug!("PID {p} joined a traced cgroup");
            stage.correlator.know(p);
        }
        // An exit whose record was lost: the PID may be reused by an
        // unrelated process, so stop tracing it.
        for p in self.manager.reap(&mut self.probe) {
            stage.reaped(p);
        }
    }

    /// The processes traced at the start: their identities are read now,
    /// while they run (see [`Correlator::know`]).
    ///
    /// [`Correlator::know`]: crate::trace::correlate::Correlator::know
    pub fn introduce(&self, stage: &mut Stage) {
        for pid in self.manager.scan_pids() {
            stage.correlator.know(pid);
        }
    }

    /// Libraries loaded late (Python's `import ssl`).
    pub fn rescan_tls(&mut self) {
        self.tls.rescan(&self.manager.scan_pids(), &mut self.probe);
    }

    /// What this session traces under `t`:
    /// `3 process(es) (PIDs 1 2 3), cgroup /sys/fs/cgroup/x, exe nginx, port 80`
    pub fn describe(&self, t: &Targets) -> String {
        let traced = self.manager.traced();
        let pids: Vec<String> = traced.iter().map(ToString::to_string).collect();
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

    /// The kernel's counters of this session.
    pub fn kernel(&self) -> [u64; counter::COUNT as usize] {
        self.probe.counters()
    }

    /// Stops the reader after a last drain of the ring, hands every record
    /// to the stage and lets it finish what they complete, then detaches
    /// everything. Returns the kernel's final counters.
    /// With `capture_only` the records are dropped unparsed, as while running.
    pub fn stop(self, stage: &mut Stage, sender: &SpanSender, capture_only: bool) -> Ended {
        self.reader_stop.store(true, Ordering::Relaxed);
        self.reader.join();
        // A backlog (a burst the agent was behind on) is worked off for a
        // while; then its payloads are counted as dropped, since a stop must
        // not take minutes, and only opens, closes and process changes are
        // still taken in (cheap, and they settle what is held).
        let drain_until = Instant::now() + STOP_DRAIN;
        while let Ok(sent) = self.rx.try_recv() {
            let (mut batch, mark) = (sent.events, sent.drained_ns);
            self.counters.taken(&batch);
            if capture_only {
                continue;
            }
            if Instant::now() > drain_until {
                let before = batch.len();
                batch.retain(|e| !matches!(e, Event::Data(_)));
                self.counters
                    .dropped
                    .fetch_add((before - batch.len()) as u64, Ordering::Relaxed);
            }
            stage.push(&mut batch);
            stage.release(mark, sender);
        }
        stage.finish(sender);
        let ended = Ended {
            kernel: self.probe.counters(),
            targets: self.manager.traced().len(),
            cgroups: self.manager.cgroups(),
            tls_libraries: self.tls.hooked(),
        };
        // Dropping the probe detaches every program and frees every map.
        drop(self.probe);
        ended
    }
}

/// What a session held when it ended, for the summary.
pub struct Ended {
    pub kernel: [u64; counter::COUNT as usize],
    pub targets: usize,
    pub cgroups: usize,
    pub tls_libraries: usize,
}

/// Why a process that started after the agent is now traced; `None` for a
/// traced parent's fork (the kernel follows those by itself).
fn matched_because(change: &ProcChange) -> Option<String> {
    match change {
        ProcChange::Exec { .. } => Some("matched when it started".into()),
        ProcChange::Listen { port, .. } => Some(format!("it listens on port {port}")),
        ProcChange::Fork { .. } | ProcChange::Exit { .. } => None,
    }
}

/// A process's name, for the log.
fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim_end().to_string())
        .unwrap_or_else(|_| "gone".into())
}
