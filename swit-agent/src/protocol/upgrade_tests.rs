//! Tests of mod.rs: the h2c upgrade, an HTTP/1.1 request with `Upgrade: h2c` answered by
//! `101 Switching Protocols`, after which the connection speaks HTTP/2 and
//! the request is answered on stream 1.
use super::*;

fn at(ns: u64) -> Moment {
    Moment {
        enter_ns: ns,
        exit_ns: ns + 1,
        worker: 3,
    }
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    v.extend([kind, flags]);
    v.extend(stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

const REQUEST: &[u8] = b"GET /up?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nUser-Agent: nghttp2/1.52.0\r\n\r\n";
const SWITCHING: &[u8] =
    b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";

fn feed(s: &mut Session, side: Side, bytes: &[u8], t: u64, out: &mut Vec<ProtoEvent>) {
    s.feed(side, Input::Data { bytes, at: at(t) }, out);
}

#[test]
fn the_upgraded_request_is_answered_on_stream_one() {
    let mut s = Session::new(ProtocolKind::Http1);
    let mut out = Vec::new();
    feed(&mut s, Side::Request, REQUEST, 10, &mut out);
    // The 101 and the server's first frames in one write.
    let settings = frame(4, 0, 0, &[]);
    let head = frame(
        1,
        4,
        1,
        &[
            0x88, 0x0f, 0x10, 0x0a, b't', b'e', b'x', b't', b'/', b'p', b'l', b'a', b'i', b'n',
        ],
    );
    let data = frame(0, 1, 1, b"upgraded");
    feed(
        &mut s,
        Side::Response,
        &[SWITCHING, &settings, &head].concat(),
        20,
        &mut out,
    );
    assert!(matches!(s, Session::Http2(_)), "HTTP/2 took over");
    feed(
        &mut s,
        Side::Request,
        &[http2::PREFACE, &frame(4, 0, 0, &[])].concat(),
        30,
        &mut out,
    );
    feed(&mut s, Side::Response, &data, 40, &mut out);
    // A second request, a real HTTP/2 one, on stream 3.
    feed(
        &mut s,
        Side::Request,
        &frame(1, 5, 3, &[0x82, 0x84, 0x86]),
        50,
        &mut out,
    );
    feed(
        &mut s,
        Side::Response,
        &frame(1, 5, 3, &[0x89]),
        60,
        &mut out,
    );

    let mut started = vec![];
    let mut exchanges = vec![];
    for e in &out {
        match e {
            ProtoEvent::Http1(http1::Http1Event::RequestStarted(r)) => started.push(r.id),
            ProtoEvent::Http1(other) => panic!("no HTTP/1 exchange ends: {other:?}"),
            ProtoEvent::Http2(http2::Http2Event::Exchange { request, response }) => {
                exchanges.push((request.clone(), response.clone()))
            }
            _ => {}
        }
    }
    assert_eq!(started, vec![0], "the request started as HTTP/1");
    assert_eq!(exchanges.len(), 2);
    let (q, p) = &exchanges[0];
    assert_eq!(q.stream, 1);
    assert_eq!(q.http1_id, Some(0), "tied to where it started");
    assert_eq!(q.method.as_deref(), Some("GET"));
    assert_eq!(q.path.as_deref(), Some("/up?x=1"));
    assert_eq!(q.authority.as_deref(), Some("127.0.0.1:8080"));
    assert_eq!(p.status, Some(200));
    assert_eq!(p.body_size, 8);
    assert_eq!(p.timing.last.enter_ns, 40);
    let (q, p) = &exchanges[1];
    assert_eq!((q.stream, q.http1_id), (3, None));
    assert_eq!(q.path.as_deref(), Some("/"));
    assert_eq!(p.status, Some(204));
}

#[test]
fn a_refused_upgrade_stays_http1() {
    let mut s = Session::new(ProtocolKind::Http1);
    let mut out = Vec::new();
    feed(&mut s, Side::Request, REQUEST, 10, &mut out);
    feed(
        &mut s,
        Side::Response,
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        20,
        &mut out,
    );
    assert!(matches!(s, Session::Http1(_)));
    assert!(out.iter().any(|e| matches!(
        e,
        ProtoEvent::Http1(http1::Http1Event::Exchange { response, .. }) if response.status == 200
    )));
}

#[test]
fn the_preface_is_detected_before_http1_and_frames_after_every_other_protocol() {
    assert_eq!(detect(http2::PREFACE), Detect::Match(ProtocolKind::Http2));
    assert_eq!(detect(&http2::PREFACE[..10]), Detect::NeedMore);
    assert_eq!(
        detect(b"GET / HTTP/1.1\r\n\r\n"),
        Detect::Match(ProtocolKind::Http1)
    );
    // A client's HEADERS mid-connection.
    assert_eq!(
        detect(&frame(1, 5, 7, &[0x83, 0x86])),
        Detect::Match(ProtocolKind::Http2)
    );
    // A server's frames are not a request side.
    assert_eq!(detect(&frame(1, 5, 7, &[0x88])), Detect::NoMatch);
}
