//! Tests of parse.rs: RESP frames whole, cut and split, invalid frames, limits,
//! gaps inside bulk payloads, detection, and random bytes.
use super::*;

fn frame(kind: Kind, len: Option<u64>, text: Option<&str>, words: &[Option<&str>]) -> Frame {
    Frame {
        kind,
        len,
        text: text.map(str::to_string),
        words: words.iter().map(|w| w.map(str::to_string)).collect(),
    }
}

/// (commands side?, bytes, frame)
fn frames() -> Vec<(bool, &'static [u8], Frame)> {
    use Kind::*;
    vec![
        (false, b"+OK\r\n", frame(Simple, None, Some("OK"), &[])),
        (false, b"+\r\n", frame(Simple, None, Some(""), &[])),
        (
            false,
            b"-ERR unknown command\r\n",
            frame(Error, None, Some("ERR unknown command"), &[]),
        ),
        (false, b":1000\r\n", frame(Integer, None, None, &[])),
        (false, b":-42\r\n", frame(Integer, None, None, &[])),
        (false, b"$5\r\nhello\r\n", frame(Bulk, None, None, &[])),
        (false, b"$0\r\n\r\n", frame(Bulk, None, None, &[])),
        (false, b"$-1\r\n", frame(Null, None, None, &[])),
        (false, b"*-1\r\n", frame(Null, None, None, &[])),
        (false, b"*0\r\n", frame(Array, Some(0), None, &[])),
        (
            false,
            b"*3\r\n:1\r\n$3\r\nfoo\r\n*2\r\n+a\r\n-b\r\n",
            frame(Array, Some(3), None, &[]),
        ),
        (false, b"*2\r\n$-1\r\n*-1\r\n", frame(Array, Some(2), None, &[])),
        (false, b"_\r\n", frame(Null, None, None, &[])),
        (false, b"#t\r\n", frame(Boolean, None, None, &[])),
        (false, b",3.14\r\n", frame(Double, None, None, &[])),
        (false, b",-inf\r\n", frame(Double, None, None, &[])),
        (false, b"(3492890328409238509324850943850943825024385\r\n", frame(BigNumber, None, None, &[])),
        (
            false,
            b"!21\r\nSYNTAX invalid syntax\r\n",
            frame(BulkError, None, Some("SYNTAX invalid syntax"), &[]),
        ),
        (false, b"=15\r\ntxt:Some string\r\n", frame(Verbatim, None, None, &[])),
        (
            false,
            b"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
            frame(Map, Some(2), None, &[]),
        ),
        (false, b"~2\r\n+a\r\n+b\r\n", frame(Set, Some(2), None, &[])),
        (
            false,
            b"|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.19\r\n$1\r\nb\r\n,0.05\r\n*2\r\n:2039123\r\n:9543892\r\n",
            frame(Array, Some(2), None, &[]),
        ),
        (false, b"|0\r\n+OK\r\n", frame(Simple, None, Some("OK"), &[])),
        (
            false,
            b"*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n",
            frame(Array, Some(2), None, &[]),
        ),
        (
            false,
            b">3\r\n+message\r\n+ch\r\n$2\r\nhi\r\n",
            frame(Push, Some(3), None, &[]),
        ),
        (
            true,
            b"*3\r\n$3\r\nSET\r\n$6\r\nuser:1\r\n$5\r\nvalue\r\n",
            frame(Array, Some(3), None, &[Some("SET"), Some("user:1"), None]),
        ),
        (
            true,
            b"*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n",
            frame(Array, Some(2), None, &[Some("AUTH"), None]),
        ),
        (
            true,
            b"*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$2\r\nme\r\n",
            frame(Array, Some(3), None, &[Some("CLIENT"), Some("SETNAME"), Some("me")]),
        ),
        (
            true,
            b"*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n$9\r\nreturn 42\r\n",
            frame(Array, Some(3), None, &[Some("SCRIPT"), Some("LOAD"), None]),
        ),
        (true, b"*1\r\n$4\r\nPING\r\n", frame(Array, Some(1), None, &[Some("PING")])),
        (true, b"PING\r\n", frame(Inline, Some(1), None, &[Some("PING")])),
        (
            true,
            b"set  k1 v1\r\n",
            frame(Inline, Some(3), None, &[Some("set"), Some("k1"), None]),
        ),
        (true, b"\r\nGET k\n", frame(Inline, Some(2), None, &[Some("GET"), Some("k")])),
    ]
}

