//! Table tests for `session.rs`.
use super::*;
use crate::protocol::Input;
use crate::protocol::http1::MAX_HEADERS;
use crate::redact::REDACTED;

const REQ: Side = Side::Request;
const RESP: Side = Side::Response;

fn m(n: u64) -> Moment {
    Moment {
        enter_ns: n * 10,
        exit_ns: n * 10 + 1,
        worker: n,
    }
}

fn data(bytes: &[u8], n: u64) -> Input<'_> {
    Input::Data { bytes, at: m(n) }
}

fn gap(len: u64, n: u64) -> Input<'static> {
    Input::Gap { len, at: m(n) }
}

fn feed(s: &mut Session, side: Side, input: Input<'_>, out: &mut Vec<Http1Event>) {
    s.feed(side, input, &mut |e| out.push(e));
}

fn run(steps: &[(Side, Input<'_>)]) -> Vec<Http1Event> {
    let mut s = Session::default();
    let mut out = Vec::new();
    for (side, input) in steps {
        feed(&mut s, *side, *input, &mut out);
    }
    out
}

fn is_final(e: &Http1Event) -> bool {
    matches!(
        e,
        Http1Event::Exchange { .. } | Http1Event::OrphanResponse(_) | Http1Event::ParseError { .. }
    )
}

fn errors(events: &[Http1Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Http1Event::ParseError { .. }))
        .count()
}

fn exchanges(events: &[Http1Event]) -> Vec<(&Request, &Response)> {
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
        (started.id, started.method.as_str(), started.body_size),
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
fn truncated_messages_give_nothing_final() {
    for c in CASES {
        let head_end = c.request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        for n in 0..c.request.len() {
            let events = run(&[(REQ, data(&c.request[..n], 1))]);
            assert!(
                !events.iter().any(is_final),
                "{} request[..{n}]: {events:?}",
                c.name
            );
            if n < head_end {
                assert_eq!(
                    parse::parse_request_head(&c.request[..n]),
                    Ok(Parsed::NeedMore),
                    "{}",
                    c.name
                );
            }
        }
        let head_end = c
            .response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap()
            + 4;
        for n in 0..c.response.len() {
            if n < head_end {
                let parsed = parse::parse_response_head(&c.response[..n], Some(c.method));
                assert_eq!(parsed, Ok(Parsed::NeedMore), "{}", c.name);
            }
            let events = run(&[(REQ, data(c.request, 1)), (RESP, data(&c.response[..n], 2))]);
            assert!(
                !events.iter().any(is_final),
                "{} response[..{n}]: {events:?}",
                c.name
            );
        }
    }
}

#[test]
fn byte_by_byte_equals_whole() {
    for c in CASES {
        let mut s = Session::default();
        let mut out = Vec::new();
        for b in c.request.chunks(1) {
            feed(&mut s, REQ, data(b, 1), &mut out);
        }
        for b in c.response.chunks(1) {
            feed(&mut s, RESP, data(b, 2), &mut out);
        }
        s.close(m(3), &mut |e| out.push(e));
        assert_eq!(out, whole(c), "{}", c.name);
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
                q.method.as_str(),
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
    let names: Vec<_> = request
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
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
    assert_eq!(
        response.headers[0],
        ("set-cookie".to_owned(), REDACTED.to_owned())
    );
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

fn pseudo_random(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn garbage_reports_once_then_resyncs() {
    let many_headers: String = (0..300)
        .map(|i| format!("X-{i}: v\r\n"))
        .collect::<String>()
        + "\r\n";
    let garbage: Vec<(&str, Vec<u8>, Option<u64>)> = vec![
        ("random", pseudo_random(7, 5000), None),
        ("binary", (0..=255u8).cycle().take(3000).collect(), None),
        ("nul flood", vec![0; 10_000], None),
        (
            "tls hello",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
            None,
        ),
        (
            "70 KiB head",
            format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(70 * 1024)).into_bytes(),
            None,
        ),
        (
            "300 headers",
            format!("GET / HTTP/1.1\r\n{many_headers}").into_bytes(),
            None,
        ),
        (
            "negative length",
            b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n".to_vec(),
            None,
        ),
        (
            "invalid length",
            b"POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n".to_vec(),
            None,
        ),
        (
            "two lengths",
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n".to_vec(),
            None,
        ),
        ("bad version", b"GET / HTTP/3.0\r\n\r\n".to_vec(), None),
        (
            "2 GiB body",
            b"POST /up HTTP/1.1\r\nContent-Length: 2147483648\r\n\r\nabc".to_vec(),
            Some(2_147_483_645),
        ),
    ];
    for (name, bytes, gap_len) in &garbage {
        for split in [usize::MAX, 1, 1000] {
            let mut s = Session::default();
            let mut out = Vec::new();
            feed(
                &mut s,
                REQ,
                data(b"GET /first HTTP/1.1\r\n\r\n", 1),
                &mut out,
            );
            for part in bytes.chunks(split.min(bytes.len())) {
                feed(&mut s, REQ, data(part, 2), &mut out);
            }
            if let Some(len) = gap_len {
                feed(&mut s, REQ, gap(*len, 3), &mut out);
            }
            feed(
                &mut s,
                REQ,
                data(b"\r\nGET /ok HTTP/1.1\r\n\r\n", 4),
                &mut out,
            );
            assert!(errors(&out) <= 1, "{name}/{split}: {out:?}");
            assert!(
                matches!(out.last(), Some(Http1Event::RequestStarted(r)) if r.target == "/ok"),
                "{name}/{split}: {:?}",
                out.last()
            );
            // Same bytes on the response side, then a valid response.
            let mut out = Vec::new();
            feed(
                &mut s,
                RESP,
                data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 5),
                &mut out,
            );
            for part in bytes.chunks(split.min(bytes.len())) {
                feed(&mut s, RESP, data(part, 6), &mut out);
            }
            feed(
                &mut s,
                RESP,
                data(b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 7),
                &mut out,
            );
            assert!(errors(&out) <= 1, "{name}/{split}: {out:?}");
            assert!(
                matches!(
                    out.last(),
                    Some(Http1Event::Exchange { .. } | Http1Event::OrphanResponse(_))
                ),
                "{name}/{split}: {out:?}"
            );
        }
    }
}

#[test]
fn invalid_heads_report_one_error_each_episode() {
    let events = run(&[
        (REQ, data(b"GET /a HTTP/1.1\r\n\r\n", 1)),
        (
            REQ,
            data(
                b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                2,
            ),
        ),
        (REQ, data(b"GET /b HTTP/1.1\r\n\r\n", 3)),
        (REQ, data(b"\0\0\0\0", 4)),
    ]);
    let reasons: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Http1Event::ParseError {
                side: Side::Request,
                reason,
            } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, ["invalid content-length", "not http"]);
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
fn mangled_conversations_never_panic() {
    let conversation: Vec<u8> = CASES
        .iter()
        .flat_map(|c| c.request.iter().chain(c.response))
        .copied()
        .collect();
    for seed in 1..400u64 {
        let noise = pseudo_random(seed, conversation.len() + 64);
        let mut bytes = conversation.clone();
        // Flip a few bytes, then cut into random chunks, sides and gaps.
        for k in 0..(seed % 8) as usize {
            let i = noise[k] as usize * 31 % bytes.len();
            bytes[i] = noise[k + 8];
        }
        let mut s = Session::default();
        let mut out = Vec::new();
        let mut i = 0;
        let mut k = 16;
        while i < bytes.len() {
            let n = (noise[k % noise.len()] as usize % 40 + 1).min(bytes.len() - i);
            let side = if noise[(k + 1) % noise.len()] & 1 == 0 {
                REQ
            } else {
                RESP
            };
            if noise[(k + 2) % noise.len()].is_multiple_of(13) {
                feed(
                    &mut s,
                    side,
                    gap(u64::from(noise[(k + 3) % noise.len()]), k as u64),
                    &mut out,
                );
            }
            feed(&mut s, side, data(&bytes[i..i + n], k as u64), &mut out);
            i += n;
            k += 4;
        }
        s.close(m(0), &mut |e| out.push(e));
        assert!(s.protocol().pending_requests() == 0);
    }
}

/// Heads of either side, valid or not: (name, side, bytes, the error).
type HeadCase = (&'static str, Side, &'static [u8], Option<&'static str>);

const HEADS: &[HeadCase] = &[
    (
        "request with a body",
        REQ,
        b"GET /a?b=c HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok",
        None,
    ),
    ("bare LFs", REQ, b"GET / HTTP/1.1\nHost: x\n\n", None),
    (
        "blank lines first",
        REQ,
        b"\r\n\r\nPUT /p HTTP/1.0\r\n\r\n",
        None,
    ),
    (
        "extension method",
        REQ,
        b"PROPFIND /d HTTP/1.1\r\nDepth: 1\r\n\r\n",
        None,
    ),
    (
        "chunked response",
        RESP,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        None,
    ),
    (
        "interim then final",
        RESP,
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        None,
    ),
    (
        "bad version",
        REQ,
        b"GET / HTTP/3.0\r\n\r\n",
        Some("invalid head"),
    ),
    (
        "two lengths",
        REQ,
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        Some("invalid content-length"),
    ),
    ("not http", REQ, b"\0\0\0\0\r\n", Some("not http")),
    (
        "bad field",
        RESP,
        b"HTTP/1.1 200 OK\r\nBad Field\r\n\r\n",
        Some("invalid head"),
    ),
    (
        "not a response",
        RESP,
        b"HTTP/2 200\r\n\r\n",
        Some("not http"),
    ),
];

/// A synced connection (two requests waiting), `parts` of one head on its
/// side, then a valid message on that side and the close.
fn around_head<'a>(side: Side, parts: impl Iterator<Item = &'a [u8]>) -> Vec<Http1Event> {
    let mut s = Session::default();
    let mut out = Vec::new();
    let requests = b"GET /0 HTTP/1.1\r\n\r\nGET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n";
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    feed(&mut s, REQ, data(requests, 1), &mut out);
    feed(&mut s, RESP, data(ok, 2), &mut out);
    for part in parts {
        feed(&mut s, side, data(part, 3), &mut out);
    }
    let next = match side {
        Side::Request => &b"GET /next HTTP/1.1\r\n\r\n"[..],
        Side::Response => ok,
    };
    feed(&mut s, side, data(next, 4), &mut out);
    s.close(m(5), &mut |e| out.push(e));
    out
}

#[test]
fn a_head_byte_by_byte_equals_the_head_whole() {
    for &(name, side, bytes, error) in HEADS {
        let whole = around_head(side, std::iter::once(bytes));
        let reasons: Vec<_> = whole
            .iter()
            .filter_map(|e| match e {
                Http1Event::ParseError { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect();
        assert_eq!(reasons, Vec::from_iter(error), "{name}: {whole:?}");
        assert_eq!(around_head(side, bytes.chunks(1)), whole, "{name}");
    }
}

#[test]
fn a_long_head_in_small_chunks_is_parsed_at_most_twice() {
    let mut head = b"GET /long HTTP/1.1\r\n".to_vec();
    for i in 0..200 {
        head.extend_from_slice(format!("X-Field-{i}: value {i}\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    let mut response = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n".to_vec();
    response.extend_from_slice(&head[20..]);
    for size in [1, 2, 3, 7, 1400] {
        let mut s = Session::default();
        let mut out = Vec::new();
        for part in head.chunks(size) {
            feed(&mut s, REQ, data(part, 1), &mut out);
        }
        for part in response.chunks(size) {
            feed(&mut s, RESP, data(part, 2), &mut out);
        }
        // The chunk that began each head, then the buffered head at its end.
        let parses = (s.protocol().req.parses, s.protocol().resp.parses);
        assert!(parses.0 <= 2 && parses.1 <= 2, "{size}: {parses:?}");
        let (request, response) = exchanges(&out)[0];
        assert_eq!(
            (
                request.target.as_str(),
                request.headers.len(),
                response.status
            ),
            ("/long", MAX_HEADERS, 200),
            "{size}"
        );
        assert_eq!(errors(&out), 0, "{size}: {out:?}");
    }
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
