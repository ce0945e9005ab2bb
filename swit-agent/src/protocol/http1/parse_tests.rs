//! Tests of parse.rs: detection, request and response framing, head prefixes,
//! header bounds and redaction, chunked bodies and gaps inside them.
use super::*;

const M: Start = Start::Yes;

#[test]
fn detect_request_table() {
    let cases: &[(&[u8], Start)] = &[
        (b"", Start::NeedMore),
        (b"G", Start::NeedMore),
        (b"GE", Start::NeedMore),
        (b"GET", Start::NeedMore),
        (b"GET ", M),
        (b"GET /x HTTP/1.1", M),
        (b"DELETE ", M),
        (b"DELET", Start::NeedMore),
        (b"OPTIONS * HTTP/1.1", M),
        (b"PROPFIND /a", M),
        (b"PROPFIND http://x", M),
        (b"PROPFIND", Start::NeedMore),
        (b"PROPFIND ", Start::NeedMore),
        (b"PROPFIND h", Start::NeedMore),
        (b"PROPFIND x", Start::No),
        (b"GETX /", M),
        (b"get / HTTP/1.1", Start::No),
        (b"\0\0\0", Start::No),
        (b"HTTP/1.1 200 OK", Start::No),
        (b"\x16\x03\x01", Start::No),
        (b"AAAAAAAAAAAAAAAAAAAAAAAAAAAA /", Start::No),
    ];
    for (input, want) in cases {
        assert_eq!(
            detect_request(input),
            *want,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    assert_eq!(request_start(b"PROPFIND /a", true), Start::No);
    assert_eq!(request_start(b"POS", true), Start::NeedMore);
}

#[test]
fn looks_like_response_table() {
    let cases: &[(&[u8], Start)] = &[
        (b"", Start::NeedMore),
        (b"HTTP/1", Start::NeedMore),
        (b"HTTP/1.", M),
        (b"HTTP/1.1 200 OK\r\n", M),
        (b"HTTP/2 200", Start::No),
        (b"GET / HTTP/1.1", Start::No),
    ];
    for (input, want) in cases {
        assert_eq!(
            looks_like_response(input),
            *want,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

fn request_framing(fields: &str) -> Result<BodyFraming, HeadError> {
    let head = format!("POST / HTTP/1.1\r\n{fields}\r\n");
    match parse_request_head(head.as_bytes())? {
        Parsed::Done { value, len } => {
            assert_eq!(len, head.len());
            Ok(value.framing)
        }
        Parsed::NeedMore => panic!("incomplete: {head:?}"),
    }
}

#[test]
fn request_framing_table() {
    use BodyFraming::*;
    let cases: &[(&str, Result<BodyFraming, HeadError>)] = &[
        ("", Ok(None)),
        ("Content-Length: 0\r\n", Ok(None)),
        ("Content-Length: 12\r\n", Ok(Length(12))),
        ("content-length:  7 \r\n", Ok(Length(7))),
        ("Content-Length: 5\r\nContent-Length: 5\r\n", Ok(Length(5))),
        ("Content-Length: 5, 5\r\n", Ok(Length(5))),
        ("Content-Length: 2147483648\r\n", Ok(Length(2_147_483_648))),
        (
            "Content-Length: 5\r\nContent-Length: 6\r\n",
            Err(HeadError::ContentLength),
        ),
        ("Content-Length: -5\r\n", Err(HeadError::ContentLength)),
        ("Content-Length: abc\r\n", Err(HeadError::ContentLength)),
        ("Content-Length: \r\n", Err(HeadError::ContentLength)),
        (
            "Content-Length: 99999999999999999999999\r\n",
            Err(HeadError::ContentLength),
        ),
        ("Transfer-Encoding: chunked\r\n", Ok(Chunked)),
        (
            "Transfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n",
            Ok(Chunked),
        ),
        (
            "Transfer-Encoding: gzip\r\nTransfer-Encoding: Chunked\r\n",
            Ok(Chunked),
        ),
        (
            "Transfer-Encoding: chunked, gzip\r\n",
            Err(HeadError::TransferEncoding),
        ),
    ];
    for (fields, want) in cases {
        assert_eq!(request_framing(fields), *want, "{fields:?}");
    }
}

#[test]
fn response_framing_table() {
    use BodyFraming::*;
    let cases: &[(&str, Option<&str>, BodyFraming)] = &[
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
            Some("GET"),
            Length(3),
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
            Some("HEAD"),
            None,
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
            Option::None,
            Length(3),
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            Some("GET"),
            None,
        ),
        ("HTTP/1.1 204 No Content\r\n\r\n", Some("DELETE"), None),
        (
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
            Some("GET"),
            None,
        ),
        ("HTTP/1.1 100 Continue\r\n\r\n", Some("POST"), None),
        ("HTTP/1.1 200 OK\r\n\r\n", Some("CONNECT"), None),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            Some("GET"),
            Chunked,
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            Some("GET"),
            UntilClose,
        ),
        ("HTTP/1.0 200 OK\r\n\r\n", Some("GET"), UntilClose),
    ];
    for (head, method, want) in cases {
        match parse_response_head(head.as_bytes(), *method) {
            Ok(Parsed::Done { value, len }) => {
                assert_eq!(value.framing, *want, "{head:?}");
                assert_eq!(len, head.len());
            }
            other => panic!("{head:?}: {other:?}"),
        }
    }
}

#[test]
fn every_strict_prefix_of_a_head_needs_more() {
    let requests: &[&[u8]] = &[
        b"GET /a?b=c HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
        b"POST /p HTTP/1.0\r\nContent-Length: 3\r\n\r\n",
        b"\r\nPUT / HTTP/1.1\r\n\r\n",
    ];
    for r in requests {
        for n in 0..r.len() {
            assert_eq!(
                parse_request_head(&r[..n]),
                Ok(Parsed::NeedMore),
                "{:?}",
                &r[..n]
            );
        }
        assert!(matches!(parse_request_head(r), Ok(Parsed::Done { len, .. }) if len == r.len()));
    }
    let responses: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
        b"HTTP/1.0 404 Not Found\r\n\r\n",
    ];
    for r in responses {
        for n in 0..r.len() {
            assert_eq!(parse_response_head(&r[..n], None), Ok(Parsed::NeedMore));
        }
        assert!(
            matches!(parse_response_head(r, None), Ok(Parsed::Done { len, .. }) if len == r.len())
        );
    }
}

#[test]
fn headers_are_lowercased_redacted_and_bounded() {
    let mut head = String::from(
        "GET / HTTP/1.1\r\nAuthorization: Bearer s3cret\r\nCookie: a=b\r\nX-Trace: T\r\n",
    );
    for i in 0..100 {
        head.push_str(&format!("X-{i}: v\r\n"));
    }
    head.push_str("Proxy-Authorization: Basic x\r\nContent-Length: 4\r\n\r\n");
    let Ok(Parsed::Done { value, .. }) = parse_request_head(head.as_bytes()) else {
        panic!()
    };
    assert_eq!(value.headers.len(), MAX_HEADERS);
    assert_eq!(value.dropped_headers, 105 - MAX_HEADERS);
    assert_eq!(value.headers.get(0), Some(("authorization", REDACTED)));
    assert_eq!(value.headers.get(1), Some(("cookie", REDACTED)));
    assert_eq!(value.headers.get(2), Some(("x-trace", "T")));
    // The framing field sits past the kept ones and still counts.
    assert_eq!(value.framing, BodyFraming::Length(4));

    let resp = b"HTTP/1.1 200 OK\r\nSet-Cookie: id=1\r\n\r\n";
    let Ok(Parsed::Done { value, .. }) = parse_response_head(resp, Some("GET")) else {
        panic!()
    };
    assert_eq!(
        value.headers.iter().collect::<Vec<_>>(),
        [("set-cookie", REDACTED)]
    );
}

#[test]
fn oversized_heads_are_refused() {
    let mut many = String::from("GET / HTTP/1.1\r\n");
    for i in 0..300 {
        many.push_str(&format!("X-{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(
        parse_request_head(many.as_bytes()),
        Err(HeadError::TooManyHeaders)
    );
    let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(70 * 1024));
    assert_eq!(
        parse_request_head(long.as_bytes()),
        Err(HeadError::TooLarge)
    );
    assert_eq!(
        parse_request_head(&long.as_bytes()[..MAX_HEAD_BYTES]),
        Err(HeadError::TooLarge)
    );
    assert_eq!(
        parse_request_head(b"GET /\x01 HTTP/1.1\r\n\r\n").map_err(HeadError::reason),
        Err("invalid head")
    );
    assert_eq!(parse_request_head(b"\0\0\0\0"), Err(HeadError::NotHttp));
    assert_eq!(
        parse_response_head(b"SSH-2.0-OpenSSH\r\n", None),
        Err(HeadError::NotHttp)
    );
}

fn decode_whole(body: &[u8]) -> Result<ChunkedProgress, ChunkedError> {
    ChunkedDecoder::new().feed(body)
}

fn decode_bytewise(body: &[u8]) -> Result<ChunkedProgress, ChunkedError> {
    let mut d = ChunkedDecoder::new();
    let mut total = ChunkedProgress {
        consumed: 0,
        payload: 0,
        done: false,
    };
    for b in body {
        let p = d.feed(std::slice::from_ref(b))?;
        total.consumed += p.consumed;
        total.payload += p.payload;
        total.done = p.done;
    }
    Ok(total)
}

#[test]
fn chunked_table() {
    // (body, Some((consumed, payload)) when complete, None when still waiting, Err when invalid)
    type Want = Result<Option<(usize, u64)>, ChunkedError>;
    let cases: &[(&[u8], Want)] = &[
        (b"0\r\n\r\n", Ok(Some((5, 0)))),
        (b"5\r\nhello\r\n0\r\n\r\nGET", Ok(Some((15, 5)))),
        (
            b"5;name=v\r\nhello\r\n6 ; x\r\n world\r\n0\r\nTrailer: t\r\nMore: m\r\n\r\n",
            Ok(Some((58, 11))),
        ),
        (b"A\nabcdefghij\n0\n\n", Ok(Some((16, 10)))),
        (b"ff\r\n", Ok(None)),
        (b"5\r\nhel", Ok(None)),
        (b"0\r\nX: y\r\n", Ok(None)),
        (b"\r\n", Err(ChunkedError)),
        (b"g\r\n", Err(ChunkedError)),
        (b"5\r\nhelloX", Err(ChunkedError)),
        (b"5\r\nhello\rX", Err(ChunkedError)),
        (b"11111111111111111\r\n", Err(ChunkedError)),
        (b"0\r\n\rX", Err(ChunkedError)),
    ];
    for (body, want) in cases {
        for got in [decode_whole(body), decode_bytewise(body)] {
            let got = got.map(|p| p.done.then_some((p.consumed, p.payload)));
            assert_eq!(got, *want, "{:?}", String::from_utf8_lossy(body));
        }
    }
    let long_ext = [b"5;".as_slice(), &[b'x'; MAX_CHUNK_LINE + 1]].concat();
    assert_eq!(decode_whole(&long_ext), Err(ChunkedError));
}

#[test]
fn chunked_gap_inside_data_only() {
    let mut d = ChunkedDecoder::new();
    assert!(!d.skip_gap(1), "a gap in the size line is not skippable");
    let p = d.feed(b"100000\r\nabcd").unwrap();
    assert_eq!((p.consumed, p.payload, p.done), (12, 4, false));
    assert!(!d.skip_gap(0x100000), "larger than what is left");
    assert!(d.skip_gap(0x100000 - 4));
    let p = d.feed(b"\r\n0\r\n\r\nnext").unwrap();
    assert_eq!((p.consumed, p.payload, p.done), (7, 0, true));
}
