//! Tests of grpc_span.rs: gRPC statuses from both ends, cut and cancelled streams, plain HTTP/2.
use super::*;
use crate::protocol::{
    Moment, Timing,
    http2::{Reset, grpc::status_name},
};

const L: &str = "127.0.0.1:50051";
const R: &str = "127.0.0.1:40000";

fn at(ns: u64) -> Moment {
    Moment {
        enter_ns: ns,
        exit_ns: ns + 1,
        worker: 1,
    }
}

fn req(path: &str, headers: &[(&str, &str)]) -> H2Request {
    H2Request {
        stream: 1,
        http1_id: None,
        method: Some("POST".into()),
        scheme: Some("http".into()),
        authority: Some("localhost:50051".into()),
        path: Some(path.into()),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        unknown_fields: 0,
        body_size: 12,
        messages: Some(1),
        framed: true,
        ended: true,
        timing: Timing {
            first: at(1_000),
            last: at(1_000),
        },
    }
}

const GRPC: (&str, &str) = ("content-type", "application/grpc");

fn resp(headers: &[(&str, &str)], trailers: &[(&str, &str)], end_ns: u64) -> H2Response {
    let v = |h: &[(&str, &str)]| {
        h.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    H2Response {
        status: Some(200),
        headers: v(headers),
        trailers: v(trailers),
        unknown_fields: 0,
        body_size: 20,
        messages: Some(3),
        framed: true,
        trailers_seen: !trailers.is_empty(),
        headers_only: false,
        reset: None,
        cut_by_close: false,
        timing: Timing {
            first: at(2_000),
            last: at(end_ns),
        },
    }
}

fn get<'a>(p: &'a HttpSpanParts, k: &str) -> Option<&'a AttrValue> {
    p.attributes.iter().find(|(n, _)| n == k).map(|(_, v)| v)
}

fn span(kind: SpanKind, q: &H2Request, r: &H2Response) -> HttpSpanParts {
    let (l, rm) = (L.parse().unwrap(), R.parse().unwrap());
    match kind {
        SpanKind::Client => h2_span(kind, q, r, rm, l),
        _ => h2_span(kind, q, r, l, rm),
    }
}

#[test]
fn a_stream_cut_by_its_connections_close() {
    // gRPC: the transport was lost mid-call, UNAVAILABLE on both ends.
    let q = req("/demo.Greeter/SayHello", &[GRPC]);
    let mut r = resp(&[GRPC], &[], 3_000);
    r.cut_by_close = true;
    for kind in [SpanKind::Server, SpanKind::Client] {
        let s = span(kind, &q, &r);
        assert_eq!(get(&s, "rpc.grpc.status_code"), Some(&AttrValue::Int(14)));
        assert_eq!(s.status, StatusCode::Error, "{kind:?}");
    }
    // Plain HTTP/2: the status it had, and the cut.
    let q = req("/page", &[]);
    let mut r = resp(&[], &[], 3_000);
    r.cut_by_close = true;
    let s = span(SpanKind::Server, &q, &r);
    assert_eq!(
        get(&s, "http.response.status_code"),
        Some(&AttrValue::Int(200))
    );
    assert_eq!(get(&s, "error.type"), Some(&"connection_closed".into()));
    assert_eq!(s.status, StatusCode::Error);
}

#[test]
fn a_unary_call_from_both_ends() {
    let q = req("/demo.Greeter/SayHello", &[GRPC]);
    let r = resp(&[GRPC], &[("grpc-status", "0")], 3_000);
    let s = span(SpanKind::Server, &q, &r);
    assert_eq!(s.name, "demo.Greeter/SayHello");
    assert_eq!(get(&s, "rpc.system"), Some(&"grpc".into()));
    assert_eq!(get(&s, "rpc.service"), Some(&"demo.Greeter".into()));
    assert_eq!(get(&s, "rpc.method"), Some(&"SayHello".into()));
    assert_eq!(get(&s, "rpc.grpc.status_code"), Some(&AttrValue::Int(0)));
    assert_eq!(get(&s, "server.address"), Some(&"localhost".into()));
    assert_eq!(get(&s, "server.port"), Some(&AttrValue::Int(50051)));
    assert_eq!(get(&s, "client.port"), Some(&AttrValue::Int(40000)));
    assert_eq!(get(&s, MESSAGES_RECEIVED), Some(&AttrValue::Int(1)));
    assert_eq!(get(&s, MESSAGES_SENT), Some(&AttrValue::Int(3)));
    assert_eq!(s.status, StatusCode::Unset);
    assert_eq!(get(&s, "http.request.method"), None, "not an HTTP span");
    let c = span(SpanKind::Client, &q, &r);
    assert_eq!(get(&c, MESSAGES_SENT), Some(&AttrValue::Int(1)));
    assert_eq!(get(&c, MESSAGES_RECEIVED), Some(&AttrValue::Int(3)));
    assert_eq!(get(&c, "client.port"), None);
}

