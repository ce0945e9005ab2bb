//! Tests of frame.rs: [`detect`] on captured and made-up frame
//! runs, and on the other protocols swit speaks.
use super::tests::*;
use super::*;
use crate::protocol::testkit;
use H2Detect::{NeedMore, NoMatch};
use Sender::{Client, Server, Unknown};
use flag::{END_HEADERS, PADDED, PRIORITY};
use kind::*;

fn frames(sender: Sender) -> H2Detect {
    H2Detect::Frames { sender }
}

#[test]
fn random_bytes_are_not_http2() {
    let mut r = testkit::Prng(42);
    for _ in 0..50_000 {
        let n = 9 + (r.next_u64() % 120) as usize;
        let b = r.bytes(n);
        assert_eq!(detect(&b), NoMatch, "{b:02x?}");
    }
}

#[test]
fn preface_and_its_prefixes() {
    assert_eq!(detect(PREFACE), H2Detect::Preface);
    for n in 0..PREFACE.len() {
        assert_eq!(detect(&PREFACE[..n]), NeedMore, "{n}");
    }
    let with_settings = [PREFACE, &hex("00000c04000000000000030000006400040000ffff")].concat();
    assert_eq!(detect(&with_settings), H2Detect::Preface);
    assert_eq!(detect(b"PRI * HTTP/1.1\r\n"), NoMatch);
    assert_eq!(detect(b"PRX"), NoMatch);
}

#[test]
fn captured_frame_runs() {
    let cases = [
        (
            "h2load SETTINGS+WINDOW_UPDATE+HEADERS",
            H2LOAD_FIRST,
            Client,
        ),
        (
            "h2load HEADERS after a table size update",
            H2LOAD_LATER,
            Client,
        ),
        ("nghttp SETTINGS+PRIORITY+HEADERS", NGHTTP_FIRST, Client),
        ("nghttp padded HEADERS+DATA", NGHTTP_PADDED, Client),
        ("python-h2 GET", PY_CLIENT_HEADERS, Client),
        ("gRPC request", GRPC_REQUEST, Client),
        ("server SETTINGS", H2_SERVER_SETTINGS, Unknown),
        ("SETTINGS ack+HEADERS 0x88+DATA", SERVER_REPLY, Server),
        ("h2load reply", H2LOAD_REPLY, Server),
        ("PUSH_PROMISE and pushed reply", PUSH, Server),
        (
            "gRPC reply and trailers",
            &format!("{GRPC_REPLY}{GRPC_TRAILERS}"),
            Server,
        ),
        ("gRPC trailers alone", GRPC_TRAILERS, Unknown),
        (
            "gRPC DATA frames",
            "000007000000000007 00000000020801 000007000100000009 00000000020802",
            Unknown,
        ),
        ("SETTINGS ack", SETTINGS_ACK, Unknown),
        ("GOAWAY", GOAWAY_HEX, Unknown),
    ];
    for (name, h, sender) in cases {
        let b = hex(h);
        assert_eq!(detect(&b), frames(sender), "{name}");
        // Every frame parses and they chain to the end.
        let mut at = 0;
        while at < b.len() {
            let Ok(Parsed::Complete(_, n)) = parse_frame(&b[at..]) else {
                panic!("{name} at {at}: {:?}", parse_frame(&b[at..]));
            };
            at += n;
        }
        for cut in 0..b.len() {
            let got = detect(&b[..cut]);
            let ok = if cut < FRAME_HEADER_LEN {
                got == NeedMore
            } else {
                matches!(got, H2Detect::Frames { sender: s } if s == sender || s == Unknown)
            };
            assert!(ok, "{name} cut at {cut}: {got:?}");
        }
    }
}

