//! Tests of parse.rs: greeting and command detection, length-encoded
//! integers, payloads, and the handshake response without its auth.
use super::*;
use Start::{NeedMore, No, Yes};

fn pkt(seq: u8, payload: &[u8]) -> Vec<u8> {
    let n = payload.len() as u32;
    let mut v = n.to_le_bytes()[..3].to_vec();
    v.push(seq);
    v.extend_from_slice(payload);
    v
}

fn greeting(version: &str) -> Vec<u8> {
    let mut p = vec![0x0a];
    p.extend_from_slice(version.as_bytes());
    p.push(0);
    p.extend_from_slice(&7u32.to_le_bytes());
    p.extend_from_slice(b"SCRAMBL1\0");
    p.extend_from_slice(&0xf7ffu16.to_le_bytes());
    p.push(0x21);
    p.extend_from_slice(&2u16.to_le_bytes());
    p.extend_from_slice(&0x0181u16.to_le_bytes());
    p.push(21);
    p.extend_from_slice(&[0; 10]);
    p.extend_from_slice(b"SCRAMBLE2222\0mysql_native_password\0");
    p
}

#[test]
fn detect_server_greeting_table() {
    let maria = pkt(0, &greeting("5.5.5-10.11.6-MariaDB-0+deb12u1"));
    let mysql = pkt(0, &greeting("8.0.36"));
    for (bytes, system) in [(&maria, system::MARIADB), (&mysql, system::MYSQL)] {
        assert_eq!(detect_server_greeting(bytes), Yes);
        assert_eq!(greeting_system(bytes), system);
        let end = 5 + bytes[5..].iter().position(|&c| c == 0).unwrap();
        for cut in 0..end {
            assert_eq!(detect_server_greeting(&bytes[..cut]), NeedMore, "cut {cut}");
        }
    }
    let cases: &[(&[u8], Start)] = &[
        (b"\x4a\x00\x00\x01\x0a8.0", No),
        (b"\x4a\x00\x00\x00\x098.0", No),
        (b"\x4a\x00\x00\x00\x0ax.0", No),
        (b"\x4a\x00\x10\x00\x0a8.0", No),
        (b"\x05\x00\x00\x00\x0a8.0", No),
        (b"\x12\x00\x00\x00\x0a8.0\x01", No),
        (b"HTTP/1.1 200 OK\r\n", No),
        (b"\x16\x03\x01\x02\x00", No),
    ];
    for (input, want) in cases {
        assert_eq!(detect_server_greeting(input), *want, "{input:?}");
    }
}

#[test]
fn detect_command_table() {
    let exec = {
        let mut p = vec![0x17, 1, 0, 0, 0, 0];
        p.extend_from_slice(&1u32.to_le_bytes());
        pkt(0, &p)
    };
    let cases: Vec<(Vec<u8>, Start)> = vec![
        (pkt(0, b"\x03SELECT 1"), Yes),
        (pkt(0, b"\x03\x00\x01SELECT 1"), Yes),
        (pkt(0, b"\x03\x00\x02SELECT 1"), No),
        (pkt(0, b"\x16INSERT INTO t VALUES (?)"), Yes),
        (exec.clone(), Yes),
        (pkt(0, b"\x0e"), Yes),
        (pkt(0, b"\x01"), Yes),
        (pkt(0, b"\x02shop"), Yes),
        (pkt(0, b"\x19\x01\x00\x00\x00"), Yes),
        (pkt(0, b"\x1a\x01\x00\x00\x00"), Yes),
        (pkt(1, b"\x03SELECT 1"), No),
        (pkt(0, b"\x03"), No),
        (pkt(0, b"\x03\x01\x02binary"), No),
        (pkt(0, b"\x0e\x00"), No),
        (pkt(0, b"\x19\x01\x00\x00"), No),
        (pkt(0, b"\x99hello"), No),
        (b"\x00\x00\x00\x00".to_vec(), No),
        (b"GET / HTTP/1.1\r\n".to_vec(), No),
    ];
    for (input, want) in &cases {
        assert_eq!(detect_command(input), *want, "{input:?}");
        if *want == Yes {
            for cut in 0..input.len().min(5 + 16) {
                let d = detect_command(&input[..cut]);
                assert!(
                    d == NeedMore || (d == *want && cut >= 5),
                    "cut {cut} {input:?}"
                );
            }
        }
    }
}

