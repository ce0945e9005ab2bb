//! Tests of session.rs: byte streams built frame by frame (HPACK by hand: the
//! representations the tests need, no Huffman) fed to a session.
use super::super::*;
use super::Session;
use crate::protocol::testkit::{self, REQ, RESP};
use crate::protocol::{Input, Moment, Side};

const HEADERS: u8 = 1;
const DATA: u8 = 0;
const RST: u8 = 3;
const SETTINGS: u8 = 4;
const GOAWAY: u8 = 7;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 1;
const END_HEADERS: u8 = 4;
const PADDED: u8 = 8;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    v.push(kind);
    v.push(flags);
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn string(s: &str) -> Vec<u8> {
    assert!(s.len() < 127);
    let mut v = vec![s.len() as u8];
    v.extend_from_slice(s.as_bytes());
    v
}

/// Indexed field (static or dynamic index < 127).
fn idx(i: u8) -> Vec<u8> {
    vec![0x80 | i]
}

/// Literal with incremental indexing, new name.
fn lit_index(name: &str, value: &str) -> Vec<u8> {
    let mut v = vec![0x40];
    v.extend(string(name));
    v.extend(string(value));
    v
}

/// Literal without indexing, new name.
fn lit(name: &str, value: &str) -> Vec<u8> {
    let mut v = vec![0x00];
    v.extend(string(name));
    v.extend(string(value));
    v
}

fn grpc_msg(body: &[u8]) -> Vec<u8> {
    let mut v = vec![0];
    v.extend_from_slice(&(body.len() as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// A gRPC request head: POST (static 3), scheme http (6), path and
/// authority literal with indexing, content-type and te literal.
fn grpc_request_block(path: &str) -> Vec<u8> {
    [
        idx(3),
        idx(6),
        lit_index(":path", path),
        lit_index(":authority", "localhost:50051"),
        lit("content-type", "application/grpc"),
        lit("te", "trailers"),
        lit("grpc-timeout", "5S"),
    ]
    .concat()
}

fn response_block() -> Vec<u8> {
    [idx(8), lit("content-type", "application/grpc")].concat()
}

fn trailers(status: u32) -> Vec<u8> {
    [lit("grpc-status", &status.to_string())].concat()
}

fn settings() -> Vec<u8> {
    frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100])
}

fn at(ns: u64) -> Moment {
    Moment {
        enter_ns: ns,
        exit_ns: ns + 1,
        worker: 9,
    }
}

#[derive(Default)]
struct Run {
    s: Session,
    events: Vec<Http2Event>,
    t: u64,
}

impl Run {
    fn new() -> Self {
        Self::default()
    }
    fn feed(&mut self, side: Side, bytes: &[u8]) {
        self.t += 10;
        let at = at(self.t);
        let ev = &mut self.events;
        self.s
            .feed(side, Input::Data { bytes, at }, &mut |e| ev.push(e));
    }
    fn gap(&mut self, side: Side, len: u64) {
        self.t += 10;
        let at = at(self.t);
        let ev = &mut self.events;
        self.s
            .feed(side, Input::Gap { len, at }, &mut |e| ev.push(e));
    }
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
}

fn header<'a>(h: &'a [(String, String)], k: &str) -> Option<&'a str> {
    h.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn unary_client(stream: u32, path: &str, name: &[u8]) -> Vec<u8> {
    [
        frame(HEADERS, END_HEADERS, stream, &grpc_request_block(path)),
        frame(DATA, END_STREAM, stream, &grpc_msg(name)),
    ]
    .concat()
}

fn unary_server(stream: u32, status: u32) -> Vec<u8> {
    [
        frame(HEADERS, END_HEADERS, stream, &response_block()),
        frame(DATA, 0, stream, &grpc_msg(b"hello")),
        frame(HEADERS, END_HEADERS | END_STREAM, stream, &trailers(status)),
    ]
    .concat()
}

