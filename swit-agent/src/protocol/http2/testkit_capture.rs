//! Replaying real HTTP/2 connections (test-only, shared by the capture tests): the bytes in `testdata/` were
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

use super::super::*;
use super::Session;
use crate::protocol::{Input, Moment, Side};

/// Thread id of every chunk: the tests are about bytes and times, and one
/// constant keeps `Timing`s comparable across replays.
pub(super) const TID: u64 = 4242;

/// What the clients of the traceparent captures sent, byte for byte.
pub(super) const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

pub(super) const PY_UA: &str = "grpc-python/1.85.1 grpc-c/58.0.0 (linux; chttp2)";
pub(super) const GO_UA: &str = "grpc-go/1.33.3";
pub(super) const H2LOAD_UA: &str = "h2load nghttp2/1.52.0";
pub(super) const NGINX_DATE: &str = "Thu, 26 Nov 2026 00:37:49 GMT";
pub(super) const SAY_HELLO: &str = "/demo.Greeter/SayHello";
pub(super) const CHECK: &str = "/grpc.health.v1.Health/Check";
pub(super) const WATCH: &str = "/grpc.health.v1.Health/Watch";

pub(super) struct Capture {
    pub(super) name: &'static str,
    pub(super) c2s: &'static [u8],
    pub(super) s2c: &'static [u8],
    pub(super) chunks: &'static str,
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

pub(super) const PY_MIXED: Capture = capture!("py-grpc-mixed");
pub(super) const PY_UNARY_OK: Capture = capture!("py-grpc-unary-ok");
pub(super) const PY_TRACEPARENT: Capture = capture!("py-grpc-unary-traceparent");
pub(super) const PY_TWO_ROUNDS: Capture = capture!("py-grpc-two-rounds");
pub(super) const GO_MIXED: Capture = capture!("go-grpc-mixed");
pub(super) const GO_CHECK_OK: Capture = capture!("go-grpc-check-ok");
pub(super) const GO_TRACEPARENT: Capture = capture!("go-grpc-check-traceparent");
pub(super) const GO_TWO_ROUNDS: Capture = capture!("go-grpc-two-rounds");
pub(super) const NGINX_1REQ: Capture = capture!("h2load-nginx-1req");
pub(super) const NGINX_10: Capture = capture!("h2load-nginx-10concurrent");
pub(super) const NGINX_404: Capture = capture!("h2load-nginx-404");
pub(super) const NGHTTP_TRACEPARENT: Capture = capture!("nghttp-nginx-get-traceparent");
pub(super) const H2LOAD_PY: Capture = capture!("h2load-py-grpc-unary");

pub(super) const PY_TWO_ROUNDS_ROUNDS: &str =
    include_str!("testdata/py-grpc-two-rounds.rounds.txt");
pub(super) const GO_TWO_ROUNDS_ROUNDS: &str =
    include_str!("testdata/go-grpc-two-rounds.rounds.txt");

pub(super) fn all_captures() -> [&'static Capture; 13] {
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
pub(super) struct Chunk {
    pub(super) side: Side,
    pub(super) offset: usize,
    pub(super) bytes: &'static [u8],
    pub(super) at: Moment,
}

/// "10284.207984" seconds into a moment, without going through a float.
pub(super) fn moment(secs: &str) -> Moment {
    let (whole, frac) = secs.split_once('.').expect("seconds with a fraction");
    assert!(frac.len() <= 9, "{secs}");
    let ns = whole.parse::<u64>().expect("seconds") * 1_000_000_000
        + format!("{frac:0<9}").parse::<u64>().expect("fraction");
    Moment {
        enter_ns: ns,
        exit_ns: ns,
        worker: TID,
    }
}

impl Capture {
    pub(super) fn file(&self, side: Side) -> &'static [u8] {
        match side {
            Side::Request => self.c2s,
            Side::Response => self.s2c,
        }
    }

    /// The reads in time order. Checks that they tile both files, so a
    /// replay feeds every captured byte exactly once.
    pub(super) fn chunks(&self) -> Vec<Chunk> {
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
    pub(super) fn moment_at(&self, side: Side, offset: usize) -> Moment {
        self.chunks()
            .into_iter()
            .find(|c| c.side == side && (c.offset..c.offset + c.bytes.len()).contains(&offset))
            .map(|c| c.at)
            .unwrap_or_else(|| panic!("{}: no read holds {side:?} byte {offset}", self.name))
    }
}

pub(super) type Step = (Side, Input<'static>);

pub(super) fn steps(chunks: &[Chunk]) -> Vec<Step> {
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

pub(super) struct Replay {
    pub(super) session: Session,
    pub(super) events: Vec<Http2Event>,
}

pub(super) fn replay(steps: &[Step]) -> Replay {
    let mut session = Session::default();
    let mut events = Vec::new();
    for &(side, input) in steps {
        session.feed(side, input, &mut |e| events.push(e));
    }
    Replay { session, events }
}

/// The whole capture, read by read.
pub(super) fn replay_capture(c: &Capture) -> Replay {
    replay(&steps(&c.chunks()))
}

impl Replay {
    pub(super) fn exchanges(&self) -> Vec<(H2Request, H2Response)> {
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

    pub(super) fn exchange(&self, stream: u32) -> (H2Request, H2Response) {
        let mut x: Vec<_> = self
            .exchanges()
            .into_iter()
            .filter(|(q, _)| q.stream == stream)
            .collect();
        assert_eq!(x.len(), 1, "one exchange on stream {stream}");
        x.remove(0)
    }

    pub(super) fn started(&self) -> Vec<H2Request> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Http2Event::RequestStarted(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    pub(super) fn errors(&self) -> Vec<(Side, &'static str)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Http2Event::ParseError { side, reason } => Some((*side, *reason)),
                _ => None,
            })
            .collect()
    }

    pub(super) fn orphans(&self) -> Vec<u32> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Http2Event::OrphanResponse { stream } => Some(*stream),
                _ => None,
            })
            .collect()
    }

    pub(super) fn exchange_streams(&self) -> Vec<u32> {
        self.exchanges().iter().map(|(q, _)| q.stream).collect()
    }

    /// Every stream that started also ended, in the same order of events:
    /// its start before its end. Nothing is left open or dropped.
    pub(super) fn assert_every_stream_closed(&self, name: &str) {
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
        assert_eq!(self.session.protocol().open_streams(), 0, "{name}");
        let dropped = (self.events.iter()).any(|e| matches!(e, Http2Event::StreamsDropped { .. }));
        assert!(!dropped, "{name}: streams dropped");
    }
}

pub(super) fn header<'a>(h: &'a [(String, String)], k: &str) -> Option<&'a str> {
    h.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

