//! Replays of real HTTP/2 connections: the bytes in `testdata/` were
//! captured on loopback from Python grpcio 1.85.1, Go grpc-go 1.33.3,
//! nginx 1.22.1 with h2load and nghttp (nghttp2 1.52), through a TCP proxy
//! that logged every read(). Per capture: `NAME.c2s.bin` and `NAME.s2c.bin`
//! hold each direction from its first byte; `NAME.chunks.txt` has one
//! "c2s|s2c OFFSET LEN SECONDS" line per read, in time order across both
//! directions; `NAME.rounds.txt` (two-rounds captures) gives the offsets
//! where each round of calls starts.
//!
//! Each capture is fed to a [`Session`] read by read, in the proxy's order,
//! and the tests assert what the peers really did: the calls the clients
//! made and the outcomes they printed. The expected values were read off a
//! dump of the same bytes made with an independent decoder (python-hpack);
//! offsets quoted in comments are byte offsets into the `.bin` files.
use std::time::Duration;

use super::super::*;
use super::Session;
use crate::protocol::{Input, Moment, Side, Timing};

/// Thread id of every chunk: the tests are about bytes and times, and one
/// constant keeps `Timing`s comparable across replays.
const TID: u32 = 4242;

/// What the clients of the traceparent captures sent, byte for byte.
const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

const PY_UA: &str = "grpc-python/1.85.1 grpc-c/58.0.0 (linux; chttp2)";
const GO_UA: &str = "grpc-go/1.33.3";
const H2LOAD_UA: &str = "h2load nghttp2/1.52.0";
const NGINX_DATE: &str = "Thu, 26 Nov 2026 00:37:49 GMT";
const SAY_HELLO: &str = "/demo.Greeter/SayHello";
const CHECK: &str = "/grpc.health.v1.Health/Check";
const WATCH: &str = "/grpc.health.v1.Health/Watch";

struct Capture {
    name: &'static str,
    c2s: &'static [u8],
    s2c: &'static [u8],
    chunks: &'static str,
}

macro_rules! capture {
    ($name:literal) => {
        Capture {
            name: $name,
            c2s: include_bytes!(concat!("testdata/", $name, ".c2s.bin")),
            s2c: include_bytes!(concat!("testdata/", $name, ".s2c.bin")),
            chunks: include_str!(concat!("testdata/", $name, ".chunks.txt")),
        }
    };
}

const PY_MIXED: Capture = capture!("py-grpc-mixed");
const PY_UNARY_OK: Capture = capture!("py-grpc-unary-ok");
const PY_TRACEPARENT: Capture = capture!("py-grpc-unary-traceparent");
const PY_TWO_ROUNDS: Capture = capture!("py-grpc-two-rounds");
const GO_MIXED: Capture = capture!("go-grpc-mixed");
const GO_CHECK_OK: Capture = capture!("go-grpc-check-ok");
const GO_TRACEPARENT: Capture = capture!("go-grpc-check-traceparent");
const GO_TWO_ROUNDS: Capture = capture!("go-grpc-two-rounds");
const NGINX_1REQ: Capture = capture!("h2load-nginx-1req");
const NGINX_10: Capture = capture!("h2load-nginx-10concurrent");
const NGINX_404: Capture = capture!("h2load-nginx-404");
const NGHTTP_TRACEPARENT: Capture = capture!("nghttp-nginx-get-traceparent");
const H2LOAD_PY: Capture = capture!("h2load-py-grpc-unary");

const PY_TWO_ROUNDS_ROUNDS: &str = include_str!("testdata/py-grpc-two-rounds.rounds.txt");
const GO_TWO_ROUNDS_ROUNDS: &str = include_str!("testdata/go-grpc-two-rounds.rounds.txt");

fn all_captures() -> [&'static Capture; 13] {
    [
        &PY_MIXED,
        &PY_UNARY_OK,
        &PY_TRACEPARENT,
        &PY_TWO_ROUNDS,
        &GO_MIXED,
        &GO_CHECK_OK,
        &GO_TRACEPARENT,
        &GO_TWO_ROUNDS,
        &NGINX_1REQ,
        &NGINX_10,
        &NGINX_404,
        &NGHTTP_TRACEPARENT,
        &H2LOAD_PY,
    ]
}

/// One read() of the proxy.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    side: Side,
    offset: usize,
    bytes: &'static [u8],
    at: Moment,
}

/// "10284.207984" seconds into a moment, without going through a float.
fn moment(secs: &str) -> Moment {
    let (whole, frac) = secs.split_once('.').expect("seconds with a fraction");
    assert!(frac.len() <= 9, "{secs}");
    let ns = whole.parse::<u64>().expect("seconds") * 1_000_000_000
        + format!("{frac:0<9}").parse::<u64>().expect("fraction");
    Moment {
        enter_ns: ns,
        exit_ns: ns,
        tid: TID,
    }
}

