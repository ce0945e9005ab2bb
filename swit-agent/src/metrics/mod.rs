//! The agent's own counters, gathered from every stage: for the exit
//! summary, the Prometheus endpoint (`server`, `prometheus`) and OTLP
//! metrics (`otlp`). [`family::families`] is the one list of what is
//! exported; both formats render it.
pub mod board;
pub mod family;
pub mod otlp;
pub mod prometheus;
pub mod push;
pub mod server;

use std::fmt;

use std::sync::atomic::Ordering;

use swit_ebpf_common::counter;

use crate::export::otlp::OtlpCounters;

/// What the collector made of the spans (OTLP exporters only).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OtlpSnapshot {
    pub delivered: u64,
    pub rejected: u64,
    pub failed: u64,
    pub retry_dropped: u64,
    pub held: u64,
    pub retries: u64,
}

impl From<&OtlpCounters> for OtlpSnapshot {
    fn from(c: &OtlpCounters) -> Self {
        let l = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        OtlpSnapshot {
            delivered: l(&c.delivered),
            rejected: l(&c.rejected),
            failed: l(&c.failed),
            retry_dropped: l(&c.retry_dropped),
            held: l(&c.held),
            retries: l(&c.retries),
        }
    }
}

/// Per-process and per-connection state still held: after the traced
/// processes are gone, these must fall back (the state-leak check).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Held {
    pub targets: usize,
    pub cgroups: usize,
    pub connections: usize,
    pub open_requests: usize,
    pub resources: usize,
}

/// A snapshot of every counter, for the periodic log and the exit summary.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub kernel: [u64; counter::COUNT as usize],
    pub records: u64,
    pub malformed_records: u64,
    pub reader_dropped: u64,
    pub connections: u64,
    pub gap_bytes: u64,
    pub stale_chunks: u64,
    /// Events that came after the reorder window had let later ones go.
    pub late_events: u64,
    pub undetected: u64,
    pub parse_errors: u64,
    pub orphan_responses: u64,
    /// Requests given up unanswered (bounds, or closed HTTP/2 streams).
    pub dropped_requests: u64,
    /// gRPC spans whose status was hidden from the agent.
    pub grpc_status_unknown: u64,
    /// HTTP/2 connections with header fields the agent could not decode.
    pub h2_hidden_headers: u64,
    pub spans: u64,
    pub exported: u64,
    pub export_dropped: u64,
    pub export_failed: u64,
    pub unsampled: u64,
    /// Connections forgotten to keep the memory bound.
    pub memory_shed: u64,
    pub memory: MemorySnapshot,
    pub otlp: Option<OtlpSnapshot>,
    pub held: Held,
    pub tls: TlsSnapshot,
    /// `parse_errors` by protocol, indexed as `ProtocolKind::ALL`.
    pub parse_errors_by: [u64; crate::protocol::ProtocolKind::ALL.len()],
    /// Bytes of records waiting between the ring reader and the stages.
    pub reader_queue_bytes: u64,
    /// Spans waiting for the export thread.
    pub export_queue: u64,
    /// Tracing is on (probes attached); off after SIGUSR1 or a reload with
    /// `tracing.enabled: false`.
    pub tracing_enabled: bool,
    /// Kernel programs attached (tracepoints; TLS uprobes are `tls.libraries`).
    pub attached: usize,
    /// The agent's resident memory.
    pub rss_bytes: u64,
    /// The request histograms (empty when request metrics are off).
    pub requests: std::sync::Arc<crate::trace::requests::RequestsSnapshot>,
    /// Requests whose `http.route` was folded by the per-service bound.
    pub routes_folded: u64,
    /// Distinct routes held, over all services.
    pub routes_held: u64,
}

/// The agent's resident set size from /proc/self/statm (0 if unreadable).
pub fn rss_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

/// The agent's memory against its bound (`agent.limits.memory`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MemorySnapshot {
    pub heap_bytes: u64,
    pub peak_rss_bytes: u64,
    pub limit_bytes: u64,
}

/// What TLS capture did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TlsSnapshot {
    /// TLS libraries (or binaries exporting the symbols) hooked.
    pub libraries: usize,
    /// Connections parsed from TLS plaintext.
    pub connections: u64,
    /// Connections whose syscall bytes were TLS records, set aside unparsed.
    pub ciphertext_connections: u64,
}

impl Snapshot {
    /// Anything lost anywhere: what an operator must hear about.
    pub fn losses(&self) -> u64 {
        self.kernel[counter::RINGBUF_FULL as usize]
            + self.kernel[counter::INFLIGHT_FULL as usize]
            + self.reader_dropped
            + self.export_dropped
            + self.export_failed
            + self.memory_shed
            + self
                .otlp
                .as_ref()
                .map_or(0, |o| o.rejected + o.retry_dropped)
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = |i: u32| self.kernel[i as usize];
        write!(
            f,
            "spans={} exported={} records={} connections={} | lost: ringbuf_full={} inflight_full={} reader_dropped={} export_dropped={} export_failed={} memory_shed={} | truncated={} iov_overflow={} uncaptured_bytes={} parse_errors={} orphan_responses={} undetected={} read_failed={}",
            self.spans,
            self.exported,
            self.records,
            self.connections,
            k(counter::RINGBUF_FULL),
            k(counter::INFLIGHT_FULL),
            self.reader_dropped,
            self.export_dropped,
            self.export_failed,
            self.memory_shed,
            k(counter::TRUNCATED),
            k(counter::IOV_OVERFLOW),
            self.gap_bytes,
            self.parse_errors,
            self.orphan_responses,
            self.undetected,
            k(counter::READ_FAILED) + k(counter::SOCK_READ_FAILED),
        )?;
        write!(
            f,
            " unsampled={} dropped_requests={} late_events={} stale_chunks={} grpc_status_unknown={} h2_hidden_headers={}",
            self.unsampled,
            self.dropped_requests,
            self.late_events,
            self.stale_chunks,
            self.grpc_status_unknown,
            self.h2_hidden_headers
        )?;
        let h = &self.held;
        write!(
            f,
            " | held: targets={} cgroups={} connections={} open_requests={} resources={}",
            h.targets, h.cgroups, h.connections, h.open_requests, h.resources
        )?;
        write!(
            f,
            " | tls: libraries={} connections={} ciphertext_connections={} ciphertext_syscalls={} unbound_plaintext={} go_tls_no_socket={}",
            self.tls.libraries,
            self.tls.connections,
            self.tls.ciphertext_connections,
            k(counter::TLS_CIPHERTEXT),
            k(counter::TLS_UNBOUND),
            k(counter::GO_TLS_NO_SOCK),
        )?;
        let m = &self.memory;
        write!(
            f,
            " | memory: heap_bytes={} peak_rss_bytes={} limit_bytes={}",
            m.heap_bytes, m.peak_rss_bytes, m.limit_bytes
        )?;
        if let Some(o) = &self.otlp {
            write!(
                f,
                " | collector: delivered={} rejected={} failed={} retry_dropped={} held={}",
                o.delivered, o.rejected, o.failed, o.retry_dropped, o.held
            )?;
        }
        Ok(())
    }
}