#[test]
fn sender_from_the_first_header_field() {
    let cases: &[(&[u8], Sender)] = &[
        (b"\x82", Client),             // :method GET
        (b"\x87", Client),             // :scheme https
        (b"\x41\x8a", Client),         // :authority, incremental indexing
        (b"\x44\x01/", Client),        // :path, incremental indexing
        (b"\x04\x01/", Client),        // :path, without indexing
        (b"\x14\x01/", Client),        // :path, never indexed
        (b"\x88", Server),             // :status 200
        (b"\x8e", Server),             // :status 500
        (b"\x48\x03201", Server),      // :status, incremental indexing
        (b"\x08\x03201", Server),      // :status, without indexing
        (b"\x18\x03201", Server),      // :status, never indexed
        (b"\x20\x88", Server),         // table size update to 0 first
        (b"\x3f\xe1\x1f\x82", Client), // table size update to 4096 first
        (b"\x20\x3f\xe1\x1f\x82", Client),
        (b"\x20\x20\x20\x82", Unknown), // three updates: not a block start
        (b"\x3f\xe1", Unknown),         // update cut short
        (b"\x8f", Unknown),             // accept-charset
        (b"\xc2", Unknown),             // dynamic, not 6-bit index 2
        (b"\x51\x01a", Unknown),        // accept-language, not 4-bit index 1
        (b"\x0f\x00", Unknown),         // 4-bit index 15
        (b"\x0f", Unknown),             // cut short
        (b"\xbe", Unknown),             // dynamic table
        (b"\x80", Unknown),             // index 0: invalid
        (b"\x40\x01a\x01b", Unknown),   // new name
        (b"\x00\x01a\x01b", Unknown),
        (b"\x40\x05:path\x01/", Client), // new name, a pseudo-header (grpcio)
        (b"\x00\x07:method\x03GET", Client),
        (b"\x10\x07:status\x03200", Server),
        (b"\x40\x05:pat", Unknown),       // name cut short
        (b"\x40\x85abcde\x01/", Unknown), // Huffman-coded name: not read
        (b"", Unknown),
    ];
    for &(frag, sender) in cases {
        let b = fr(HEADERS, END_HEADERS, 1, frag);
        assert_eq!(detect(&b), frames(sender), "{frag:02x?}");
        let padded = fr(
            HEADERS,
            END_HEADERS | PADDED | PRIORITY,
            1,
            &[[2, 0, 0, 0, 0, 16].as_slice(), frag, &[0, 0]].concat(),
        );
        assert_eq!(detect(&padded), frames(sender), "padded {frag:02x?}");
    }
}

#[test]
fn sender_from_other_frames() {
    let client = fr(HEADERS, END_HEADERS, 1, b"\x82");
    let server = fr(HEADERS, END_HEADERS, 1, b"\x88");
    let push = fr(PUSH_PROMISE, END_HEADERS, 1, &[0, 0, 0, 2, 0x82]);
    let cases: Vec<(&str, Vec<u8>, Sender)> = vec![
        ("push promise", push.clone(), Server),
        ("push promise cut short", push[..10].to_vec(), Server),
        (
            "client then server",
            [client.clone(), server.clone()].concat(),
            Unknown,
        ),
        ("push then client", [push, client.clone()].concat(), Unknown),
        (
            "enable push 1",
            fr(SETTINGS, 0, 0, &[0, 2, 0, 0, 0, 1]),
            Client,
        ),
        (
            "enable push 0",
            fr(SETTINGS, 0, 0, &[0, 2, 0, 0, 0, 0]),
            Unknown,
        ),
        (
            "continuation says nothing",
            fr(CONTINUATION, END_HEADERS, 1, b"\x82"),
            Unknown,
        ),
        (
            "headers cut after 1 fragment byte",
            raw(20, HEADERS, END_HEADERS, 1, b"\x82"),
            Client,
        ),
        (
            "headers cut before the fragment",
            raw(20, HEADERS, END_HEADERS | PADDED, 1, b"\x02"),
            Unknown,
        ),
        (
            "headers cut in the priority",
            raw(20, HEADERS, PRIORITY, 1, b"\0\0\0\0"),
            Unknown,
        ),
        (
            "headers cut in its padding",
            raw(3, HEADERS, PADDED | END_HEADERS, 1, b"\x02\x82"),
            Unknown,
        ),
        (
            "headers cut in the padding",
            [&client[..], &raw(20, HEADERS, PADDED, 1, b"\x12\x82\0")].concat(),
            Client,
        ),
    ];
    for (name, b, sender) in cases {
        assert_eq!(detect(&b), frames(sender), "{name}");
    }
}

