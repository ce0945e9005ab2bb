//! Tests of decoder.rs: cross-checks against an independent encoder, httlib-hpack: random
//! connections it encodes must decode to what was encoded, and a decoder
//! that starts at a later block (or loses one) must decode exactly the
//! fields an observer can know and count the others unknown.
use std::collections::VecDeque;

use httlib_hpack::{Encoder, EncoderInput};

use super::super::MAX_TABLE_BYTES;
use super::super::table::{ENTRY_OVERHEAD, STATIC_TABLE};
use super::super::testkit::XorShift;
use super::*;

const NAMES: [&str; 12] = [
    ":path",
    ":authority",
    "content-type",
    "user-agent",
    "accept",
    "cookie",
    "x-request-id",
    "traceparent",
    "grpc-timeout",
    "te",
    "x-a",
    "x-b",
];
const VALUES: [&str; 6] = [
    "/",
    "a",
    "application/grpc",
    "trailers",
    "/api/v1/items",
    "1S",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Indexing {
    Incremental,
    Without,
    Never,
}

impl Indexing {
    fn random(rng: &mut XorShift) -> Self {
        match rng.below(10) {
            0..=4 => Self::Incremental,
            5..=7 => Self::Without,
            _ => Self::Never,
        }
    }

    fn flags(self) -> u8 {
        match self {
            Self::Incremental => Encoder::WITH_INDEXING,
            Self::Without => 0,
            Self::Never => Encoder::NEVER_INDEXED,
        }
    }
}

/// One representation, as the test chose it.
#[derive(Debug)]
enum Op {
    SizeUpdate(usize),
    Indexed(usize),
    Name(usize, Vec<u8>, Indexing),
    Literal(Vec<u8>, Vec<u8>, Indexing),
}

/// The peer's table, and whether a late observer can know each entry.
#[derive(Debug, Clone)]
struct Mirror {
    entries: VecDeque<(Vec<u8>, Vec<u8>, bool)>,
    size: usize,
    max: usize,
}

impl Mirror {
    fn new(max: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            size: 0,
            max,
        }
    }

    fn evict(&mut self) {
        while self.size > self.max {
            let (n, v, _) = self.entries.pop_back().expect("size > 0");
            self.size -= n.len() + v.len() + ENTRY_OVERHEAD;
        }
    }

    fn insert(&mut self, name: Vec<u8>, value: Vec<u8>, known: bool) {
        self.size += name.len() + value.len() + ENTRY_OVERHEAD;
        self.entries.push_front((name, value, known));
        self.evict();
    }

    /// The observer missed something: nothing in the table is known.
    fn forget(&mut self) {
        for e in &mut self.entries {
            e.2 = false;
        }
    }

    fn all_known(&self) -> bool {
        self.entries.iter().all(|e| e.2)
    }

    fn get(&self, index: usize) -> (Vec<u8>, Vec<u8>, bool) {
        match index.checked_sub(STATIC_TABLE.len() + 1) {
            None => {
                let (n, v) = STATIC_TABLE[index - 1];
                (n.to_vec(), v.to_vec(), true)
            }
            Some(i) => self.entries[i].clone(),
        }
    }

    /// Indices whose entry matches `name` (and `value`, if given).
    fn find(&self, name: &[u8], value: Option<&[u8]>) -> Vec<usize> {
        let statics = STATIC_TABLE.iter().map(|&(n, v)| (n, v));
        let dynamics = self.entries.iter().map(|(n, v, _)| (&n[..], &v[..]));
        statics
            .chain(dynamics)
            .enumerate()
            .filter(|(_, (n, v))| *n == name && value.is_none_or(|value| *v == value))
            .map(|(i, _)| i + 1)
            .collect()
    }

    fn replay(&mut self, ops: &[Op]) {
        for op in ops {
            self.apply(op);
        }
    }

    /// Applies one representation; returns what the observer should see.
    fn apply(&mut self, op: &Op) -> Option<Option<HeaderField>> {
        let (name, value, known, indexing) = match op {
            Op::SizeUpdate(max) => {
                self.max = *max;
                self.evict();
                return None;
            }
            Op::Indexed(i) => {
                let (n, v, known) = self.get(*i);
                (n, v, known, Indexing::Without)
            }
            Op::Name(i, value, indexing) => {
                let (n, _, known) = self.get(*i);
                (n, value.clone(), known, *indexing)
            }
            Op::Literal(n, v, indexing) => (n.clone(), v.clone(), true, *indexing),
        };
        let never_indexed = indexing == Indexing::Never;
        if indexing == Indexing::Incremental && !matches!(op, Op::Indexed(_)) {
            self.insert(name.clone(), value.clone(), known);
        }
        Some(known.then_some(HeaderField {
            name,
            value,
            never_indexed,
        }))
    }
}

