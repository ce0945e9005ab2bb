//! Tests of frame.rs: the parser, and no panic on garbage in
//! either entry point. Hex marked "captured" was recorded on
//! loopback between nghttp2 1.52 (nghttp, h2load) or python-h2 4.4 clients
//! and a python-h2 server, one syscall read per string.
use super::*;
use crate::protocol::testkit;
use flag::{ACK, END_HEADERS, END_STREAM, PADDED, PRIORITY};
use kind::*;

pub(super) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

pub(super) fn hx(s: &str) -> &'static [u8] {
    hex(s).leak()
}

/// A frame whose length field says `len`, whatever follows.
pub(super) fn raw(len: u32, kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = len.to_be_bytes()[1..].to_vec();
    v.extend([kind, flags]);
    v.extend(stream.to_be_bytes());
    v.extend(payload);
    v
}

pub(super) fn fr(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    raw(payload.len() as u32, kind, flags, stream, payload)
}

// Captured.
pub(super) const H2_SERVER_SETTINGS: &str = "00002a040000000000 000100001000 000200000000 00040000ffff \
    000500004000 000800000000 000300000064 000600010000";
pub(super) const H2LOAD_FIRST: &str = "00000c040000000000 000200000000 00043fffffff \
    000004080000000000 3fff0000 \
    000027010500000001 048562715071c986418b089d5c0b8170dc0bc0783f827a8f9c541c722954d3a5358980aed89707";
pub(super) const H2LOAD_LATER: &str = "00000e010500000003 3fe11f048562715071c986bf82be";
pub(super) const H2LOAD_REPLY: &str =
    "000003010400000003 88bfbe 00000e000100000003 68656c6c6f202f68326c6f61640a";
pub(super) const NGHTTP_FIRST: &str = "00000c040000000000 000300000064 00040000ffff \
    000005020000000003 00000000c8 000005020000000005 0000000064 000005020000000007 0000000000 \
    000005020000000009 0000000700 00000502000000000b 0000000300 \
    00002a01250000000d 0000000b0f 8204022f6186418b089d5c0b8170dc0bc0783f53032a2f2a907a8aaa69d29ac4c0576c4b83 \
    00001001250000000f 0000000b0f 82048362b1c986c0bf90be";
pub(super) const NGHTTP_PADDED: &str = "000060012c0000000d 0f 0000000b0f \
    83048b626b2b22fbbb918bc3a28f86418b089d5c0b8170dc0bc0783f53032a2f2a907a8aaa69d29ac4c0576c4b830f0d02\
    31305f8b1d75d0620d263d4c4d656440027465864d833505b11f 000000000000000000000000000000 \
    00001a00090000000d 0f 00000000050a0378797a 000000000000000000000000000000";
pub(super) const SERVER_REPLY: &str = "000000040100000000 00000e01040000000d 885f87497ca58ae819aa5c820bdf \
    00001200010000000d 68656c6c6f202f696e6465782e68746d6c0a";
pub(super) const PUSH: &str = "000019050400000005 00000002 82448862bb5139645c8847864187089d5c0b8170ff \
    000001010400000002 88 000003000100000002 637373 000001010500000005 89";
pub(super) const GRPC_REQUEST: &str = "00001b010400000007 834489626b2b22fbbb918d1f86bf5f8b1d75d0620d263d4c4d6564 \
    000007000100000007 00000000020801";
pub(super) const GRPC_TRAILERS: &str =
    "000018010500000007 40889acac8b21234da8f810740899acac8b5254207317f80";
pub(super) const GRPC_REPLY: &str = "00000e010400000007 885f8b1d75d0620d263d4c4d6564 \
    00000a000000000007 00000000050a03616263";
pub(super) const PY_CLIENT_HEADERS: &str =
    "000014010500000001 82448360f51786418b089d5c0b8170dc0bc0783f";
pub(super) const SETTINGS_ACK: &str = "000000040100000000";
pub(super) const GOAWAY_HEX: &str = "000008070000000000 0000000200000000";