#[test]
fn error_statuses_follow_the_side_rules() {
    let q = req("/demo.Greeter/SayHello", &[GRPC]);
    for code in 0..=16u32 {
        // Trailers-Only: the status rides in the only HEADERS.
        let r = resp(&[GRPC, ("grpc-status", &code.to_string())], &[], 3_000);
        let s = span(SpanKind::Server, &q, &r);
        let c = span(SpanKind::Client, &q, &r);
        assert_eq!(
            get(&s, "rpc.grpc.status_code"),
            Some(&AttrValue::Int(code as i64))
        );
        let server_error = [2, 4, 12, 13, 14, 15].contains(&code);
        assert_eq!(s.status == StatusCode::Error, server_error, "server {code}");
        assert_eq!(c.status == StatusCode::Error, code != 0, "client {code}");
        if code != 0 {
            assert_eq!(get(&c, "error.type"), Some(&status_name(code).into()));
        }
    }
}

#[test]
fn a_cancel_past_the_deadline_is_deadline_exceeded() {
    let q = req("/demo.Greeter/SayHello", &[GRPC, ("grpc-timeout", "300m")]);
    let mut r = resp(&[], &[], 1_000 + 300_000_000);
    r.status = None;
    r.reset = Some(Reset {
        by: Side::Request,
        code: CANCEL,
    });
    let c = span(SpanKind::Client, &q, &r);
    assert_eq!(get(&c, "rpc.grpc.status_code"), Some(&AttrValue::Int(4)));
    assert_eq!(get(&c, "error.type"), Some(&"DEADLINE_EXCEEDED".into()));
    let s = span(SpanKind::Server, &q, &r);
    assert_eq!(
        s.status,
        StatusCode::Error,
        "DEADLINE_EXCEEDED fails a server"
    );
    // The server times from when it read the request, after the client's
    // timer started: a reset a little before the deadline is the deadline.
    r.timing.last = at(1_000 + 225_000_000);
    let s = span(SpanKind::Server, &q, &r);
    assert_eq!(get(&s, "rpc.grpc.status_code"), Some(&AttrValue::Int(4)));
    // Well before the deadline a cancel is the caller's choice.
    r.timing.last = at(1_000 + 224_000_000);
    let s = span(SpanKind::Server, &q, &r);
    assert_eq!(get(&s, "rpc.grpc.status_code"), Some(&AttrValue::Int(1)));
    r.timing.last = at(1_000 + 100_000_000);
    let c = span(SpanKind::Client, &q, &r);
    assert_eq!(get(&c, "rpc.grpc.status_code"), Some(&AttrValue::Int(1)));
    let s = span(SpanKind::Server, &q, &r);
    assert_eq!(s.status, StatusCode::Unset);
}

#[test]
fn what_could_not_be_decoded_is_left_out() {
    let mut q = req("/x", &[GRPC]);
    q.path = None;
    let r = resp(&[GRPC], &[], 3_000);
    let s = span(SpanKind::Server, &q, &r);
    assert_eq!(s.name, "grpc");
    assert_eq!(get(&s, "rpc.service"), None);
    assert_eq!(get(&s, "rpc.grpc.status_code"), None, "no grpc-status seen");
    let mut r = resp(&[GRPC], &[("grpc-status", "0")], 3_000);
    r.messages = None;
    let s = span(SpanKind::Server, &req("/a.B/C", &[GRPC]), &r);
    assert_eq!(
        get(&s, MESSAGES_SENT),
        None,
        "a gap made the count uncertain"
    );
}

#[test]
fn plain_http2_is_an_http_span() {
    let mut q = req("/api?k=v", &[("user-agent", "h2load")]);
    q.method = Some("GET".into());
    let mut r = resp(&[("content-type", "text/plain")], &[], 3_000);
    r.status = Some(404);
    let s = span(SpanKind::Server, &q, &r);
    assert_eq!(s.name, "GET");
    assert_eq!(get(&s, "url.path"), Some(&"/api".into()));
    assert_eq!(get(&s, "url.query"), Some(&"k=REDACTED".into()));
    assert_eq!(get(&s, "network.protocol.version"), Some(&"2".into()));
    assert_eq!(
        get(&s, "http.response.status_code"),
        Some(&AttrValue::Int(404))
    );
    assert_eq!(s.status, StatusCode::Unset);
    let c = span(SpanKind::Client, &q, &r);
    assert_eq!(
        get(&c, "url.full"),
        Some(&"http://localhost:50051/api?k=REDACTED".into())
    );
    assert_eq!(c.status, StatusCode::Error);
    // Reset before any response.
    r.status = None;
    r.reset = Some(Reset {
        by: Side::Request,
        code: CANCEL,
    });
    let s = span(SpanKind::Server, &q, &r);
    assert_eq!(get(&s, "error.type"), Some(&"CANCEL".into()));
    assert_eq!(s.status, StatusCode::Error);
    // Method not decodable: named HTTP, no method attribute.
    q.method = None;
    let s = span(SpanKind::Server, &q, &resp(&[], &[], 3_000));
    assert_eq!(s.name, "HTTP");
    assert_eq!(get(&s, "http.request.method"), None);
}