fn random_field(rng: &mut XorShift) -> (Vec<u8>, Vec<u8>) {
    let name = match rng.chance(10) {
        true => format!("x-r{}", rng.below(40)).into_bytes(),
        false => NAMES[rng.below(NAMES.len())].as_bytes().to_vec(),
    };
    let value = match rng.below(20) {
        0..=12 => VALUES[rng.below(VALUES.len())].as_bytes().to_vec(),
        13 => {
            let len = 100 + rng.below(1400);
            rng.bytes(len)
        }
        _ => {
            let len = rng.below(30);
            rng.bytes(len)
        }
    };
    (name, value)
}

/// A connection's blocks and the representations chosen for them.
struct Stream {
    blocks: Vec<Vec<u8>>,
    ops: Vec<Vec<Op>>,
}

/// Size updates to sprinkle over a connection.
const SMALLER: &[usize] = &[0, 256, 1024, 2048, 4096];

/// Encodes random blocks, choosing each representation (and its indices)
/// here so that an observer's knowledge can be replayed; httlib writes the
/// bytes and keeps its own table, which must agree with ours. The first
/// block sets the maximum to `first_max`; one block in ten, at random,
/// changes it to one of `updates`.
fn generate(seed: u64, blocks: usize, first_max: usize, updates: &[usize]) -> Stream {
    let mut rng = XorShift::new(seed);
    let mut enc = Encoder::default();
    let mut mirror = Mirror::new(4096);
    let mut stream = Stream {
        blocks: Vec::new(),
        ops: Vec::new(),
    };
    for j in 0..blocks {
        let mut dst = Vec::new();
        let mut ops = Vec::new();
        let update = match j {
            0 => Some(first_max).filter(|&m| m != 4096),
            _ if !updates.is_empty() && rng.chance(10) => Some(updates[rng.below(updates.len())]),
            _ => None,
        };
        if let Some(max) = update {
            enc.update_max_dynamic_size(max as u32, &mut dst)
                .expect("size update");
            mirror.apply(&Op::SizeUpdate(max));
            ops.push(Op::SizeUpdate(max));
        }
        for _ in 0..rng.below(12) {
            let (name, value) = random_field(&mut rng);
            let exact = mirror.find(&name, Some(&value));
            let named = mirror.find(&name, None);
            let indexing = Indexing::random(&mut rng);
            let huffman = (rng.below(4) as u8) & (Encoder::HUFFMAN_NAME | Encoder::HUFFMAN_VALUE);
            let flags = indexing.flags() | huffman;
            let (op, input) = if !exact.is_empty() && rng.chance(60) {
                let i = exact[rng.below(exact.len())];
                (Op::Indexed(i), EncoderInput::Indexed(i as u32))
            } else if !named.is_empty() && rng.chance(60) {
                let i = named[rng.below(named.len())];
                let input = EncoderInput::IndexedName(i as u32, value.clone(), flags);
                (Op::Name(i, value, indexing), input)
            } else {
                let input = EncoderInput::Literal(name.clone(), value.clone(), flags);
                (Op::Literal(name, value, indexing), input)
            };
            enc.encode(input, &mut dst).expect("encode");
            mirror.apply(&op);
            ops.push(op);
        }
        stream.blocks.push(dst);
        stream.ops.push(ops);
    }
    stream
}

/// Decodes `block` both ways: by the public API, checked against the
/// expected fields, then position by position.
fn decode_checked(d: &mut Decoder, block: &[u8], expected: &[Option<HeaderField>], label: &str) {
    let mut out = Vec::new();
    let stats = d.clone().decode(block, &mut out).expect(label);
    let known: Vec<HeaderField> = expected.iter().flatten().cloned().collect();
    assert_eq!(out, known, "{label}");
    assert_eq!(stats.unknown, expected.len() - known.len(), "{label}");
    assert_eq!(stats.dropped, 0, "{label}");
    let mut got = Vec::new();
    d.decode_block(block, &mut |decoded| {
        got.push(decoded.map(FieldRef::to_field))
    })
    .expect(label);
    assert_eq!(got, expected, "{label}");
}