#[test]
fn a_unary_call_from_the_preface_on() {
    let mut r = Run::new();
    r.feed(Side::Request, &[PREFACE, &settings()].concat());
    r.feed(Side::Response, &settings());
    r.feed(
        Side::Request,
        &unary_client(1, "/demo.Greeter/SayHello", b"alice"),
    );
    // Headers and message in one write, trailers in the next.
    let resp = unary_server(1, 0);
    let trailers_at = resp.len() - 9 - trailers(0).len();
    r.feed(Side::Response, &resp[..trailers_at]);
    r.feed(Side::Response, &resp[trailers_at..]);
    assert_eq!(r.errors(), vec![]);
    let started = r.started();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].path.as_deref(), Some("/demo.Greeter/SayHello"));
    let x = r.exchanges();
    assert_eq!(x.len(), 1);
    let (q, p) = &x[0];
    assert_eq!(q.method.as_deref(), Some("POST"));
    assert_eq!(q.scheme.as_deref(), Some("http"));
    assert_eq!(q.authority.as_deref(), Some("localhost:50051"));
    assert_eq!(header(&q.headers, "content-type"), Some("application/grpc"));
    assert_eq!(q.messages, Some(1));
    assert_eq!(q.body_size, 10);
    assert!(q.ended);
    assert_eq!(p.status, Some(200));
    assert_eq!(header(&p.trailers, "grpc-status"), Some("0"));
    assert_eq!(p.messages, Some(1));
    assert_eq!(p.reset, None);
    assert!(p.timing.first.enter_ns < p.timing.last.enter_ns);
}

/// Two unary calls on streams 1 and 3, from the preface on.
fn two_calls() -> Vec<(Side, Vec<u8>)> {
    let client = [
        PREFACE.to_vec(),
        settings(),
        unary_client(1, "/a.B/C", b"x"),
        unary_client(3, "/a.B/D", b"yy"),
    ]
    .concat();
    let server = [settings(), unary_server(1, 0), unary_server(3, 5)].concat();
    vec![(REQ, client), (RESP, server)]
}

fn is_error(e: &Http2Event) -> bool {
    matches!(e, Http2Event::ParseError { .. })
}

#[test]
fn split_anywhere_equals_whole() {
    let steps = two_calls();
    let whole = testkit::run::<Session>(&steps);
    let exchanges = whole
        .iter()
        .filter(|e| matches!(e, Http2Event::Exchange { .. }));
    assert_eq!(exchanges.count(), 2);
    assert!(!whole.iter().any(is_error), "{whole:?}");
    testkit::split_anywhere::<Session>(&steps, 1, 1);
    testkit::split_anywhere::<Session>(&steps, 9, 40);
    testkit::split_anywhere::<Session>(&steps, 200, 40);
}

#[test]
fn truncated_prefixes_report_nothing() {
    let hello = [PREFACE.to_vec(), settings()].concat();
    let asked = vec![(
        REQ,
        [hello.clone(), unary_client(1, "/a.B/C", b"x")].concat(),
    )];
    let head = frame(HEADERS, END_HEADERS, 1, &grpc_request_block("/a.B/C"));
    testkit::truncated_prefixes::<Session>(&[], REQ, &hello);
    testkit::truncated_prefixes::<Session>(&[(REQ, hello)], REQ, &head);
    testkit::truncated_prefixes::<Session>(&asked, RESP, &settings());
    let answered = [asked, vec![(RESP, settings())]].concat();
    testkit::truncated_prefixes::<Session>(&answered, RESP, &unary_server(1, 0));
}

