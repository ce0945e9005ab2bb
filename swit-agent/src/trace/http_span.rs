//! HTTP exchanges as OpenTelemetry spans: names and attributes per the
//! stable HTTP semantic conventions.
use std::net::SocketAddr;

use super::span::{AttrValue, Attributes, SpanKind, StatusCode};
use crate::{
    config::redaction::CaptureHeaders,
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
    pub name: String,
    pub attributes: Attributes,
    pub status: StatusCode,
}

pub fn header<'a>(req_or_resp: &'a [(String, String)], name: &str) -> Option<&'a str> {
    req_or_resp
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
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
pub fn captured_headers(
    cap: &CaptureHeaders,
    request: &[(String, String)],
    response: &[(String, String)],
    a: &mut Attributes,
) {
    for (side, wanted, headers) in [
        ("request", &cap.request, request),
        ("response", &cap.response, response),
    ] {
        for name in wanted {
            let values: Vec<&str> = headers
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .collect();
            if !values.is_empty() {
                a.push((
                    format!("http.{side}.header.{name}"),
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
    let h = h.trim();
    let h = h.rsplit_once('@').map_or(h, |(_, host)| host);
    if let Some(rest) = h.strip_prefix('[')
        && let Some((addr, tail)) = rest.split_once(']')
    {
        let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
        return (addr.to_string(), port);
    }
    match h.rsplit_once(':') {
        Some((n, p)) if !n.contains(':') => (n.to_string(), p.parse().ok()),
        _ => (h.to_string(), None),
    }
}

fn method_attrs(m: &str, a: &mut Attributes) -> String {
    if KNOWN_METHODS.contains(&m) {
        a.push(("http.request.method".into(), m.into()));
        m.to_string()
    } else {
        a.push(("http.request.method".into(), "_OTHER".into()));
        a.push(("http.request.method_original".into(), m.into()));
        "HTTP".to_string()
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
    pub request_headers: &'a [(String, String)],
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
            request_headers: &req.headers,
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
    let mut a: Attributes = Vec::with_capacity(16);
    let name = match x.method {
        Some(m) => method_attrs(m, &mut a),
        None => "HTTP".to_string(),
    };
    let (path, query) = match x.target {
        Some(t) => {
            let (p, q) = split_target(t);
            (Some(p), q)
        }
        None => (None, None),
    };
    let scheme = x.scheme.unwrap_or("http");
    let host = x.authority.map(parse_host);
    match kind {
        SpanKind::Client => {
            let (addr, port) = match &host {
                Some((h, p)) => (h.clone(), p.unwrap_or(remote.port())),
                None => (remote.ip().to_string(), remote.port()),
            };
            let host = if addr.contains(':') {
                format!("[{addr}]")
            } else {
                addr.clone()
            };
            let default_port = if scheme == "https" { 443 } else { 80 };
            let authority = if port == default_port {
                host
            } else {
                format!("{host}:{port}")
            };
            if let Some(path) = path {
                let q = query
                    .map(|q| format!("?{}", redact_query(q)))
                    .unwrap_or_default();
                a.push((
                    "url.full".into(),
                    format!("{scheme}://{authority}{path}{q}").into(),
                ));
            }
            a.push(("server.address".into(), addr.into()));
            a.push(("server.port".into(), AttrValue::Int(port as i64)));
        }
        _ => {
            a.push(("url.scheme".into(), scheme.into()));
            if let Some(path) = path {
                a.push(("url.path".into(), path.into()));
            }
            if let Some(q) = query {
                a.push(("url.query".into(), redact_query(q).into()));
            }
            let (addr, port) = match &host {
                Some((h, p)) => (h.clone(), p.unwrap_or(local.port())),
                None => (local.ip().to_string(), local.port()),
            };
            a.push(("server.address".into(), addr.into()));
            a.push(("server.port".into(), AttrValue::Int(port as i64)));
            a.push(("client.address".into(), remote.ip().to_string().into()));
            a.push(("client.port".into(), AttrValue::Int(remote.port() as i64)));
        }
    }
    a.push((
        "network.peer.address".into(),
        remote.ip().to_string().into(),
    ));
    a.push((
        "network.peer.port".into(),
        AttrValue::Int(remote.port() as i64),
    ));
    a.push(("network.protocol.version".into(), x.version.into()));
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
                a.push(("error.type".into(), cut.into()));
            }
            error || x.cut.is_some()
        }
        // No response: the exchange failed, whoever cut it.
        (None, Some(code)) => {
            a.push(("error.type".into(), code.into()));
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
mod tests {
    use super::*;

    fn http1_span(
        kind: SpanKind,
        req: &Request,
        resp: &Response,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> HttpSpanParts {
        http_span(kind, &HttpExchange::http1(req, resp), local, remote)
    }
    use crate::{protocol::Timing, redact::REDACTED};

    fn req(method: &str, target: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            id: 0,
            method: method.into(),
            target: target.into(),
            minor_version: 1,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body_size: 3,
            timing: Timing::default(),
        }
    }

    fn resp(status: u16) -> Response {
        Response {
            status,
            minor_version: 1,
            headers: vec![],
            body_size: 10,
            timing: Timing::default(),
            ended_by_close: false,
        }
    }

    #[test]
    fn an_exchange_cut_by_close_is_an_error_with_what_was_answered() {
        let (l, r): (SocketAddr, SocketAddr) = (
            "127.0.0.1:80".parse().unwrap(),
            "127.0.0.1:5000".parse().unwrap(),
        );
        let q = req("GET", "/slow", &[]);
        let get = |p: &HttpSpanParts, k: &str| {
            p.attributes
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.to_string())
        };
        // (kind, answer's head, status code, error.type)
        let cases = [
            (SpanKind::Server, None, None, "\"connection_closed\""),
            (SpanKind::Client, None, None, "\"connection_closed\""),
            (
                SpanKind::Server,
                Some(200),
                Some("200"),
                "\"connection_closed\"",
            ),
            (SpanKind::Server, Some(503), Some("503"), "\"503\""),
            (SpanKind::Client, Some(404), Some("404"), "\"404\""),
        ];
        for (kind, status, code, error) in cases {
            let answer = status.map(resp);
            let p = http_span(kind, &HttpExchange::http1_cut(&q, answer.as_ref()), l, r);
            let case = format!("{kind:?} {status:?}");
            assert_eq!(p.status, StatusCode::Error, "{case}");
            assert_eq!(
                get(&p, "http.response.status_code").as_deref(),
                code,
                "{case}"
            );
            assert_eq!(get(&p, "error.type").as_deref(), Some(error), "{case}");
        }
    }

    #[test]
    fn host_userinfo_is_never_the_server_address() {
        assert_eq!(parse_host("u:pw@h:8080"), ("h".into(), Some(8080)));
        assert_eq!(parse_host("u:pw@[::1]:9"), ("::1".into(), Some(9)));
        assert_eq!(parse_host("h"), ("h".into(), None));
    }

    #[test]
    fn captured_headers_only_when_asked_and_joined() {
        let cap = CaptureHeaders {
            request: vec![
                "x-request-id".into(),
                "authorization".into(),
                "x-missing".into(),
            ],
            response: vec!["content-type".into()],
        };
        let req = [
            ("x-request-id".to_string(), "a".to_string()),
            ("authorization".to_string(), REDACTED.to_string()),
            ("x-request-id".to_string(), "b".to_string()),
            ("x-other".to_string(), "no".to_string()),
        ];
        let resp = [("content-type".to_string(), "text/html".to_string())];
        let mut a = Attributes::new();
        captured_headers(&cap, &req, &resp, &mut a);
        assert_eq!(
            a,
            vec![
                (
                    "http.request.header.x-request-id".to_string(),
                    "a, b".into()
                ),
                (
                    "http.request.header.authorization".to_string(),
                    REDACTED.into()
                ),
                (
                    "http.response.header.content-type".to_string(),
                    "text/html".into()
                ),
            ]
        );
        let mut none = Attributes::new();
        captured_headers(&CaptureHeaders::default(), &req, &resp, &mut none);
        assert!(none.is_empty());
    }

    fn get<'a>(p: &'a HttpSpanParts, k: &str) -> Option<&'a AttrValue> {
        p.attributes.iter().find(|(n, _)| n == k).map(|(_, v)| v)
    }

    const L: &str = "127.0.0.1:8080";
    const R: &str = "127.0.0.1:50000";

    #[test]
    fn server_span_attributes() {
        let r = req(
            "GET",
            "/users/7?token=abc&x",
            &[("host", "api.local:8080"), ("user-agent", "curl/8")],
        );
        let p = http1_span(
            SpanKind::Server,
            &r,
            &resp(200),
            L.parse().unwrap(),
            R.parse().unwrap(),
        );
        assert_eq!(p.name, "GET");
        assert_eq!(get(&p, "url.path"), Some(&"/users/7".into()));
        assert_eq!(get(&p, "url.query"), Some(&"token=REDACTED&x".into()));
        assert_eq!(get(&p, "server.address"), Some(&"api.local".into()));
        assert_eq!(get(&p, "server.port"), Some(&AttrValue::Int(8080)));
        assert_eq!(get(&p, "client.port"), Some(&AttrValue::Int(50000)));
        assert_eq!(
            get(&p, "http.response.status_code"),
            Some(&AttrValue::Int(200))
        );
        assert_eq!(get(&p, "user_agent.original"), Some(&"curl/8".into()));
        assert_eq!(p.status, StatusCode::Unset);
    }

    #[test]
    fn error_status_differs_by_kind() {
        let r = req("GET", "/", &[]);
        let (l, rm) = (L.parse().unwrap(), R.parse().unwrap());
        assert_eq!(
            http1_span(SpanKind::Server, &r, &resp(404), l, rm).status,
            StatusCode::Unset
        );
        assert_eq!(
            http1_span(SpanKind::Client, &r, &resp(404), rm, l).status,
            StatusCode::Error
        );
        let p = http1_span(SpanKind::Server, &r, &resp(503), l, rm);
        assert_eq!(p.status, StatusCode::Error);
        assert_eq!(get(&p, "error.type"), Some(&"503".into()));
    }

    #[test]
    fn client_span_url_and_unknown_method() {
        let r = req("PURGE", "/a?b=c", &[("host", "[::1]:9000")]);
        let p = http1_span(
            SpanKind::Client,
            &r,
            &resp(200),
            R.parse().unwrap(),
            L.parse().unwrap(),
        );
        assert_eq!(p.name, "HTTP");
        assert_eq!(get(&p, "http.request.method"), Some(&"_OTHER".into()));
        assert_eq!(
            get(&p, "url.full"),
            Some(&"http://[::1]:9000/a?b=REDACTED".into())
        );
        assert_eq!(get(&p, "server.port"), Some(&AttrValue::Int(9000)));
    }

    #[test]
    fn absolute_form_targets_keep_only_the_path() {
        assert_eq!(split_target("http://h:1/p?q=1"), ("/p", Some("q=1")));
        assert_eq!(split_target("http://h"), ("/", None));
        assert_eq!(split_target("/x#frag"), ("/x", None));
    }

    #[test]
    fn tls_exchanges_say_https() {
        let l: SocketAddr = "127.0.0.1:8443".parse().unwrap();
        let span = |kind, host: &str, remote: &str| {
            let r = req("GET", "/a?b=1", &[("host", host)]);
            let rm: SocketAddr = remote.parse().unwrap();
            let resp = resp(200);
            let mut x = HttpExchange::http1(&r, &resp);
            x.scheme = Some("https");
            http_span(kind, &x, l, rm)
        };
        let p = span(SpanKind::Server, "example.com:8443", "127.0.0.1:40000");
        assert_eq!(get(&p, "url.scheme"), Some(&"https".into()));
        let url =
            |host: &str, remote: &str| match get(&span(SpanKind::Client, host, remote), "url.full")
            {
                Some(AttrValue::Str(u)) => u.clone(),
                other => panic!("{other:?}"),
            };
        assert_eq!(
            url("h:8443", "10.0.0.1:8443"),
            "https://h:8443/a?b=REDACTED"
        );
        assert_eq!(url("h", "10.0.0.1:443"), "https://h/a?b=REDACTED");
        assert_eq!(url("h:443", "10.0.0.1:443"), "https://h/a?b=REDACTED");
        // http's default port is not https's.
        assert_eq!(url("h", "10.0.0.1:80"), "https://h:80/a?b=REDACTED");
        assert_eq!(
            url("[::1]:9443", "[::1]:9443"),
            "https://[::1]:9443/a?b=REDACTED"
        );
    }
}
