//! Sends the agent's own metrics to the collector the spans go to, over
//! the same protocol, TLS and headers, on a connection of its own: a slow
//! metrics push never holds a span batch up.
//!
//! No retry buffer: the counters are cumulative, so the next push carries
//! whatever a failed one would have said.
use std::time::Duration;

use hyper::Uri;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;

use super::{
    OtlpError, OtlpOptions, OtlpProtocol, grpc::GrpcMetrics, http::HttpTransport, prepare,
    retry::SendError,
};

/// The OTLP/HTTP metrics URL beside a traces URL: `.../v1/traces` becomes
/// `.../v1/metrics`; any other path is replaced by `/v1/metrics`.
pub fn metrics_uri(traces: &Uri) -> Uri {
    let path = traces.path();
    let metrics = match path.strip_suffix("/v1/traces") {
        Some(base) => format!("{base}/v1/metrics"),
        None => "/v1/metrics".to_string(),
    };
    let mut parts = traces.clone().into_parts();
    parts.path_and_query = metrics.parse().ok();
    Uri::from_parts(parts).unwrap_or_else(|_| traces.clone())
}

/// One per client, so the size difference clippy warns about costs nothing.
#[allow(clippy::large_enum_variant)]
enum Transport {
    Grpc(GrpcMetrics),
    Http(HttpTransport),
}

pub struct MetricsClient {
    // Dropped before the runtime, as in `OtlpSink`.
    transport: Transport,
    rt: tokio::runtime::Runtime,
    timeout: Duration,
    /// Where the metrics go, for the log.
    pub target: String,
}

impl MetricsClient {
    pub fn new(opts: &OtlpOptions) -> Result<Self, OtlpError> {
        let (uri, rt) = prepare(opts, "swit-otlp-metrics")?;
        let (transport, target) = {
            let _guard = rt.enter();
            match opts.protocol {
                OtlpProtocol::Grpc => (
                    Transport::Grpc(GrpcMetrics::new(uri.clone(), opts)?),
                    uri.to_string(),
                ),
                OtlpProtocol::HttpProtobuf => {
                    let m = metrics_uri(&uri);
                    (
                        Transport::Http(HttpTransport::new(m.clone(), opts)?),
                        m.to_string(),
                    )
                }
            }
        };
        Ok(Self {
            transport,
            rt,
            timeout: opts.timeout,
            target,
        })
    }

    /// One export, bounded by the exporter's timeout and `limit`.
    pub fn send(
        &mut self,
        req: ExportMetricsServiceRequest,
        limit: Duration,
    ) -> Result<(), SendError> {
        let limit = limit.min(self.timeout);
        let fut = async {
            match &mut self.transport {
                Transport::Grpc(t) => t.send(req).await,
                Transport::Http(t) => t.send_metrics(req).await,
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
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