/// Valid frames and what they decode to.
fn valid() -> Vec<(&'static str, Vec<u8>, Frame<'static>)> {
    let data = |stream, end_stream, data, flow_len| Frame::Data {
        stream,
        end_stream,
        data,
        flow_len,
    };
    let headers = |stream, end_stream, end_headers, fragment| Frame::Headers {
        stream,
        end_stream,
        end_headers,
        fragment,
    };
    let settings = |ack, p| Frame::Settings {
        ack,
        params: SettingsParams(p),
    };
    vec![
        (
            "data",
            fr(DATA, 0, 1, b"hello"),
            data(1, false, b"hello", 5),
        ),
        (
            "data empty end",
            fr(DATA, END_STREAM, 3, b""),
            data(3, true, b"", 0),
        ),
        (
            "data padded",
            fr(DATA, PADDED | END_STREAM, 5, b"\x03abc\0\0\0"),
            data(5, true, b"abc", 7),
        ),
        (
            "data all padding",
            fr(DATA, PADDED, 5, b"\x02\0\0"),
            data(5, false, b"", 3),
        ),
        (
            "data pad 0",
            fr(DATA, PADDED, 5, b"\x00x"),
            data(5, false, b"x", 2),
        ),
        (
            "data unknown flags",
            fr(DATA, 0xf6, 1, b"x"),
            data(1, false, b"x", 1),
        ),
        (
            "data reserved bit",
            fr(DATA, 0, 0x8000_0001, b"x"),
            data(1, false, b"x", 1),
        ),
        (
            "data padded, captured",
            hex("00000f00090000000f 03 68656c6c6f202f7061640a 000000"),
            data(15, true, b"hello /pad\n", 15),
        ),
        (
            "headers",
            fr(HEADERS, END_HEADERS, 1, b"\x82\x86"),
            headers(1, false, true, b"\x82\x86"),
        ),
        (
            "headers open",
            fr(HEADERS, 0x40, 1, b"\x88"),
            headers(1, false, false, b"\x88"),
        ),
        (
            "headers empty",
            fr(HEADERS, END_HEADERS, 1, b""),
            headers(1, false, true, b""),
        ),
        (
            "headers padded priority",
            fr(HEADERS, 0x2d, 13, b"\x02\0\0\0\x0b\x0f\x82\x84\0\0"),
            headers(13, true, true, b"\x82\x84"),
        ),
        (
            "headers priority only",
            fr(HEADERS, PRIORITY, 3, &[0, 0, 0, 1, 9]),
            headers(3, false, false, b""),
        ),
        (
            "headers priority, captured",
            hex("00001001250000000f 0000000b0f 82048362b1c986c0bf90be"),
            headers(15, true, true, hx("82048362b1c986c0bf90be")),
        ),
        (
            "continuation",
            fr(CONTINUATION, END_HEADERS, 1, b"\x84"),
            Frame::Continuation {
                stream: 1,
                end_headers: true,
                fragment: b"\x84",
            },
        ),
        (
            "continuation open",
            fr(CONTINUATION, 0, 7, b""),
            Frame::Continuation {
                stream: 7,
                end_headers: false,
                fragment: b"",
            },
        ),
        (
            "priority, captured",
            hex("000005020000000003 00000000c8"),
            Frame::Priority { stream: 3 },
        ),
        (
            "rst",
            fr(RST_STREAM, 0, 7, &[0, 0, 0, 8]),
            Frame::RstStream { stream: 7, code: 8 },
        ),
        (
            "settings",
            fr(SETTINGS, 0, 0, b"\0\x03\0\0\0\x64\0\x04\0\0\xff\xff"),
            settings(false, b"\0\x03\0\0\0\x64\0\x04\0\0\xff\xff"),
        ),
        (
            "settings empty",
            fr(SETTINGS, 0, 0, b""),
            settings(false, b""),
        ),
        (
            "settings ack, captured",
            hex(SETTINGS_ACK),
            settings(true, b""),
        ),
        (
            "push promise, captured",
            hex("000019050400000005 00000002 82448862bb5139645c8847864187089d5c0b8170ff"),
            Frame::PushPromise {
                stream: 5,
                promised: 2,
                end_headers: true,
                fragment: hx("82448862bb5139645c8847864187089d5c0b8170ff"),
            },
        ),
        (
            "push promise padded",
            fr(PUSH_PROMISE, PADDED, 1, &[1, 0x80, 0, 0, 2, 0x82, 0]),
            Frame::PushPromise {
                stream: 1,
                promised: 2,
                end_headers: false,
                fragment: b"\x82",
            },
        ),
        (
            "ping",
            fr(PING, 0, 0, b"12345678"),
            Frame::Ping { ack: false },
        ),
        (
            "ping ack",
            fr(PING, ACK, 0, &[0; 8]),
            Frame::Ping { ack: true },
        ),
        (
            "goaway, captured",
            hex(GOAWAY_HEX),
            Frame::GoAway {
                last_stream: 2,
                code: 0,
            },
        ),
        (
            "goaway debug data",
            fr(GOAWAY, 0, 0, b"\x80\0\0\x05\0\0\0\x02debug"),
            Frame::GoAway {
                last_stream: 5,
                code: 2,
            },
        ),
        (
            "window update, captured",
            hex("000004080000000000 3fff0000"),
            Frame::WindowUpdate {
                stream: 0,
                increment: 0x3fff_0000,
            },
        ),
        (
            "window update reserved bit",
            fr(WINDOW_UPDATE, 0, 3, &[0x80, 0, 0, 1]),
            Frame::WindowUpdate {
                stream: 3,
                increment: 1,
            },
        ),
        (
            "window update of 0",
            fr(WINDOW_UPDATE, 0, 3, &[0; 4]),
            Frame::WindowUpdate {
                stream: 3,
                increment: 0,
            },
        ),
        (
            "unknown type",
            fr(10, 0xff, 0, b"x"),
            Frame::Unknown {
                kind: 10,
                stream: 0,
            },
        ),
        (
            "unknown type 0xfa",
            fr(0xfa, 0, 7, b""),
            Frame::Unknown {
                kind: 0xfa,
                stream: 7,
            },
        ),
    ]
}

