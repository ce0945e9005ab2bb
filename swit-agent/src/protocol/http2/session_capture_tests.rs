//! Tests of session.rs: replays of real HTTP/2 connections, checked call by call against what
//! the peers did (see `testkit_capture.rs` for the captures).
use super::super::*;
use super::testkit_capture::*;
use std::time::Duration;

use crate::protocol::{Side, Timing};

/// py-grpc-mixed: the calls of `grpc_client.py unary:alice unary:fail
/// unary:boom unary:slow:0.3 stream:3 collect:4 chat:2 unary:alice`.
fn py_mixed_calls() -> Vec<Call> {
    use End::*;
    let call = |stream, path, end, req, resp| Call {
        stream,
        path,
        timeout: None,
        end,
        req,
        resp,
    };
    vec![
        // "alice" (10 bytes with the prefix) -> "hello alice" (16).
        call(1, SAY_HELLO, Trailers("0", ""), (10, 1), (16, 1)),
        call(
            3,
            SAY_HELLO,
            TrailersOnly("5", "no such greeting"),
            (9, 1),
            (0, 0),
        ),
        call(5, SAY_HELLO, TrailersOnly("13", "boom"), (9, 1), (0, 0)),
        // The deadline call: grpc-timeout 301m, then the client's
        // RST_STREAM CANCEL at c2s 596.
        Call {
            timeout: Some("301m"),
            ..call(7, SAY_HELLO, CancelledBeforeResponse, (9, 1), (0, 0))
        },
        // Server streaming: three "greeting N" of 15 bytes.
        call(
            9,
            "/demo.Greeter/ListGreetings",
            Trailers("0", ""),
            (6, 1),
            (45, 3),
        ),
        // Client streaming: m0..m3 (7 bytes each), then an empty DATA with
        // END_STREAM.
        call(
            11,
            "/demo.Greeter/CollectGreetings",
            Trailers("0", ""),
            (28, 4),
            (6, 1),
        ),
        // Bidi ping-pong: "chat 0", "chat 1" each way.
        call(
            13,
            "/demo.Greeter/Chat",
            Trailers("0", ""),
            (22, 2),
            (22, 2),
        ),
        call(15, SAY_HELLO, Trailers("0", ""), (10, 1), (16, 1)),
    ]
}

/// go-grpc-mixed: `grpcdemo client check: check:down check:unknownsvc
/// check:slow:0.3 watch: check:`. Messages are protobuf: the server's
/// HealthCheckResponse is 7 bytes with the prefix.
fn go_mixed_calls() -> Vec<Call> {
    use End::*;
    let call = |stream, path, end, req, resp| Call {
        stream,
        path,
        timeout: None,
        end,
        req,
        resp,
    };
    vec![
        call(1, CHECK, Trailers("0", ""), (5, 1), (7, 1)),
        // NOT_SERVING is a message, not an error: grpc-status 0.
        call(3, CHECK, Trailers("0", ""), (11, 1), (7, 1)),
        call(
            5,
            CHECK,
            TrailersOnly("5", "unknown service"),
            (17, 1),
            (0, 0),
        ),
        Call {
            timeout: Some("299994u"),
            ..call(7, CHECK, CancelledBeforeResponse, (11, 1), (0, 0))
        },
        // The client cancels the Watch in the same write as the last
        // Check's HEADERS and DATA (the read at c2s 464, RST_STREAM at
        // 541): the Watch ends there, before the Check is answered.
        call(9, WATCH, CancelledAfterHeaders, (5, 1), (7, 1)),
        call(11, CHECK, Trailers("0", ""), (5, 1), (7, 1)),
    ]
}

