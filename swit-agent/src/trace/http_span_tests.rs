//! Tests of http_span.rs: attributes, statuses, URLs and captured headers.
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
        method: method.to_owned().into(),
        target: target.into(),
        minor_version: 1,
        headers: headers.iter().copied().collect(),
        body_size: 3,
        timing: Timing::default(),
    }
}

fn resp(status: u16) -> Response {
    Response {
        status,
        minor_version: 1,
        headers: Default::default(),
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
        ("x-request-id".into(), "a".to_string()),
        ("authorization".into(), REDACTED.to_string()),
        ("x-request-id".into(), "b".to_string()),
        ("x-other".into(), "no".to_string()),
    ];
    let resp = [("content-type".into(), "text/html".to_string())];
    let mut a = Attributes::new();
    captured_headers(&cap, &req[..], &resp[..], &mut a);
    assert_eq!(
        a,
        vec![
            ("http.request.header.x-request-id".into(), "a, b".into()),
            ("http.request.header.authorization".into(), REDACTED.into()),
            (
                "http.response.header.content-type".into(),
                "text/html".into()
            ),
        ]
    );
    let mut none = Attributes::new();
    captured_headers(&CaptureHeaders::default(), &req[..], &resp[..], &mut none);
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
        |host: &str, remote: &str| match get(&span(SpanKind::Client, host, remote), "url.full") {
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
