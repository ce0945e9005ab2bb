//! Tests of session.rs: exchanges whole, cut and split anywhere (the shared
//! kit's checks), pipelining, timing, interim answers, redaction, gaps,
//! upgrades, closes and bounds. Heads, valid or not: `session_heads_tests.rs`.
use super::*;
use crate::protocol::Input;
use crate::protocol::testkit::{self, REQ, RESP, data, gap, m};
use crate::redact::REDACTED;

pub(super) fn feed(s: &mut Session, side: Side, input: Input<'_>, out: &mut Vec<Http1Event>) {
    s.feed(side, input, &mut |e| out.push(e));
}

pub(super) fn run(steps: &[(Side, Input<'_>)]) -> Vec<Http1Event> {
    let mut s = Session::default();
    let mut out = Vec::new();
    for (side, input) in steps {
        feed(&mut s, *side, *input, &mut out);
    }
    out
}

pub(super) fn errors(events: &[Http1Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Http1Event::ParseError { .. }))
        .count()
}

pub(super) fn exchanges(events: &[Http1Event]) -> Vec<(&Request, &Response)> {
    events
        .iter()
        .filter_map(|e| match e {
            Http1Event::Exchange { request, response } => Some((request, response)),
            _ => None,
        })
        .collect()
}

struct Case {
    name: &'static str,
    request: &'static [u8],
    response: &'static [u8],
    method: &'static str,
    req_body: u64,
    status: u16,
    resp_body: u64,
    by_close: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "GET, no body",
        request: b"GET /items?id=7 HTTP/1.1\r\nHost: shop\r\n\r\n",
        response: b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        method: "GET",
        req_body: 0,
        status: 200,
        resp_body: 5,
        by_close: false,
    },
    Case {
        name: "POST content-length",
        request: b"POST /orders HTTP/1.1\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world",
        response: b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        method: "POST",
        req_body: 11,
        status: 201,
        resp_body: 0,
        by_close: false,
    },
    Case {
        name: "chunked both ways, extensions and trailers",
        request: b"PUT /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nDigest: z\r\n\r\n",
        response: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\nA ; e\r\n0123456789\r\n0\r\nT: 1\r\n\r\n",
        method: "PUT",
        req_body: 3,
        status: 200,
        resp_body: 14,
        by_close: false,
    },
    Case {
        name: "HEAD answer with Content-Length but no body",
        request: b"HEAD /big HTTP/1.1\r\n\r\n",
        response: b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
        method: "HEAD",
        req_body: 0,
        status: 200,
        resp_body: 0,
        by_close: false,
    },
    Case {
        name: "204",
        request: b"DELETE /x HTTP/1.1\r\n\r\n",
        response: b"HTTP/1.1 204 No Content\r\n\r\n",
        method: "DELETE",
        req_body: 0,
        status: 204,
        resp_body: 0,
        by_close: false,
    },
    Case {
        name: "304",
        request: b"GET /cached HTTP/1.1\r\nIf-None-Match: \"a\"\r\n\r\n",
        response: b"HTTP/1.1 304 Not Modified\r\nContent-Length: 20\r\nETag: \"a\"\r\n\r\n",
        method: "GET",
        req_body: 0,
        status: 304,
        resp_body: 0,
        by_close: false,
    },
    Case {
        name: "100-continue then 200",
        request: b"POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\ndata",
        response: b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        method: "POST",
        req_body: 4,
        status: 200,
        resp_body: 2,
        by_close: false,
    },
    Case {
        name: "HTTP/1.0 response until close",
        request: b"GET /old HTTP/1.0\r\n\r\n",
        response: b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>bye</html>",
        method: "GET",
        req_body: 0,
        status: 200,
        resp_body: 16,
        by_close: true,
    },
];

fn check_case(c: &Case, events: &[Http1Event]) {
    assert_eq!(events.len(), 2, "{}: {events:?}", c.name);
    let Http1Event::RequestStarted(started) = &events[0] else {
        panic!("{}: {events:?}", c.name)
    };
    assert_eq!(
        (started.id, &*started.method, started.body_size),
        (0, c.method, 0),
        "{}",
        c.name
    );
    let Http1Event::Exchange { request, response } = &events[1] else {
        panic!("{}: {events:?}", c.name)
    };
    assert_eq!(request.method, c.method, "{}", c.name);
    assert_eq!(request.body_size, c.req_body, "{}", c.name);
    assert_eq!(response.status, c.status, "{}", c.name);
    assert_eq!(response.body_size, c.resp_body, "{}", c.name);
    assert_eq!(response.ended_by_close, c.by_close, "{}", c.name);
}

fn whole(c: &Case) -> Vec<Http1Event> {
    let mut s = Session::default();
    let mut out = Vec::new();
    feed(&mut s, REQ, data(c.request, 1), &mut out);
    feed(&mut s, RESP, data(c.response, 2), &mut out);
    s.close(m(3), &mut |e| out.push(e));
    out
}