#[test]
fn py_grpc_mixed_calls_and_outcomes() {
    let r = replay_capture(&PY_MIXED);
    assert_calls(
        PY_MIXED.name,
        &r,
        &py_peer("127.0.0.1:44917"),
        &py_mixed_calls(),
    );
    let (q, p) = r.exchange(7);
    // grpc-timeout reaches gRPC's own parser as sent.
    assert_eq!(
        header(&q.headers, "grpc-timeout").and_then(grpc::parse_timeout),
        Some(Duration::from_millis(301))
    );
    // The cancel's times are the read that carried the RST_STREAM.
    let rst = PY_MIXED.moment_at(Side::Request, 596);
    assert_eq!(
        p.timing,
        Timing {
            first: rst,
            last: rst
        }
    );
    // Times follow the reads: stream 11's HEADERS came in the read at
    // c2s 692, its END_STREAM DATA in the read at c2s 836; its response
    // in one read at s2c 664.
    let (q, p) = r.exchange(11);
    assert_eq!(
        q.timing,
        Timing {
            first: PY_MIXED.moment_at(Side::Request, 692),
            last: PY_MIXED.moment_at(Side::Request, 836),
        }
    );
    let resp = PY_MIXED.moment_at(Side::Response, 664);
    assert_eq!(
        p.timing,
        Timing {
            first: resp,
            last: resp
        }
    );
    // The bidi stream's response spans four reads (s2c 729 .. 833).
    let (_, p) = r.exchange(13);
    assert_eq!(
        p.timing,
        Timing {
            first: PY_MIXED.moment_at(Side::Response, 729),
            last: PY_MIXED.moment_at(Side::Response, 833),
        }
    );
}

#[test]
fn go_grpc_mixed_calls_and_outcomes() {
    let r = replay_capture(&GO_MIXED);
    assert_calls(
        GO_MIXED.name,
        &r,
        &go_peer("127.0.0.1:36611"),
        &go_mixed_calls(),
    );
    assert_eq!(
        r.orphans(),
        Vec::<u32>::new(),
        "grpc-go's server sent nothing after the cancels"
    );
    let (q, _) = r.exchange(7);
    assert_eq!(
        header(&q.headers, "grpc-timeout").and_then(grpc::parse_timeout),
        Some(Duration::from_micros(299_994))
    );
    // The client sent that RST_STREAM after the next call's HEADERS: the
    // Watch's end is reported after stream 11 started.
    let at = |want: &dyn Fn(&Http2Event) -> bool| r.events.iter().position(want).expect("event");
    assert!(
        at(&|e| matches!(e, Http2Event::RequestStarted(q) if q.stream == 11))
            < at(&|e| matches!(e, Http2Event::Exchange { request, .. } if request.stream == 9))
    );
    // The Watch ended at the client's RST_STREAM (c2s 541), after its
    // response headers and message (s2c 347).
    let (_, p) = r.exchange(9);
    assert_eq!(p.timing.first, GO_MIXED.moment_at(Side::Response, 347));
    assert_eq!(p.timing.last, GO_MIXED.moment_at(Side::Request, 541));
}

#[test]
fn single_grpc_calls() {
    let one = |path, end, req, resp| {
        vec![Call {
            stream: 1,
            path,
            timeout: None,
            end,
            req,
            resp,
        }]
    };
    let ok = End::Trailers("0", "");
    for (c, peer, calls) in [
        (
            &PY_UNARY_OK,
            py_peer("127.0.0.1:36427"),
            one(SAY_HELLO, ok, (10, 1), (16, 1)),
        ),
        (
            &GO_CHECK_OK,
            go_peer("127.0.0.1:44067"),
            one(CHECK, ok, (5, 1), (7, 1)),
        ),
    ] {
        assert_calls(c.name, &replay_capture(c), &peer, &calls);
    }
}

