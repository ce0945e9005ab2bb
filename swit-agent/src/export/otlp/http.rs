//! OTLP/HTTP with protobuf bodies.
//!
//! Built on hyper-util's pooled client rather than reqwest: tonic already
//! brings hyper, hyper-util and tokio, so this adds only hyper-rustls, and
//! both transports share one TLS setup (see `tls.rs`). reqwest would add a
//! second client stack and its own TLS options for the one POST we need.
use std::io::Write;

use bytes::Bytes;
use flate2::{Compression, write::GzEncoder};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{
    Method, Request, Uri,
    header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT},
};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use opentelemetry_proto::tonic::collector::{
    metrics::v1::ExportMetricsServiceRequest, trace::v1::ExportTraceServiceResponse,
};
use prost::Message;

use super::{
    OtlpError, OtlpOptions,
    retry::{Accepted, SendError, http_status_retryable, parse_retry_after},
    tls::{self, Alpn},
};

/// Largest response body read; OTLP responses are a few bytes, and a
/// misbehaving server must not make the agent buffer without bound.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Characters of an error body quoted in the log.
const MAX_DETAIL_CHARS: usize = 200;

const PROTOBUF: &str = "application/x-protobuf";

pub struct HttpTransport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    uri: Uri,
    headers: HeaderMap,
    gzip: bool,
}

impl HttpTransport {
    /// Must run inside the sink's runtime, like the gRPC transport.
    pub fn new(uri: Uri, opts: &OtlpOptions) -> Result<Self, OtlpError> {
        let tls_needed = uri.scheme_str() == Some("https");
        let connector = tls::connector(opts, tls_needed, Alpn::Http1)?;
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            client,
            uri,
            headers: header_map(&opts.headers)?,
            gzip: opts.gzip,
        })
    }

    /// Sends one encoded `ExportTraceServiceRequest`.
    pub async fn send(&mut self, req: Vec<u8>) -> Result<Accepted, SendError> {
        let body = self.post(req).await?;
        // An undecodable body (a JSON reply from a proxy) is not a failure:
        // the status already said the spans were taken.
        let partial = ExportTraceServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success);
        Ok(partial
            .map(|p| Accepted {
                rejected_spans: u64::try_from(p.rejected_spans).unwrap_or(0),
                message: p.error_message,
            })
            .unwrap_or_default())
    }

    /// The agent's own metrics, to this transport's URL (see
    /// `metrics::metrics_uri`).
    pub async fn send_metrics(
        &mut self,
        req: ExportMetricsServiceRequest,
    ) -> Result<(), SendError> {
        self.post(req.encode_to_vec()).await.map(|_| ())
    }

    /// POSTs one protobuf body; the response body on success.
    async fn post(&mut self, mut body: Vec<u8>) -> Result<Bytes, SendError> {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .header(CONTENT_TYPE, PROTOBUF)
            .header(USER_AGENT, super::USER_AGENT);
        if self.gzip {
            body = gzip(&body).map_err(|e| SendError::fatal(format!("gzip: {e}")))?;
            builder = builder.header(CONTENT_ENCODING, "gzip");
        }
        let mut request = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| SendError::fatal(format!("building request: {e}")))?;
        for (k, v) in &self.headers {
            request.headers_mut().append(k.clone(), v.clone());
        }

        let resp = self
            .client
            .request(request)
            .await
            .map_err(|e| SendError::retryable(error_chain(&e)))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map(|b| b.to_bytes())
            // A body cut short after a 2xx still means the spans arrived.
            .unwrap_or_default();

        if status.is_success() {
            return Ok(body);
        }
        Err(SendError {
            retryable: http_status_retryable(status.as_u16()),
            detail: format!("HTTP {status}{}", error_detail(&body)),
            retry_after,
        })
    }
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 4), Compression::fast());
    enc.write_all(data)?;
    enc.finish()
}

/// The `google.rpc.Status` an OTLP server puts in an error body; only the
/// message matters to us, so it is declared here instead of pulling in the
/// googleapis types.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// ": message" from an error body: the `Status` message when it decodes,
/// else the start of the body as text, else nothing.
fn error_detail(body: &[u8]) -> String {
    let text = match RpcStatus::decode(body) {
        Ok(s) if !s.message.is_empty() => s.message,
        _ => String::from_utf8_lossy(body).into_owned(),
    };
    let text: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_DETAIL_CHARS)
        .collect();
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

/// hyper-util's error says only "client error (Connect)"; the cause
/// (connection refused, certificate unknown) is further down the chain.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, OtlpError> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        let bad = |reason: String| OtlpError::Header {
            name: k.clone(),
            reason,
        };
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| bad(e.to_string()))?;
        let value = HeaderValue::from_str(v).map_err(|e| bad(e.to_string()))?;
        map.append(name, value);
    }
    Ok(map)
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