#[test]
fn valid_frames_decode() {
    for (name, bytes, want) in valid() {
        assert_eq!(
            parse_frame(&bytes),
            Ok(Parsed::Complete(want, bytes.len())),
            "{name}"
        );
        let mut longer = bytes.clone();
        longer.extend(b"\0\0\0\x01rest");
        assert_eq!(
            parse_frame(&longer),
            Ok(Parsed::Complete(want, bytes.len())),
            "{name} + more"
        );
    }
}

#[test]
fn every_prefix_of_a_valid_frame_is_partial() {
    for (name, bytes, _) in valid() {
        for have in 0..bytes.len() {
            let want = if have < FRAME_HEADER_LEN {
                FRAME_HEADER_LEN - have
            } else {
                bytes.len() - have
            };
            assert_eq!(
                parse_frame(&bytes[..have]),
                Ok(Parsed::Partial(want)),
                "{name} cut at {have}"
            );
        }
    }
}

#[test]
fn parse_header_fields() {
    let b = hex("00402a 01 25 8000000d ff");
    for n in 0..FRAME_HEADER_LEN {
        assert_eq!(parse_header(&b[..n]), None);
    }
    let h = FrameHeader {
        len: 0x402a,
        kind: HEADERS,
        flags: 0x25,
        stream: 13,
    };
    assert_eq!(parse_header(&b), Some(h));
    let max = FrameHeader {
        len: MAX_FRAME_LEN,
        kind: 0xff,
        flags: 0xff,
        stream: 0x7fff_ffff,
    };
    assert_eq!(parse_header(&[0xff; 9]), Some(max));
}

#[test]
fn settings_params_in_order() {
    let b = hex(H2_SERVER_SETTINGS);
    let Ok(Parsed::Complete(Frame::Settings { ack: false, params }, 51)) = parse_frame(&b) else {
        panic!("{:?}", parse_frame(&b));
    };
    let want = [
        (1, 4096),
        (2, 0),
        (4, 65535),
        (5, 16384),
        (8, 0),
        (3, 100),
        (6, 65536),
    ];
    assert_eq!(params.iter().collect::<Vec<_>>(), want);
    assert_eq!(
        (params.len(), params.is_empty(), params.iter().len()),
        (7, false, 7)
    );
    assert_eq!(params.into_iter().last(), Some((6, 65536)));
    let mut ids = vec![];
    for (id, _) in &params {
        ids.push(id);
    }
    assert_eq!(ids, [1, 2, 4, 5, 8, 3, 6]);
    assert_eq!(format!("{params:?}"), format!("{want:?}"));
    assert!(SettingsParams::default().is_empty());
}