#[test]
fn frame_rules_in_detect() {
    let open = fr(HEADERS, 0, 1, b"\x82");
    let cases: Vec<(&str, Vec<u8>, H2Detect)> = vec![
        (
            "one header, payload to come",
            raw(100, DATA, 0, 1, b""),
            frames(Unknown),
        ),
        (
            "largest detected frame",
            raw(DETECT_MAX_FRAME_LEN, DATA, 0, 1, b""),
            frames(Unknown),
        ),
        (
            "frame over 16384",
            raw(DETECT_MAX_FRAME_LEN + 1, DATA, 0, 1, b""),
            NoMatch,
        ),
        (
            "frame over 16384 cut short",
            raw(DETECT_MAX_FRAME_LEN + 1, DATA, 0, 1, b"")[..3].to_vec(),
            NoMatch,
        ),
        ("first bytes of a header", vec![0, 0, 4, 1, 4], NeedMore),
        ("unknown type", fr(10, 0, 0, b""), NoMatch),
        ("unknown type, first 4 bytes", vec![0, 0, 0, 10], NoMatch),
        ("data flag 0x2", fr(DATA, 0x2, 1, b""), NoMatch),
        ("data flag 0x2, first 5 bytes", vec![0, 0, 0, 0, 2], NoMatch),
        ("headers flag 0x40", fr(HEADERS, 0x44, 1, b"\x82"), NoMatch),
        ("settings flag 0x2", fr(SETTINGS, 0x2, 0, b""), NoMatch),
        ("ping flag 0x4", fr(PING, 0x4, 0, &[0; 8]), NoMatch),
        (
            "priority flag 0x1",
            fr(kind::PRIORITY, 0x1, 1, &[0, 0, 0, 0, 1]),
            NoMatch,
        ),
        (
            "window update flag 0x1",
            fr(WINDOW_UPDATE, 0x1, 0, &[0, 0, 0, 1]),
            NoMatch,
        ),
        (
            "continuation flag 0x1",
            fr(CONTINUATION, 0x5, 1, b""),
            NoMatch,
        ),
        (
            "push promise flag 0x1",
            fr(PUSH_PROMISE, 0x5, 1, &[0, 0, 0, 2]),
            NoMatch,
        ),
        (
            "reserved stream bit",
            fr(DATA, 0, 0x8000_0001, b""),
            NoMatch,
        ),
        (
            "reserved stream bit, first 6 bytes",
            vec![0, 0, 0, 0, 0, 0x80],
            NoMatch,
        ),
        (
            "settings stream, first 8 bytes",
            vec![0, 0, 0, 4, 0, 0, 0, 1],
            NoMatch,
        ),
        ("bad length", fr(PING, 0, 0, &[0; 7]), NoMatch),
        ("bad length, first 4 bytes", vec![0, 0, 7, PING], NoMatch),
        ("data on stream 0", fr(DATA, 0, 0, b""), NoMatch),
        (
            "window update of 0",
            fr(WINDOW_UPDATE, 0, 0, &[0; 4]),
            NoMatch,
        ),
        (
            "window update reserved bit",
            fr(WINDOW_UPDATE, 0, 0, &[0x80, 0, 0, 1]),
            NoMatch,
        ),
        (
            "goaway reserved bit",
            fr(GOAWAY, 0, 0, &[0x80, 0, 0, 1, 0, 0, 0, 0]),
            NoMatch,
        ),
        (
            "nonzero padding",
            fr(DATA, PADDED, 1, b"\x02ab\x01"),
            NoMatch,
        ),
        (
            "padding too long, cut short",
            raw(3, DATA, PADDED, 1, b"\x03"),
            NoMatch,
        ),
        (
            "padding fits, cut short",
            raw(3, DATA, PADDED, 1, b"\x02"),
            frames(Unknown),
        ),
        (
            "priority on itself",
            fr(kind::PRIORITY, 0, 3, &[0, 0, 0, 3, 16]),
            NoMatch,
        ),
        (
            "headers priority on itself",
            fr(
                HEADERS,
                PRIORITY | END_HEADERS,
                3,
                &[0x80, 0, 0, 3, 16, 0x82],
            ),
            NoMatch,
        ),
        (
            "push promise odd promised",
            fr(PUSH_PROMISE, END_HEADERS, 1, &[0, 0, 0, 3]),
            NoMatch,
        ),
        (
            "push promise promised 0",
            fr(PUSH_PROMISE, END_HEADERS, 1, &[0, 0, 0, 0]),
            NoMatch,
        ),
        (
            "push promise reserved bit",
            fr(PUSH_PROMISE, END_HEADERS, 1, &[0x80, 0, 0, 2]),
            NoMatch,
        ),
        (
            "push promise on even stream",
            fr(PUSH_PROMISE, END_HEADERS, 2, &[0, 0, 0, 4]),
            NoMatch,
        ),
        (
            "enable push 2",
            fr(SETTINGS, 0, 0, &[0, 2, 0, 0, 0, 2]),
            NoMatch,
        ),
        (
            "max frame size 100",
            fr(SETTINGS, 0, 0, &[0, 5, 0, 0, 0, 100]),
            NoMatch,
        ),
        (
            "max frame size 2^24",
            fr(SETTINGS, 0, 0, &[0, 5, 1, 0, 0, 0]),
            NoMatch,
        ),
        (
            "initial window 2^31",
            fr(SETTINGS, 0, 0, &[0, 4, 0x80, 0, 0, 0]),
            NoMatch,
        ),
        (
            "no rfc7540 priorities 2",
            fr(SETTINGS, 0, 0, &[0, 9, 0, 0, 0, 2]),
            NoMatch,
        ),
        (
            "grease setting",
            fr(SETTINGS, 0, 0, &[0x0a, 0x0a, 0xff, 0xff, 0xff, 0xff]),
            frames(Unknown),
        ),
        (
            "block then continuation",
            [open.clone(), fr(CONTINUATION, END_HEADERS, 1, b"\x84")].concat(),
            frames(Client),
        ),
        (
            "block, two continuations",
            [
                open.clone(),
                fr(CONTINUATION, 0, 1, b""),
                fr(CONTINUATION, END_HEADERS, 1, b""),
            ]
            .concat(),
            frames(Client),
        ),
        (
            "block then data",
            [open.clone(), fr(DATA, 0, 1, b"")].concat(),
            NoMatch,
        ),
        (
            "block then a data header's start",
            [open.clone(), vec![0, 0, 0, DATA]].concat(),
            NoMatch,
        ),
        (
            "block then other stream",
            [open.clone(), fr(CONTINUATION, END_HEADERS, 3, b"")].concat(),
            NoMatch,
        ),
        (
            "continuation first",
            fr(CONTINUATION, END_HEADERS, 1, b"\x84"),
            frames(Unknown),
        ),
        (
            "continuation after data",
            [fr(DATA, 0, 1, b""), fr(CONTINUATION, 4, 1, b"")].concat(),
            NoMatch,
        ),
        (
            "trailing start of a header",
            [fr(DATA, 0, 1, b""), vec![0, 0]].concat(),
            frames(Unknown),
        ),
        (
            "trailing non-header",
            [fr(DATA, 0, 1, b""), b"A".to_vec()].concat(),
            NoMatch,
        ),
        ("zeros", vec![0; 9], NoMatch),
        ("many zeros", vec![0; 64], NoMatch),
    ];
    for (name, b, want) in cases {
        assert_eq!(detect(&b), want, "{name}");
    }
}