pub(super) fn fields(f: &[(&str, &str)]) -> Vec<(String, String)> {
    f.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------
// gRPC calls: a table per capture.

/// How a call ended, as the client printed it.
#[derive(Debug, Clone, Copy)]
pub(super) enum End {
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

pub(super) struct Call {
    pub(super) stream: u32,
    pub(super) path: &'static str,
    /// grpc-timeout as sent.
    pub(super) timeout: Option<&'static str>,
    pub(super) end: End,
    /// DATA payload bytes and gRPC messages, client side then server side.
    pub(super) req: (u64, u64),
    pub(super) resp: (u64, u64),
}

/// What one gRPC implementation sends besides the call's own values.
pub(super) struct Peer {
    pub(super) authority: &'static str,
    /// The client's regular request fields, in order, with `{timeout}`
    /// standing for grpc-timeout where it goes when sent.
    pub(super) request_headers: &'static [(&'static str, &'static str)],
    /// The server's response headers before messages.
    pub(super) response_headers: &'static [(&'static str, &'static str)],
}

pub(super) const PY_REQUEST: &[(&str, &str)] = &[
    ("content-type", "application/grpc"),
    ("te", "trailers"),
    ("grpc-accept-encoding", "identity, deflate, gzip"),
    ("grpc-timeout", "{timeout}"),
    ("user-agent", PY_UA),
];
pub(super) const PY_RESPONSE: &[(&str, &str)] = &[
    ("content-type", "application/grpc"),
    ("grpc-accept-encoding", "identity, deflate, gzip"),
];
pub(super) const GO_REQUEST: &[(&str, &str)] = &[
    ("content-type", "application/grpc"),
    ("user-agent", GO_UA),
    ("te", "trailers"),
    ("grpc-timeout", "{timeout}"),
];
pub(super) const GO_RESPONSE: &[(&str, &str)] = &[("content-type", "application/grpc")];

pub(super) fn request_headers(peer: &Peer, timeout: Option<&str>) -> Vec<(String, String)> {
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
pub(super) fn assert_call(name: &str, q: &H2Request, p: &H2Response, peer: &Peer, call: &Call) {
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
pub(super) fn assert_calls(name: &str, r: &Replay, peer: &Peer, calls: &[Call]) {
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

pub(super) fn py_peer(authority: &'static str) -> Peer {
    Peer {
        authority,
        request_headers: PY_REQUEST,
        response_headers: PY_RESPONSE,
    }
}

pub(super) fn go_peer(authority: &'static str) -> Peer {
    Peer {
        authority,
        request_headers: GO_REQUEST,
        response_headers: GO_RESPONSE,
    }
}