impl Capture {
    fn file(&self, side: Side) -> &'static [u8] {
        match side {
            Side::Request => self.c2s,
            Side::Response => self.s2c,
        }
    }

    /// The reads in time order. Checks that they tile both files, so a
    /// replay feeds every captured byte exactly once.
    fn chunks(&self) -> Vec<Chunk> {
        let mut next = [0usize; 2];
        let chunks: Vec<Chunk> = self
            .chunks
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                assert_eq!(f.len(), 4, "{}: {line:?}", self.name);
                let (side, i) = match f[0] {
                    "c2s" => (Side::Request, 0),
                    "s2c" => (Side::Response, 1),
                    other => panic!("{}: direction {other:?}", self.name),
                };
                let offset: usize = f[1].parse().expect("offset");
                let len: usize = f[2].parse().expect("length");
                assert_eq!(offset, next[i], "{}: reads are contiguous", self.name);
                next[i] += len;
                Chunk {
                    side,
                    offset,
                    bytes: &self.file(side)[offset..offset + len],
                    at: moment(f[3]),
                }
            })
            .collect();
        assert_eq!(
            next,
            [self.c2s.len(), self.s2c.len()],
            "{}: reads cover both files",
            self.name
        );
        chunks
    }

    /// The moment of the read that carried byte `offset` of `side`.
    fn moment_at(&self, side: Side, offset: usize) -> Moment {
        self.chunks()
            .into_iter()
            .find(|c| c.side == side && (c.offset..c.offset + c.bytes.len()).contains(&offset))
            .map(|c| c.at)
            .unwrap_or_else(|| panic!("{}: no read holds {side:?} byte {offset}", self.name))
    }
}

type Step = (Side, Input<'static>);

fn steps(chunks: &[Chunk]) -> Vec<Step> {
    chunks
        .iter()
        .map(|c| {
            (
                c.side,
                Input::Data {
                    bytes: c.bytes,
                    at: c.at,
                },
            )
        })
        .collect()
}

struct Replay {
    session: Session,
    events: Vec<Http2Event>,
}

fn replay(steps: &[Step]) -> Replay {
    let mut session = Session::new();
    let mut events = Vec::new();
    for &(side, input) in steps {
        session.feed(side, input, &mut |e| events.push(e));
    }
    Replay { session, events }
}

/// The whole capture, read by read.
fn replay_capture(c: &Capture) -> Replay {
    replay(&steps(&c.chunks()))
}

impl Replay {
    fn exchanges(&self) -> Vec<(H2Request, H2Response)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Http2Event::Exchange { request, response } => {
                    Some((request.clone(), response.clone()))
                }
                _ => None,
            })
            .collect()
    }

    fn exchange(&self, stream: u32) -> (H2Request, H2Response) {
        let mut x: Vec<_> = self
            .exchanges()
            .into_iter()
            .filter(|(q, _)| q.stream == stream)
            .collect();
        assert_eq!(x.len(), 1, "one exchange on stream {stream}");
        x.remove(0)
    }

    fn started(&self) -> Vec<H2Request> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Http2Event::RequestStarted(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    fn errors(&self) -> Vec<(Side, &'static str)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Http2Event::ParseError { side, reason } => Some((*side, *reason)),
                _ => None,
            })
            .collect()
    }

    fn orphans(&self) -> Vec<u32> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Http2Event::OrphanResponse { stream } => Some(*stream),
                _ => None,
            })
            .collect()
    }

    fn exchange_streams(&self) -> Vec<u32> {
        self.exchanges().iter().map(|(q, _)| q.stream).collect()
    }

    /// Every stream that started also ended, in the same order of events:
    /// its start before its end. Nothing is left open or dropped.
    fn assert_every_stream_closed(&self, name: &str) {
        let mut open = Vec::new();
        for e in &self.events {
            match e {
                Http2Event::RequestStarted(r) => open.push(r.stream),
                Http2Event::Exchange { request, .. } => {
                    let i = open
                        .iter()
                        .position(|&s| s == request.stream)
                        .unwrap_or_else(|| {
                            panic!("{name}: stream {} ended unstarted", request.stream)
                        });
                    open.remove(i);
                }
                _ => {}
            }
        }
        assert_eq!(open, Vec::<u32>::new(), "{name}: streams never ended");
        assert_eq!(self.session.open_streams(), 0, "{name}");
        assert_eq!(self.session.dropped_streams(), 0, "{name}");
    }
}

