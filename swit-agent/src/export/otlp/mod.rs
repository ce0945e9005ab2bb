//! OTLP export to a collector over gRPC or HTTP/protobuf, with a bounded
//! retry buffer for collector outages.
//!
//! The rest of the agent is synchronous, so the sink owns a small
//! current-thread tokio runtime and blocks on it for each request; every
//! request is bounded by [`OtlpOptions::timeout`]. One channel (gRPC) or one
//! connection pool (HTTP) carries the spans of every traced process: a batch
//! with spans of several services becomes one request with one
//! `ResourceSpans` per service (see [`encode::encode_request`]).
//!
//! Delivery, in order:
//! - `export` sends the batch at once, unless spans are already waiting
//!   for the collector: then it queues behind them, so an outage costs the
//!   export thread one timeout per backoff step, not one per batch.
//! - A retryable failure (connection refused, timeout, HTTP 429/502/503/504,
//!   gRPC UNAVAILABLE, RESOURCE_EXHAUSTED, ...) moves the batch into the
//!   retry buffer (at most [`OtlpOptions::retry_buffer_spans`]; the oldest
//!   spans are dropped beyond that and counted in
//!   [`OtlpCounters::retry_dropped`]). `tick` retries with exponential
//!   backoff from [`INITIAL_BACKOFF`] up to [`OtlpOptions::max_backoff`].
//! - A non-retryable failure (HTTP 400, gRPC INVALID_ARGUMENT, ...) drops
//!   the batch, counts it in [`OtlpCounters::failed`] and, from `export`,
//!   returns the error so the pipeline counts and logs it too.
//! - `flush` (shutdown) tries what is held for at most one timeout in total
//!   and reports, and counts as dropped, what could not be sent.
//!
//! The collector going down and coming back is logged once each.
pub mod encode;
mod grpc;
mod http;
pub mod metrics;
pub mod retry;
#[cfg(test)]
mod tests;
mod tls;

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use self::{
    grpc::GrpcTransport,
    http::HttpTransport,
    retry::{Accepted, Backoff, RetryBuffer, SendError},
};
use super::SpanSink;
use crate::trace::span::Span;

/// gzip level of gRPC message compression (tonic's, which compresses the
/// gRPC messages).
const GRPC_GZIP_LEVEL: u32 = 6;

/// The bytes of one OTLP/gRPC trace export message as they go on the wire:
/// the 5-byte gRPC frame header (compressed flag, big-endian length) and
/// the protobuf `ExportTraceServiceRequest`, gzipped when `gzip`. Appended
/// to `out`. The transport does the same through tonic; this function is
/// what the export thread's encoding costs, without a server.
pub fn grpc_message(spans: &[Span], gzip: bool, out: &mut Vec<u8>) {
    use std::io::Write;

    let at = out.len();
    out.extend_from_slice(&[u8::from(gzip), 0, 0, 0, 0]);
    if gzip {
        let mut req = Vec::new();
        encode::encode_request(spans, &mut req);
        let mut enc =
            flate2::write::GzEncoder::new(&mut *out, flate2::Compression::new(GRPC_GZIP_LEVEL));
        enc.write_all(&req).expect("writing to a Vec");
        enc.finish().expect("writing to a Vec");
    } else {
        // Straight after the frame header: no copy.
        encode::encode_request(spans, out);
    }
    let len = (out.len() - at - 5) as u32;
    out[at + 1..at + 5].copy_from_slice(&len.to_be_bytes());
}

/// First wait after a failed attempt; doubles up to `max_backoff`.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// Most spans sent in one retry request, as the pipeline's batches.
pub const RETRY_CHUNK: usize = super::pipeline::MAX_BATCH;

const USER_AGENT: &str = concat!("swit-agent/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    Grpc,
    HttpProtobuf,
}

