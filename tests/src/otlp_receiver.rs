//! In-process OTLP receivers (gRPC and HTTP/protobuf) that keep every
//! request, traces and metrics, for tests of the agent's exporter.
//!
//! Each receiver runs on its own thread with its own tokio runtime so the
//! tests stay synchronous. `stop` drops that runtime, which closes the
//! listener and every open connection at once (as a crashed collector
//! would); `restart` listens again on the same port.
//!
//! The `_tls` variants terminate TLS with tokio-rustls (tonic is built
//! without its TLS features, so the gRPC receiver gets already-decrypted
//! streams through `serve_with_incoming`), with certificates from a
//! [`TestPki`]; failed handshakes are kept (see
//! [`OtlpReceiver::handshake_errors`]).
use std::{
    collections::HashMap,
    io::Read,
    net::{SocketAddr, TcpListener},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    thread::JoinHandle,
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, Response, StatusCode, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::{
    collector::{
        metrics::v1::{
            ExportMetricsServiceRequest, ExportMetricsServiceResponse,
            metrics_service_server::{MetricsService, MetricsServiceServer},
        },
        trace::v1::{
            ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
            trace_service_server::{TraceService, TraceServiceServer},
        },
    },
    common::v1::{AnyValue, KeyValue, any_value},
};
use prost::Message;
use serde_json::Value;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::{mpsc, oneshot},
};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tonic::{codec::CompressionEncoding, transport::server::Connected};

use crate::{SpanRec, pki::TestPki, wait_for};

/// Largest request body the HTTP receiver reads.
const MAX_BODY: usize = 64 << 20;

/// How the receiver answers the next requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Take every span.
    Accept,
    /// Take the request but report `rejected` spans (OTLP partial success).
    Partial { rejected: i64, message: String },
    /// Refuse the request with this HTTP status or gRPC code.
    Fail {
        http_status: u16,
        grpc_code: tonic::Code,
    },
}

impl Reply {
    /// 400 / INVALID_ARGUMENT: not retryable.
    pub fn bad_request() -> Reply {
        Reply::Fail {
            http_status: 400,
            grpc_code: tonic::Code::InvalidArgument,
        }
    }
    /// 503 / UNAVAILABLE: retryable.
    pub fn unavailable() -> Reply {
        Reply::Fail {
            http_status: 503,
            grpc_code: tonic::Code::Unavailable,
        }
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub request: ExportTraceServiceRequest,
    /// Header (or gRPC metadata) names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body came gzip-compressed (`Content-Encoding: gzip` or
    /// `grpc-encoding: gzip`).
    pub gzip: bool,
    /// Whether the receiver accepted it (see [`Reply`]).
    pub accepted: bool,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct State {
    received: Vec<Received>,
    /// Metrics requests (MetricsService/Export, POST /v1/metrics), always
    /// accepted.
    metrics: Vec<ExportMetricsServiceRequest>,
    reply: Reply,
    /// TLS handshakes that failed, as the server saw them.
    handshake_errors: Vec<String>,
}

type Shared = Arc<Mutex<State>>;

/// Records a request and says how to answer it.
fn record(
    shared: &Shared,
    request: ExportTraceServiceRequest,
    headers: Vec<(String, String)>,
    gzip: bool,
) -> Reply {
    let mut st = shared.lock().expect("receiver state");
    let reply = st.reply.clone();
    st.received.push(Received {
        request,
        headers,
        gzip,
        accepted: !matches!(reply, Reply::Fail { .. }),
    });
    reply
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Grpc,
    Http,
}

struct Running {
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

/// A running OTLP receiver on 127.0.0.1.
pub struct OtlpReceiver {
    kind: Kind,
    addr: SocketAddr,
    shared: Shared,
    running: Option<Running>,
    /// While stopped: a bound, never-listening socket on the port, so the
    /// outage stays "connection refused" and no parallel test's free port
    /// (a real collector's, say) lands on it and answers in our place.
    reserved: Option<OwnedFd>,
    /// Set for the TLS variants.
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl OtlpReceiver {
    /// OTLP/gRPC (TraceService/Export, gzip accepted) on a free port.
    pub fn start_grpc() -> OtlpReceiver {
        Self::start(Kind::Grpc, None)
    }

    /// OTLP/HTTP protobuf (POST /v1/traces, gzip or plain) on a free port.
    pub fn start_http() -> OtlpReceiver {
        Self::start(Kind::Http, None)
    }

    /// As [`OtlpReceiver::start_grpc`] over TLS with `pki`'s server
    /// certificate (ALPN h2). With `require_client_cert` the handshake fails
    /// unless the client presents a certificate signed by `pki`'s CA.
    pub fn start_grpc_tls(pki: &TestPki, require_client_cert: bool) -> OtlpReceiver {
        let config = pki.server_config(require_client_cert, &[b"h2"]);
        Self::start(Kind::Grpc, Some(config))
    }

    /// As [`OtlpReceiver::start_http`] over TLS (ALPN http/1.1); see
    /// [`OtlpReceiver::start_grpc_tls`].
    pub fn start_http_tls(pki: &TestPki, require_client_cert: bool) -> OtlpReceiver {
        let config = pki.server_config(require_client_cert, &[b"http/1.1"]);
        Self::start(Kind::Http, Some(config))
    }

    fn start(kind: Kind, tls: Option<Arc<rustls::ServerConfig>>) -> OtlpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let addr = listener.local_addr().expect("receiver addr");
        let mut r = OtlpReceiver {
            kind,
            addr,
            shared: Arc::new(Mutex::new(State {
                received: Vec::new(),
                metrics: Vec::new(),
                reply: Reply::Accept,
                handshake_errors: Vec::new(),
            })),
            running: None,
            reserved: None,
            tls,
        };
        r.run(listener);
        r
    }

    fn run(&mut self, listener: TcpListener) {
        listener.set_nonblocking(true).expect("nonblocking");
        let (tx, rx) = oneshot::channel();
        let (kind, shared) = (self.kind, self.shared.clone());
        let tls = self.tls.clone().map(TlsAcceptor::from);
        let thread = std::thread::Builder::new()
            .name(format!("otlp-receiver-{}", self.addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("receiver runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                    tokio::select! {
                        _ = serve(kind, listener, shared, tls) => {}
                        _ = rx => {}
                    }
                });
                // Dropping the runtime here ends every connection task.
            })
            .expect("receiver thread");
        self.running = Some(Running { stop: tx, thread });
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The endpoint to give an exporter: `http://127.0.0.1:PORT` for gRPC,
    /// the full `/v1/traces` URL for HTTP; `https://` for the TLS variants.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        match self.kind {
            Kind::Grpc => format!("{scheme}://{}", self.addr),
            Kind::Http => format!("{scheme}://{}/v1/traces", self.addr),
        }
    }