#[test]
fn multiplexed_streams_are_separate_exchanges_with_their_own_timing() {
    let mut r = Run::new();
    r.feed(Side::Request, &[PREFACE, &settings()].concat());
    r.feed(Side::Response, &settings());
    // 100 requests in one write, the first with literals that later
    // requests reuse from the dynamic table (index 62 = newest).
    let mut w = Vec::new();
    for i in 0..100u32 {
        let block = if i == 0 {
            [
                idx(2),
                idx(6),
                lit_index(":path", "/api"),
                lit_index(":authority", "127.0.0.1"),
            ]
            .concat()
        } else {
            // :authority is index 62, :path 63.
            [idx(2), idx(6), idx(63), idx(62)].concat()
        };
        w.extend(frame(HEADERS, END_HEADERS | END_STREAM, 2 * i + 1, &block));
    }
    r.feed(Side::Request, &w);
    assert_eq!(r.started().len(), 100);
    // Answered in reverse, one write each.
    for i in (0..100u32).rev() {
        let status = if i.is_multiple_of(2) { 8 } else { 9 }; // :status 200 / 204
        let body = format!("body {i}");
        r.feed(
            Side::Response,
            &[
                frame(HEADERS, END_HEADERS, 2 * i + 1, &idx(status)),
                frame(DATA, END_STREAM, 2 * i + 1, body.as_bytes()),
            ]
            .concat(),
        );
    }
    let x = r.exchanges();
    assert_eq!(x.len(), 100);
    for (n, (q, p)) in x.iter().enumerate() {
        let i = 99 - n as u32;
        assert_eq!(q.stream, 2 * i + 1);
        assert_eq!(q.method.as_deref(), Some("GET"));
        assert_eq!(q.path.as_deref(), Some("/api"), "dynamic entry reused");
        assert_eq!(q.authority.as_deref(), Some("127.0.0.1"));
        assert_eq!(p.status, Some(if i.is_multiple_of(2) { 200 } else { 204 }));
        assert_eq!(p.body_size, format!("body {i}").len() as u64);
        if n > 0 {
            assert!(p.timing.last.enter_ns > x[n - 1].1.timing.last.enter_ns);
        }
    }
}

#[test]
fn capture_that_begins_mid_connection_leaves_out_what_it_cannot_know() {
    let mut r = Run::new();
    // No preface: the client's table already holds entries we never saw.
    // :path is an unknown dynamic reference (index 64), :method static.
    let block = [
        idx(3),
        idx(6),
        idx(64),
        lit("content-type", "application/grpc"),
    ]
    .concat();
    r.feed(Side::Request, &frame(HEADERS, END_HEADERS, 7, &block));
    r.feed(Side::Request, &frame(DATA, END_STREAM, 7, &grpc_msg(b"a")));
    r.feed(Side::Response, &unary_server(7, 0));
    let x = r.exchanges();
    assert_eq!(x.len(), 1);
    let (q, p) = &x[0];
    assert_eq!(q.method.as_deref(), Some("POST"));
    assert_eq!(q.path, None, "never guessed");
    assert_eq!(q.unknown_fields, 1);
    assert_eq!(header(&q.headers, "content-type"), Some("application/grpc"));
    assert_eq!(p.status, Some(200));
    // A literal with indexing seen after capture began is known from then on.
    let block = [idx(3), lit_index(":path", "/a.B/C")].concat();
    r.feed(
        Side::Request,
        &frame(HEADERS, END_HEADERS | END_STREAM, 9, &block),
    );
    let block = [idx(3), idx(62)].concat();
    r.feed(
        Side::Request,
        &frame(HEADERS, END_HEADERS | END_STREAM, 11, &block),
    );
    let s = r.started();
    assert_eq!(s[1].path.as_deref(), Some("/a.B/C"));
    assert_eq!(s[2].path.as_deref(), Some("/a.B/C"));
    // A response on a stream whose request was never seen is an orphan.
    r.feed(Side::Response, &unary_server(5, 0));
    assert!(
        r.events
            .iter()
            .any(|e| matches!(e, Http2Event::OrphanResponse { stream: 5 }))
    );
}