#[test]
fn whole_messages_give_one_exchange() {
    for c in CASES {
        check_case(c, &whole(c));
    }
}

#[test]
fn truncated_messages_give_nothing() {
    for c in CASES {
        let head_end = c.request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let (head, body) = c.request.split_at(head_end);
        testkit::truncated_prefixes::<Session>(&[], REQ, head);
        testkit::truncated_prefixes::<Session>(&[(REQ, head.to_vec())], REQ, body);
        testkit::truncated_prefixes::<Session>(&[(REQ, c.request.to_vec())], RESP, c.response);
        for n in 0..head_end {
            let parsed = parse::parse_request_head(&c.request[..n]);
            assert_eq!(parsed, Ok(Parsed::NeedMore), "{}", c.name);
        }
        let head_end = c
            .response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap()
            + 4;
        for n in 0..head_end {
            let parsed = parse::parse_response_head(&c.response[..n], Some(c.method));
            assert_eq!(parsed, Ok(Parsed::NeedMore), "{}", c.name);
        }
    }
}

#[test]
fn split_anywhere_equals_whole() {
    for c in CASES {
        let steps = vec![(REQ, c.request.to_vec()), (RESP, c.response.to_vec())];
        check_case(c, &testkit::run_closed::<Session>(&steps));
        testkit::split_anywhere::<Session>(&steps, 1, 1);
        testkit::split_anywhere::<Session>(&steps, 9, 20);
    }
}

#[test]
fn pipelined_requests_pair_in_order() {
    let requests = b"GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcHEAD /3 HTTP/1.1\r\n\r\n";
    let responses = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 50\r\n\r\n";
    let events = run(&[(REQ, data(requests, 1)), (RESP, data(responses, 2))]);
    assert_eq!(events.len(), 6, "{events:?}");
    for (i, e) in events[..3].iter().enumerate() {
        assert!(
            matches!(e, Http1Event::RequestStarted(r) if r.id == i as u64),
            "{e:?}"
        );
    }
    let got: Vec<_> = exchanges(&events)
        .iter()
        .map(|(q, r)| {
            (
                q.id,
                &*q.method,
                q.target.as_str(),
                q.body_size,
                r.status,
                r.body_size,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (0, "GET", "/1", 0, 200, 1),
            (1, "POST", "/2", 3, 201, 2),
            (2, "HEAD", "/3", 0, 404, 0)
        ]
    );
}

#[test]
fn timing_comes_from_the_right_chunks() {
    let events = run(&[
        (REQ, data(b"POST /t HTTP/1.1\r\nContent-", 1)),
        (REQ, data(b"Length: 4\r\n\r\nab", 2)),
        (REQ, data(b"cd", 3)),
        (RESP, data(b"HTTP/1.1 200 OK\r\n", 4)),
        (
            RESP,
            data(b"Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n", 5),
        ),
        (RESP, data(b"0\r\n\r\n", 6)),
    ]);
    assert_eq!(events.len(), 2, "{events:?}");
    let Http1Event::RequestStarted(started) = &events[0] else {
        panic!()
    };
    assert_eq!(
        started.timing,
        Timing {
            first: m(1),
            last: m(2)
        }
    );
    let (request, response) = exchanges(&events)[0];
    assert_eq!(
        request.timing,
        Timing {
            first: m(1),
            last: m(3)
        }
    );
    assert_eq!(
        response.timing,
        Timing {
            first: m(4),
            last: m(6)
        }
    );
    assert_eq!(response.body_size, 1);
}

#[test]
fn interim_response_does_not_pair() {
    let events = run(&[
        (
            REQ,
            data(
                b"POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
                1,
            ),
        ),
        (RESP, data(b"HTTP/1.1 100 Continue\r\n\r\n", 2)),
        (REQ, data(b"data", 3)),
        (
            RESP,
            data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 4),
        ),
    ]);
    let (request, response) = exchanges(&events)[0];
    assert_eq!((request.body_size, request.timing.last), (4, m(3)));
    assert_eq!((response.status, response.timing.first), (200, m(4)));
    assert_eq!(events.len(), 2);
}

#[test]
fn sensitive_values_are_redacted() {
    let events = run(&[
        (REQ, data(b"GET / HTTP/1.1\r\nAuthorization: Bearer abc\r\nCOOKIE: s=1\r\nProxy-Authorization: x\r\nX-Ok: yes\r\nX-Api-Key: k\r\nX-Auth-Token: t\r\nX-Amz-Security-Token: a\r\n\r\n", 1)),
        (RESP, data(b"HTTP/1.1 200 OK\r\nSet-Cookie: s=2\r\nContent-Length: 0\r\n\r\n", 2)),
    ]);
    let (request, response) = exchanges(&events)[0];
    let names: Vec<_> = request.headers.iter().collect();
    assert_eq!(
        names,
        [
            ("authorization", REDACTED),
            ("cookie", REDACTED),
            ("proxy-authorization", REDACTED),
            ("x-ok", "yes"),
            ("x-api-key", REDACTED),
            ("x-auth-token", REDACTED),
            ("x-amz-security-token", REDACTED),
        ]
    );
    assert_eq!(response.headers.get(0), Some(("set-cookie", REDACTED)));
}