    /// Stops listening and closes every connection; the port stays held
    /// (see `reserved`) until [`OtlpReceiver::restart`]. Idempotent.
    pub fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.stop.send(());
            let _ = r.thread.join();
            self.reserved = reserve_port(self.addr);
        }
    }

    /// Listens again on the same port, keeping what was received.
    pub fn restart(&mut self) {
        self.stop();
        self.reserved = None;
        // The old socket is closed; SO_REUSEADDR (set by std on Unix) lets
        // the port be bound again despite connections in TIME_WAIT.
        let listener = wait_for(
            "the receiver's port to be free",
            Duration::from_secs(10),
            || TcpListener::bind(self.addr).ok(),
        );
        self.run(listener);
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// How to answer from now on.
    pub fn set_reply(&self, reply: Reply) {
        self.shared.lock().expect("receiver state").reply = reply;
    }

    /// Every request so far, refused ones included.
    pub fn requests(&self) -> Vec<Received> {
        self.shared.lock().expect("receiver state").received.clone()
    }

    pub fn request_count(&self) -> usize {
        self.shared.lock().expect("receiver state").received.len()
    }

    /// Why each failed TLS handshake failed (rustls' error text, e.g.
    /// `received fatal alert: UnknownCA`), in order. Always empty without
    /// TLS.
    pub fn handshake_errors(&self) -> Vec<String> {
        self.shared
            .lock()
            .expect("receiver state")
            .handshake_errors
            .clone()
    }

    /// Every metrics request so far.
    pub fn metrics(&self) -> Vec<ExportMetricsServiceRequest> {
        self.shared.lock().expect("receiver state").metrics.clone()
    }

    /// The headers of every request, in order.
    pub fn headers(&self) -> Vec<Vec<(String, String)>> {
        self.requests().into_iter().map(|r| r.headers).collect()
    }

    /// The spans of every accepted request.
    pub fn spans(&self) -> Vec<SpanRec> {
        self.requests()
            .iter()
            .filter(|r| r.accepted)
            .flat_map(|r| spans_of(&r.request))
            .collect()
    }

    /// Waits until the accepted spans satisfy `cond`.
    pub fn wait_spans(
        &self,
        what: &str,
        timeout: Duration,
        cond: impl Fn(&[SpanRec]) -> bool,
    ) -> Vec<SpanRec> {
        wait_for(what, timeout, || {
            let s = self.spans();
            cond(&s).then_some(s)
        })
    }
}