#[test]
fn h2load_grpc_calls_to_grpcio() {
    // h2load's requests carry content-length and send :path as a literal
    // without indexing (every request spells it out, Huffman-coded); the
    // response side is grpcio's, with dynamic-table references from the
    // second call on.
    let r = replay_capture(&H2LOAD_PY);
    assert_eq!(r.errors(), vec![]);
    assert_eq!(r.exchange_streams(), vec![1, 3, 5]);
    for (q, p) in r.exchanges() {
        assert_eq!(q.method.as_deref(), Some("POST"));
        assert_eq!(q.path.as_deref(), Some(SAY_HELLO));
        assert_eq!(q.authority.as_deref(), Some("127.0.0.1:35795"));
        assert_eq!(
            q.headers,
            fields(&[
                ("user-agent", H2LOAD_UA),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
                ("content-length", "10"),
            ])
        );
        assert_eq!((q.body_size, q.messages), (10, Some(1)));
        assert_eq!(p.status, Some(200));
        assert_eq!(p.headers, fields(PY_RESPONSE));
        assert_eq!(
            p.trailers,
            fields(&[("grpc-status", "0"), ("grpc-message", "")])
        );
        assert_eq!((p.body_size, p.messages), (16, Some(1)));
    }
    r.assert_every_stream_closed(H2LOAD_PY.name);
}

// ---------------------------------------------------------------------------
// nginx.

fn nginx_response(content_type: &str, body: u64) -> Vec<(String, String)> {
    fields(&[
        ("server", "nginx/1.22.1"),
        ("date", NGINX_DATE),
        ("content-type", content_type),
        ("content-length", &body.to_string()),
    ])
}

/// GETs that h2load made of nginx, all alike.
struct Gets {
    authority: &'static str,
    path: &'static str,
    status: u16,
    content_type: &'static str,
    /// DATA bytes of each response (nginx's content-length).
    body: u64,
    streams: &'static [u32],
}

fn assert_h2load_gets(c: &Capture, g: &Gets) {
    let Gets {
        authority,
        path,
        status,
        content_type: ctype,
        body,
        streams,
    } = *g;
    let r = replay_capture(c);
    assert_eq!(r.errors(), vec![], "{}", c.name);
    assert_eq!(r.exchange_streams(), streams, "{}", c.name);
    for (q, p) in r.exchanges() {
        let ctx = format!("{} stream {}", c.name, q.stream);
        assert_eq!(q.method.as_deref(), Some("GET"), "{ctx}");
        assert_eq!(q.scheme.as_deref(), Some("http"), "{ctx}");
        assert_eq!(q.authority.as_deref(), Some(authority), "{ctx}");
        assert_eq!(q.path.as_deref(), Some(path), "{ctx}");
        assert_eq!(q.headers, fields(&[("user-agent", H2LOAD_UA)]), "{ctx}");
        assert_eq!(q.unknown_fields, 0, "{ctx}");
        assert!(q.ended, "{ctx}: HEADERS with END_STREAM");
        assert_eq!(q.body_size, 0, "{ctx}");
        assert_eq!(p.status, Some(status), "{ctx}");
        assert_eq!(p.headers, nginx_response(ctype, body), "{ctx}");
        assert_eq!(p.trailers, vec![], "{ctx}");
        assert_eq!(p.unknown_fields, 0, "{ctx}");
        assert_eq!(p.body_size, body, "{ctx}: the DATA bytes nginx sent");
        assert_eq!(
            p.reset, None,
            "{ctx}: h2load's closing GOAWAY refuses nothing"
        );
    }
    r.assert_every_stream_closed(c.name);
}

#[test]
fn h2load_nginx_ten_concurrent_gets() {
    // Ten HEADERS (streams 1..19) in one write, answered in one write of
    // ten HEADERS + DATA(28 bytes: {"ok":true,"via":"nginx-h2"}).
    let gets = Gets {
        authority: "127.0.0.1:33627",
        path: "/api",
        status: 200,
        content_type: "application/json",
        body: 28,
        streams: &[1, 3, 5, 7, 9, 11, 13, 15, 17, 19],
    };
    assert_h2load_gets(&NGINX_10, &gets);
    let r = replay_capture(&NGINX_10);
    // All ten were reported started before the first response came.
    let kinds: Vec<bool> = r
        .events
        .iter()
        .map(|e| matches!(e, Http2Event::RequestStarted(_)))
        .collect();
    assert_eq!(kinds, [vec![true; 10], vec![false; 10]].concat());
    let req = NGINX_10.moment_at(Side::Request, 58);
    let resp = NGINX_10.moment_at(Side::Response, 49);
    for (q, p) in r.exchanges() {
        assert_eq!(
            q.timing,
            Timing {
                first: req,
                last: req
            }
        );
        assert_eq!(
            p.timing,
            Timing {
                first: resp,
                last: resp
            }
        );
    }
}