/// (name, bytes, reason, known from the header alone)
fn invalid() -> Vec<(&'static str, Vec<u8>, &'static str, bool)> {
    vec![
        (
            "ping of 7",
            fr(PING, 0, 0, &[0; 7]),
            "PING length is not 8",
            true,
        ),
        (
            "ping of 9",
            fr(PING, ACK, 0, &[0; 9]),
            "PING length is not 8",
            true,
        ),
        (
            "priority of 6",
            fr(kind::PRIORITY, 0, 1, &[0; 6]),
            "PRIORITY length is not 5",
            true,
        ),
        (
            "settings of 3",
            fr(SETTINGS, 0, 0, &[0; 3]),
            "SETTINGS length is not a multiple of 6",
            true,
        ),
        (
            "push promise padded of 4",
            fr(PUSH_PROMISE, PADDED, 1, &[0, 0, 0, 2]),
            "PUSH_PROMISE too short for its promised stream id",
            true,
        ),
        (
            "rst of 5",
            fr(RST_STREAM, 0, 1, &[0; 5]),
            "RST_STREAM length is not 4",
            true,
        ),
        (
            "rst of 0",
            fr(RST_STREAM, 0, 1, &[]),
            "RST_STREAM length is not 4",
            true,
        ),
        (
            "priority of 4",
            fr(kind::PRIORITY, 0, 1, &[0; 4]),
            "PRIORITY length is not 5",
            true,
        ),
        (
            "settings of 7",
            fr(SETTINGS, 0, 0, &[0; 7]),
            "SETTINGS length is not a multiple of 6",
            true,
        ),
        (
            "settings ack with payload",
            fr(SETTINGS, ACK, 0, &[0; 6]),
            "SETTINGS ack with a payload",
            true,
        ),
        (
            "window update of 3",
            fr(WINDOW_UPDATE, 0, 0, &[0, 0, 1]),
            "WINDOW_UPDATE length is not 4",
            true,
        ),
        (
            "window update of 5",
            fr(WINDOW_UPDATE, 0, 1, &[0, 0, 0, 1, 0]),
            "WINDOW_UPDATE length is not 4",
            true,
        ),
        (
            "goaway of 7",
            fr(GOAWAY, 0, 0, &[0; 7]),
            "GOAWAY shorter than 8",
            true,
        ),
        ("data on 0", fr(DATA, 0, 0, b"x"), "DATA on stream 0", true),
        (
            "data on 0 reserved bit",
            fr(DATA, 0, 0x8000_0000, b""),
            "DATA on stream 0",
            true,
        ),
        (
            "headers on 0",
            fr(HEADERS, END_HEADERS, 0, b"\x88"),
            "HEADERS on stream 0",
            true,
        ),
        (
            "priority on 0",
            fr(kind::PRIORITY, 0, 0, &[0; 5]),
            "PRIORITY on stream 0",
            true,
        ),
        (
            "rst on 0",
            fr(RST_STREAM, 0, 0, &[0; 4]),
            "RST_STREAM on stream 0",
            true,
        ),
        (
            "push promise on 0",
            fr(PUSH_PROMISE, 0, 0, &[0, 0, 0, 2]),
            "PUSH_PROMISE on stream 0",
            true,
        ),
        (
            "continuation on 0",
            fr(CONTINUATION, 0, 0, b""),
            "CONTINUATION on stream 0",
            true,
        ),
        (
            "settings on 1",
            fr(SETTINGS, 0, 1, b""),
            "SETTINGS on a stream other than 0",
            true,
        ),
        (
            "ping on 3",
            fr(PING, 0, 3, &[0; 8]),
            "PING on a stream other than 0",
            true,
        ),
        (
            "goaway on 1",
            fr(GOAWAY, 0, 1, &[0; 8]),
            "GOAWAY on a stream other than 0",
            true,
        ),
        (
            "padded data of 0",
            fr(DATA, PADDED, 1, b""),
            "padded DATA without a pad length",
            true,
        ),
        (
            "data padding = payload",
            fr(DATA, PADDED, 1, b"\x02\0"),
            "padding as long as the payload",
            false,
        ),
        (
            "data padding > payload",
            fr(DATA, PADDED, 1, b"\xff"),
            "padding as long as the payload",
            false,
        ),
        (
            "headers padding = payload",
            fr(HEADERS, PADDED, 1, b"\x02\0"),
            "padding as long as the payload",
            false,
        ),
        (
            "headers priority of 4",
            fr(HEADERS, PRIORITY, 1, &[0; 4]),
            "HEADERS shorter than its pad length and priority fields",
            true,
        ),
        (
            "headers padded priority of 5",
            fr(HEADERS, PRIORITY | PADDED, 1, &[0; 5]),
            "HEADERS shorter than its pad length and priority fields",
            true,
        ),
        (
            "headers padding over priority",
            fr(HEADERS, PRIORITY | PADDED, 1, &[3, 0, 0, 0, 0, 16, 0, 0]),
            "HEADERS padding leaves no room for the priority fields",
            false,
        ),
        (
            "push promise of 3",
            fr(PUSH_PROMISE, 0, 1, &[0, 0, 2]),
            "PUSH_PROMISE too short for its promised stream id",
            true,
        ),
        (
            "push promise padding over promised id",
            fr(PUSH_PROMISE, PADDED, 1, &[2, 0, 0, 0, 2, 0]),
            "PUSH_PROMISE padding leaves no room for the promised stream id",
            false,
        ),
        (
            "largest frame on 0",
            raw(MAX_FRAME_LEN, DATA, 0, 0, b""),
            "DATA on stream 0",
            true,
        ),
    ]
}

