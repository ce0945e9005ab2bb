//! Tests of grpc.rs: message counting however bytes are split or lost,
//! timeouts, error rules by side, paths and content types.
use super::*;

fn msg(body: &[u8]) -> Vec<u8> {
    let mut v = vec![0];
    v.extend_from_slice(&(body.len() as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

#[test]
fn messages_are_counted_however_the_bytes_are_split() {
    let mut all = msg(b"hello");
    all.extend(msg(b""));
    all.extend(msg(&[7; 300]));
    for split in 0..=all.len() {
        for split2 in split..=all.len() {
            let mut c = MessageCounter::default();
            c.feed(&all[..split]);
            c.feed(&all[split..split2]);
            c.feed(&all[split2..]);
            assert_eq!(c.count(), Some(3), "split at {split}/{split2}");
        }
    }
    let mut c = MessageCounter::default();
    c.feed(&all[..3]);
    assert_eq!(c.count(), Some(0), "a partial prefix is not a message");
}

#[test]
fn a_gap_inside_a_message_keeps_the_count_a_gap_elsewhere_loses_it() {
    let m = msg(&[1; 100]);
    let mut c = MessageCounter::default();
    c.feed(&m[..10]);
    c.gap(80);
    c.feed(&m[90..]);
    c.feed(&msg(b"x"));
    assert_eq!(c.count(), Some(2));
    let mut c = MessageCounter::default();
    c.feed(&m[..3]);
    c.gap(2);
    assert_eq!(c.count(), None);
    let mut c = MessageCounter::default();
    c.feed(&m[..10]);
    c.gap(200);
    assert_eq!(c.count(), None);
}

#[test]
fn timeouts() {
    let cases: &[(&str, Option<Duration>)] = &[
        ("100m", Some(Duration::from_millis(100))),
        ("1S", Some(Duration::from_secs(1))),
        ("2M", Some(Duration::from_secs(120))),
        ("1H", Some(Duration::from_secs(3600))),
        ("299999u", Some(Duration::from_micros(299_999))),
        ("5n", Some(Duration::from_nanos(5))),
        ("99999999m", Some(Duration::from_millis(99_999_999))),
        ("123456789m", None),
        ("m", None),
        ("", None),
        ("10x", None),
        ("-1S", None),
        ("1.5S", None),
    ];
    for (v, want) in cases {
        assert_eq!(parse_timeout(v), *want, "{v:?}");
    }
}

#[test]
fn error_rules_differ_by_side() {
    for code in 0..=16 {
        assert_eq!(is_error(code, false), code != 0, "client {code}");
    }
    let server: Vec<u32> = (0..=16).filter(|&c| is_error(c, true)).collect();
    assert_eq!(server, vec![2, 4, 12, 13, 14, 15]);
    assert_eq!(status_name(9), "FAILED_PRECONDITION");
    assert_eq!(status_of_reset(0x8), CANCELLED);
    assert_eq!(status_of_reset(0x2), INTERNAL);
}

#[test]
fn paths_and_content_types() {
    assert_eq!(
        split_path("/demo.Greeter/SayHello"),
        Some(("demo.Greeter", "SayHello"))
    );
    for bad in ["", "/", "//x", "/a/", "a/b", "/a/b/c"] {
        assert_eq!(split_path(bad), None, "{bad:?}");
    }
    assert!(is_grpc_content_type("application/grpc"));
    assert!(is_grpc_content_type("application/grpc+proto"));
    assert!(!is_grpc_content_type("application/grpc-web-text"));
    assert!(!is_grpc_content_type("application/json"));
}

/// Messages as they go on the wire: flag, length, bytes.
fn messages(bodies: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![];
    for b in bodies {
        out.push(0);
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(b);
    }
    out
}

#[test]
fn whole_messages_are_told_at_every_boundary_only() {
    let wire = messages(&[b"hello", b"", b"world!"]);
    let ends = [10, 15, 26];
    // Every prefix of the bytes, fed in one piece and byte by byte.
    for cut in 0..=wire.len() {
        let mut one = MessageCounter::default();
        one.feed(&wire[..cut]);
        let mut bytes = MessageCounter::default();
        for b in &wire[..cut] {
            bytes.feed(std::slice::from_ref(b));
        }
        let want = ends.contains(&cut);
        assert_eq!(one.framed(), want, "cut at {cut}");
        assert_eq!(bytes.framed(), want, "byte by byte, cut at {cut}");
    }
}

#[test]
fn other_bytes_are_not_taken_for_messages() {
    for (what, bytes) in [
        ("nothing", &b""[..]),
        ("JSON", &br#"{"name":"x"}"#[..]),
        ("a flag byte past 1", &[2, 0, 0, 0, 1, b'x'][..]),
        ("a length past the end", &[0, 0, 0, 0, 9, b'x'][..]),
        ("HTML", &b"<html></html>"[..]),
    ] {
        let mut c = MessageCounter::default();
        c.feed(bytes);
        assert!(!c.framed(), "{what}");
    }
    // Compressed messages (flag 1) are messages.
    let mut c = MessageCounter::default();
    c.feed(&[1, 0, 0, 0, 2, 0x1f, 0x8b]);
    assert!(c.framed());
    // A gap that hid a prefix hides the framing.
    c.gap(3);
    c.feed(&messages(&[b"x"]));
    assert!(!c.framed());
}