/// A TCP socket bound to `addr` that never listens: connections to it are
/// refused, and the kernel hands the port to no `bind(…:0)` nor outgoing
/// connection meanwhile. SO_REUSEADDR lets the listener bind again at once.
fn reserve_port(addr: SocketAddr) -> Option<OwnedFd> {
    let SocketAddr::V4(v4) = addr else {
        return None;
    };
    // SAFETY: plain socket calls on a descriptor this function owns.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return None;
        }
        let fd = OwnedFd::from_raw_fd(fd);
        let one: libc::c_int = 1;
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: v4.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*v4.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        let rc = libc::bind(
            fd.as_raw_fd(),
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        (rc == 0).then_some(fd)
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve(
    kind: Kind,
    listener: tokio::net::TcpListener,
    shared: Shared,
    tls: Option<TlsAcceptor>,
) {
    match (kind, tls) {
        (Kind::Grpc, None) => {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            serve_grpc(shared, incoming).await;
        }
        (Kind::Grpc, Some(acceptor)) => {
            // Handshakes run in their own tasks so a slow or failing one
            // neither holds up nor ends the stream tonic reads.
            let (tx, rx) = mpsc::channel::<std::io::Result<TlsIo>>(16);
            let accept_shared = shared.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let (acceptor, shared, tx) =
                        (acceptor.clone(), accept_shared.clone(), tx.clone());
                    tokio::spawn(async move {
                        if let Some(tls) = handshake(&acceptor, stream, &shared).await {
                            let _ = tx.send(Ok(TlsIo(tls))).await;
                        }
                    });
                }
            });
            serve_grpc(shared, tokio_stream::wrappers::ReceiverStream::new(rx)).await;
        }
        (Kind::Http, tls) => loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (shared, tls) = (shared.clone(), tls.clone());
            tokio::spawn(async move {
                let svc_shared = shared.clone();
                let svc = service_fn(move |req| handle_http(svc_shared.clone(), req));
                let http = hyper::server::conn::http1::Builder::new();
                match tls {
                    None => {
                        let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                    }
                    Some(acceptor) => {
                        let Some(tls) = handshake(&acceptor, stream, &shared).await else {
                            return;
                        };
                        let _ = http.serve_connection(TokioIo::new(tls), svc).await;
                    }
                }
            });
        },
    }
}

async fn serve_grpc<S, IO>(shared: Shared, incoming: S)
where
    S: tokio_stream::Stream<Item = std::io::Result<IO>>,
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
{
    let metrics = MetricsServiceServer::new(GrpcReceiver {
        shared: shared.clone(),
    })
    .accept_compressed(CompressionEncoding::Gzip)
    .send_compressed(CompressionEncoding::Gzip);
    let svc = TraceServiceServer::new(GrpcReceiver { shared })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    if let Err(e) = tonic::transport::Server::builder()
        .add_service(svc)
        .add_service(metrics)
        .serve_with_incoming(incoming)
        .await
    {
        eprintln!("OTLP gRPC test receiver: {e}");
    }
}

/// Bound on one TLS handshake, so a client that never finishes cannot keep
/// a task alive.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server side of a TLS handshake; a failure is recorded, not fatal.
async fn handshake(
    acceptor: &TlsAcceptor,
    stream: tokio::net::TcpStream,
    shared: &Shared,
) -> Option<TlsStream<tokio::net::TcpStream>> {
    let err = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => return Some(tls),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no handshake within {HANDSHAKE_TIMEOUT:?}"),
    };
    shared
        .lock()
        .expect("receiver state")
        .handshake_errors
        .push(err);
    None
}

/// A server-side TLS stream tonic can serve: tonic implements `Connected`
/// for rustls streams only with its `tls-*` features, which this workspace
/// must not enable.
struct TlsIo(TlsStream<tokio::net::TcpStream>);