#[test]
fn invalid_frames_are_errors_with_skip() {
    for (name, bytes, reason, header_only) in invalid() {
        let len = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) as usize;
        let want = Err(FrameError {
            reason,
            skip: Some(FRAME_HEADER_LEN + len),
        });
        if len + FRAME_HEADER_LEN == bytes.len() {
            assert_eq!(parse_frame(&bytes), want, "{name}");
        }
        let header = parse_frame(&bytes[..FRAME_HEADER_LEN]);
        if header_only {
            assert_eq!(header, want, "{name}: from the header");
        } else {
            assert_eq!(header, Ok(Parsed::Partial(len)), "{name}: from the header");
        }
    }
}

/// Random bytes, half of them shaped like frame headers (short lengths,
/// known types, small streams) so that parsing gets past the first checks.
pub(super) fn garbage() -> Vec<Vec<u8>> {
    let mut r = testkit::Prng(0x9e37_79b9_7f4a_7c15);
    (0..20_000)
        .map(|i| {
            let n = (r.next_u64() % 96) as usize;
            let mut b = r.bytes(n);
            if i % 2 == 1 {
                let mut at = 0;
                while at + FRAME_HEADER_LEN <= b.len() {
                    let len = (r.next_u64() % 24) as u32;
                    let k = (r.next_u64() % 11) as u8;
                    let flags = [0, 1, 4, 5, 8, 9, 0x20, 0x2d, 0x0c][(r.next_u64() % 9) as usize];
                    let stream = (r.next_u64() % 4) as u32;
                    b[at..at + FRAME_HEADER_LEN]
                        .copy_from_slice(&raw(len, k, flags, stream, b"")[..]);
                    if r.next_u64().is_multiple_of(4) {
                        b[at + FRAME_HEADER_LEN..].fill(0);
                    }
                    at += FRAME_HEADER_LEN + len as usize;
                }
            }
            b
        })
        .collect()
}

#[test]
fn garbage_never_panics_and_answers_stay_consistent() {
    for b in garbage() {
        match parse_frame(&b) {
            Ok(Parsed::Complete(_, n)) => {
                assert!((FRAME_HEADER_LEN..=b.len()).contains(&n), "{b:02x?}");
                assert_eq!(frame_len(&parse_header(&b).unwrap()), n);
            }
            Ok(Parsed::Partial(n)) => {
                let want = parse_header(&b).map_or(FRAME_HEADER_LEN, |h| frame_len(&h));
                assert_eq!(b.len() + n, want, "{b:02x?}");
            }
            Err(e) => {
                let h = parse_header(&b).expect("errors need a header");
                assert_eq!(e.skip, Some(frame_len(&h)), "{b:02x?}");
            }
        }
        // What detect accepts, it accepts cut anywhere past the first header.
        if let H2Detect::Frames { .. } = detect(&b) {
            for cut in FRAME_HEADER_LEN..b.len() {
                assert!(
                    matches!(detect(&b[..cut]), H2Detect::Frames { .. }),
                    "{b:02x?} cut at {cut}"
                );
            }
        }
    }
}
