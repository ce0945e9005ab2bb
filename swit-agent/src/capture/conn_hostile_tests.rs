//! Tests of conn.rs: traffic that looks like a protocol but is not (issue 10): each case ends
//! in one counted parse error for its connection (or, for bytes no
//! protocol claims, in the `undetected` count) and nothing else.
use super::tests::{chunk, info};
use super::*;
use crate::protocol::{db::DbEvent, http1::Http1Event, http2::Http2Event};

/// Feeds `chunks` into a server connection's request side, then closes
/// it; with `synced`, one good exchange goes first (HTTP/1 reports no
/// error on a side that never parsed a head: capture may have begun
/// mid-message). Returns the events after that exchange.
fn serve(synced: bool, chunks: impl IntoIterator<Item = Vec<u8>>) -> (Vec<ConnEvent>, ConnStats) {
    let mut t = ConnTable::new();
    let mut out = vec![];
    t.open(&info(1), Role::Server);
    let mut seq = 0u32;
    if synced {
        seq = GOOD_REQ.len() as u32;
        t.data(chunk(2, Direction::Ingress, 0, GOOD_REQ), &mut out);
        t.data(chunk(3, Direction::Egress, 0, GOOD_RESP), &mut out);
        assert_eq!(out.len(), 2, "request started, exchange: {out:?}");
        out.clear();
    }
    for (i, bytes) in chunks.into_iter().enumerate() {
        let len = bytes.len() as u32;
        t.data(
            chunk(4 + i as u64, Direction::Ingress, seq, &bytes),
            &mut out,
        );
        seq = seq.wrapping_add(len);
    }
    t.close(&info(u64::MAX / 2), &mut out);
    (out, t.stats)
}

const GOOD_REQ: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
const GOOD_RESP: &[u8] = b"HTTP/1.1 204 No Content\r\n\r\n";

/// The reasons of the connection's events, which must all be parse errors.
fn parse_errors(out: &[ConnEvent]) -> Vec<&'static str> {
    out.iter()
        .map(|e| match &e.event {
            ProtoEvent::Http1(Http1Event::ParseError { reason, .. })
            | ProtoEvent::Http2(Http2Event::ParseError { reason, .. })
            | ProtoEvent::Db(_, DbEvent::ParseError { reason, .. }) => *reason,
            other => panic!("not a parse error: {other:?}"),
        })
        .collect()
}

#[test]
fn binary_on_a_web_port_is_counted_undetected() {
    let binary = (0..8).map(|i| (0..512u32).map(|b| (b * 7 + i) as u8 | 0x80).collect());
    let (out, stats) = serve(false, binary);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(stats.undetected, 1);
}

#[test]
fn http2_preface_then_garbage() {
    let (out, _) = serve(false, [protocol::http2::PREFACE.to_vec(), vec![0xff; 300]]);
    assert_eq!(parse_errors(&out).len(), 1, "{out:?}");
}

/// A 2 GiB body is valid framing, not an error: the body is counted down
/// as it passes (never held), and the server's refusal ends the exchange.
/// A length past u64 is the error.
#[test]
fn a_2_gib_content_length() {
    let head = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2147483648\r\n\r\n";
    let (out, _) = serve(true, [head.to_vec(), vec![b'z'; 4096]]);
    // Closed mid-body: the upload was cut short, unanswered.
    assert!(
        matches!(&out[..], [e, d]
            if matches!(&e.event, ProtoEvent::Http1(Http1Event::RequestStarted(r)) if r.target == "/upload")
            && matches!(&d.event, ProtoEvent::Http1(Http1Event::CutByClose { request, response: None, .. })
                if request.body_size == 4096)),
        "{out:?}"
    );
    let mut t = ConnTable::new();
    let mut out = vec![];
    t.open(&info(1), Role::Server);
    let refusal = b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n";
    for (ts, dir, b) in [
        (2, Direction::Ingress, &head[..]),
        (3, Direction::Ingress, &[b'z'; 4096][..]),
        (4, Direction::Egress, &refusal[..]),
    ] {
        let seq = if ts == 3 { head.len() as u32 } else { 0 };
        t.data(chunk(ts, dir, seq, b), &mut out);
    }
    let statuses: Vec<u16> = out
        .iter()
        .filter_map(|e| match &e.event {
            ProtoEvent::Http1(Http1Event::Exchange { response, .. }) => Some(response.status),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, vec![413], "{out:?}");

    let huge = b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n";
    let (out, _) = serve(true, [huge.to_vec(), vec![b'z'; 100]]);
    assert_eq!(parse_errors(&out), vec!["invalid content-length"]);
}

#[test]
fn a_million_tiny_chunks() {
    // A head that never ends, a byte at a time: cut at MAX_HEAD_BYTES
    // without parsing it again for every byte.
    let head = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
    let chunks = std::iter::once(head).chain((0..1_000_000).map(|_| vec![b'a']));
    let (out, _) = serve(true, chunks);
    assert_eq!(parse_errors(&out).len(), 1, "{out:?}");
}

#[test]
fn ten_thousand_headers() {
    let mut req = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..10_000 {
        req.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    let (out, _) = serve(true, req.chunks(1400).map(<[u8]>::to_vec));
    assert_eq!(parse_errors(&out).len(), 1, "{out:?}");
}

#[test]
fn a_postgres_message_with_a_negative_length() {
    let mut startup = (8u32 + 11).to_be_bytes().to_vec();
    startup.extend_from_slice(&protocol::postgres::PROTOCOL_3_0.to_be_bytes());
    startup.extend_from_slice(b"user\0a\0\0\0\0");
    let mut q = vec![b'Q'];
    q.extend_from_slice(&(-16i32).to_be_bytes());
    q.extend_from_slice(b"SELECT 1\0");
    let (out, _) = serve(false, [startup, q]);
    assert_eq!(parse_errors(&out).len(), 1, "{out:?}");
}