/// A call on a channel older than the agent: the content type, `te` and
/// the trailers' fields were references into HPACK tables it never saw.
fn hidden(q: &mut H2Request, r: &mut H2Response) {
    q.headers.retain(|(k, _)| k != "content-type" && k != "te");
    q.unknown_fields = 2;
    r.headers.clear();
    r.trailers.clear();
    r.unknown_fields = 3;
}

#[test]
fn a_call_whose_content_type_was_hidden_is_told_by_its_shape() {
    let mut q = req("/demo.Greeter/SayHello", &[GRPC, ("te", "trailers")]);
    let mut r = resp(&[GRPC], &[("grpc-status", "0")], 3_000);
    hidden(&mut q, &mut r);
    for kind in [SpanKind::Server, SpanKind::Client] {
        let s = span(kind, &q, &r);
        assert_eq!(s.name, "demo.Greeter/SayHello", "{kind:?}");
        assert_eq!(get(&s, "rpc.system"), Some(&"grpc".into()));
        // Its status was hidden too: left out, not guessed.
        assert_eq!(get(&s, "rpc.grpc.status_code"), None);
        assert_eq!(s.status, StatusCode::Unset);
    }
    assert!(status_hidden(&q, &r));
    // A status that was decoded is used.
    let mut known = r.clone();
    known.trailers = vec![("grpc-status".into(), "5".into())];
    let s = span(SpanKind::Client, &q, &known);
    assert_eq!(get(&s, "rpc.grpc.status_code"), Some(&AttrValue::Int(5)));
    assert!(!status_hidden(&q, &known));
    // With the path hidden as well (grpcio and grpc-go index it), the
    // request's messages and the trailers tell it: a gRPC span, unnamed.
    let mut pathless = q.clone();
    pathless.path = None;
    let mut failed = r.clone();
    failed.framed = false; // an error status comes without messages
    let s = span(SpanKind::Server, &pathless, &failed);
    assert_eq!(s.name, "grpc");
    assert_eq!(get(&s, "rpc.system"), Some(&"grpc".into()));
    assert_eq!(get(&s, "rpc.method"), None);
    // So does a Trailers-Only answer (a call refused at once).
    let mut refused = failed.clone();
    refused.trailers_seen = false;
    refused.headers_only = true;
    assert!(looks_like_grpc(&pathless, &refused));
    refused.status = Some(404);
    assert!(!looks_like_grpc(&pathless, &refused), "not gRPC's 200");
    // `te: trailers` decoded stands in for trailers not (yet) seen.
    let mut cut = r.clone();
    cut.trailers_seen = false;
    assert!(!looks_like_grpc(&q, &cut));
    let mut asked = q.clone();
    asked.headers.push(("te".into(), "trailers".into()));
    assert!(looks_like_grpc(&asked, &cut));
}

#[test]
fn without_all_the_evidence_a_hidden_call_stays_http() {
    let base = || {
        let mut q = req("/demo.Greeter/SayHello", &[]);
        let mut r = resp(&[], &[("grpc-status", "0")], 3_000);
        hidden(&mut q, &mut r);
        (q, r)
    };
    let (q, r) = base();
    assert!(looks_like_grpc(&q, &r));
    type Change = fn(&mut H2Request, &mut H2Response);
    let cases: [(&str, Change); 6] = [
        ("a GET", |q, _| q.method = Some("GET".into())),
        ("a path not /package.Service/Method", |q, _| {
            q.path = Some("/api/orders/7".into())
        }),
        ("DATA that is not whole messages", |q, r| {
            q.framed = false;
            r.framed = false;
        }),
        ("no trailers", |_, r| r.trailers_seen = false),
        (
            "a hidden path, and a request that is not messages",
            |q, _| {
                q.path = None;
                q.framed = false;
            },
        ),
        ("nothing hidden: no content type at all", |q, r| {
            q.unknown_fields = 0;
            r.unknown_fields = 0;
        }),
    ];
    for (what, change) in cases {
        let (mut q, mut r) = base();
        change(&mut q, &mut r);
        assert!(!looks_like_grpc(&q, &r), "{what}");
        let s = span(SpanKind::Server, &q, &r);
        assert_eq!(get(&s, "rpc.system"), None, "{what}");
        assert!(!status_hidden(&q, &r), "{what}");
    }
    // A content type that says otherwise decides, whatever the shape.
    let (mut q, r) = base();
    q.headers
        .push(("content-type".into(), "application/json".into()));
    assert_eq!(get(&span(SpanKind::Server, &q, &r), "rpc.system"), None);
}
