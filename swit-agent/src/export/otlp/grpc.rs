//! OTLP/gRPC through tonic: spans go as the bytes [`super::encode`] wrote
//! (a codec that copies them into the frame), answers are decoded by prost;
//! the agent's metrics go through opentelemetry-proto's generated client.
//!
//! One lazily connected channel carries the spans of every traced service:
//! tonic reconnects it on the next request after the collector comes back.
use bytes::BufMut;
use hyper::http::uri::PathAndQuery;
use opentelemetry_proto::tonic::collector::{
    metrics::v1::{ExportMetricsServiceRequest, metrics_service_client::MetricsServiceClient},
    trace::v1::ExportTraceServiceResponse,
};
use prost::Message;
use tonic::{
    Status,
    codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder},
    metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap},
    transport::{Channel, Endpoint},
};

use super::{
    OtlpError, OtlpOptions,
    retry::{Accepted, SendError, grpc_code_retryable},
    tls::{self, Alpn},
};

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

pub struct GrpcTransport {
    client: tonic::client::Grpc<Channel>,
    metadata: MetadataMap,
}

/// Requests are protobuf bytes already; answers are decoded by prost.
#[derive(Default)]
struct PreEncoded;

impl Codec for PreEncoded {
    type Encode = Vec<u8>;
    type Decode = ExportTraceServiceResponse;
    type Encoder = PreEncoded;
    type Decoder = PreEncoded;
    fn encoder(&mut self) -> Self::Encoder {
        PreEncoded
    }
    fn decoder(&mut self) -> Self::Decoder {
        PreEncoded
    }
}

impl Encoder for PreEncoded {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for PreEncoded {
    type Item = ExportTraceServiceResponse;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        Message::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

impl GrpcTransport {
    /// Must run inside the sink's runtime (`Runtime::enter`): the channel
    /// spawns its worker task there.
    pub fn new(uri: hyper::Uri, opts: &OtlpOptions) -> Result<Self, OtlpError> {
        let mut client = tonic::client::Grpc::new(channel(uri, opts)?);
        if opts.gzip {
            client = client
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        Ok(Self {
            client,
            metadata: metadata(&opts.headers)?,
        })
    }

    /// Sends one encoded `ExportTraceServiceRequest`.
    pub async fn send(&mut self, req: Vec<u8>) -> Result<Accepted, SendError> {
        let mut request = tonic::Request::new(req);
        *request.metadata_mut() = self.metadata.clone();
        let sent = async {
            self.client
                .ready()
                .await
                .map_err(|e| Status::unknown(format!("Service was not ready: {e}")))?;
            self.client
                .unary(request, PathAndQuery::from_static(EXPORT_PATH), PreEncoded)
                .await
        };
        match sent.await {
            Ok(resp) => Ok(resp
                .into_inner()
                .partial_success
                .map(|p| Accepted {
                    rejected_spans: u64::try_from(p.rejected_spans).unwrap_or(0),
                    message: p.error_message,
                })
                .unwrap_or_default()),
            Err(status) => Err(status_error(&status)),
        }
    }
}

/// A lazily connected channel to `uri` with the exporter's TLS and
/// timeouts. Must run inside the sink's runtime.
fn channel(uri: hyper::Uri, opts: &OtlpOptions) -> Result<Channel, OtlpError> {
    let tls_needed = uri.scheme_str() == Some("https");
    let connector = tls::connector(opts, tls_needed, Alpn::H2)?;
    Ok(Endpoint::from(uri)
        .timeout(opts.timeout)
        .connect_timeout(opts.timeout)
        .user_agent(super::USER_AGENT)
        .map_err(|e| OtlpError::Endpoint {
            endpoint: opts.endpoint.clone(),
            reason: e.to_string(),
        })?
        .connect_with_connector_lazy(connector))
}

fn status_error(status: &tonic::Status) -> SendError {
    let mut detail = format!("gRPC {:?}", status.code());
    if !status.message().is_empty() {
        detail = format!("{detail}: {}", status.message());
    }
    // A status made on our side from a broken connection (the collector
    // went away mid-stream) is UNKNOWN with the cause attached; one from the
    // server has no source. The former is an outage, not a verdict on the
    // spans.
    let local = std::error::Error::source(status);
    let mut src = local;
    while let Some(e) = src {
        // Error layers often repeat their cause's text: keep each piece
        // once so the log line stays readable.
        let text = e.to_string();
        if !detail.contains(&text) {
            detail = format!("{detail}: {text}");
        }
        src = e.source();
    }
    SendError {
        retryable: grpc_code_retryable(status.code())
            || (status.code() == tonic::Code::Unknown && local.is_some()),
        detail,
        retry_after: None,
    }
}

/// The agent's own metrics over the same kind of channel as the spans.
pub struct GrpcMetrics {
    client: MetricsServiceClient<Channel>,
    metadata: MetadataMap,
}

impl GrpcMetrics {
    /// Must run inside a runtime (`Runtime::enter`), as [`GrpcTransport::new`].
    pub fn new(uri: hyper::Uri, opts: &OtlpOptions) -> Result<Self, OtlpError> {
        let mut client = MetricsServiceClient::new(channel(uri, opts)?);
        if opts.gzip {
            client = client
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        Ok(Self {
            client,
            metadata: metadata(&opts.headers)?,
        })
    }

    pub async fn send(&mut self, req: ExportMetricsServiceRequest) -> Result<(), SendError> {
        let mut request = tonic::Request::new(req);
        *request.metadata_mut() = self.metadata.clone();
        match self.client.export(request).await {
            Ok(_) => Ok(()),
            Err(status) => Err(status_error(&status)),
        }
    }
}

/// Custom headers as gRPC metadata. Keys must be ASCII header names; binary
/// (`-bin`) keys are refused because a config file cannot spell bytes.
fn metadata(headers: &[(String, String)]) -> Result<MetadataMap, OtlpError> {
    let mut map = MetadataMap::new();
    for (k, v) in headers {
        let bad = |reason: String| OtlpError::Header {
            name: k.clone(),
            reason,
        };
        let key = AsciiMetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|e| bad(e.to_string()))?;
        let value = AsciiMetadataValue::try_from(v.as_str()).map_err(|e| bad(e.to_string()))?;
        map.append(key, value);
    }
    Ok(map)
}

#[cfg(test)]
#[path = "grpc_tests.rs"]
mod tests;
