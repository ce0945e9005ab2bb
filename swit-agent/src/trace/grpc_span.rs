//! HTTP/2 streams as spans: gRPC calls per the OpenTelemetry RPC
//! conventions, other streams as HTTP spans exactly like HTTP/1's.
use std::net::SocketAddr;

use super::{
    http_span::{CUT_BY_CLOSE, HttpExchange, HttpSpanParts, header, host_text, http_span},
    intern,
    span::{AttrValue, Attributes, SpanKind, StatusCode},
};
use crate::protocol::{
    Side,
    http2::{
        CANCEL, H2Request, H2Response, error_code_name,
        grpc::{self, DEADLINE_EXCEEDED},
    },
};

/// Messages counted on a gRPC stream, in the direction the span's process
/// sent them and received them (not semantic-convention attributes: the
/// conventions count messages only as span events).
pub const MESSAGES_SENT: &str = "swit.rpc.messages_sent";
pub const MESSAGES_RECEIVED: &str = "swit.rpc.messages_received";

/// Span parts for one HTTP/2 stream.
pub fn h2_span(
    kind: SpanKind,
    req: &H2Request,
    resp: &H2Response,
    local: SocketAddr,
    remote: SocketAddr,
) -> HttpSpanParts {
    if is_grpc(req, resp) {
        return grpc_span(kind, req, resp, local, remote);
    }
    let x = HttpExchange {
        method: req.method.as_deref(),
        target: req.path.as_deref(),
        authority: req
            .authority
            .as_deref()
            .or_else(|| header(&req.headers, "host")),
        scheme: req.scheme.as_deref(),
        version: "2",
        request_headers: (&req.headers).into(),
        request_body: req.body_size,
        status: resp.status,
        response_body: resp.body_size,
        reset: resp.reset.map(|r| error_code_name(r.code)),
        cut: resp.cut_by_close.then_some(CUT_BY_CLOSE),
    };
    http_span(kind, &x, local, remote)
}

/// gRPC is told by its content type, on either message (a response header
/// is all that is left when the request's was not decodable). Without one
/// (its field in the HPACK table from before capture began, as on every
/// channel older than the agent), by what a gRPC call always is: a POST to
/// `/package.Service/Method` whose DATA is whole length-prefixed messages,
/// ended by trailers (or a 200 that is nothing but headers, gRPC's
/// Trailers-Only answer; or asking for them with `te: trailers`).
fn is_grpc(req: &H2Request, resp: &H2Response) -> bool {
    match header(&req.headers, "content-type").or_else(|| header(&resp.headers, "content-type")) {
        Some(ct) => grpc::is_grpc_content_type(ct),
        None => looks_like_grpc(req, resp),
    }
}

/// A gRPC call whose status could not be known (left out of its span).
pub fn status_hidden(req: &H2Request, resp: &H2Response) -> bool {
    is_grpc(req, resp) && grpc_status(req, resp).is_none()
}

/// The evidence of [`is_grpc`] when no content type was decoded.
pub fn looks_like_grpc(req: &H2Request, resp: &H2Response) -> bool {
    // Without hidden fields the content type was truly absent: not gRPC.
    let hidden = req.unknown_fields + resp.unknown_fields > 0;
    let post = req.method.as_deref() == Some("POST");
    let shape = match req.path.as_deref() {
        Some(p) => grpc::split_path(p).is_some() && (req.framed || resp.framed),
        // The path was hidden too (a table reference, as grpcio and
        // grpc-go send it after the first call): the request's own bytes
        // must be messages.
        None => req.framed,
    };
    let trailers = resp.trailers_seen
        || (resp.headers_only && resp.status == Some(200))
        || header(&req.headers, "te").is_some_and(|v| v.eq_ignore_ascii_case("trailers"));
    hidden && post && shape && trailers
}