#[test]
fn lenenc_table() {
    type Lenenc = Option<(u64, usize)>;
    let cases: &[(&[u8], Lenenc)] = &[
        (b"", None),
        (b"\x00", Some((0, 1))),
        (b"\xfa", Some((250, 1))),
        (b"\xfb", None),
        (b"\xff", None),
        (b"\xfc\x01\x02", Some((0x0201, 3))),
        (b"\xfc\x01", None),
        (b"\xfd\x01\x02\x03", Some((0x030201, 4))),
        (
            b"\xfe\x01\x00\x00\x00\x00\x00\x00\x01",
            Some((1 << 56 | 1, 9)),
        ),
        (b"\xfe\x01\x00\x00", None),
    ];
    for (input, want) in cases {
        assert_eq!(read_lenenc(input), *want, "{input:?}");
    }
}

#[test]
fn payloads() {
    let g = parse_greeting(&greeting("8.0.36")).unwrap();
    assert_eq!(g.server_version, "8.0.36");
    assert_eq!(g.connection_id, 7);
    assert_eq!(g.capabilities, 0x0181_f7ff);
    assert!(!format!("{g:?}").contains("SCRAMBL"));

    let e = parse_err(b"\xff\x7a\x04#42S02Table 'shop.nope' doesn't exist").unwrap();
    assert_eq!(e.code, 1146);
    assert_eq!(e.sql_state.as_deref(), Some("42S02"));
    assert_eq!(e.message, "Table 'shop.nope' doesn't exist");
    assert_eq!(parse_err(b"\xff\x01").map(|e| e.code), None);
    let e = parse_err(b"\xff\x15\x04old").unwrap();
    assert_eq!(
        (e.code, e.sql_state, e.message.as_str()),
        (1045, None, "old")
    );

    let ok = parse_ok(b"\x00\x03\xfc\x00\x01\x0a\x00\x00\x00").unwrap();
    assert_eq!(
        (ok.affected_rows, ok.last_insert_id, ok.status),
        (3, 256, 10)
    );
    assert_eq!(parse_ok(b"\x00\xfc"), None);
    assert_eq!(end_status(b"\xfe\x00\x00\x08\x00"), 8);
    assert_eq!(end_status(b"\xfe\x00\x00\x0a\x00\x00\x00"), 10);
    assert!(is_eof(b"\xfe\x00\x00\x02\x00", 5));
    assert!(!is_eof(b"\xfe", 20));

    let p = parse_prepare_ok(b"\x00\x05\x00\x00\x00\x02\x00\x01\x00\x00\x00\x00").unwrap();
    assert_eq!((p.statement_id, p.num_columns, p.num_params), (5, 2, 1));
    assert_eq!(column_count(b"\x03"), Some((3, true)));
    assert_eq!(column_count(b"\x03\x00"), Some((3, false)));
    assert_eq!(query_text(b"\x00\x01SELECT"), Some(&b"SELECT"[..]));
    assert_eq!(query_text(b"\x01\x01SELECT"), None);
    assert_eq!(query_text(b"SELECT"), Some(&b"SELECT"[..]));
    assert_eq!(query_text(b"\x02\x01\x00\x00"), None);
}

#[test]
fn handshake_response_skips_auth() {
    let caps = caps::PROTOCOL_41 | caps::SECURE_CONNECTION | caps::CONNECT_WITH_DB;
    let mut p = caps.to_le_bytes().to_vec();
    p.extend_from_slice(&[0, 0, 0, 1, 0x21]);
    p.extend_from_slice(&[0; 23]);
    p.extend_from_slice(b"app\0");
    p.push(20);
    p.extend_from_slice(b"SECRETSECRETSECRET\0\0");
    p.extend_from_slice(b"shop\0mysql_native_password\0");
    let h = parse_handshake_response(&p).unwrap();
    assert_eq!(h.schema.as_deref(), Some("shop"));
    assert!(!h.ssl_request);
    assert!(!format!("{h:?}").contains("SECRET"));
    // Every prefix parses to nothing or to something without the secret.
    for cut in 0..p.len() {
        if let Some(h) = parse_handshake_response(&p[..cut]) {
            assert!(!format!("{h:?}").contains("SECRET"));
        }
    }
    let ssl = (caps | caps::SSL).to_le_bytes();
    let mut p = ssl.to_vec();
    p.extend_from_slice(&[0; 28]);
    assert!(parse_handshake_response(&p).unwrap().ssl_request);
    let lenenc = caps | caps::PLUGIN_AUTH_LENENC_CLIENT_DATA;
    let mut p = lenenc.to_le_bytes().to_vec();
    p.extend_from_slice(&[0; 28]);
    p.extend_from_slice(b"u\0\x03abcdb\0");
    assert_eq!(
        parse_handshake_response(&p).unwrap().schema.as_deref(),
        Some("db")
    );
}