#[test]
fn orphan_response_and_mid_stream_start() {
    // Capture began inside a response body and inside a request body.
    let events = run(&[
        (
            RESP,
            data(
                b"ail of a body\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                1,
            ),
        ),
        (
            REQ,
            data(b"rest of a body\r\n\r\nGET /n HTTP/1.1\r\n\r\n", 2),
        ),
        (
            RESP,
            data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3),
        ),
    ]);
    assert_eq!(errors(&events), 0, "{events:?}");
    assert!(matches!(&events[0], Http1Event::OrphanResponse(r) if r.status == 200));
    assert!(matches!(&events[1], Http1Event::RequestStarted(r) if r.target == "/n"));
    assert_eq!(exchanges(&events).len(), 1);
}

#[test]
fn big_content_length_body_skips_its_gap() {
    let prefix = vec![b'a'; 16 * 1024];
    let events = run(&[
        (REQ, data(b"POST /big HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n", 1)),
        (REQ, data(&prefix, 2)),
        (REQ, gap(1_048_576 - 16 * 1024, 3)),
        (REQ, data(b"GET /next HTTP/1.1\r\n\r\n", 4)),
        (RESP, data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 5)),
    ]);
    assert_eq!(errors(&events), 0, "{events:?}");
    let ex = exchanges(&events);
    assert_eq!((ex[0].0.body_size, ex[0].0.timing.last), (1_048_576, m(3)));
    assert_eq!(ex[1].0.target, "/next");
}

#[test]
fn big_chunk_skips_a_gap_inside_its_data() {
    let prefix = vec![b'a'; 16 * 1024];
    let events = run(&[
        (REQ, data(b"GET /dl HTTP/1.1\r\n\r\n", 1)),
        (
            RESP,
            data(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n",
                2,
            ),
        ),
        (RESP, data(&prefix, 3)),
        (RESP, gap(1_048_576 - 16 * 1024 - 10, 4)),
        (RESP, data(b"0123456789\r\n0\r\n\r\n", 5)),
        (REQ, data(b"GET /next HTTP/1.1\r\n\r\n", 6)),
        (RESP, data(b"HTTP/1.1 204 No Content\r\n\r\n", 7)),
    ]);
    assert_eq!(errors(&events), 0, "{events:?}");
    let ex = exchanges(&events);
    assert_eq!(
        (ex[0].1.body_size, ex[0].1.timing),
        (
            1_048_576,
            Timing {
                first: m(2),
                last: m(5)
            }
        )
    );
    assert_eq!((ex[1].0.target.as_str(), ex[1].1.status), ("/next", 204));
}