#[test]
fn header_blocks_continue_across_frames() {
    let mut r = Run::new();
    r.feed(Side::Request, PREFACE);
    let block = grpc_request_block("/x.Y/Z");
    let (a, b) = block.split_at(7);
    let (b, c) = b.split_at(5);
    r.feed(
        Side::Request,
        &[
            frame(HEADERS, 0, 1, a),
            frame(CONTINUATION, 0, 1, b),
            frame(CONTINUATION, END_HEADERS, 1, c),
        ]
        .concat(),
    );
    assert_eq!(r.started()[0].path.as_deref(), Some("/x.Y/Z"));
    // Anything between a HEADERS and its CONTINUATION breaks the block.
    let block = grpc_request_block("/x.Y/W");
    r.feed(
        Side::Request,
        &[frame(HEADERS, 0, 3, &block[..4]), settings()].concat(),
    );
    assert_eq!(
        r.errors(),
        vec![(Side::Request, "frame inside a header block")]
    );
    assert_eq!(r.started().len(), 1);
}

#[test]
fn padding_and_priority_are_stripped() {
    let mut r = Run::new();
    r.feed(Side::Request, PREFACE);
    let block = grpc_request_block("/p.Q/R");
    // PADDED | PRIORITY: pad length, 5 priority bytes, block, padding.
    let mut payload = vec![3, 0, 0, 0, 0, 16];
    payload.extend(&block);
    payload.extend([0, 0, 0]);
    r.feed(
        Side::Request,
        &frame(HEADERS, END_HEADERS | PADDED | 0x20, 1, &payload),
    );
    let mut data = vec![4];
    data.extend(grpc_msg(b"abc"));
    data.extend([0; 4]);
    // Split inside the pad length, the data and the padding.
    let f = frame(DATA, END_STREAM | PADDED, 1, &data);
    r.feed(Side::Request, &f[..9]);
    r.feed(Side::Request, &f[9..12]);
    r.feed(Side::Request, &f[12..f.len() - 2]);
    r.feed(Side::Request, &f[f.len() - 2..]);
    r.feed(Side::Response, &unary_server(1, 0));
    let x = r.exchanges();
    assert_eq!(r.errors(), vec![]);
    assert_eq!(x[0].0.path.as_deref(), Some("/p.Q/R"));
    assert_eq!(x[0].0.body_size, 8);
    assert_eq!(x[0].0.messages, Some(1));
}

#[test]
fn a_gap_inside_data_is_skipped_elsewhere_it_resynchronises() {
    let mut r = Run::new();
    r.feed(Side::Request, &[PREFACE, &settings()].concat());
    let big = grpc_msg(&[7; 1000]);
    let req = [
        frame(HEADERS, END_HEADERS, 1, &grpc_request_block("/g.H/I")),
        frame(DATA, END_STREAM, 1, &big),
    ]
    .concat();
    let head = req.len() - big.len();
    r.feed(Side::Request, &req[..head + 100]);
    r.gap(Side::Request, 800);
    r.feed(Side::Request, &req[head + 900..]);
    r.feed(Side::Response, &unary_server(1, 0));
    let x = r.exchanges();
    assert_eq!(r.errors(), vec![]);
    assert_eq!(x[0].0.body_size, 1005);
    assert_eq!(x[0].0.messages, Some(1), "the gap lay inside the message");
    // A gap in a header block loses the framing and the HPACK table.
    let next = frame(HEADERS, END_HEADERS, 3, &grpc_request_block("/g.H/J"));
    r.feed(Side::Request, &next[..12]);
    r.gap(Side::Request, 5);
    assert_eq!(r.errors(), vec![(Side::Request, "gap")]);
    // A chunk that is not a frame start is dropped; the next write resumes.
    r.feed(Side::Request, &next[17..]);
    let block = [idx(3), idx(62), lit("content-type", "application/grpc")].concat();
    r.feed(
        Side::Request,
        &frame(HEADERS, END_HEADERS | END_STREAM, 5, &block),
    );
    let s = r.started();
    assert_eq!(s.len(), 2);
    assert_eq!(s[1].stream, 5);
    assert_eq!(s[1].path, None, "the table was forgotten at the gap");
    assert_eq!(s[1].unknown_fields, 1);
    assert_eq!(r.errors().len(), 1, "one error per episode");
}

