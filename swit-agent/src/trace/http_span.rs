//! HTTP exchanges as OpenTelemetry spans: names and attributes per the
//! stable HTTP semantic conventions.
use std::net::SocketAddr;

use super::{
    intern,
    span::{AttrValue, Attributes, SpanKind, StatusCode, Text},
};
use crate::{
    config::redaction::CaptureHeaders,
    protocol::headers::HeaderFields,
    protocol::http1::{Request, Response},
    redact::redact_query,
};

/// Methods the semantic conventions know; others are reported as `_OTHER`.
const KNOWN_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// Name, attributes and status of one HTTP span.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSpanParts {
    pub name: Text,
    pub attributes: Attributes,
    pub status: StatusCode,
}

pub fn header<'a>(req_or_resp: impl Into<HeaderFields<'a>>, name: &str) -> Option<&'a str> {
    req_or_resp.into().get(name)
}

/// Splits a request target into path and query.
fn split_target(target: &str) -> (&str, Option<&str>) {
    // absolute-form (a proxy request): keep from the path on.
    let t = match target.find("://") {
        Some(i) => target[i + 3..]
            .find('/')
            .map_or("/", |j| &target[i + 3 + j..]),
        None => target,
    };
    let t = t.split('#').next().unwrap_or(t);
    match t.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (t, None),
    }
}

/// `http.request.header.<name>` and `http.response.header.<name>` for the
/// headers the operator asked to capture (`tracing.redaction.capture_headers`).
/// Values of one name are joined with `, ` (the attribute is a string, not
/// the string array of the conventions, as every attribute here). Values of
/// sensitive headers were replaced by `REDACTED` when parsed: asking for
/// one shows whether it was sent, never its value.
pub fn captured_headers<'a>(
    cap: &CaptureHeaders,
    request: impl Into<HeaderFields<'a>>,
    response: impl Into<HeaderFields<'a>>,
    a: &mut Attributes,
) {
    for (side, wanted, headers) in [
        ("request", &cap.request, request.into()),
        ("response", &cap.response, response.into()),
    ] {
        for name in wanted {
            let values: Vec<&str> = headers
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v)
                .collect();
            if !values.is_empty() {
                a.push((
                    format!("http.{side}.header.{name}").into(),
                    values.join(", ").into(),
                ));
            }
        }
    }
}

/// Host and port from a Host header value (`name`, `name:port`, `[v6]:port`).
/// Userinfo (`user:password@`), which neither a Host header nor an HTTP/2
/// `:authority` may carry but a broken client might, is dropped.
pub fn parse_host(h: &str) -> (String, Option<u16>) {
    let (host, port) = split_host(h);
    (host.to_string(), port)
}

/// [`parse_host`], the name kept (see [`intern`]): a service's requests
/// name the same few hosts.
pub fn host_text(h: &str) -> (Text, Option<u16>) {
    let (host, port) = split_host(h);
    (intern::text(host), port)
}

fn split_host(h: &str) -> (&str, Option<u16>) {
    let h = h.trim();
    let h = h.rsplit_once('@').map_or(h, |(_, host)| host);
    if let Some(rest) = h.strip_prefix('[')
        && let Some((addr, tail)) = rest.split_once(']')
    {
        let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
        return (addr, port);
    }
    match h.rsplit_once(':') {
        Some((n, p)) if !n.contains(':') => (n, p.parse().ok()),
        _ => (h, None),
    }
}

fn method_attrs(m: &str, a: &mut Attributes) -> Text {
    if let Some(&known) = KNOWN_METHODS.iter().find(|k| **k == m) {
        a.push(("http.request.method".into(), AttrValue::fixed(known)));
        Text::Borrowed(known)
    } else {
        a.push(("http.request.method".into(), AttrValue::fixed("_OTHER")));
        a.push(("http.request.method_original".into(), m.into()));
        Text::Borrowed("HTTP")
    }
}

/// `url.scheme`: one of two, almost always.
fn scheme_value(s: &str) -> AttrValue {
    match s {
        "http" => AttrValue::fixed("http"),
        "https" => AttrValue::fixed("https"),
        s => s.into(),
    }
}

/// One HTTP exchange, whatever the version carried it: what a span is
/// made of. Fields an HTTP/2 capture could not decode are `None` and their
/// attributes are left out.
#[derive(Debug, Clone, Copy)]
pub struct HttpExchange<'a> {
    pub method: Option<&'a str>,
    /// Path and query as sent.
    pub target: Option<&'a str>,
    /// `Host` or `:authority`.
    pub authority: Option<&'a str>,
    /// `:scheme`; HTTP/1 has none on the wire.
    pub scheme: Option<&'a str>,
    /// `network.protocol.version`: "1.0", "1.1" or "2".
    pub version: &'static str,
    pub request_headers: HeaderFields<'a>,
    pub request_body: u64,
    pub status: Option<u16>,
    pub response_body: u64,
    /// The exchange was cut short without a status (HTTP/2 RST_STREAM):
    /// the error code's name.
    pub reset: Option<&'static str>,
    /// The connection closed before the answer was complete
    /// ([`CUT_BY_CLOSE`]): an error whatever the status, if any, said.
    pub cut: Option<&'static str>,
}