fn header<'a>(h: &'a [(String, String)], k: &str) -> Option<&'a str> {
    h.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn fields(f: &[(&str, &str)]) -> Vec<(String, String)> {
    f.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------
// gRPC calls: a table per capture.

/// How a call ended, as the client printed it.
#[derive(Debug, Clone, Copy)]
enum End {
    /// HEADERS, DATA..., then trailers with grpc-status and grpc-message.
    Trailers(&'static str, &'static str),
    /// One HEADERS with END_STREAM carrying the status (errors).
    TrailersOnly(&'static str, &'static str),
    /// The client's deadline passed before any response: RST_STREAM
    /// CANCEL from the client.
    CancelledBeforeResponse,
    /// The client cancelled a server stream after its headers and
    /// messages: RST_STREAM CANCEL, no trailers.
    CancelledAfterHeaders,
}

struct Call {
    stream: u32,
    path: &'static str,
    /// grpc-timeout as sent.
    timeout: Option<&'static str>,
    end: End,
    /// DATA payload bytes and gRPC messages, client side then server side.
    req: (u64, u64),
    resp: (u64, u64),
}

/// What one gRPC implementation sends besides the call's own values.
struct Peer {
    authority: &'static str,
    /// The client's regular request fields, in order, with `{timeout}`
    /// standing for grpc-timeout where it goes when sent.
    request_headers: &'static [(&'static str, &'static str)],
    /// The server's response headers before messages.
    response_headers: &'static [(&'static str, &'static str)],
}

const PY_REQUEST: &[(&str, &str)] = &[
    ("content-type", "application/grpc"),
    ("te", "trailers"),
    ("grpc-accept-encoding", "identity, deflate, gzip"),
    ("grpc-timeout", "{timeout}"),
    ("user-agent", PY_UA),
];
const PY_RESPONSE: &[(&str, &str)] = &[
    ("content-type", "application/grpc"),
    ("grpc-accept-encoding", "identity, deflate, gzip"),
];
const GO_REQUEST: &[(&str, &str)] = &[
    ("content-type", "application/grpc"),
    ("user-agent", GO_UA),
    ("te", "trailers"),
    ("grpc-timeout", "{timeout}"),
];
const GO_RESPONSE: &[(&str, &str)] = &[("content-type", "application/grpc")];

fn request_headers(peer: &Peer, timeout: Option<&str>) -> Vec<(String, String)> {
    peer.request_headers
        .iter()
        .filter_map(|&(k, v)| match (v, timeout) {
            ("{timeout}", None) => None,
            ("{timeout}", Some(t)) => Some((k.to_string(), t.to_string())),
            _ => Some((k.to_string(), v.to_string())),
        })
        .collect()
}

/// Asserts one exchange against the call the client made.
fn assert_call(name: &str, q: &H2Request, p: &H2Response, peer: &Peer, call: &Call) {
    let ctx = format!("{name} stream {}", call.stream);
    assert_eq!(q.stream, call.stream, "{ctx}");
    assert_eq!(q.method.as_deref(), Some("POST"), "{ctx}");
    assert_eq!(q.scheme.as_deref(), Some("http"), "{ctx}");
    assert_eq!(q.authority.as_deref(), Some(peer.authority), "{ctx}");
    assert_eq!(q.path.as_deref(), Some(call.path), "{ctx}");
    assert_eq!(q.headers, request_headers(peer, call.timeout), "{ctx}");
    assert_eq!(q.unknown_fields, 0, "{ctx}: seen from the preface");
    assert_eq!(q.http1_id, None, "{ctx}");
    assert!(q.ended, "{ctx}: every client here ended its side");
    assert_eq!(
        (q.body_size, q.messages),
        (call.req.0, Some(call.req.1)),
        "{ctx}: request body"
    );
    assert_eq!(
        (p.body_size, p.messages),
        (call.resp.0, Some(call.resp.1)),
        "{ctx}: response body"
    );
    assert_eq!(p.unknown_fields, 0, "{ctx}");
    let cancel = Some(Reset {
        by: Side::Request,
        code: CANCEL,
    });
    let grpc = |code: &str, msg: &str| fields(&[("grpc-status", code), ("grpc-message", msg)]);
    match call.end {
        End::Trailers(code, msg) => {
            assert_eq!(p.status, Some(200), "{ctx}");
            assert_eq!(p.headers, fields(peer.response_headers), "{ctx}");
            assert_eq!(p.trailers, grpc(code, msg), "{ctx}");
            assert_eq!(p.reset, None, "{ctx}");
        }
        End::TrailersOnly(code, msg) => {
            assert_eq!(p.status, Some(200), "{ctx}");
            let mut want = fields(&[("content-type", "application/grpc")]);
            want.extend(grpc(code, msg));
            assert_eq!(p.headers, want, "{ctx}: status in the only HEADERS");
            assert_eq!(p.trailers, vec![], "{ctx}");
            assert_eq!(p.reset, None, "{ctx}");
        }
        End::CancelledBeforeResponse => {
            assert_eq!(p.status, None, "{ctx}: no response came");
            assert_eq!(p.headers, vec![], "{ctx}");
            assert_eq!(p.trailers, vec![], "{ctx}");
            assert_eq!(p.reset, cancel, "{ctx}");
            assert_eq!(p.timing.first, p.timing.last, "{ctx}: both the reset");
        }
        End::CancelledAfterHeaders => {
            assert_eq!(p.status, Some(200), "{ctx}");
            assert_eq!(p.headers, fields(peer.response_headers), "{ctx}");
            assert_eq!(p.trailers, vec![], "{ctx}");
            assert_eq!(p.reset, cancel, "{ctx}");
        }
    }
}

/// A replay from the preface: the exchanges are `calls` in this order, each
/// preceded by its RequestStarted with the same head, and nothing else
/// went wrong.
fn assert_calls(name: &str, r: &Replay, peer: &Peer, calls: &[Call]) {
    assert_eq!(r.errors(), vec![], "{name}");
    let x = r.exchanges();
    assert_eq!(
        r.exchange_streams(),
        calls.iter().map(|c| c.stream).collect::<Vec<_>>(),
        "{name}: exchanges in the order they ended"
    );
    for ((q, p), call) in x.iter().zip(calls) {
        assert_call(name, q, p, peer, call);
    }
    let mut started = r.started();
    started.sort_by_key(|s| s.stream);
    assert_eq!(started.len(), calls.len(), "{name}");
    for s in &started {
        let (q, _) = r.exchange(s.stream);
        // What is known when the HEADERS are whole is the same head.
        assert_eq!(
            (&s.method, &s.scheme, &s.authority, &s.path, &s.headers),
            (&q.method, &q.scheme, &q.authority, &q.path, &q.headers),
            "{name} stream {}",
            s.stream
        );
        assert_eq!(s.timing.first, q.timing.first, "{name} stream {}", s.stream);
    }
    r.assert_every_stream_closed(name);
}

fn py_peer(authority: &'static str) -> Peer {
    Peer {
        authority,
        request_headers: PY_REQUEST,
        response_headers: PY_RESPONSE,
    }
}

fn go_peer(authority: &'static str) -> Peer {
    Peer {
        authority,
        request_headers: GO_REQUEST,
        response_headers: GO_RESPONSE,
    }
}

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

// ---------------------------------------------------------------------------
// HPACK state across calls, and a tracer that attaches mid-connection.

/// "round 2 starts at c2s 497 s2c 360" -> (497, 360).
fn round_two(rounds: &str) -> (usize, usize) {
    let line = rounds
        .lines()
        .find(|l| l.starts_with("round 2 "))
        .expect("round 2 line");
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!((f[4], f[6]), ("c2s", "s2c"), "{line}");
    (f[5].parse().expect("c2s"), f[7].parse().expect("s2c"))
}

/// The header block of the HEADERS frame at `offset` (no padding or
/// priority in these), checking the frame is HEADERS on `stream`.
fn headers_block(file: &[u8], offset: usize, stream: u32) -> &[u8] {
    let h = &file[offset..offset + 9];
    let len = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
    assert_eq!(h[3], 1, "HEADERS at {offset}");
    assert_eq!(h[4] & 0x28, 0, "no padding or priority at {offset}");
    assert_eq!(u32::from_be_bytes([h[5], h[6], h[7], h[8]]), stream);
    &file[offset + 9..offset + 9 + len]
}

/// One-byte indexed representations only (RFC 7541 §6.1, index < 127),
/// and the given dynamic indexes among them.
fn assert_indexed_only(block: &[u8], dynamic: usize, ctx: &str) {
    assert!(
        block.iter().all(|b| b & 0x80 != 0 && b & 0x7f != 0x7f),
        "{ctx}: {block:02x?}"
    );
    assert_eq!(
        block.iter().filter(|&&b| b & 0x7f >= 62).count(),
        dynamic,
        "{ctx}: {block:02x?}"
    );
}

#[test]
fn round_two_headers_are_table_references_and_still_decode() {
    // The premise: round 2's request HEADERS are 8 (py) and 7 (go) bytes,
    // every field an index, all but :method and :scheme into the dynamic
    // table that round 1 filled.
    let (py_cut, _) = round_two(PY_TWO_ROUNDS_ROUNDS);
    let (go_cut, _) = round_two(GO_TWO_ROUNDS_ROUNDS);
    for (c, offsets, dynamic) in [
        (&PY_TWO_ROUNDS, [(py_cut, 5), (559, 7)], 6),
        (&GO_TWO_ROUNDS, [(go_cut, 5), (323, 7)], 5),
    ] {
        for (offset, stream) in offsets {
            let block = headers_block(c.c2s, offset, stream);
            assert_indexed_only(block, dynamic, &format!("{} c2s {offset}", c.name));
        }
    }
    // grpc-go's round-2 trailers-only error (s2c 317) is references only
    // too: its grpc-status and grpc-message come from the table.
    assert_indexed_only(headers_block(GO_TWO_ROUNDS.s2c, 317, 7), 3, "go s2c 317");

    let ok = End::Trailers("0", "");
    let not_found = End::TrailersOnly("5", "unknown service");
    let call = |stream, path, end, req, resp| Call {
        stream,
        path,
        timeout: None,
        end,
        req,
        resp,
    };
    let r = replay_capture(&PY_TWO_ROUNDS);
    assert_calls(
        PY_TWO_ROUNDS.name,
        &r,
        &py_peer("127.0.0.1:45743"),
        &[
            call(1, SAY_HELLO, ok, (10, 1), (16, 1)),
            call(3, SAY_HELLO, ok, (8, 1), (14, 1)),
            call(5, SAY_HELLO, ok, (10, 1), (16, 1)),
            call(7, SAY_HELLO, ok, (8, 1), (14, 1)),
        ],
    );
    let r = replay_capture(&GO_TWO_ROUNDS);
    assert_calls(
        GO_TWO_ROUNDS.name,
        &r,
        &go_peer("127.0.0.1:43853"),
        &[
            call(1, CHECK, ok, (5, 1), (7, 1)),
            call(3, CHECK, not_found, (17, 1), (0, 0)),
            call(5, CHECK, ok, (5, 1), (7, 1)),
            call(7, CHECK, not_found, (17, 1), (0, 0)),
        ],
    );
}

/// Fields a request reports: pseudo-headers present and regular fields.
fn request_fields(q: &H2Request) -> usize {
    [&q.method, &q.scheme, &q.authority, &q.path]
        .iter()
        .filter(|f| f.is_some())
        .count()
        + q.headers.len()
}

fn response_fields(p: &H2Response) -> usize {
    usize::from(p.status.is_some()) + p.headers.len() + p.trailers.len()
}

/// `part` is `full` with some elements left out, order kept.
fn is_subsequence(part: &[(String, String)], full: &[(String, String)]) -> bool {
    let mut rest = full.iter();
    part.iter().all(|f| rest.any(|g| g == f))
}

/// A session that missed the HPACK state reports a subset of the truth:
/// each value it gives is the value a session that saw everything gives,
/// and every field it leaves out is counted in `unknown_fields`. Body
/// sizes, messages, resets and times come from frames it did see in full.
fn assert_partial_view(part: &(H2Request, H2Response), full: &(H2Request, H2Response), ctx: &str) {
    let ((pq, pp), (fq, fp)) = (part, full);
    let ctx = format!("{ctx} stream {}", fq.stream);
    assert_eq!(pq.stream, fq.stream, "{ctx}");
    for (what, a, b) in [
        ("method", &pq.method, &fq.method),
        ("scheme", &pq.scheme, &fq.scheme),
        ("authority", &pq.authority, &fq.authority),
        ("path", &pq.path, &fq.path),
    ] {
        assert!(a.is_none() || a == b, "{ctx}: {what} {a:?}, truly {b:?}");
    }
    assert!(
        is_subsequence(&pq.headers, &fq.headers),
        "{ctx}: {:?} vs {:?}",
        pq.headers,
        fq.headers
    );
    assert_eq!(
        request_fields(pq) + pq.unknown_fields,
        request_fields(fq) + fq.unknown_fields,
        "{ctx}: each request field reported or counted unknown"
    );
    assert_eq!(
        (pq.body_size, pq.messages, pq.ended, pq.timing),
        (fq.body_size, fq.messages, fq.ended, fq.timing),
        "{ctx}"
    );
    assert!(
        pp.status.is_none() || pp.status == fp.status,
        "{ctx}: {:?} vs {:?}",
        pp.status,
        fp.status
    );
    assert!(
        is_subsequence(&pp.headers, &fp.headers),
        "{ctx}: {:?} vs {:?}",
        pp.headers,
        fp.headers
    );
    assert!(
        is_subsequence(&pp.trailers, &fp.trailers),
        "{ctx}: {:?} vs {:?}",
        pp.trailers,
        fp.trailers
    );
    assert_eq!(
        response_fields(pp) + pp.unknown_fields,
        response_fields(fp) + fp.unknown_fields,
        "{ctx}: each response field reported or counted unknown"
    );
    assert_eq!(
        (pp.body_size, pp.messages, pp.reset, pp.timing),
        (fp.body_size, fp.messages, fp.reset, fp.timing),
        "{ctx}"
    );
}

/// The reads from the given offsets on (round 2 starts at a read).
fn chunks_from(c: &Capture, c2s: usize, s2c: usize) -> Vec<Chunk> {
    let chunks = c.chunks();
    for (side, cut) in [(Side::Request, c2s), (Side::Response, s2c)] {
        assert!(
            chunks.iter().any(|k| k.side == side && k.offset == cut),
            "{}: a read starts at {side:?} {cut}",
            c.name
        );
    }
    chunks
        .into_iter()
        .filter(|k| {
            k.offset
                >= match k.side {
                    Side::Request => c2s,
                    Side::Response => s2c,
                }
        })
        .collect()
}

#[test]
fn attached_at_round_two_reports_only_what_it_can_know() {
    for (c, rounds, req_unknown, resp) in [
        // grpcio: :method and :scheme are static; :path, :authority and
        // the four regular fields are dynamic. The response's :status is
        // static (idx 8); content-type, grpc-accept-encoding and the
        // trailers' grpc-status are dynamic, grpc-message a literal.
        (
            &PY_TWO_ROUNDS,
            PY_TWO_ROUNDS_ROUNDS,
            6,
            [
                (5, vec![], fields(&[("grpc-message", "")]), 3),
                (7, vec![], fields(&[("grpc-message", "")]), 3),
            ],
        ),
        // grpc-go: the same requests (:path, :authority, content-type,
        // user-agent, te dynamic). Responses: content-type, grpc-status
        // and grpc-message all dynamic, in the trailers of stream 5 and
        // in stream 7's trailers-only HEADERS.
        (
            &GO_TWO_ROUNDS,
            GO_TWO_ROUNDS_ROUNDS,
            5,
            [(5, vec![], vec![], 3), (7, vec![], vec![], 3)],
        ),
    ] {
        let (c2s, s2c) = round_two(rounds);
        let r = replay(&steps(&chunks_from(c, c2s, s2c)));
        let full = replay_capture(c);
        assert_eq!(r.errors(), vec![], "{}", c.name);
        assert_eq!(
            r.orphans(),
            Vec::<u32>::new(),
            "{}: round 1 was over",
            c.name
        );
        assert_eq!(r.exchange_streams(), vec![5, 7], "{}", c.name);
        for (stream, headers, trailers, unknown) in resp {
            let (q, p) = r.exchange(stream);
            let ctx = format!("{} stream {stream}", c.name);
            assert_partial_view(&(q.clone(), p.clone()), &full.exchange(stream), c.name);
            // What only the dynamic table said is absent, never guessed.
            assert_eq!(q.method.as_deref(), Some("POST"), "{ctx}");
            assert_eq!(q.scheme.as_deref(), Some("http"), "{ctx}");
            assert_eq!(
                (q.path.as_deref(), q.authority.as_deref()),
                (None, None),
                "{ctx}"
            );
            assert_eq!(q.headers, vec![], "{ctx}");
            assert_eq!(q.unknown_fields, req_unknown, "{ctx}");
            // The status is a static entry: still right.
            assert_eq!(p.status, Some(200), "{ctx}");
            assert_eq!(p.headers, headers, "{ctx}");
            assert_eq!(p.trailers, trailers, "{ctx}");
            assert_eq!(header(&p.trailers, "grpc-status"), None, "{ctx}");
            assert_eq!(header(&p.headers, "grpc-status"), None, "{ctx}");
            assert_eq!(p.unknown_fields, unknown, "{ctx}");
        }
        r.assert_every_stream_closed(c.name);
    }
}

#[test]
fn attached_at_any_read_never_reports_a_wrong_value() {
    // A tracer may attach before any read. From there on, the streams
    // whose request HEADERS it sees are reported (as far as it can know
    // them), the others at most as orphan responses, and nothing is an
    // error: every read here starts at a frame.
    for c in all_captures() {
        let chunks = c.chunks();
        let full = replay_capture(c);
        let full_x = full.exchanges();
        // The read that carried each request's HEADERS, found by its time.
        for (i, a) in chunks.iter().enumerate() {
            assert!(
                chunks[i + 1..].iter().all(|b| b.at != a.at),
                "{}: reads have distinct times",
                c.name
            );
        }
        let head_read = |q: &H2Request| {
            chunks
                .iter()
                .position(|k| k.side == Side::Request && k.at == q.timing.first)
                .expect("request HEADERS read")
        };
        for k in 0..chunks.len() {
            let ctx = format!("{} attached at read {k}", c.name);
            let r = replay(&steps(&chunks[k..]));
            assert_eq!(r.errors(), vec![], "{ctx}");
            let want: Vec<u32> = full_x
                .iter()
                .filter(|(q, _)| head_read(q) >= k)
                .map(|(q, _)| q.stream)
                .collect();
            assert_eq!(r.exchange_streams(), want, "{ctx}");
            for part in r.exchanges() {
                let whole = full_x
                    .iter()
                    .find(|(q, _)| q.stream == part.0.stream)
                    .expect("stream");
                assert_partial_view(&part, whole, &ctx);
            }
            let mut missed: Vec<u32> = full_x
                .iter()
                .filter(|(q, _)| head_read(q) < k)
                .map(|(q, _)| q.stream)
                .collect();
            missed.extend(full.orphans());
            for o in r.orphans() {
                assert!(
                    missed.contains(&o),
                    "{ctx}: orphan {o} whose request was seen"
                );
            }
            assert_eq!(r.session.open_streams(), 0, "{ctx}");
        }
    }
}

// ---------------------------------------------------------------------------
// However the reads are cut, the same events.

/// Where to cut a read of the given length.
type SplitAt = fn(usize) -> usize;

fn split_steps(chunks: &[Chunk], cut: impl Fn(usize, usize) -> Vec<usize>) -> Vec<Step> {
    let mut out = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        let mut at = 0;
        let mut cuts = cut(i, c.bytes.len());
        cuts.push(c.bytes.len());
        for end in cuts {
            if end > at && end <= c.bytes.len() {
                out.push((
                    c.side,
                    Input::Data {
                        bytes: &c.bytes[at..end],
                        at: c.at,
                    },
                ));
                at = end;
            }
        }
    }
    out
}

