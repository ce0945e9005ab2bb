//! Tests of server.rs: routes, and serving over TCP with a bounded head.
use super::*;
use crate::metrics::Snapshot;

#[test]
fn routes() {
    let b = Board::default();
    let now = Instant::now();
    let r = |h: &str| {
        let (s, _, body, head_only) = respond(h.as_bytes(), &b, Instant::now());
        (s, body, head_only)
    };
    assert_eq!(r("GET /metrics HTTP/1.1\r\n\r\n").0, 503);
    assert_eq!(r("GET /healthz HTTP/1.1\r\n\r\n").1, "starting\n");
    b.publish(Snapshot {
        tracing_enabled: true,
        records: 42,
        ..Snapshot::default()
    });
    let (s, body, _) = r("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(s, 200);
    assert!(body.contains("\nswit_events_total 42\n"), "{body}");
    assert_eq!(
        r("GET /healthz HTTP/1.0\r\n\r\n"),
        (200, "ok\n".into(), false)
    );
    assert!(r("HEAD /healthz HTTP/1.1\r\n\r\n").2);
    assert_eq!(r("POST /metrics HTTP/1.1\r\n\r\n").0, 405);
    assert_eq!(r("GET / HTTP/1.1\r\n\r\n").0, 404);
    for garbage in ["", "\r\n\r\n", "GET", "\u{0}\u{1} /x", "GET  HTTP/1.1"] {
        assert_ne!(respond(garbage.as_bytes(), &b, now).0, 200, "{garbage:?}");
    }
}

#[test]
fn serves_over_tcp_and_bounds_the_head() {
    let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let b = Board::default();
    b.publish(Snapshot {
        tracing_enabled: true,
        ..Snapshot::default()
    });
    let server = MetricsServer::start(listener, b).unwrap();
    let ask = |req: &[u8]| {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(req).unwrap();
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        out
    };
    let ok = ask(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(ok.ends_with("\r\n\r\nok\n"), "{ok}");
    let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    big.extend(vec![b'a'; MAX_HEAD + 10]);
    assert!(ask(&big).starts_with("HTTP/1.1 431 "));
    // Taken again after a client that broke off.
    assert!(ask(b"GET /metrics HTTP/1.1\r\n\r\n").contains("swit_events_total 0"));
    drop(server);
    assert!(TcpStream::connect(addr).is_err(), "closed after drop");
}