#[test]
fn resets_and_goaway_end_streams() {
    let mut r = Run::new();
    r.feed(Side::Request, PREFACE);
    for s in [1, 3, 5] {
        r.feed(
            Side::Request,
            &frame(HEADERS, END_HEADERS, s, &grpc_request_block("/r.S/T")),
        );
    }
    r.feed(Side::Request, &frame(RST, 0, 1, &8u32.to_be_bytes()));
    let x = r.exchanges();
    assert_eq!(x.len(), 1);
    assert_eq!(
        x[0].1.reset,
        Some(Reset {
            by: Side::Request,
            code: 8
        })
    );
    assert_eq!(x[0].1.status, None);
    // The server processed stream 3 at most: 5 is refused.
    let mut ga = 3u32.to_be_bytes().to_vec();
    ga.extend(0u32.to_be_bytes());
    r.feed(Side::Response, &frame(GOAWAY, 0, 0, &ga));
    let x = r.exchanges();
    assert_eq!(x.len(), 2);
    assert_eq!(x[1].0.stream, 5);
    assert_eq!(x[1].1.reset.map(|r| r.code), Some(REFUSED_STREAM));
    r.feed(Side::Response, &unary_server(3, 0));
    assert_eq!(r.exchanges().len(), 3);
}

#[test]
fn trailers_only_and_interim_responses() {
    let mut r = Run::new();
    r.feed(Side::Request, PREFACE);
    r.feed(Side::Request, &unary_client(1, "/t.O/Nly", b""));
    // 100 Continue first (static index 8 is :status 200; a literal 100).
    let interim = [0x08, 3, b'1', b'0', b'0'].to_vec();
    r.feed(Side::Response, &frame(HEADERS, END_HEADERS, 1, &interim));
    assert!(r.exchanges().is_empty());
    let only = [
        idx(8),
        lit("content-type", "application/grpc"),
        trailers(12),
    ]
    .concat();
    r.feed(
        Side::Response,
        &frame(HEADERS, END_HEADERS | END_STREAM, 1, &only),
    );
    let x = r.exchanges();
    assert_eq!(x.len(), 1);
    assert_eq!(x[0].1.status, Some(200));
    assert_eq!(header(&x[0].1.headers, "grpc-status"), Some("12"));
}

#[test]
fn sensitive_values_are_redacted() {
    let mut r = Run::new();
    r.feed(Side::Request, PREFACE);
    let mut never = vec![0x10];
    never.extend(string("x-api-key"));
    never.extend(string("k-123"));
    let block = [
        idx(2),
        lit("authorization", "Bearer abc"),
        lit("cookie", "s=1"),
        never,
    ]
    .concat();
    r.feed(
        Side::Request,
        &frame(HEADERS, END_HEADERS | END_STREAM, 1, &block),
    );
    let q = &r.started()[0];
    assert_eq!(header(&q.headers, "authorization"), Some("REDACTED"));
    assert_eq!(header(&q.headers, "cookie"), Some("REDACTED"));
    assert_eq!(header(&q.headers, "x-api-key"), Some("REDACTED"));
}

#[test]
fn garbage_never_panics_and_reports_once() {
    testkit::garbage::<Session>(&two_calls(), 300, is_error);
    testkit::garbage::<Session>(&[(REQ, PREFACE.to_vec())], 300, is_error);
    // After the preface, bytes that are not frames: one error, however
    // many follow.
    let mut r = Run::new();
    r.feed(Side::Request, PREFACE);
    r.feed(Side::Request, &[0xff; 50]);
    r.feed(Side::Request, &[0xff; 50]);
    assert_eq!(r.errors().len(), 1);
    // A preface that goes wrong part way.
    let mut r = Run::new();
    r.feed(Side::Request, &PREFACE[..10]);
    r.feed(Side::Request, b"XXXXXXXXXXXXXXXXXXXXX");
    assert_eq!(
        r.errors(),
        vec![(Side::Request, "not an HTTP/2 connection preface")]
    );
}