#[test]
fn full_history_decodes_everything() {
    for seed in 1..=60 {
        let updates = if seed % 2 == 0 { SMALLER } else { &[] };
        let stream = generate(seed, 40, 4096, updates);
        let mut d = Decoder::new();
        let mut mirror = Mirror::new(4096);
        for (j, (block, ops)) in stream.blocks.iter().zip(&stream.ops).enumerate() {
            let expected: Vec<Option<HeaderField>> =
                ops.iter().filter_map(|op| mirror.apply(op)).collect();
            assert!(expected.iter().all(Option::is_some));
            decode_checked(&mut d, block, &expected, &format!("seed {seed} block {j}"));
            assert!(d.in_sync(), "seed {seed} block {j}");
            assert!(d.held_bytes() <= 4096);
        }
    }
}

/// What the mid-stream runs went through, so the test can tell it
/// exercised each case.
#[derive(Debug, Default)]
struct Seen {
    unknown: usize,
    known_dynamic: usize,
    opaque_inserts: usize,
    lost: usize,
    synced: usize,
    runs_with_updates: usize,
}

#[test]
fn mid_stream_decodes_exactly_what_can_be_known() {
    let mut seen = Seen::default();
    for seed in 1..=30 {
        let updates = if seed % 2 == 0 { SMALLER } else { &[] };
        let stream = generate(seed, 60, 4096, updates);
        for start in [1, 3, 8, 20, 40] {
            let mut rng = XorShift::new(seed * 100 + start as u64);
            let mut mirror = Mirror::new(4096);
            for ops in &stream.ops[..start] {
                mirror.replay(ops);
            }
            mirror.forget();
            let mut d = Decoder::new_mid_stream();
            for j in start..stream.blocks.len() {
                let ops = &stream.ops[j];
                if rng.chance(5) {
                    // A block lost in capture: the peer still applied it.
                    mirror.replay(ops);
                    mirror.forget();
                    d.lost_sync();
                    seen.lost += 1;
                    continue;
                }
                let mut expected = Vec::new();
                for op in ops {
                    if let Op::Name(i, _, Indexing::Incremental) = op {
                        seen.opaque_inserts += usize::from(!mirror.get(*i).2);
                    }
                    let Some(e) = mirror.apply(op) else { continue };
                    if let (Op::Indexed(i), Some(_)) = (op, &e) {
                        seen.known_dynamic += usize::from(*i > STATIC_TABLE.len());
                    }
                    seen.unknown += usize::from(e.is_none());
                    expected.push(e);
                }
                let label = format!("seed {seed} from {start} block {j}");
                decode_checked(&mut d, &stream.blocks[j], &expected, &label);
                if d.in_sync() {
                    assert!(mirror.all_known(), "{label}: in sync with unknown entries");
                }
            }
            if !updates.is_empty() {
                seen.runs_with_updates += 1;
                seen.synced += usize::from(d.in_sync());
            }
        }
    }
    // Every case was exercised, and size updates do bring decoders back in
    // sync.
    assert!(seen.unknown > 100, "{seen:?}");
    assert!(seen.known_dynamic > 500, "{seen:?}");
    assert!(seen.opaque_inserts > 20, "{seen:?}");
    assert!(seen.lost > 20, "{seen:?}");
    assert!(seen.synced > seen.runs_with_updates / 3, "{seen:?}");
}

#[test]
fn mid_stream_with_a_table_above_the_budget() {
    // The peer set 16 KiB before capture began: a mid-stream decoder holds
    // only its 4 KiB budget, so it knows less than it could, but it must
    // never be wrong, never fail, and never claim to be in sync.
    let mut known = 0;
    for seed in 1..=20 {
        let stream = generate(seed, 60, 16_384, &[]);
        for start in [1, 10, 30] {
            let mut mirror = Mirror::new(4096);
            for ops in &stream.ops[..start] {
                mirror.replay(ops);
            }
            mirror.forget();
            let mut d = Decoder::new_mid_stream();
            for j in start..stream.blocks.len() {
                let expected: Vec<Option<HeaderField>> = stream.ops[j]
                    .iter()
                    .filter_map(|op| mirror.apply(op))
                    .collect();
                let mut got = Vec::new();
                let label = format!("seed {seed} from {start} block {j}");
                d.decode_block(&stream.blocks[j], &mut |decoded| {
                    got.push(decoded.map(FieldRef::to_field))
                })
                .expect(&label);
                assert_eq!(got.len(), expected.len(), "{label}");
                for (g, e) in got.iter().zip(&expected) {
                    if g.is_some() {
                        assert_eq!(g, e, "{label}");
                        known += 1;
                    }
                }
                assert!(!d.in_sync(), "{label}");
            }
        }
    }
    assert!(known > 1000, "{known}");
}