#[test]
fn gaps_outside_bodies_resync() {
    // In a head: the message is lost, reported once, next chunk resyncs.
    let events = run(&[
        (REQ, data(b"GET /a HTTP/1.1\r\n\r\n", 1)),
        (REQ, data(b"GET /lost HTTP/1.1\r\nHo", 2)),
        (REQ, gap(100, 3)),
        (REQ, gap(100, 4)),
        (REQ, data(b"st: x\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 5)),
    ]);
    let kinds: Vec<_> = events
        .iter()
        .map(|e| match e {
            Http1Event::RequestStarted(r) => r.target.clone(),
            Http1Event::ParseError { reason, .. } => format!("error {reason}"),
            e => format!("{e:?}"),
        })
        .collect();
    assert_eq!(kinds, ["/a", "error gap", "/b"]);

    // Content-Length body ending inside the gap: the message completes.
    let events = run(&[
        (REQ, data(b"GET /a HTTP/1.1\r\n\r\n", 1)),
        (
            RESP,
            data(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345", 2),
        ),
        (RESP, gap(50, 3)),
    ]);
    assert_eq!(exchanges(&events)[0].1.body_size, 10);
    assert_eq!(errors(&events), 1);

    // Gap in chunk framing: the exchange ends at the gap; the next
    // response after resync pairs with the next request.
    let events = run(&[
        (
            REQ,
            data(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 1),
        ),
        (
            RESP,
            data(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                2,
            ),
        ),
        (RESP, gap(7, 3)),
        (
            RESP,
            data(
                b"\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                4,
            ),
        ),
    ]);
    let ex = exchanges(&events);
    assert_eq!(
        (ex[0].0.target.as_str(), ex[0].1.status, ex[0].1.body_size),
        ("/a", 200, 5)
    );
    assert_eq!(ex[0].1.timing.last, m(3));
    assert_eq!((ex[1].0.target.as_str(), ex[1].1.status), ("/b", 404));
    assert_eq!(errors(&events), 1);
}

#[test]
fn switching_protocols_stops_parsing() {
    let events = run(&[
        (
            REQ,
            data(
                b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                1,
            ),
        ),
        (
            RESP,
            data(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
                2,
            ),
        ),
        (REQ, data(b"\x81\x85\x00\x00\x00\x00hello", 3)),
        (RESP, gap(10, 4)),
    ]);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(exchanges(&events)[0].1.status, 101);
}

#[test]
fn close_ends_only_bodies_until_close() {
    let mut s = Session::default();
    let mut out = Vec::new();
    feed(
        &mut s,
        REQ,
        data(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 1),
        &mut out,
    );
    feed(
        &mut s,
        RESP,
        data(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\npart", 2),
        &mut out,
    );
    s.close(m(3), &mut |e| out.push(e));
    assert_eq!(out.len(), 4, "requests started, both cut: {out:?}");
    /// (target, the answer's status and body bytes so far, the close)
    type Cut<'a> = (&'a str, Option<(u16, u64)>, Moment);
    let cut: Vec<Cut> = out[2..]
        .iter()
        .map(|e| match e {
            Http1Event::CutByClose {
                request,
                response,
                at,
            } => (
                request.target.as_str(),
                response.as_ref().map(|r| (r.status, r.body_size)),
                *at,
            ),
            other => panic!("not cut by the close: {other:?}"),
        })
        .collect();
    // The first had its answer's head and 4 of 9 body bytes.
    assert_eq!(cut, [("/a", Some((200, 4)), m(3)), ("/b", None, m(3))]);

    let mut s = Session::default();
    let mut out = Vec::new();
    feed(&mut s, REQ, data(b"GET /a HTTP/1.1\r\n\r\n", 1), &mut out);
    feed(
        &mut s,
        RESP,
        data(b"HTTP/1.1 200 OK\r\n\r\nsome", 2),
        &mut out,
    );
    feed(&mut s, RESP, gap(100, 3), &mut out);
    feed(&mut s, RESP, data(b"more", 4), &mut out);
    s.close(m(5), &mut |e| out.push(e));
    let (_, response) = exchanges(&out)[0];
    assert_eq!(
        (
            response.body_size,
            response.ended_by_close,
            response.timing.last
        ),
        (108, true, m(4))
    );
}

#[test]
fn unanswered_requests_are_bounded() {
    let mut s = Session::default();
    let mut out = Vec::new();
    for i in 0..300 {
        let req = format!("GET /{i} HTTP/1.1\r\n\r\n");
        feed(&mut s, REQ, data(req.as_bytes(), 1), &mut out);
    }
    assert_eq!(s.protocol().pending_requests(), MAX_PENDING);
    let told: u64 = out
        .iter()
        .map(|e| match e {
            Http1Event::RequestsDropped { count } => *count,
            _ => 0,
        })
        .sum();
    assert_eq!(told, 300 - MAX_PENDING as u64, "each drop is reported");
    out.clear();
    feed(
        &mut s,
        RESP,
        data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2),
        &mut out,
    );
    assert_eq!(
        exchanges(&out)[0].0.target,
        format!("/{}", 300 - MAX_PENDING)
    );
}

#[test]
fn garbage_never_panics() {
    let valid: Vec<(Side, Vec<u8>)> = CASES
        .iter()
        .flat_map(|c| [(REQ, c.request.to_vec()), (RESP, c.response.to_vec())])
        .collect();
    testkit::garbage_then::<Session>(
        &valid,
        400,
        |e| matches!(e, Http1Event::ParseError { .. }),
        |s| assert_eq!(s.protocol().pending_requests(), 0),
    );
}

#[test]
fn the_bytes_after_a_split_h2c_switch_are_handed_on() {
    let mut s = Session::default();
    let mut out = Vec::new();
    let request =
        b"GET / HTTP/1.1\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
    feed(&mut s, REQ, data(request, 1), &mut out);
    feed(&mut s, RESP, data(b"HTTP/1.1 101 Switching", 2), &mut out);
    let rest = b" Protocols\r\nUpgrade: h2c\r\n\r\n\0\0\0\x04\0\0\0\0\0";
    feed(&mut s, RESP, data(rest, 3), &mut out);
    let up = s.protocol_mut().take_h2c().expect("h2c accepted");
    assert_eq!((&up.rest[..], up.at), (&b"\0\0\0\x04\0\0\0\0\0"[..], m(3)));
    assert_eq!(up.request.timing.first, m(1));
}