#[test]
fn streams_past_the_bound_are_dropped_and_counted() {
    let mut r = Run::new();
    r.feed(Side::Request, PREFACE);
    for i in 0..(MAX_STREAMS as u32 + 10) {
        r.feed(
            Side::Request,
            &frame(HEADERS, END_HEADERS | END_STREAM, 2 * i + 1, &idx(2)),
        );
    }
    assert_eq!(r.s.protocol().open_streams(), MAX_STREAMS);
    let dropped = |r: &Run| {
        r.events
            .iter()
            .map(|e| match e {
                Http2Event::StreamsDropped { count } => *count,
                _ => 0,
            })
            .sum::<u64>()
    };
    assert_eq!(dropped(&r), 10, "each one reported");
    // The oldest went: stream 1's response is an orphan now.
    r.feed(
        Side::Response,
        &frame(HEADERS, END_HEADERS | END_STREAM, 1, &idx(8)),
    );
    assert!(r.exchanges().is_empty());
    // Closing ends the ones still open, cut short, oldest first.
    let ev = &mut r.events;
    r.s.close(at(7), &mut |e| ev.push(e));
    assert_eq!(dropped(&r), 10);
    assert_eq!(r.s.protocol().open_streams(), 0);
    let cut = r.exchanges();
    assert_eq!(cut.len(), MAX_STREAMS);
    assert_eq!(cut[0].0.stream, 2 * 10 + 1);
    assert!(
        cut.iter().all(|(_, resp)| resp.cut_by_close
            && resp.status.is_none()
            && resp.timing.last == at(7))
    );
}

/// Stream 1 asked, and its answer's head (200) in, its end not.
fn answer_begun() -> Run {
    let mut r = Run::new();
    r.feed(Side::Request, PREFACE);
    r.feed(
        Side::Request,
        &frame(HEADERS, END_HEADERS | END_STREAM, 1, &idx(2)),
    );
    r.feed(Side::Response, &frame(HEADERS, END_HEADERS, 1, &idx(8)));
    r
}

#[test]
fn a_stream_answered_in_part_keeps_its_status_when_the_connection_closes() {
    let mut r = answer_begun();
    assert!(r.exchanges().is_empty());
    let ev = &mut r.events;
    r.s.close(at(9), &mut |e| ev.push(e));
    let cut = r.exchanges();
    assert_eq!(cut.len(), 1);
    let resp = &cut[0].1;
    assert_eq!(
        (resp.status, resp.cut_by_close, resp.reset),
        (Some(200), true, None)
    );
    assert_eq!(resp.timing.last, at(9));
}

#[test]
fn an_empty_trailers_block_in_its_own_write_ends_the_stream() {
    let mut r = answer_begun();
    r.feed(
        Side::Response,
        &frame(HEADERS, END_HEADERS | END_STREAM, 1, &[]),
    );
    assert_eq!(r.exchanges().len(), 1);
}

#[test]
fn a_server_whose_first_write_was_missed_does_not_know_its_table() {
    let mut r = Run::new();
    r.feed(Side::Request, &[PREFACE, &settings()].concat());
    r.feed(
        Side::Request,
        &frame(HEADERS, END_HEADERS | END_STREAM, 1, &idx(2)),
    );
    // The missed write may have filled the dynamic table (index 62).
    r.gap(Side::Response, 40);
    let block = [idx(8), idx(62)].concat();
    r.feed(
        Side::Response,
        &[
            settings(),
            frame(HEADERS, END_HEADERS | END_STREAM, 1, &block),
        ]
        .concat(),
    );
    assert_eq!(r.errors(), vec![], "the side never framed before");
    let x = r.exchanges();
    assert_eq!(x.len(), 1);
    assert_eq!(x[0].1.status, Some(200));
    assert_eq!(x[0].1.unknown_fields, 1, "left out, not guessed");
}