#[test]
fn h2load_nginx_one_get_and_three_404s() {
    let one = Gets {
        authority: "127.0.0.1:39249",
        path: "/api",
        status: 200,
        content_type: "application/json",
        body: 28,
        streams: &[1],
    };
    assert_h2load_gets(&NGINX_1REQ, &one);
    // Sequential GET /missing: 404 with nginx's 153-byte HTML page.
    let missing = Gets {
        authority: "127.0.0.1:38075",
        path: "/missing",
        status: 404,
        content_type: "text/html",
        body: 153,
        streams: &[1, 3, 5],
    };
    assert_h2load_gets(&NGINX_404, &missing);
}

#[test]
fn nghttp_get_with_priority_frames_and_traceparent() {
    let r = replay_capture(&NGHTTP_TRACEPARENT);
    assert_eq!(r.errors(), vec![]);
    // PRIORITY frames for streams 3..11 open no requests; the request is
    // stream 13, whose HEADERS carry the PRIORITY flag (5 bytes before the
    // block) and Huffman-coded literals.
    assert_eq!(
        r.started().iter().map(|s| s.stream).collect::<Vec<_>>(),
        vec![13]
    );
    let (q, p) = r.exchange(13);
    assert_eq!(q.method.as_deref(), Some("GET"));
    assert_eq!(q.scheme.as_deref(), Some("http"));
    assert_eq!(q.path.as_deref(), Some("/"));
    assert_eq!(q.authority.as_deref(), Some("127.0.0.1:36247"));
    assert_eq!(
        q.headers,
        fields(&[
            ("accept", "*/*"),
            ("accept-encoding", "gzip, deflate"),
            ("user-agent", "nghttp2/1.52.0"),
            ("traceparent", TRACEPARENT),
        ])
    );
    assert_eq!(p.status, Some(200));
    assert_eq!(p.headers, nginx_response("text/plain", 14));
    assert_eq!(p.body_size, 14, "hello over h2\\n");
    r.assert_every_stream_closed(NGHTTP_TRACEPARENT.name);
}

#[test]
fn grpc_traceparent_metadata_arrives_as_sent() {
    // grpcio sends it as a plain literal without indexing; grpc-go as a
    // Huffman-coded literal with incremental indexing.
    for (c, peer, end) in [
        (
            &PY_TRACEPARENT,
            py_peer("127.0.0.1:43431"),
            ((10, 1), (16, 1)),
        ),
        (
            &GO_TRACEPARENT,
            go_peer("127.0.0.1:45289"),
            ((5, 1), (7, 1)),
        ),
    ] {
        let r = replay_capture(c);
        assert_eq!(r.errors(), vec![], "{}", c.name);
        assert_eq!(r.exchange_streams(), vec![1], "{}", c.name);
        let (q, p) = r.exchange(1);
        let mut want = request_headers(&peer, None);
        want.push(("traceparent".into(), TRACEPARENT.into()));
        assert_eq!(q.headers, want, "{}", c.name);
        assert_eq!(
            header(&r.started()[0].headers, "traceparent"),
            Some(TRACEPARENT)
        );
        assert_eq!(
            (q.body_size, q.messages),
            (end.0.0, Some(end.0.1)),
            "{}",
            c.name
        );
        assert_eq!(
            (p.body_size, p.messages),
            (end.1.0, Some(end.1.1)),
            "{}",
            c.name
        );
        assert_eq!(header(&p.trailers, "grpc-status"), Some("0"), "{}", c.name);
    }
}
