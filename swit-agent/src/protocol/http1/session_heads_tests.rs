//! Tests of session.rs: heads, valid or not, on either side — garbage and
//! invalid heads reported once per episode then resynchronised, a head split
//! anywhere equal to it whole, a long head in small chunks parsed at most
//! twice.
use super::tests::{errors, exchanges, feed, run};
use super::*;
use crate::protocol::http1::MAX_HEADERS;
use crate::protocol::testkit::{self, REQ, RESP, data, gap, m};

#[test]
fn garbage_reports_once_then_resyncs() {
    let many_headers: String = (0..300)
        .map(|i| format!("X-{i}: v\r\n"))
        .collect::<String>()
        + "\r\n";
    let garbage: Vec<(&str, Vec<u8>, Option<u64>)> = vec![
        ("random", testkit::Prng(7).bytes(5000), None),
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