/// TLS settings; files are PEM.
///
/// - `https://` endpoints use TLS: the server is verified against `ca_file`
///   when set (and then only against it), else against the system store.
///   `cert_file` + `key_file` (both or neither) add a client certificate
///   (mTLS).
/// - `http://` endpoints are plaintext; the files are not read.
/// - `insecure` follows OTEL_EXPORTER_OTLP_INSECURE: it matters only for a
///   gRPC endpoint written without a scheme (`collector:4317`), which is
///   plaintext when `insecure` and TLS otherwise. It never disables
///   certificate verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OtlpTls {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub insecure: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpOptions {
    /// gRPC: `http(s)://host:port` (or `host:port`, see [`OtlpTls`]).
    /// HTTP: the full traces URL, used as given, e.g.
    /// `http://host:4318/v1/traces`.
    pub endpoint: String,
    pub protocol: OtlpProtocol,
    /// Sent with every request (gRPC metadata or HTTP headers).
    pub headers: Vec<(String, String)>,
    /// Bound on each request, connecting included.
    pub timeout: Duration,
    /// gzip request bodies (gRPC message compression or
    /// `Content-Encoding: gzip`).
    pub gzip: bool,
    pub tls: OtlpTls,
    /// Most spans held while the collector is unreachable.
    pub retry_buffer_spans: usize,
    /// ... and most bytes of them ([`Span::approx_bytes`]).
    pub retry_buffer_bytes: usize,
    /// Longest wait between retries.
    pub max_backoff: Duration,
}