/// The call's status: `grpc-status` from the trailers, or from the headers
/// of a Trailers-Only response; else what the reset or the HTTP status
/// means; `None` when nothing says.
pub fn grpc_status(req: &H2Request, resp: &H2Response) -> Option<u32> {
    let sent =
        header(&resp.trailers, "grpc-status").or_else(|| header(&resp.headers, "grpc-status"));
    if let Some(v) = sent {
        return v.trim().parse().ok();
    }
    if let Some(reset) = resp.reset {
        // A deadline is enforced by whoever's timer fires first, with a
        // CANCEL reset: the library then reports DEADLINE_EXCEEDED. A
        // reset at or past the deadline is read that way. The client's
        // timer starts before its request leaves, so the server, timing
        // from when it read the request, sees the reset early by however
        // long that took on a loaded host: a quarter of the timeout (at
        // most 250 ms) is allowed for it.
        if reset.code == CANCEL
            && let Some(timeout) =
                header(&req.headers, "grpc-timeout").and_then(grpc::parse_timeout)
        {
            let start = match reset.by {
                Side::Request => req.timing.first.enter_ns,
                Side::Response => req.timing.first.exit_ns,
            };
            let elapsed = resp.timing.last.exit_ns.saturating_sub(start);
            let slack = (timeout / 4).min(std::time::Duration::from_millis(250));
            if elapsed as u128 + slack.as_nanos() >= timeout.as_nanos() {
                return Some(DEADLINE_EXCEEDED);
            }
        }
        return Some(grpc::status_of_reset(reset.code));
    }
    // A transport lost mid-call is UNAVAILABLE to grpc-go, grpc-java and
    // grpc-core alike.
    if resp.cut_by_close {
        return Some(grpc::UNAVAILABLE);
    }
    // A response that is not gRPC's (a proxy's error page): the mapping
    // of HTTP statuses in gRPC's http-grpc-status-mapping.md.
    match resp.status? {
        200 => None,
        400 => Some(grpc::INTERNAL),
        401 => Some(16),
        403 => Some(grpc::PERMISSION_DENIED),
        404 => Some(grpc::UNIMPLEMENTED),
        429 | 502..=504 => Some(grpc::UNAVAILABLE),
        _ => Some(grpc::UNKNOWN),
    }
}

fn grpc_span(
    kind: SpanKind,
    req: &H2Request,
    resp: &H2Response,
    local: SocketAddr,
    remote: SocketAddr,
) -> HttpSpanParts {
    let mut a: Attributes = Vec::with_capacity(14);
    a.push(("rpc.system".into(), "grpc".into()));
    let parts = req.path.as_deref().and_then(grpc::split_path);
    let name = match parts {
        Some((svc, method)) => {
            a.push(("rpc.service".into(), svc.into()));
            a.push(("rpc.method".into(), method.into()));
            format!("{svc}/{method}").into()
        }
        None => "grpc".into(),
    };
    let server = kind != SpanKind::Client;
    let server_end = if server { local } else { remote };
    let (addr, port) = match req.authority.as_deref().map(host_text) {
        Some((h, p)) => (h, p.unwrap_or(server_end.port())),
        None => (intern::ip(server_end.ip()), server_end.port()),
    };
    a.push(("server.address".into(), addr.into()));
    a.push(("server.port".into(), AttrValue::Int(port as i64)));
    if server {
        a.push(("client.address".into(), intern::ip(remote.ip()).into()));
        a.push(("client.port".into(), AttrValue::Int(remote.port() as i64)));
    }
    a.push((
        "network.peer.address".into(),
        intern::ip(remote.ip()).into(),
    ));
    a.push((
        "network.peer.port".into(),
        AttrValue::Int(remote.port() as i64),
    ));
    a.push(("network.protocol.name".into(), "http".into()));
    a.push(("network.protocol.version".into(), "2".into()));
    let (sent, received) = if server {
        (resp.messages, req.messages)
    } else {
        (req.messages, resp.messages)
    };
    if let Some(n) = sent {
        a.push((MESSAGES_SENT.into(), AttrValue::Int(n as i64)));
    }
    if let Some(n) = received {
        a.push((MESSAGES_RECEIVED.into(), AttrValue::Int(n as i64)));
    }
    let status = grpc_status(req, resp);
    let mut error = false;
    if let Some(code) = status {
        a.push(("rpc.grpc.status_code".into(), AttrValue::Int(code as i64)));
        if grpc::is_error(code, server) {
            error = true;
            a.push(("error.type".into(), grpc::status_name(code).into()));
        }
    }
    HttpSpanParts {
        name,
        attributes: a,
        status: if error {
            StatusCode::Error
        } else {
            StatusCode::Unset
        },
    }
}

#[cfg(test)]
#[path = "grpc_span_tests.rs"]
mod tests;