#[test]
fn encoder_chosen_representations() {
    // httlib picks indices itself (BEST_FORMAT), across table sizes and
    // size updates, including maxima above 4096.
    let sizes = [0, 64, 256, 512, 4096, 16_384, 65_536];
    for seed in 1..=80u64 {
        let mut rng = XorShift::new(seed);
        let max = sizes[rng.below(sizes.len())];
        let mut enc = Encoder::with_dynamic_size(max as u32);
        let mut d = Decoder::with_max_size(max as u32);
        for j in 0..30 {
            let mut dst = Vec::new();
            if rng.chance(10) {
                let max = sizes[rng.below(sizes.len())];
                enc.update_max_dynamic_size(max as u32, &mut dst)
                    .expect("size update");
            }
            let mut want = Vec::new();
            for _ in 0..rng.below(15) {
                let (name, value) = random_field(&mut rng);
                let huffman =
                    (rng.below(4) as u8) & (Encoder::HUFFMAN_NAME | Encoder::HUFFMAN_VALUE);
                let indexing = Indexing::random(&mut rng);
                // Never-indexed fields must stay literals, so no best format.
                let best = match indexing {
                    Indexing::Never => 0,
                    _ => Encoder::BEST_FORMAT,
                };
                let flags = huffman | indexing.flags() | best;
                let input = EncoderInput::Literal(name.clone(), value.clone(), flags);
                enc.encode(input, &mut dst).expect("encode");
                want.push(HeaderField {
                    name,
                    value,
                    never_indexed: indexing == Indexing::Never,
                });
            }
            let mut out = Vec::new();
            let label = format!("seed {seed} block {j}");
            assert_eq!(
                d.decode(&dst, &mut out),
                Ok(BlockStats::default()),
                "{label}"
            );
            assert_eq!(out, want, "{label}");
            assert!(d.in_sync(), "{label}");
        }
    }
}

#[test]
fn table_larger_than_memory_cap() {
    let max = 1 << 20;
    let mut enc = Encoder::with_dynamic_size(max);
    let mut d = Decoder::with_max_size(max);
    let mut dst = Vec::new();
    let mut want = Vec::new();
    for i in 0..30u8 {
        let name = format!("n{i:02}").into_bytes();
        let value = vec![b'a' + i % 26; 5000 - ENTRY_OVERHEAD - name.len()];
        want.push(HeaderField {
            name: name.clone(),
            value: value.clone(),
            never_indexed: false,
        });
        let input = EncoderInput::Literal(name, value, Encoder::WITH_INDEXING);
        enc.encode(input, &mut dst).expect("encode");
    }
    let mut out = Vec::new();
    assert_eq!(d.decode(&dst, &mut out), Ok(BlockStats::default()));
    assert_eq!(out, want);
    // Every entry by index, newest first: those past the cap are unknown.
    let mut dst = Vec::new();
    for i in 62..92 {
        enc.encode(EncoderInput::Indexed(i), &mut dst)
            .expect("encode");
    }
    let mut got = Vec::new();
    d.decode_block(&dst, &mut |decoded| {
        got.push(decoded.map(FieldRef::to_field))
    })
    .expect("references");
    let held = MAX_TABLE_BYTES / 5000;
    for (i, decoded) in got.iter().enumerate() {
        let truth = &want[want.len() - 1 - i];
        match decoded {
            Some(f) => assert!(i < held && f == truth, "index {}", 62 + i),
            None => assert!(i >= held, "index {}", 62 + i),
        }
    }
    assert_eq!(got.len(), 30);
    assert!(!d.in_sync());
    assert!(d.held_bytes() <= MAX_TABLE_BYTES);
}