impl Default for OtlpOptions {
    fn default() -> Self {
        Self {
            endpoint: "http://localhost:4317".to_string(),
            protocol: OtlpProtocol::Grpc,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            gzip: false,
            tls: OtlpTls::default(),
            retry_buffer_spans: 65_536,
            retry_buffer_bytes: 32 << 20,
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// A misconfiguration found when the sink is built (the collector itself is
/// contacted only when the first spans are sent).
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// The endpoint is not a usable URL for the protocol.
    #[error("OTLP endpoint {endpoint:?}: {reason}")]
    Endpoint { endpoint: String, reason: String },
    /// A custom header cannot be sent as given.
    #[error("OTLP header {name:?}: {reason}")]
    Header { name: String, reason: String },
    /// A TLS file is unreadable or unusable.
    #[error("OTLP TLS {what}: {reason}")]
    Tls { what: String, reason: String },
    /// The sink's runtime could not start.
    #[error("OTLP exporter runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// What happened to the spans given to an [`OtlpSink`]; shared with
/// whoever reports metrics. The pipeline's own `exported` counter means
/// "handed to the sink"; these say what the collector made of them.
#[derive(Debug, Default)]
pub struct OtlpCounters {
    /// Spans in requests the collector accepted (including `rejected`).
    pub delivered: AtomicU64,
    /// Spans the collector reported rejecting in a partial success.
    pub rejected: AtomicU64,
    /// Spans in requests refused with a non-retryable error.
    pub failed: AtomicU64,
    /// Spans dropped from the retry buffer: the oldest beyond its bound, and
    /// what was still held at shutdown.
    pub retry_dropped: AtomicU64,
    /// Requests retried from the buffer (successful or not).
    pub retries: AtomicU64,
    /// Spans held for retry right now (a gauge).
    pub held: AtomicU64,
}

/// One of these per sink, so the size difference clippy warns about costs
/// nothing.
#[allow(clippy::large_enum_variant)]
enum Transport {
    Grpc(GrpcTransport),
    Http(HttpTransport),
}

/// The OTLP [`SpanSink`]. See the module documentation for its behaviour.
pub struct OtlpSink {
    // Declared before the runtime so it is dropped while the runtime still
    // exists (hyper and tonic hold handles into it).
    transport: Transport,
    rt: tokio::runtime::Runtime,
    endpoint: String,
    timeout: Duration,
    buffer: RetryBuffer,
    backoff: Backoff,
    /// No retry before this time (tick's clock).
    next_retry_ns: u64,
    /// The latest time `tick` was given; failures in `export` schedule the
    /// retry from it.
    now_ns: u64,
    /// The last attempt failed retryably and the collector has not taken a
    /// request since.
    down: bool,
    /// `retry_dropped` when the current outage began, for the recovery log.
    dropped_before_outage: u64,
    overflow_warned: bool,
    partial_warned: bool,
    counters: Arc<OtlpCounters>,
}

impl OtlpSink {
    /// Validates `opts` and prepares the connection (made lazily).
    pub fn new(opts: OtlpOptions) -> Result<Self, OtlpError> {
        let (uri, rt) = prepare(&opts, "swit-otlp")?;
        let transport = {
            let _guard = rt.enter();
            match opts.protocol {
                OtlpProtocol::Grpc => Transport::Grpc(GrpcTransport::new(uri, &opts)?),
                OtlpProtocol::HttpProtobuf => Transport::Http(HttpTransport::new(uri, &opts)?),
            }
        };
        Ok(Self {
            transport,
            rt,
            endpoint: opts.endpoint,
            timeout: opts.timeout,
            buffer: RetryBuffer::new(opts.retry_buffer_spans, opts.retry_buffer_bytes),
            backoff: Backoff::new(INITIAL_BACKOFF, opts.max_backoff),
            next_retry_ns: 0,
            now_ns: 0,
            down: false,
            dropped_before_outage: 0,
            overflow_warned: false,
            partial_warned: false,
            counters: Arc::new(OtlpCounters::default()),
        })
    }

    pub fn counters(&self) -> Arc<OtlpCounters> {
        self.counters.clone()
    }

    /// Spans waiting for the collector.
    pub fn held(&self) -> usize {
        self.buffer.len()
    }

    /// One request, bounded by `limit`.
    fn send(&mut self, spans: &[Span], limit: Duration) -> Result<Accepted, SendError> {
        let mut req = Vec::new();
        encode::encode_request(spans, &mut req);
        let fut = async {
            match &mut self.transport {
                Transport::Grpc(t) => t.send(req).await,
                Transport::Http(t) => t.send(req).await,
            }
        };
        match self
            .rt
            .block_on(async { tokio::time::timeout(limit, fut).await })
        {
            Ok(r) => r,
            Err(_) => Err(SendError::retryable(format!("no answer within {limit:?}"))),
        }
    }

    fn delivered(&mut self, n: usize, acc: Accepted) {
        self.counters
            .delivered
            .fetch_add(n as u64, Ordering::Relaxed);
        if acc.rejected_spans > 0 {
            self.counters
                .rejected
                .fetch_add(acc.rejected_spans, Ordering::Relaxed);
            if !self.partial_warned {
                self.partial_warned = true;
                log::warn!(
                    "OTLP collector {} rejected {} of {n} spans: {} (counted in rejected spans; warning once)",
                    self.endpoint,
                    acc.rejected_spans,
                    acc.message
                );
            }
        }
        self.backoff.reset();
        self.next_retry_ns = 0;
        if self.down {
            self.down = false;
            self.overflow_warned = false;
            let lost = self
                .counters
                .retry_dropped
                .load(Ordering::Relaxed)
                .saturating_sub(self.dropped_before_outage);
            log::info!(
                "OTLP collector {} reachable again; {} spans still held, {lost} dropped during the outage",
                self.endpoint,
                self.buffer.len()
            );
        }
    }

    fn failed(&self, n: usize, e: &SendError) -> anyhow::Error {
        self.counters.failed.fetch_add(n as u64, Ordering::Relaxed);
        anyhow::anyhow!(
            "OTLP collector {} refused {n} spans: {}",
            self.endpoint,
            e.detail
        )
    }

    /// A retryable failure: note the outage and schedule the next attempt.
    fn unreachable(&mut self, e: &SendError) {
        if !self.down {
            self.down = true;
            self.dropped_before_outage = self.counters.retry_dropped.load(Ordering::Relaxed);
            log::warn!(
                "OTLP collector {} unavailable ({}); holding up to {} spans and retrying",
                self.endpoint,
                e.detail,
                self.buffer.capacity()
            );
        }
        let mut wait = self.backoff.next_delay();
        if let Some(asked) = e.retry_after {
            wait = wait.max(asked.min(self.backoff.max()));
        }
        self.next_retry_ns = self.now_ns.saturating_add(duration_ns(wait));
    }

    fn hold(&mut self, batch: Vec<Span>) {
        let dropped = self.buffer.push_back(batch);
        if dropped > 0 {
            self.counters
                .retry_dropped
                .fetch_add(dropped as u64, Ordering::Relaxed);
            if !self.overflow_warned {
                self.overflow_warned = true;
                log::warn!(
                    "OTLP retry buffer full ({} spans or {} MiB): dropping the oldest (counted in retry-dropped spans; warning once per outage)",
                    self.buffer.capacity(),
                    self.buffer.max_bytes() >> 20
                );
            }
        }
        self.update_held();
    }

    fn update_held(&self) {
        self.counters
            .held
            .store(self.buffer.len() as u64, Ordering::Relaxed);
    }

    /// Sends held spans oldest first until the buffer is empty, an attempt
    /// fails retryably, or `budget` is spent. Returns whether it emptied.
    fn drain(&mut self, budget: Duration, retry_on_failure: bool) -> bool {
        let started = Instant::now();
        while !self.buffer.is_empty() {
            let left = budget.saturating_sub(started.elapsed());
            if left.is_zero() {
                break;
            }
            let chunk = self.buffer.take_front(RETRY_CHUNK);
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            match self.send(&chunk, left.min(self.timeout)) {
                Ok(acc) => self.delivered(chunk.len(), acc),
                Err(e) if e.retryable => {
                    self.buffer.push_front(chunk);
                    if retry_on_failure {
                        self.unreachable(&e);
                    } else {
                        log::warn!(
                            "OTLP collector {} unavailable at shutdown: {}",
                            self.endpoint,
                            e.detail
                        );
                    }
                    break;
                }
                Err(e) => {
                    let err = self.failed(chunk.len(), &e);
                    log::error!("{err:#}");
                }
            }
        }
        self.update_held();
        self.buffer.is_empty()
    }
}

impl SpanSink for OtlpSink {
    fn export(&mut self, batch: &mut Vec<Span>) -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        // Held only while the collector is away: then the batch's vector
        // goes with it.
        if !self.buffer.is_empty() {
            self.hold(std::mem::take(batch));
            return Ok(());
        }
        match self.send(batch, self.timeout) {
            Ok(acc) => {
                self.delivered(batch.len(), acc);
                Ok(())
            }
            Err(e) if e.retryable => {
                self.unreachable(&e);
                self.hold(std::mem::take(batch));
                Ok(())
            }
            Err(e) => Err(self.failed(batch.len(), &e)),
        }
    }

    fn tick(&mut self, now_unix_ns: u64) -> anyhow::Result<()> {
        self.now_ns = now_unix_ns;
        if self.buffer.is_empty() || now_unix_ns < self.next_retry_ns {
            return Ok(());
        }
        // Stop starting attempts after one timeout so a slow collector
        // cannot hold the export thread (and the batches behind it).
        self.drain(self.timeout, true);
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.drain(self.timeout, false);
        let left = self.buffer.clear();
        self.update_held();
        if left > 0 {
            self.counters
                .retry_dropped
                .fetch_add(left as u64, Ordering::Relaxed);
            anyhow::bail!(
                "OTLP collector {}: {left} spans held for retry were not delivered before shutdown",
                self.endpoint
            );
        }
        Ok(())
    }
}

/// The endpoint resolved and a current-thread runtime for a client: every
/// OTLP client blocks on its own runtime, so the agent stays synchronous.
fn prepare(
    opts: &OtlpOptions,
    thread_name: &str,
) -> Result<(hyper::Uri, tokio::runtime::Runtime), OtlpError> {
    let uri =
        resolve_endpoint(&opts.endpoint, opts.protocol, opts.tls.insecure).map_err(|reason| {
            OtlpError::Endpoint {
                endpoint: opts.endpoint.clone(),
                reason,
            }
        })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .thread_name(thread_name)
        .build()
        .map_err(OtlpError::Runtime)?;
    Ok((uri, rt))
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The URI requests go to. `insecure` only picks the scheme of a gRPC
/// endpoint written without one (see [`OtlpTls`]).
pub fn resolve_endpoint(
    endpoint: &str,
    protocol: OtlpProtocol,
    insecure: bool,
) -> Result<hyper::Uri, String> {
    let endpoint = endpoint.trim();
    let full = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        match protocol {
            OtlpProtocol::Grpc if insecure => format!("http://{endpoint}"),
            OtlpProtocol::Grpc => format!("https://{endpoint}"),
            OtlpProtocol::HttpProtobuf => {
                return Err(
                    "needs http:// or https:// and the full path (e.g. http://host:4318/v1/traces)"
                        .into(),
                );
            }
        }
    };
    let uri: hyper::Uri = full.parse().map_err(|e| format!("not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        other => return Err(format!("scheme must be http or https, not {other:?}")),
    }
    match uri.host() {
        Some(h) if !h.is_empty() => Ok(uri),
        _ => Err("no host".into()),
    }
}
