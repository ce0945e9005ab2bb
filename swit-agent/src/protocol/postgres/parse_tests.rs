//! Tests of parse.rs: detection, message headers, startup, command tags,
//! safe error fields, resynchronisation points and cut text.
use super::*;

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn untyped(code: u32, body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32 + 8).to_be_bytes().to_vec();
    v.extend_from_slice(&code.to_be_bytes());
    v.extend_from_slice(body);
    v
}

#[test]
fn detect_table() {
    use framing::Start::{self, NeedMore, No, Yes};
    let startup = untyped(PROTOCOL_3_0, b"user\0alice\0database\0shop\0\0");
    let cases: Vec<(&str, Vec<u8>, Start)> = vec![
        ("startup", startup.clone(), Yes),
        (
            "startup 3.2",
            untyped(PROTOCOL_3_0 + 2, b"user\0a\0\0"),
            Yes,
        ),
        ("ssl", untyped(SSL_REQUEST, b""), Yes),
        ("gssenc", untyped(GSSENC_REQUEST, b""), Yes),
        ("cancel", untyped(CANCEL_REQUEST, &[0; 8]), Yes),
        ("ssl with body", untyped(SSL_REQUEST, b"xx"), No),
        ("protocol 2", untyped(0x0002_0000, b"x\0"), No),
        ("query", msg(b'Q', b"SELECT 1\0"), Yes),
        ("query prefix", b"Q\0\0\0\x0dSEL".to_vec(), NeedMore),
        ("query blank", msg(b'Q', b"  \n select 1\0"), Yes),
        ("query binary", msg(b'Q', b"\x01\x02\x03\0"), No),
        ("query no nul", msg(b'Q', b"SELECT 1"), No),
        ("parse", msg(b'P', b"s1\0SELECT $1\0\0\0"), Yes),
        ("parse unnamed", msg(b'P', b"\0SELECT 1\0\0\0"), Yes),
        ("bind", msg(b'B', b"\0s1\0\0\0\0\0\0\0"), Yes),
        ("execute", msg(b'E', b"\0\0\0\0\0"), Yes),
        ("execute bad len", msg(b'E', b"\0\0\0\0\0\0"), No),
        ("sync", msg(b'S', b""), Yes),
        ("sync bad len", msg(b'S', b"x"), No),
        ("http get", b"GET / HTTP/1.1\r\n".to_vec(), No),
        ("http post", b"POST /x HTTP/1.1\r\n".to_vec(), No),
        ("http put", b"PUT /x HTTP/1.1\r\n".to_vec(), No),
        ("tls", b"\x16\x03\x01\x02\x00\x01".to_vec(), No),
        ("redis", b"*1\r\n$4\r\nPING\r\n".to_vec(), No),
        ("empty", vec![], NeedMore),
        ("huge query", b"Q\x10\0\0\0SELECT".to_vec(), No),
    ];
    for (name, input, want) in &cases {
        assert_eq!(detect(input), *want, "{name}");
    }
    // Every strict prefix of a match is NeedMore (or already Yes).
    for (name, input, want) in &cases {
        if *want != Yes {
            continue;
        }
        for cut in 0..input.len() {
            let got = detect(&input[..cut]);
            assert_ne!(got, No, "{name} cut at {cut}");
        }
    }
}

#[test]
fn header_table() {
    let r = Side::Request;
    let b = Side::Response;
    assert_eq!(parse_header(r, b""), Ok(None));
    assert_eq!(parse_header(r, b"Q\0\0"), Ok(None));
    assert_eq!(
        parse_header(r, b"Q\0\0\0\x09"),
        Ok(Some(Header {
            tag: b'Q',
            body_len: 5
        }))
    );
    assert_eq!(
        parse_header(r, b"Z\0\0\0\x05"),
        Err(FrameError::UnknownType(b'Z'))
    );
    assert!(parse_header(b, b"Z\0\0\0\x05").is_ok());
    assert_eq!(
        parse_header(b, b"Z\0\0\0\x03"),
        Err(FrameError::BadLength(3))
    );
    assert_eq!(
        parse_header(b, b"D\xff\xff\xff\xff"),
        Err(FrameError::BadLength(u32::MAX))
    );
    assert_eq!(
        parse_header(b, b"D\x40\0\0\x01"),
        Err(FrameError::BadLength(0x4000_0001))
    );
    assert!(parse_header(b, b"D\x40\0\0\0").is_ok());
}