#[test]
fn whole_frames_parse() {
    for (commands, bytes, want) in frames() {
        let got = parse(bytes, commands);
        assert_eq!(
            got,
            Parsed::Done {
                value: want,
                len: bytes.len()
            },
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn every_truncated_prefix_needs_more() {
    for (commands, bytes, _) in frames() {
        for cut in 0..bytes.len() {
            assert_eq!(
                parse(&bytes[..cut], commands),
                Parsed::NeedMore,
                "{:?} cut at {cut}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}

#[test]
fn byte_by_byte_equals_whole() {
    for (commands, bytes, want) in frames() {
        let mut p = Parser::new(commands);
        let mut got = None;
        for (i, b) in bytes.iter().enumerate() {
            let step = p.feed(std::slice::from_ref(b));
            assert_eq!(step.consumed, 1);
            match step.outcome {
                Outcome::More => assert!(i + 1 < bytes.len()),
                Outcome::Frame(f) => got = Some((f, i + 1)),
                Outcome::Invalid(r) => panic!("{r} at {i}"),
            }
        }
        assert_eq!(got, Some((want, bytes.len())));
        assert!(p.is_idle());
    }
}

#[test]
fn frame_ends_where_the_next_begins() {
    let two = b"+OK\r\n:1\r\n";
    assert_eq!(
        parse(two, false),
        Parsed::Done {
            value: frame(Kind::Simple, None, Some("OK"), &[]),
            len: 5
        }
    );
}

#[test]
fn invalid_frames() {
    let cases: &[(bool, &[u8])] = &[
        (false, b"?what\r\n"),
        (false, b"GET k\r\n"),
        (false, b":12a\r\n"),
        (false, b":\r\n"),
        (false, b"+OK\n"),
        (false, b"$3\r\nabcd\r\n"),
        (false, b"$-2\r\n"),
        (false, b"$?\r\n"),
        (false, b"!-1\r\n"),
        (false, b"*-2\r\n"),
        (false, b"%-1\r\n"),
        (false, b"*2000000\r\n"),
        (false, b"$999999999999\r\n"),
        (false, b"_x\r\n"),
        (false, b"#x\r\n"),
        (false, b",\r\n"),
        (true, b"\x00\x01\x02\r\n"),
        (true, b"*1\r\n$3\r\nGET\n"),
    ];
    for (commands, bytes) in cases {
        assert!(
            matches!(parse(bytes, *commands), Parsed::Invalid(_)),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn limits() {
    let deep = "*1\r\n".repeat(MAX_DEPTH + 1);
    assert_eq!(
        parse(deep.as_bytes(), false),
        Parsed::Invalid("nested too deep")
    );
    let ok = format!("{}:1\r\n", "*1\r\n".repeat(MAX_DEPTH));
    assert!(matches!(parse(ok.as_bytes(), false), Parsed::Done { .. }));
    let many = "*1000\r\n".repeat(3) + &"*1000000\r\n".repeat(2);
    assert_eq!(
        parse(many.as_bytes(), false),
        Parsed::Invalid("too many elements")
    );
    let long = vec![b'a'; MAX_LINE + 1];
    assert_eq!(parse(&long, true), Parsed::Invalid("line too long"));
}

#[test]
fn texts_and_words_are_bounded() {
    let big = format!("-ERR {}\r\n", "x".repeat(10_000));
    let Parsed::Done { value, .. } = parse(big.as_bytes(), false) else {
        panic!()
    };
    assert_eq!(value.text.unwrap().len(), MAX_TEXT);
    let key = "k".repeat(1000);
    let cmd = format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len());
    let Parsed::Done { value, .. } = parse(cmd.as_bytes(), true) else {
        panic!()
    };
    assert_eq!(value.words[1].as_ref().unwrap().len(), MAX_TEXT);
}

#[test]
fn gap_inside_a_bulk_payload_is_skipped() {
    let mut p = Parser::new(true);
    let head = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\nabc";
    assert!(matches!(p.feed(head).outcome, Outcome::More));
    assert!(p.skip_gap(90_000));
    assert!(matches!(p.feed(&[b'z'; 9_000]).outcome, Outcome::More));
    assert!(!p.skip_gap(1_000), "crosses the payload's end");
    let mut p = Parser::new(true);
    p.feed(head);
    assert!(p.skip_gap(100_000 - 3));
    let step = p.feed(b"\r\n");
    let Outcome::Frame(f) = step.outcome else {
        panic!("{step:?}")
    };
    assert_eq!(f.words, vec![Some("SET".into()), Some("k".into()), None]);
    let mut p = Parser::new(false);
    p.feed(b"*2\r\n");
    assert!(!p.skip_gap(1), "between elements");
}

#[test]
fn detect_table() {
    use Start::{NeedMore, No, Yes};
    let cases: &[(&[u8], Start)] = &[
        (b"", NeedMore),
        (b"*", NeedMore),
        (b"*1", NeedMore),
        (b"*1\r", NeedMore),
        (b"*1\r\n", NeedMore),
        (b"*1\r\n$", NeedMore),
        (b"*1\r\n$4\r\n", NeedMore),
        (b"*1\r\n$4\r\nPI", NeedMore),
        (b"*1\r\n$4\r\nPING", Yes),
        (b"*1\r\n$4\r\nping\r\n", Yes),
        (b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n", Yes),
        (b"*1\r\n$4\r\nPONG\r\n", No),
        (b"*1\r\n$4\r\nQQ", No),
        (b"*0\r\n", No),
        (b"*1\r\n:4\r\n", No),
        (b"*x", No),
        (b"*99999999\r\n", No),
        (b"PING\r\n", Yes),
        (b"get k\r\n", Yes),
        (b"GET k", NeedMore),
        (b"GE", NeedMore),
        (b"GET / HTTP/1.1\r\nHost: x\r\n", No),
        (b"POST / HTTP/1.1\r\n", No),
        (b"HELLOX\r\n", No),
        (b"\x16\x03\x01\x02", No),
        (b"+OK\r\n", No),
    ];
    for (input, want) in cases {
        assert_eq!(detect(input), *want, "{:?}", String::from_utf8_lossy(input));
    }
}

/// Deterministic xorshift.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let alphabet = b"*$+-:_#,(!=%~|>0123456789-?\r\n\r\nabcPING ";
    for _ in 0..20_000 {
        let len = rng.next() % 48;
        let bytes: Vec<u8> = (0..len)
            .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize])
            .collect();
        let commands = rng.next().is_multiple_of(2);
        let _ = parse(&bytes, commands);
        let _ = detect(&bytes);
        let mut p = Parser::new(commands);
        let mut off = 0;
        while off < bytes.len() {
            let step = p.feed(&bytes[off..]);
            assert!(step.consumed > 0 && step.consumed <= bytes.len() - off);
            off += step.consumed;
            if matches!(step.outcome, Outcome::Invalid(_)) {
                p.reset();
            }
        }
    }
}