impl Connected for TlsIo {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for TlsIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

struct GrpcReceiver {
    shared: Shared,
}

#[tonic::async_trait]
impl TraceService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let headers: Vec<(String, String)> = request
            .metadata()
            .clone()
            .into_headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let gzip = headers
            .iter()
            .any(|(k, v)| k == "grpc-encoding" && v == "gzip");
        match record(&self.shared, request.into_inner(), headers, gzip) {
            Reply::Accept => Ok(tonic::Response::new(ExportTraceServiceResponse::default())),
            Reply::Partial { rejected, message } => {
                Ok(tonic::Response::new(ExportTraceServiceResponse {
                    partial_success: Some(ExportTracePartialSuccess {
                        rejected_spans: rejected,
                        error_message: message,
                    }),
                }))
            }
            Reply::Fail { grpc_code, .. } => Err(tonic::Status::new(
                grpc_code,
                "refused by the test receiver",
            )),
        }
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.shared
            .lock()
            .expect("receiver state")
            .metrics
            .push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

async fn handle_http(
    shared: Shared,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let plain = |status: StatusCode, text: &str| {
        let mut r = Response::new(Full::new(Bytes::from(text.to_string())));
        *r.status_mut() = status;
        Ok(r)
    };
    let path = req.uri().path().to_string();
    if req.method() != hyper::Method::POST || !["/v1/traces", "/v1/metrics"].contains(&&*path) {
        return plain(StatusCode::NOT_FOUND, "only POST /v1/traces or /v1/metrics");
    }
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let gzip = req
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let Ok(body) = Limited::new(req.into_body(), MAX_BODY).collect().await else {
        return plain(StatusCode::BAD_REQUEST, "unreadable body");
    };
    let mut body = body.to_bytes().to_vec();
    if gzip {
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(body.as_slice())
            .read_to_end(&mut out)
            .is_err()
        {
            return plain(StatusCode::BAD_REQUEST, "bad gzip");
        }
        body = out;
    }
    if path == "/v1/metrics" {
        let Ok(m) = ExportMetricsServiceRequest::decode(body.as_slice()) else {
            return plain(
                StatusCode::BAD_REQUEST,
                "not an ExportMetricsServiceRequest",
            );
        };
        shared.lock().expect("receiver state").metrics.push(m);
        let mut r = Response::new(Full::new(Bytes::from(
            ExportMetricsServiceResponse::default().encode_to_vec(),
        )));
        r.headers_mut().insert(
            "content-type",
            hyper::header::HeaderValue::from_static("application/x-protobuf"),
        );
        return Ok(r);
    }
    let Ok(request) = ExportTraceServiceRequest::decode(body.as_slice()) else {
        return plain(StatusCode::BAD_REQUEST, "not an ExportTraceServiceRequest");
    };
    let resp = match record(&shared, request, headers, gzip) {
        Reply::Accept => ExportTraceServiceResponse::default(),
        Reply::Partial { rejected, message } => ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: message,
            }),
        },
        Reply::Fail { http_status, .. } => {
            let status =
                StatusCode::from_u16(http_status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return plain(status, "refused by the test receiver");
        }
    };
    let mut r = Response::new(Full::new(Bytes::from(resp.encode_to_vec())));
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/x-protobuf"),
    );
    Ok(r)
}

/// The spans of one request as [`SpanRec`]s, mapped as
/// [`crate::parse_otlp_line`] maps OTLP/JSON: hex ids, attribute values as
/// JSON strings, numbers and booleans (others as null).
pub fn spans_of(req: &ExportTraceServiceRequest) -> Vec<SpanRec> {
    let mut out = Vec::new();
    for rs in &req.resource_spans {
        let resource = attr_map(
            rs.resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or_default(),
        );
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                out.push(SpanRec {
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent_span_id: hex(&s.parent_span_id),
                    name: s.name.clone(),
                    kind: i64::from(s.kind),
                    start: s.start_time_unix_nano,
                    end: s.end_time_unix_nano,
                    status_code: s.status.as_ref().map_or(0, |st| i64::from(st.code)),
                    attrs: attr_map(&s.attributes),
                    resource: resource.clone(),
                });
            }
        }
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn attr_map(kvs: &[KeyValue]) -> HashMap<String, Value> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), any_value(kv.value.as_ref())))
        .collect()
}

fn any_value(v: Option<&AnyValue>) -> Value {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => Value::from(s.clone()),
        Some(any_value::Value::IntValue(i)) => Value::from(*i),
        Some(any_value::Value::BoolValue(b)) => Value::from(*b),
        Some(any_value::Value::DoubleValue(d)) => Value::from(*d),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_receiver_refuses_and_keeps_its_port() {
        let mut rx = OtlpReceiver::start_grpc();
        let addr = rx.addr();
        std::net::TcpStream::connect(addr).expect("a running receiver accepts");
        rx.stop();
        let err = std::net::TcpStream::connect(addr).expect_err("stopped");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(rx.reserved.is_some(), "the port is held while stopped");
        rx.restart();
        std::net::TcpStream::connect(addr).expect("the same port again");
    }
}