fn pg_startup(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = vec![0, 3, 0, 0];
    for (k, v) in params {
        body.extend([k.as_bytes(), b"\0", v.as_bytes(), b"\0"].concat());
    }
    body.push(0);
    [((body.len() + 4) as u32).to_be_bytes().as_slice(), &body].concat()
}

/// A startup message of `len` bytes: its length's low byte is then a frame
/// type, its high bytes a frame length.
fn pg_startup_of(len: usize) -> Vec<u8> {
    let base = pg_startup(&[("user", "postgres"), ("application_name", "")]).len();
    let name = "a".repeat(len - base);
    pg_startup(&[("user", "postgres"), ("application_name", &name)])
}

fn pg(tag: u8, body: &[u8]) -> Vec<u8> {
    [&[tag][..], &((body.len() + 4) as u32).to_be_bytes(), body].concat()
}

/// A MySQL packet: 3-byte little-endian length, sequence id.
fn my(seq: u8, payload: &[u8]) -> Vec<u8> {
    [&(payload.len() as u32).to_le_bytes()[..3], &[seq], payload].concat()
}

#[test]
fn other_protocols_are_not_http2() {
    let query_256 = [b"\x03".as_slice(), &b"select ".repeat(40), &[b'1'; 15]].concat();
    let mut handshake_256 = hex("8da6ff01 00000001 21");
    handshake_256.resize(256, 0);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "http/1 request",
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
        ),
        (
            "http/1 post",
            b"POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n".to_vec(),
        ),
        (
            "http/1 response",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec(),
        ),
        (
            "h2c upgrade request",
            b"GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n".to_vec(),
        ),
        (
            "tls client hello",
            hex("16030102000100 01fc0303 a1b2c3d4e5f60718293a4b5c6d7e8f90"),
        ),
        ("tls application data", hex("1703030020 0011223344556677")),
        ("tls alert", hex("15030300020250")),
        (
            "pg startup",
            pg_startup(&[("user", "postgres"), ("database", "app")]),
        ),
        ("pg ssl request", hex("00000008 04d2162f")),
        ("pg gss request", hex("00000008 04d21630")),
        (
            "pg cancel request",
            hex("00000010 04d2162e 00001234 5678abcd"),
        ),
        ("pg query", pg(b'Q', b"select 1;\0")),
        ("pg parse", pg(b'P', b"\0select $1\0\0\0")),
        ("pg sync", pg(b'S', b"")),
        ("pg terminate", pg(b'X', b"")),
        ("pg auth ok", pg(b'R', &[0; 4])),
        ("pg ready", pg(b'Z', b"I")),
        ("mysql query", my(0, b"\x03select 1")),
        ("mysql query of 256", my(0, &query_256)),
        ("mysql quit", my(0, b"\x01")),
        ("mysql ping", my(0, b"\x0e")),
        ("mysql stmt execute", my(0, &hex("17 01000000 00 01000000"))),
        ("mysql handshake response of 256", my(1, &handshake_256)),
        (
            "mysql greeting",
            my(0, b"\x0a8.0.36\0\x08\0\0\0abcdefgh\0\xff\xf7"),
        ),
        ("mysql ok", my(2, &hex("00 00 00 0200 0000"))),
        (
            "mysql row of 512, seq 4",
            my(
                4,
                &[[3, b'a', b'b', b'c'].as_slice(), &[b'x'; 508]].concat(),
            ),
        ),
        ("redis array", b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".to_vec()),
        ("redis inline", b"PING\r\n".to_vec()),
        ("redis simple", b"+OK\r\n".to_vec()),
        ("redis bulk", b"$5\r\nhello\r\n".to_vec()),
        ("redis error", b"-ERR x\r\n".to_vec()),
        ("redis integer", b":1\r\n".to_vec()),
    ];
    for (name, b) in cases {
        assert_eq!(detect(&b), NoMatch, "{name}");
        // Most are refused at their first byte; "P" might begin the preface.
        if b[0] != 0 && b[0] != b'P' {
            assert_eq!(detect(&b[..1]), NoMatch, "{name}: first byte");
        }
    }
    // Startup lengths 256..=265 make a valid frame header; the frame then
    // ends inside the parameter names.
    for len in 256..=265 {
        assert_eq!(detect(&pg_startup_of(len)), NoMatch, "pg startup of {len}");
    }
}