#[test]
fn every_capture_gives_the_same_events_however_its_reads_are_split() {
    for c in all_captures() {
        let chunks = c.chunks();
        let want = replay(&steps(&chunks)).events;
        assert!(
            want.iter()
                .any(|e| matches!(e, Http2Event::Exchange { .. })),
            "{}",
            c.name
        );
        // Every read cut at the same place.
        let positions: [(&str, SplitAt); 4] = [
            ("1", |_| 1),
            ("9", |_| 9),
            ("len/2", |len| len / 2),
            ("len-1", |len| len.saturating_sub(1)),
        ];
        for (what, pos) in positions {
            let got = replay(&split_steps(&chunks, |_, len| vec![pos(len)])).events;
            assert_eq!(got, want, "{}: every read split at {what}", c.name);
        }
        // One byte at a time.
        let got = replay(&split_steps(&chunks, |_, len| (1..len).collect())).events;
        assert_eq!(got, want, "{}: byte by byte", c.name);
        // One read cut at each of its positions, the others whole.
        for (i, chunk) in chunks.iter().enumerate() {
            for p in 1..chunk.bytes.len() {
                let got = replay(&split_steps(
                    &chunks,
                    |j, _| if j == i { vec![p] } else { vec![] },
                ))
                .events;
                assert_eq!(got, want, "{}: read {i} split at {p}", c.name);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Bytes the tracer lost.

/// The reads with `[start, end)` of `side` replaced by a gap; the range
/// lies within one read, whose moment the gap keeps.
fn steps_with_gap(c: &Capture, side: Side, start: usize, end: usize) -> Vec<Step> {
    let mut out = Vec::new();
    let mut found = false;
    for k in c.chunks() {
        let range = k.offset..k.offset + k.bytes.len();
        if k.side != side || !range.contains(&start) {
            out.push((
                k.side,
                Input::Data {
                    bytes: k.bytes,
                    at: k.at,
                },
            ));
            continue;
        }
        assert!(end <= range.end, "{}: gap within one read", c.name);
        found = true;
        let file = c.file(side);
        if start > k.offset {
            out.push((
                side,
                Input::Data {
                    bytes: &file[k.offset..start],
                    at: k.at,
                },
            ));
        }
        out.push((
            side,
            Input::Gap {
                len: (end - start) as u64,
                at: k.at,
            },
        ));
        if end < range.end {
            out.push((
                side,
                Input::Data {
                    bytes: &file[end..range.end],
                    at: k.at,
                },
            ));
        }
    }
    assert!(found, "{}: {side:?} {start} is in a read", c.name);
    out
}

#[test]
fn a_gap_inside_data_payloads_keeps_every_exchange() {
    let full = replay_capture(&PY_MIXED);
    // s2c 537: DATA stream 9, payload 546..561 = prefix (5) + "greeting 0"
    // at 551..561. Losing the message bytes keeps framing and the count.
    let r = replay(&steps_with_gap(&PY_MIXED, Side::Response, 551, 561));
    assert_eq!(
        r.events, full.events,
        "a gap inside one message changes nothing"
    );

    // c2s 772: DATA stream 11, payload 781..788 = the whole message "m0",
    // prefix included: the body size is still known, the message count
    // no longer is.
    let r = replay(&steps_with_gap(&PY_MIXED, Side::Request, 781, 788));
    assert_eq!(r.errors(), vec![]);
    let mut want = full.exchanges();
    let i = want
        .iter()
        .position(|(q, _)| q.stream == 11)
        .expect("stream 11");
    assert_eq!(want[i].0.messages, Some(4));
    want[i].0.messages = None;
    assert_eq!(r.exchanges(), want);
    assert_eq!(r.exchange(11).0.body_size, 28);
}

#[test]
fn a_gap_inside_a_header_block_loses_that_stream_and_the_table_only() {
    let full = replay_capture(&PY_MIXED);
    // c2s 609: HEADERS stream 9 (ListGreetings), block 618..660, in the
    // read at c2s 596 with the RST_STREAM of stream 7 before it and its
    // DATA after. Bytes 630..650 are lost.
    let r = replay(&steps_with_gap(&PY_MIXED, Side::Request, 630, 650));
    assert_eq!(
        r.errors(),
        vec![(Side::Request, "bytes lost inside HTTP/2 framing")],
        "one error for the request side, none for the response side"
    );
    // Stream 9's request is gone (its response is an orphan); the others
    // end as they did.
    assert_eq!(r.exchange_streams(), vec![1, 3, 5, 7, 11, 13, 15]);
    assert!(r.orphans().contains(&9));
    for s in [1, 3, 5, 7] {
        assert_eq!(
            r.exchange(s),
            full.exchange(s),
            "stream {s}, before the gap"
        );
    }
    // After it, the request side resumes at the next read (c2s 675, a
    // PING) with the client's table forgotten. grpcio spells out each new
    // :path (a literal with indexing) and refers to the rest by index:
    // the paths of 11 and 13 are known, the table entries they refer to
    // are not. Stream 15 refers to its :path by index: unknown.
    for (s, path, unknown) in [
        (11, Some("/demo.Greeter/CollectGreetings"), 5),
        (13, Some("/demo.Greeter/Chat"), 5),
        (15, None, 6),
    ] {
        let (q, p) = r.exchange(s);
        assert_partial_view(&(q.clone(), p.clone()), &full.exchange(s), "after the gap");
        assert_eq!(q.path.as_deref(), path, "stream {s}");
        assert_eq!(q.method.as_deref(), Some("POST"), "stream {s}");
        assert_eq!(q.authority, None, "stream {s}");
        assert_eq!(q.unknown_fields, unknown, "stream {s}");
        // The response side lost nothing.
        assert_eq!(p, full.exchange(s).1, "stream {s}");
    }
}

// ---------------------------------------------------------------------------
// Orphan responses: a response whose request was not seen, once.

#[test]
fn a_server_response_racing_the_client_cancel_is_not_an_orphan() {
    // py-grpc-mixed stream 7: the client's RST_STREAM CANCEL (c2s 596,
    // read at .516784) crossed the server's own DEADLINE_EXCEEDED
    // trailers-only HEADERS and RST_STREAM NO_ERROR (s2c 399, read at
    // .516888). The request was seen and its exchange reported: frames
    // the server had in flight on the closed stream (RFC 9113 §5.1) are no
    // response without a request.
    let r = replay_capture(&PY_MIXED);
    assert_eq!(
        r.exchange(7).1.reset.map(|x| (x.by, x.code)),
        Some((Side::Request, CANCEL))
    );
    assert_eq!(r.orphans(), Vec::<u32>::new());
}

#[test]
fn an_orphan_response_is_reported_once() {
    // Stream 9's request HEADERS lost in a gap (as above): its response is
    // HEADERS, three DATA and trailers. One response, one orphan.
    let r = replay(&steps_with_gap(&PY_MIXED, Side::Request, 630, 650));
    assert_eq!(
        r.orphans().iter().filter(|&&s| s == 9).count(),
        1,
        "{:?}",
        r.orphans()
    );
}