#[test]
fn startup_header_table() {
    let s = untyped(PROTOCOL_3_0, b"user\0u\0\0");
    for cut in 0..8 {
        assert_eq!(parse_startup_header(&s[..cut]), Ok(None), "cut {cut}");
    }
    assert_eq!(
        parse_startup_header(&s),
        Ok(Some(StartupHeader {
            kind: StartupKind::Startup { minor: 0 },
            body_len: 8
        }))
    );
    assert!(parse_startup_header(b"\x01\0\0\0").is_err());
    assert!(parse_startup_header(&untyped(1234, b"")).is_err());
    assert!(parse_startup_header(&100_000u32.to_be_bytes()).is_err());
}

#[test]
fn command_tag_table() {
    type Row = (&'static [u8], &'static str, Option<u64>, Option<u64>);
    let cases: &[Row] = &[
        (b"SELECT 5\0", "SELECT", Some(5), Some(5)),
        (b"INSERT 0 1\0", "INSERT", Some(1), None),
        (b"UPDATE 3\0", "UPDATE", Some(3), None),
        (b"DELETE 2\0", "DELETE", Some(2), None),
        (b"COPY 10\0", "COPY", Some(10), Some(10)),
        (b"FETCH 7\0", "FETCH", Some(7), Some(7)),
        (b"MOVE 4\0", "MOVE", Some(4), None),
        (b"CREATE TABLE\0", "CREATE", None, None),
        (b"BEGIN\0", "BEGIN", None, None),
        (b"SELE", "SELE", None, None),
        (b"", "", None, None),
    ];
    for (body, verb, count, returned) in cases {
        let t = command_tag(body);
        assert_eq!(t.verb, *verb);
        assert_eq!(t.count, *count, "{verb}");
        assert_eq!(t.returned_rows(), *returned, "{verb}");
    }
}

#[test]
fn error_fields_keep_only_safe_fields() {
    let body = b"SERREUR\0VERROR\0C42P01\0Mrelation \"x\" does not exist\0Dkey=secret\0Wwhere\0\0";
    let f = error_fields(body);
    assert_eq!(f.severity.as_deref(), Some("ERROR"));
    assert_eq!(f.code.as_deref(), Some("42P01"));
    assert_eq!(f.message.as_deref(), Some("relation \"x\" does not exist"));
    assert!(!format!("{f:?}").contains("secret"));
    // A field cut short is ignored.
    assert_eq!(error_fields(b"C42P0").code, None);
    assert_eq!(error_fields(b"").code, None);
}

#[test]
fn startup_params_table() {
    let p = startup_params(b"user\0alice\0database\0shop\0application_name\0psql\0\0");
    assert_eq!(p.user.as_deref(), Some("alice"));
    assert_eq!(p.database.as_deref(), Some("shop"));
    let p = startup_params(b"user\0bob\0\0");
    assert_eq!((p.user.as_deref(), p.database), (Some("bob"), None));
    let p = startup_params(b"user\0bo");
    assert_eq!(p.user, None);
}

#[test]
fn resync_starts() {
    let r = Side::Request;
    let b = Side::Response;
    assert_eq!(start(b, b"Z\0\0\0\x05I"), Start::Typed(5));
    assert_eq!(start(b, b"Z\0\0\0\x05"), Start::NeedMore);
    assert_eq!(start(b, b"Z\0\0\0\x05X"), Start::NoMatch);
    assert_eq!(start(b, b"C\0\0\0\x0dSELECT 1\0"), Start::NoMatch);
    assert_eq!(fresh_start(b, b"C\0\0\0\x0dSELECT 1\0"), Start::Typed(13));
    assert_eq!(fresh_start(b, b"1\0\0\0\x05"), Start::NoMatch);
    assert_eq!(start(r, &msg(b'S', b"")), Start::Typed(4));
    assert_eq!(start(r, &msg(b'D', b"P\0")), Start::NoMatch);
    assert_eq!(start(r, b"Q\0\0\0\x0dSEL"), Start::NeedMore);
    // A long query is judged on its first LOOKAHEAD bytes.
    let long = msg(b'Q', &[b'a'; 100]);
    assert_eq!(start(r, &long[..5 + LOOKAHEAD]), Start::Typed(104));
}

#[test]
fn text_drops_cut_character() {
    assert_eq!(text("é".as_bytes()), "é");
    assert_eq!(text(&"é".as_bytes()[..1]), "");
    assert_eq!(text(b"a\xffb"), "a\u{fffd}b");
}
