//! The counters that outlive a tracing session, and the snapshot of them
//! all.
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use swit_ebpf_common::counter;

use super::{session::TracingSession, stage::Stage};
use crate::{
    capture::reader::ReaderCounters,
    export::{
        otlp::OtlpCounters,
        pipeline::{ExportCounters, SpanSender},
    },
    memory,
    metrics::{self, Held, MemorySnapshot, Snapshot, TlsSnapshot},
};

/// The counters that outlive a tracing session.
pub struct Totals {
    pub reader: Arc<ReaderCounters>,
    pub export: Arc<ExportCounters>,
    pub otlp: Option<Arc<OtlpCounters>>,
    /// Kernel counters of sessions already ended (a new probe starts at 0).
    pub kernel_before: [u64; counter::COUNT as usize],
    /// `agent.limits.memory` as the budget resolved it.
    pub memory_limit: u64,
    /// Targets, cgroups and TLS libraries of the last session ended.
    pub last_held: (usize, usize, usize),
}

impl Totals {
    /// Ends `session` (see [`TracingSession::stop`]) and keeps its kernel counters.
    pub fn end(
        &mut self,
        session: TracingSession,
        stage: &mut Stage,
        sender: &SpanSender,
        capture_only: bool,
    ) {
        let ended = session.stop(stage, sender, capture_only);
        for (k, n) in self.kernel_before.iter_mut().zip(ended.kernel) {
            *k += n;
        }
        self.last_held = (ended.targets, ended.cgroups, ended.tls_libraries);
    }

    /// The exit summary: as [`Totals::snapshot`] with no session, but what
    /// the last session held when it ended (the state-leak check), not 0.
    pub fn summary(&self, stage: &Stage) -> Snapshot {
        let mut s = self.snapshot(stage, None);
        (s.held.targets, s.held.cgroups, s.tls.libraries) = self.last_held;
        s
    }

    pub fn snapshot(&self, stage: &Stage, session: Option<&TracingSession>) -> Snapshot {
        let mut kernel = self.kernel_before;
        if let Some(s) = session {
            for (k, now) in kernel.iter_mut().zip(s.kernel()) {
                *k += now;
            }
        }
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (open, serving, calls, resources) = stage.correlator.held();
        Snapshot {
            kernel,
            records: l(&self.reader.records),
            malformed_records: l(&self.reader.malformed),
            reader_dropped: l(&self.reader.dropped),
            connections: stage.conns.stats.opened,
            gap_bytes: stage.conns.stats.gap_bytes,
            stale_chunks: stage.conns.stats.stale_chunks,
            late_events: stage.reorder.late,
            undetected: stage.conns.stats.undetected,
            parse_errors: stage.correlator.stats.parse_errors,
            parse_errors_by: stage.correlator.stats.parse_errors_by,
            orphan_responses: stage.correlator.stats.orphan_responses,
            dropped_requests: stage.correlator.stats.dropped_requests,
            grpc_status_unknown: stage.correlator.stats.grpc_status_unknown,
            h2_hidden_headers: stage.correlator.stats.h2_hidden_headers,
            spans: stage.correlator.stats.spans,
            exported: l(&self.export.exported),
            export_dropped: l(&self.export.dropped),
            export_failed: l(&self.export.failed),
            unsampled: stage.correlator.stats.unsampled,
            memory_shed: stage.conns.stats.shed,
            memory: MemorySnapshot {
                heap_bytes: memory::heap_bytes(),
                peak_rss_bytes: memory::resident().map_or(0, |(_, peak)| peak),
                limit_bytes: self.memory_limit,
            },
            otlp: self.otlp.as_deref().map(Into::into),
            held: Held {
                targets: session.map_or(0, |s| s.manager.traced().len()),
                cgroups: session.map_or(0, |s| s.manager.cgroups()),
                connections: stage.conns.len(),
                open_requests: open + serving + calls,
                resources,
            },
            tls: TlsSnapshot {
                libraries: session.map_or(0, |s| s.tls.hooked()),
                connections: stage.conns.stats.tls,
                ciphertext_connections: stage.conns.stats.ciphertext,
            },
            reader_queue_bytes: l(&self.reader.queued_bytes),
            export_queue: l(&self.export.queued),
            tracing_enabled: session.is_some(),
            attached: session.map_or(0, |s| s.probe.attached()),
            rss_bytes: metrics::rss_bytes(),
            requests: Arc::new(stage.correlator.red.snapshot()),
            routes_folded: stage.correlator.red.routes.folded,
            routes_held: stage.correlator.red.routes.held() as u64,
        }
    }
}
