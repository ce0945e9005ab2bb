//! What the agent exports about itself: one list of metric families, built
//! from a [`Snapshot`], rendered as Prometheus text (`prometheus`) and as
//! OTLP metrics (`otlp`). Names are Prometheus-style, prefixed `swit_`;
//! counters get `_total` in Prometheus text only.
use swit_ebpf_common::counter;

use super::Snapshot;
use crate::protocol::ProtocolKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up while the agent runs (OTLP: monotonic cumulative Sum).
    Counter,
    /// Goes up and down (OTLP: Gauge).
    Gauge,
}

/// One metric: a name, a help text, and one value per label value (a
/// single unlabelled value when `label` is `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub label: Option<&'static str>,
    pub samples: Vec<(&'static str, u64)>,
}

fn one(name: &'static str, kind: Kind, help: &'static str, v: u64) -> Family {
    Family {
        name,
        help,
        kind,
        label: None,
        samples: vec![("", v)],
    }
}

fn by(
    name: &'static str,
    help: &'static str,
    label: &'static str,
    samples: Vec<(&'static str, u64)>,
) -> Family {
    Family {
        name,
        help,
        kind: Kind::Counter,
        label: Some(label),
        samples,
    }
}

/// Every family, in a stable order.
pub fn families(s: &Snapshot) -> Vec<Family> {
    use Kind::{Counter as C, Gauge as G};
    let k = |i: u32| s.kernel[i as usize];
    let otlp = s.otlp.clone().unwrap_or_default();
    let mut v = vec![
        one(
            "swit_tracing_enabled",
            G,
            "1 while tracing is on (probes attached), 0 while switched off",
            s.tracing_enabled as u64,
        ),
        one(
            "swit_probes_attached",
            G,
            "Kernel programs attached (TLS uprobes not included)",
            s.attached as u64,
        ),
        one(
            "swit_tls_libraries_hooked",
            G,
            "TLS libraries (or binaries) whose functions are hooked",
            s.tls.libraries as u64,
        ),
        one(
            "swit_events",
            C,
            "Records read from the kernel ring buffer",
            s.records,
        ),
        by(
            "swit_dropped_events",
            "Records or payloads lost, by reason",
            "reason",
            vec![
                ("ringbuf_full", k(counter::RINGBUF_FULL)),
                ("inflight_full", k(counter::INFLIGHT_FULL)),
                ("tls_unbound", k(counter::TLS_UNBOUND)),
                ("go_tls_no_socket", k(counter::GO_TLS_NO_SOCK)),
                ("reader_queue_full", s.reader_dropped),
                ("malformed", s.malformed_records),
            ],
        ),
        by(
            "swit_kernel_records",
            "Records the kernel submitted, by kind",
            "kind",
            vec![
                ("data", k(counter::DATA_EVENTS)),
                ("connection", k(counter::CONN_EVENTS)),
            ],
        ),
        one(
            "swit_truncated_chunks",
            C,
            "Chunks cut to the capture limit (their length still counted)",
            k(counter::TRUNCATED),
        ),
        by(
            "swit_kernel_read_failures",
            "Kernel-side reads that failed, by what was read",
            "what",
            vec![
                ("payload", k(counter::READ_FAILED)),
                ("socket", k(counter::SOCK_READ_FAILED)),
            ],
        ),
        one(
            "swit_iov_overflows",
            C,
            "Syscalls with more iovecs than the kernel side walks",
            k(counter::IOV_OVERFLOW),
        ),
        one(
            "swit_tls_ciphertext_syscalls",
            C,
            "Syscalls on TLS sockets held back as ciphertext",
            k(counter::TLS_CIPHERTEXT),
        ),
        one(
            "swit_uncaptured_bytes",
            C,
            "Stream bytes not captured (gaps)",
            s.gap_bytes,
        ),
        one(
            "swit_late_events",
            C,
            "Events that arrived after the reorder window",
            s.late_events,
        ),
        one(
            "swit_stale_chunks",
            C,
            "Chunks older than their stream's position",
            s.stale_chunks,
        ),
        one(
            "swit_connections",
            C,
            "Connections opened (seen)",
            s.connections,
        ),
        one(
            "swit_connections_tracked",
            G,
            "Connections held now",
            s.held.connections as u64,
        ),
        one(
            "swit_undetected_connections",
            C,
            "Connections whose protocol was not recognised",
            s.undetected,
        ),
        one(
            "swit_tls_connections",
            C,
            "Connections parsed from TLS plaintext",
            s.tls.connections,
        ),
        by(
            "swit_parse_errors",
            "Bytes that were not the connection's protocol where a message should start, by protocol",
            "protocol",
            ProtocolKind::ALL
                .iter()
                .zip(s.parse_errors_by)
                .map(|(p, n)| (p.as_str(), n))
                .collect(),
        ),
        one(
            "swit_orphan_responses",
            C,
            "Responses without a request",
            s.orphan_responses,
        ),
        one(
            "swit_dropped_requests",
            C,
            "Requests given up unanswered (bounds, or closed HTTP/2 streams)",
            s.dropped_requests,
        ),
        one(
            "swit_grpc_status_unknown_spans",
            C,
            "gRPC spans whose status was hidden (HPACK state from before capture)",
            s.grpc_status_unknown,
        ),
        one(
            "swit_h2_hidden_header_connections",
            C,
            "HTTP/2 connections with header fields that could not be decoded",
            s.h2_hidden_headers,
        ),
        one(
            "swit_open_requests",
            G,
            "Requests and calls waiting for their response now",
            s.held.open_requests as u64,
        ),
        one(
            "swit_traced_processes",
            G,
            "Processes traced now",
            s.held.targets as u64,
        ),
        one("swit_spans", C, "Spans built", s.spans),
        one(
            "swit_unsampled_exchanges",
            C,
            "Exchanges of traces the sampler dropped",
            s.unsampled,
        ),
        one(
            "swit_spans_exported",
            C,
            "Spans handed to the exporter",
            s.exported,
        ),
        by(
            "swit_dropped_spans",
            "Spans lost before the collector, by reason",
            "reason",
            vec![
                ("export_queue_full", s.export_dropped),
                ("retry_buffer_full", otlp.retry_dropped),
            ],
        ),
        one(
            "swit_export_failures",
            C,
            "Spans in batches the exporter or collector refused",
            s.export_failed,
        ),
        one(
            "swit_export_queue_spans",
            G,
            "Spans waiting for the export thread",
            s.export_queue,
        ),
        one(
            "swit_reader_queue_bytes",
            G,
            "Bytes of records waiting between the ring reader and the parsers",
            s.reader_queue_bytes,
        ),
        one(
            "swit_memory_rss_bytes",
            G,
            "The agent's resident memory",
            s.rss_bytes,
        ),
        one(
            "swit_memory_heap_bytes",
            G,
            "The agent's heap in use",
            s.memory.heap_bytes,
        ),
        one(
            "swit_memory_limit_bytes",
            G,
            "agent.limits.memory",
            s.memory.limit_bytes,
        ),
        one(
            "swit_memory_shed_connections",
            C,
            "Connections forgotten to keep the memory bound",
            s.memory_shed,
        ),
        by(
            "swit_request_metrics_overflow",
            "Exchanges recorded in a metric's overflow series (past agent.limits.metric_series), by metric",
            "metric",
            s.requests
                .metrics
                .iter()
                .map(|m| (m.instrument.name(), m.overflow.count))
                .collect(),
        ),
        one(
            "swit_routes_folded",
            C,
            "Requests whose http.route was folded into _OTHER (past agent.routes.max_per_service)",
            s.routes_folded,
        ),
        one(
            "swit_routes_tracked",
            G,
            "Distinct http.route values held, over all services",
            s.routes_held,
        ),
    ];
    if s.otlp.is_some() {
        v.extend([
            one(
                "swit_otlp_spans_delivered",
                C,
                "Spans in requests the collector accepted",
                otlp.delivered,
            ),
            one(
                "swit_otlp_spans_rejected",
                C,
                "Spans the collector reported rejecting",
                otlp.rejected,
            ),
            one(
                "swit_otlp_retries",
                C,
                "Export requests retried",
                otlp.retries,
            ),
            one(
                "swit_otlp_retry_buffer_spans",
                G,
                "Spans held for retry while the collector is away",
                otlp.held,
            ),
        ]);
    }
    v
}

#[cfg(test)]
#[path = "family_tests.rs"]
mod tests;