/// `error.type` of an exchange its connection's close cut short: the client
/// gave up, or the server failed mid-answer.
pub const CUT_BY_CLOSE: &str = "connection_closed";

impl<'a> HttpExchange<'a> {
    pub fn http1(req: &'a Request, resp: &'a Response) -> Self {
        HttpExchange {
            cut: None,
            ..Self::http1_cut(req, Some(resp))
        }
    }

    /// An HTTP/1 exchange the connection's close cut short, with the head
    /// of its answer if that had begun.
    pub fn http1_cut(req: &'a Request, resp: Option<&'a Response>) -> Self {
        HttpExchange {
            method: Some(&req.method),
            target: Some(&req.target),
            authority: header(&req.headers, "host"),
            scheme: None,
            version: if req.minor_version == 0 { "1.0" } else { "1.1" },
            request_headers: (&req.headers).into(),
            request_body: req.body_size,
            status: resp.map(|r| r.status),
            response_body: resp.map_or(0, |r| r.body_size),
            reset: None,
            cut: Some(CUT_BY_CLOSE),
        }
    }
}

/// Builds the span parts of an HTTP exchange.
pub fn http_span(
    kind: SpanKind,
    x: &HttpExchange<'_>,
    local: SocketAddr,
    remote: SocketAddr,
) -> HttpSpanParts {
    // 14 or so, and `http.route` with `swit.route.source` on servers.
    let mut a: Attributes = Vec::with_capacity(18);
    let name = match x.method {
        Some(m) => method_attrs(m, &mut a),
        None => Text::Borrowed("HTTP"),
    };
    let (path, query) = match x.target {
        Some(t) => {
            let (p, q) = split_target(t);
            (Some(p), q)
        }
        None => (None, None),
    };
    let scheme = x.scheme.unwrap_or("http");
    let host = x.authority.map(host_text);
    // Kept: `client.address` and `network.peer.address` borrow it.
    let peer = intern::ip(remote.ip());
    match kind {
        SpanKind::Client => {
            let (addr, port) = match host {
                Some((h, p)) => (h, p.unwrap_or(remote.port())),
                None => (peer.clone(), remote.port()),
            };
            if let Some(path) = path {
                let (open, close) = match addr.contains(':') {
                    true => ("[", "]"),
                    false => ("", ""),
                };
                let default_port = if scheme == "https" { 443 } else { 80 };
                let port = match port == default_port {
                    true => String::new(),
                    false => format!(":{port}"),
                };
                let q = query
                    .map(|q| format!("?{}", redact_query(q)))
                    .unwrap_or_default();
                a.push((
                    "url.full".into(),
                    format!("{scheme}://{open}{addr}{close}{port}{path}{q}").into(),
                ));
            }
            a.push(("server.address".into(), addr.into()));
            a.push(("server.port".into(), AttrValue::Int(port as i64)));
        }
        _ => {
            a.push(("url.scheme".into(), scheme_value(scheme)));
            if let Some(path) = path {
                a.push(("url.path".into(), path.into()));
            }
            if let Some(q) = query {
                a.push(("url.query".into(), redact_query(q).into()));
            }
            let (addr, port) = match host {
                Some((h, p)) => (h, p.unwrap_or(local.port())),
                None => (intern::ip(local.ip()), local.port()),
            };
            a.push(("server.address".into(), addr.into()));
            a.push(("server.port".into(), AttrValue::Int(port as i64)));
            a.push(("client.address".into(), peer.clone().into()));
            a.push(("client.port".into(), AttrValue::Int(remote.port() as i64)));
        }
    }
    a.push(("network.peer.address".into(), peer.into()));
    a.push((
        "network.peer.port".into(),
        AttrValue::Int(remote.port() as i64),
    ));
    a.push((
        "network.protocol.version".into(),
        AttrValue::fixed(x.version),
    ));
    if let Some(ua) = header(x.request_headers, "user-agent") {
        a.push(("user_agent.original".into(), ua.into()));
    }
    a.push((
        "http.request.body.size".into(),
        AttrValue::Int(x.request_body as i64),
    ));
    a.push((
        "http.response.body.size".into(),
        AttrValue::Int(x.response_body as i64),
    ));
    let error = match (x.status, x.reset.or(x.cut)) {
        (Some(status), _) => {
            a.push((
                "http.response.status_code".into(),
                AttrValue::Int(status as i64),
            ));
            let error = match kind {
                SpanKind::Client => status >= 400,
                _ => status >= 500,
            };
            if error {
                a.push(("error.type".into(), status.to_string().into()));
            } else if let Some(cut) = x.cut {
                a.push(("error.type".into(), AttrValue::fixed(cut)));
            }
            error || x.cut.is_some()
        }
        // No response: the exchange failed, whoever cut it.
        (None, Some(code)) => {
            a.push(("error.type".into(), AttrValue::fixed(code)));
            true
        }
        (None, None) => false,
    };
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
#[path = "http_span_tests.rs"]
mod tests;
