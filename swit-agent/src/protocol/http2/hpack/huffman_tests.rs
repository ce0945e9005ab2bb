//! Tests of huffman.rs: the canonical code, RFC strings, errors and padding,
//! output limits, round trips and short inputs.
use super::super::testkit::{XorShift, hex};
use super::*;

/// Test-only encoder: `CODES` bit-packed, padded with ones (§5.2).
fn encode(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut acc = 0u64;
    let mut nbits = 0;
    for &b in src {
        let (code, len) = CODES[usize::from(b)];
        acc = (acc << len) | u64::from(code);
        nbits += u32::from(len);
        while nbits >= 8 {
            nbits -= 8;
            out.push((acc >> nbits) as u8);
        }
    }
    if nbits > 0 {
        let pad = 8 - nbits;
        out.push(((acc << pad) | ((1 << pad) - 1)) as u8);
    }
    out
}

#[test]
fn canonical_table() {
    // Kraft: the code is complete, so every bit string is a code prefix.
    let kraft: u64 = CODES
        .iter()
        .map(|&(_, len)| 1u64 << (MAX_LEN - len as usize))
        .sum();
    assert_eq!(kraft, 1 << MAX_LEN);
    let mut rank = [0u32; MAX_LEN + 1];
    for (sym, &(code, len)) in CODES.iter().enumerate() {
        let len = len as usize;
        assert!((MIN_LEN..=MAX_LEN).contains(&len), "symbol {sym}");
        assert_eq!(
            code,
            TABLE.first[len] + rank[len],
            "symbol {sym} is not canonical"
        );
        let at = usize::from(TABLE.offset[len]) + rank[len] as usize;
        assert_eq!(usize::from(TABLE.symbols[at]), sym);
        rank[len] += 1;
    }
    assert_eq!(CODES[usize::from(EOS)], (0x3fff_ffff, 30));
}

#[test]
fn rfc_strings() {
    // RFC 7541 Appendix C.4 and C.6.
    let cases = [
        ("f1e3 c2e5 f23a 6ba0 ab90 f4ff", "www.example.com"),
        ("a8eb 1064 9cbf", "no-cache"),
        ("25a8 49e9 5ba9 7d7f", "custom-key"),
        ("25a8 49e9 5bb8 e8b4 bf", "custom-value"),
        ("6402", "302"),
        ("640e ff", "307"),
        ("aec3 771a 4b", "private"),
        (
            "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff",
            "Mon, 21 Oct 2013 20:13:21 GMT",
        ),
        (
            "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3",
            "https://www.example.com",
        ),
        ("9bd9 ab", "gzip"),
        (
            "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 \
             3160 65c0 03ed 4ee5 b106 3d50 07",
            "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(
            decode(&hex(input), MAX_LEN * 10),
            Ok(want.as_bytes().to_vec()),
            "{want}"
        );
        assert_eq!(encode(want.as_bytes()), hex(input), "{want}");
    }
}

type Expected = Result<&'static [u8], HpackError>;

#[test]
fn errors_and_padding() {
    let cases: &[(&[u8], Expected)] = &[
        (b"", Ok(b"")),
        // 'a' is 00011: three bits of padding, all ones.
        (&[0x1f], Ok(b"a")),
        // '0' is 00000.
        (&[0x07], Ok(b"0")),
        // Padding not all ones.
        (&[0x18], Err(HpackError::BadHuffman)),
        (&[0x1e], Err(HpackError::BadHuffman)),
        (&[0x00], Err(HpackError::BadHuffman)),
        // Padding of 8 bits or more.
        (&[0xff], Err(HpackError::BadHuffman)),
        (&[0x1f, 0xff], Err(HpackError::BadHuffman)),
        // A truncated 10-bit code ('!' is 11111110 00).
        (&[0xfe], Err(HpackError::BadHuffman)),
        // EOS (30 ones) inside the string, then padding.
        (&[0xff, 0xff, 0xff, 0xff], Err(HpackError::BadHuffman)),
        (&[0x1f, 0xff, 0xff, 0xff, 0xff], Err(HpackError::BadHuffman)),
        // EOS then a symbol: still an error.
        (&[0xff, 0xff, 0xff, 0xfc, 0x7f], Err(HpackError::BadHuffman)),
    ];
    for &(input, want) in cases {
        assert_eq!(decode(input, 100), want.map(<[u8]>::to_vec), "{input:02x?}");
    }
}

#[test]
fn output_limit() {
    let aaaa = encode(b"aaaa");
    assert_eq!(decode(&aaaa, 4), Ok(b"aaaa".to_vec()));
    assert_eq!(decode(&aaaa, 3), Err(HpackError::StringTooLong));
    assert_eq!(decode(&aaaa, 0), Err(HpackError::StringTooLong));
}

#[test]
fn every_symbol_round_trips() {
    for b in 0..=255u8 {
        assert_eq!(decode(&encode(&[b]), 10), Ok(vec![b]), "symbol {b}");
        let triple = [b, b'x', b];
        assert_eq!(
            decode(&encode(&triple), 10),
            Ok(triple.to_vec()),
            "symbol {b}"
        );
    }
    let mut rng = XorShift::new(7);
    for _ in 0..2000 {
        let len = rng.below(64);
        let s = rng.bytes(len);
        assert_eq!(decode(&encode(&s), 64), Ok(s));
    }
}

#[test]
fn short_inputs_never_panic() {
    // Every input of up to two bytes; whatever the result, a success must
    // re-encode to the same bytes (the code is a bijection on valid input).
    for a in 0..=255u8 {
        for input in std::iter::once(vec![a]).chain((0..=255u8).map(|b| vec![a, b])) {
            if let Ok(s) = decode(&input, 100) {
                assert_eq!(encode(&s), input);
            }
        }
    }
}
