//! Tests of decoder.rs: RFC 7541 Appendix C, malformed and
//! truncated input, limits, and decoding without the table's past.
use super::super::MAX_TABLE_BYTES;
use super::super::testkit::{XorShift, hex};
use super::*;

fn field(name: &str, value: &str) -> HeaderField {
    HeaderField {
        name: name.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
        never_indexed: false,
    }
}

fn fields(pairs: &[(&str, &str)]) -> Vec<HeaderField> {
    pairs.iter().map(|&(n, v)| field(n, v)).collect()
}

/// §5.1 encoding of `value` after the `flags` bits of a `prefix_bits` prefix.
fn int(flags: u8, prefix_bits: u32, value: u64) -> Vec<u8> {
    let mask = u64::from(u8::MAX >> (8 - prefix_bits));
    if value < mask {
        return vec![flags | value as u8];
    }
    let mut out = vec![flags | mask as u8];
    let mut rest = value - mask;
    while rest >= 128 {
        out.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    out.push(rest as u8);
    out
}

/// A plain (non-Huffman) string literal.
fn lit(s: &[u8]) -> Vec<u8> {
    let mut out = int(0, 7, s.len() as u64);
    out.extend_from_slice(s);
    out
}

fn decode(d: &mut Decoder, block: &[u8]) -> Result<(Vec<HeaderField>, BlockStats), HpackError> {
    let mut out = Vec::new();
    d.decode(block, &mut out).map(|stats| (out, stats))
}

/// Prefix bits, input, value and bytes consumed (or error).
type IntegerCase = (u32, &'static [u8], Result<(u64, usize), HpackError>);

#[test]
fn integers() {
    let cases: &[IntegerCase] = &[
        (5, &[0x0a], Ok((10, 1))),               // C.1.1
        (5, &[0x1f, 0x9a, 0x0a], Ok((1337, 3))), // C.1.2
        (8, &[0x2a], Ok((42, 1))),               // C.1.3
        (5, &[0xff, 0x9a, 0x0a], Ok((1337, 3))), // flag bits ignored
        (5, &[0xbf, 0x9a, 0x0a, 0x02], Ok((1337, 3))),
        (1, &[0], Ok((0, 1))),
        (4, &[14], Ok((14, 1))),
        (7, &[126], Ok((126, 1))),
        (7, &[0x7f, 0x00], Ok((127, 2))),
        (7, &[0x7f, 0x80, 0x80, 0x00], Ok((127, 4))), // redundant zeros
        (4, &[15], Err(HpackError::Truncated)),
        (7, &[127], Err(HpackError::Truncated)),
        (5, &[0xbf, 0x9a], Err(HpackError::Truncated)),
        (5, &[], Err(HpackError::Truncated)),
        // Nine continuation bytes: the most accepted.
        (
            7,
            &[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
            Ok((127 + (1 << 63) - 1, 10)),
        ),
        (
            7,
            &[
                0x7f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
            ],
            Err(HpackError::IntegerOverflow),
        ),
        (1, &[0xff; 16], Err(HpackError::IntegerOverflow)),
    ];
    for &(bits, input, want) in cases {
        let (first, rest) = match input.split_first() {
            Some((&f, rest)) => (f, rest),
            None => (0xff, &[][..]),
        };
        let mut r = Reader { rest };
        let got = r
            .integer(first, bits)
            .map(|v| (v, input.len() - r.rest.len()));
        assert_eq!(got, want, "{bits}-bit prefix {input:02x?}");
    }
}

/// One block of an RFC example: its bytes, the fields, the dynamic table
/// after it (newest first) and the table's size.
struct Step {
    block: &'static str,
    fields: Vec<HeaderField>,
    table: &'static [(&'static str, &'static str)],
    size: usize,
}

/// RFC 7541 Appendix C: (label, table maximum, blocks decoded in turn by
/// one decoder).
fn rfc_examples() -> Vec<(&'static str, u32, Vec<Step>)> {
    let req1 = fields(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
    ]);
    let mut req2 = req1.clone();
    req2.push(field("cache-control", "no-cache"));
    let req3 = fields(&[
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/index.html"),
        (":authority", "www.example.com"),
        ("custom-key", "custom-value"),
    ]);
    let req_tables: [&[(&str, &str)]; 3] = [
        &[(":authority", "www.example.com")],
        &[
            ("cache-control", "no-cache"),
            (":authority", "www.example.com"),
        ],
        &[
            ("custom-key", "custom-value"),
            ("cache-control", "no-cache"),
            (":authority", "www.example.com"),
        ],
    ];
    let resp1 = fields(&[
        (":status", "302"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("location", "https://www.example.com"),
    ]);
    let mut resp2 = resp1.clone();
    resp2[0] = field(":status", "307");
    let resp3 = fields(&[
        (":status", "200"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
        ("location", "https://www.example.com"),
        ("content-encoding", "gzip"),
        (
            "set-cookie",
            "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
        ),
    ]);
    let resp_tables: [&[(&str, &str)]; 3] = [
        &[
            ("location", "https://www.example.com"),
            ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
            ("cache-control", "private"),
            (":status", "302"),
        ],
        &[
            (":status", "307"),
            ("location", "https://www.example.com"),
            ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
            ("cache-control", "private"),
        ],
        &[
            (
                "set-cookie",
                "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            ),
            ("content-encoding", "gzip"),
            ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
        ],
    ];
    let step = |block, fields, table, size| Step {
        block,
        fields,
        table,
        size,
    };
    let mut never = field("password", "secret");
    never.never_indexed = true;
    vec![
        (
            "C.2.1",
            4096,
            vec![step(
                "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
                fields(&[("custom-key", "custom-header")]),
                &[("custom-key", "custom-header")],
                55,
            )],
        ),
        (
            "C.2.2",
            4096,
            vec![step(
                "040c 2f73 616d 706c 652f 7061 7468",
                fields(&[(":path", "/sample/path")]),
                &[],
                0,
            )],
        ),
        (
            "C.2.3",
            4096,
            vec![step(
                "1008 7061 7373 776f 7264 0673 6563 7265 74",
                vec![never],
                &[],
                0,
            )],
        ),
        (
            "C.2.4",
            4096,
            vec![step("82", fields(&[(":method", "GET")]), &[], 0)],
        ),
        (
            "C.3",
            4096,
            vec![
                step(
                    "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                    req1.clone(),
                    req_tables[0],
                    57,
                ),
                step(
                    "8286 84be 5808 6e6f 2d63 6163 6865",
                    req2.clone(),
                    req_tables[1],
                    110,
                ),
                step(
                    "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
                    req3.clone(),
                    req_tables[2],
                    164,
                ),
            ],
        ),
        (
            "C.4",
            4096,
            vec![
                step(
                    "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
                    req1,
                    req_tables[0],
                    57,
                ),
                step("8286 84be 5886 a8eb 1064 9cbf", req2, req_tables[1], 110),
                step(
                    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
                    req3,
                    req_tables[2],
                    164,
                ),
            ],
        ),
        (
            "C.5",
            256,
            vec![
                step(
                    "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 \
                     3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 \
                     7777 2e65 7861 6d70 6c65 2e63 6f6d",
                    resp1.clone(),
                    resp_tables[0],
                    222,
                ),
                step("4803 3330 37c1 c0bf", resp2.clone(), resp_tables[1], 222),
                step(
                    "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 \
                     3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a \
                     584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 \
                     3630 303b 2076 6572 7369 6f6e 3d31",
                    resp3.clone(),
                    resp_tables[2],
                    215,
                ),
            ],
        ),
        (
            "C.6",
            256,
            vec![
                step(
                    "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 \
                     66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                    resp1,
                    resp_tables[0],
                    222,
                ),
                step("4883 640e ffc1 c0bf", resp2, resp_tables[1], 222),
                step(
                    "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a \
                     839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 \
                     72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
                    resp3,
                    resp_tables[2],
                    215,
                ),
            ],
        ),
    ]
}

fn rfc_example(label: &str) -> Vec<Step> {
    let found = rfc_examples().into_iter().find(|e| e.0 == label);
    found.expect("an example of Appendix C").2
}

#[test]
fn rfc7541_appendix_c() {
    for (label, max, steps) in rfc_examples() {
        let mut d = Decoder::with_max_size(max);
        for (i, step) in steps.iter().enumerate() {
            let got = decode(&mut d, &hex(step.block));
            assert_eq!(
                got,
                Ok((step.fields.clone(), BlockStats::default())),
                "{label} #{i}"
            );
            let (slots, size) = d.table.snapshot();
            let want: Vec<_> = step
                .table
                .iter()
                .map(|&(n, v)| Some((n.as_bytes(), v.as_bytes())))
                .collect();
            assert_eq!((slots, size), (want, step.size), "{label} #{i} table");
            assert!(d.in_sync(), "{label} #{i}");
            assert_eq!(d.held_bytes(), step.size, "{label} #{i}");
        }
    }
}

#[test]
fn truncated_blocks_decode_a_prefix_or_fail() {
    for (label, max, steps) in rfc_examples() {
        let mut d = Decoder::with_max_size(max);
        for (i, step) in steps.iter().enumerate() {
            let block = hex(step.block);
            for cut in 0..block.len() {
                let mut partial = d.clone();
                let sentinel = field("kept", "before");
                let mut out = vec![sentinel.clone()];
                match partial.decode(&block[..cut], &mut out) {
                    Ok(stats) => {
                        assert_eq!(stats, BlockStats::default(), "{label} #{i} cut {cut}");
                        assert_eq!(out[0], sentinel);
                        let got = &out[1..];
                        assert_eq!(got, &step.fields[..got.len()], "{label} #{i} cut {cut}");
                    }
                    Err(e) => {
                        assert_eq!(e, HpackError::Truncated, "{label} #{i} cut {cut}");
                        assert_eq!(out, [sentinel], "{label} #{i} cut {cut}");
                        assert!(!partial.in_sync());
                    }
                }
            }
            decode(&mut d, &block).expect("whole block");
        }
    }
}

type DecodeResult = Result<Vec<HeaderField>, HpackError>;

#[test]
fn malformed_blocks() {
    let mut too_large_update = int(0x20, 5, 1 << 32);
    let largest_update = int(0x20, 5, (1 << 32) - 1);
    let mut long_string = vec![0x00, 0x01, b'a'];
    long_string.extend(int(0, 7, MAX_STRING as u64 + 1));
    long_string.extend(vec![b'v'; MAX_STRING + 1]);
    too_large_update.push(0x82);
    let cases: Vec<(&str, Vec<u8>, DecodeResult)> = vec![
        ("index 0", hex("80"), Err(HpackError::BadIndex)),
        (
            "index 62, empty table",
            hex("be"),
            Err(HpackError::BadIndex),
        ),
        (
            "name index 62, empty table",
            hex("7e 01 61"),
            Err(HpackError::BadIndex),
        ),
        (
            "name index 62, no indexing",
            hex("0f 2f 01 61"),
            Err(HpackError::BadIndex),
        ),
        (
            "field before size update",
            hex("82 20"),
            Err(HpackError::MisplacedSizeUpdate),
        ),
        (
            "size update 4096",
            hex("3fe1 1f 82"),
            Ok(fields(&[(":method", "GET")])),
        ),
        (
            "two size updates",
            hex("20 3fe1 1f 82"),
            Ok(fields(&[(":method", "GET")])),
        ),
        ("size update 2^32-1", largest_update, Ok(vec![])),
        (
            "size update 2^32",
            too_large_update,
            Err(HpackError::TableSizeTooLarge),
        ),
        (
            "index > 2^63",
            hex("ff ffff ffff ffff ffff 01"),
            Err(HpackError::BadIndex),
        ),
        (
            "integer overflow",
            hex("ff ffff ffff ffff ffff ff01"),
            Err(HpackError::IntegerOverflow),
        ),
        (
            "string too long",
            long_string,
            Err(HpackError::StringTooLong),
        ),
        (
            "string past the end",
            hex("00 05 61"),
            Err(HpackError::Truncated),
        ),
        ("no value", hex("00 01 61"), Err(HpackError::Truncated)),
        (
            "bad huffman name",
            hex("00 81 ff 01 61"),
            Err(HpackError::BadHuffman),
        ),
        (
            "huffman eos",
            hex("00 01 61 84 ffff ffff"),
            Err(HpackError::BadHuffman),
        ),
        ("empty block", vec![], Ok(vec![])),
        (
            "empty name and value",
            hex("00 00 00"),
            Ok(fields(&[("", "")])),
        ),
    ];
    for (label, block, want) in cases {
        let mut d = Decoder::new();
        let sentinel = field("kept", "before");
        let mut out = vec![sentinel.clone()];
        let got = d.decode(&block, &mut out).map(|stats| {
            assert_eq!(stats, BlockStats::default(), "{label}");
            out[1..].to_vec()
        });
        assert_eq!(got, want, "{label}");
        if got.is_err() {
            assert_eq!(out, [sentinel], "{label}: out restored");
            assert!(!d.in_sync(), "{label}: falls back to unknown state");
            // The table's past is now unknown: a reference is not an error.
            assert_eq!(
                decode(&mut d, &hex("be")),
                Ok((vec![], stats(1, 0))),
                "{label}"
            );
        }
    }
}

fn stats(unknown: usize, dropped: usize) -> BlockStats {
    BlockStats { unknown, dropped }
}

#[test]
fn garbage_never_panics() {
    let mut inputs: Vec<Vec<u8>> = [0xff, 0x80, 0x7f, 0x40, 0x3f, 0x20, 0x1f, 0x10, 0x0f, 0x00]
        .iter()
        .map(|&b| vec![b; 200])
        .collect();
    let mut rng = XorShift::new(0x5eed);
    for _ in 0..5000 {
        let len = rng.below(80);
        inputs.push(rng.bytes(len));
    }
    // Valid blocks with one byte changed reach deeper than random bytes.
    for (_, _, steps) in rfc_examples() {
        for step in steps {
            let block = hex(step.block);
            for at in 0..block.len() {
                for delta in [1u8, 0x40, 0x80, 0xff] {
                    let mut b = block.clone();
                    b[at] = b[at].wrapping_add(delta);
                    inputs.push(b);
                }
            }
        }
    }
    let mut warm = Decoder::new();
    for step in &rfc_example("C.3") {
        decode(&mut warm, &hex(step.block)).expect("C.3");
    }
    for input in &inputs {
        for mut d in [Decoder::new(), Decoder::new_mid_stream(), warm.clone()] {
            let mut out = Vec::new();
            if let Ok(stats) = d.decode(input, &mut out) {
                assert!(out.len() <= MAX_FIELDS_PER_BLOCK);
                assert!(out.len() + stats.unknown + stats.dropped <= input.len());
            } else {
                assert!(out.is_empty());
            }
            assert!(d.held_bytes() <= MAX_TABLE_BYTES);
            // Whatever state the garbage left, decoding goes on safely.
            let _ = d.decode(input, &mut out);
        }
    }
}

#[test]
fn field_count_limit() {
    let mut d = Decoder::new();
    let got = decode(&mut d, &[0x82; MAX_FIELDS_PER_BLOCK + 44]).expect("indexed fields");
    assert_eq!(got.0.len(), MAX_FIELDS_PER_BLOCK);
    assert_eq!(got.1, stats(0, 44));
    // Fields past the limit still insert into the table.
    let mut block = Vec::new();
    for i in 0..300 {
        block.push(0x40);
        block.extend(lit(format!("n{i}").as_bytes()));
        block.extend(lit(b"v"));
    }
    let got = decode(&mut d, &block).expect("inserting fields");
    assert_eq!(got.1, stats(0, 300 - MAX_FIELDS_PER_BLOCK));
    assert_eq!(
        decode(&mut d, &hex("be bf")),
        Ok((fields(&[("n299", "v"), ("n298", "v")]), stats(0, 0)))
    );
}

#[test]
fn field_size_limit() {
    let mut d = Decoder::with_max_size(100_000);
    let name_len = 5;
    let fits = vec![b'x'; MAX_FIELD_BYTES - name_len];
    let over = vec![b'x'; MAX_FIELD_BYTES - name_len + 1];
    let mut block = vec![0x40];
    block.extend(lit(b"small"));
    block.extend(lit(b"1"));
    for value in [&fits, &over] {
        block.push(0x40);
        block.extend(lit(b"large"));
        block.extend(lit(value));
    }
    let (out, st) = decode(&mut d, &block).expect("large fields");
    assert_eq!(st, stats(0, 1));
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].value, fits);
    // The dropped field was still inserted: 62 is it, 64 the small one.
    let (out, st) = decode(&mut d, &hex("be bf c0")).expect("references");
    assert_eq!(st, stats(0, 1));
    assert_eq!(out[0].value, fits);
    assert_eq!(out[1], field("small", "1"));
    assert!(d.held_bytes() > 2 * MAX_FIELD_BYTES);
}

#[test]
fn dynamic_table_reuse() {
    let mut d = Decoder::new();
    // x-id: abc with incremental indexing, then by index; the value again
    // Huffman-coded with a name reference to the new entry.
    let cases: &[(&str, Vec<HeaderField>)] = &[
        ("40 0478 2d69 64 03 616263", fields(&[("x-id", "abc")])),
        ("be", fields(&[("x-id", "abc")])),
        ("7e 82 1c64 be", fields(&[("x-id", "abc"), ("x-id", "abc")])),
        ("bf", fields(&[("x-id", "abc")])),
        (
            "14 03 616263",
            vec![HeaderField {
                never_indexed: true,
                ..field(":path", "abc")
            }],
        ),
        (
            "1f 2f 01 76",
            vec![HeaderField {
                never_indexed: true,
                ..field("x-id", "v")
            }],
        ),
    ];
    for (block, want) in cases {
        assert_eq!(
            decode(&mut d, &hex(block)),
            Ok((want.clone(), stats(0, 0))),
            "{block}"
        );
    }
}

/// A block, the fields decoded, how many are unknown, in sync after.
type HandStep = (
    &'static str,
    &'static [(&'static str, &'static str)],
    usize,
    bool,
);

#[test]
fn mid_stream_by_hand() {
    let cases: &[HandStep] = &[
        ("be", &[], 1, false),
        // a: 1 inserted: decodable from now on.
        ("40 0161 0131", &[("a", "1")], 0, false),
        ("be bf 82", &[("a", "1"), (":method", "GET")], 1, false),
        // Static names and literal names never need the table.
        (
            "04 022f 78 00 0162 0132",
            &[(":path", "/x"), ("b", "2")],
            0,
            false,
        ),
        // Insertion under an unknown name (63): an opaque entry at 62.
        ("7f 00 0132", &[], 1, false),
        ("be bf", &[("a", "1")], 1, false),
        // A size update proves what can remain: 0 empties the table.
        ("20", &[], 0, true),
        // With a maximum of 0 nothing is inserted.
        ("40 0163 0133", &[("c", "3")], 0, true),
        (
            "3fe1 1f 40 0163 0133 be",
            &[("c", "3"), ("c", "3")],
            0,
            true,
        ),
    ];
    let mut d = Decoder::new_mid_stream();
    for &(block, want, unknown, in_sync) in cases {
        let got = decode(&mut d, &hex(block));
        assert_eq!(got, Ok((fields(want), stats(unknown, 0))), "{block}");
        assert_eq!(d.in_sync(), in_sync, "{block}");
    }
    // In sync, a reference past the table is an error again.
    assert_eq!(decode(&mut d, &hex("bf")), Err(HpackError::BadIndex));
    assert!(!d.in_sync());
}

#[test]
fn lost_sync_forgets_the_table() {
    let steps = rfc_example("C.3");
    let mut d = Decoder::new();
    decode(&mut d, &hex(steps[0].block)).expect("C.3.1");
    d.lost_sync();
    assert!(!d.in_sync());
    assert_eq!(d.held_bytes(), 0);
    // C.3.2 refers to :authority (62) from C.3.1 and inserts cache-control.
    let got = decode(&mut d, &hex(steps[1].block));
    let want = fields(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        ("cache-control", "no-cache"),
    ]);
    assert_eq!(got, Ok((want, stats(1, 0))));
    // C.3.3: 63 is :authority again (unknown), the rest decodes.
    let got = decode(&mut d, &hex(steps[2].block));
    let want = fields(&[
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/index.html"),
        ("custom-key", "custom-value"),
    ]);
    assert_eq!(got, Ok((want, stats(1, 0))));
    assert_eq!(d.held_bytes(), 164 - 57);
}
