//! Tests of stream.rs: reordering, gaps, overlaps and wrapping sequence numbers.
use super::*;

#[derive(Debug, PartialEq)]
enum Out {
    D(Vec<u8>),
    G(u64),
}

fn at(n: u64) -> Moment {
    Moment {
        enter_ns: n,
        exit_ns: n,
        worker: 1,
    }
}

fn run(chunks: &[(u32, u32, &[u8])]) -> (Vec<Out>, Stream) {
    let mut s = Stream::new();
    let mut v = Vec::new();
    for (i, (seq, len, b)) in chunks.iter().enumerate() {
        s.push(*seq, *len, b.to_vec(), at(i as u64), &mut |inp| match inp {
            Input::Data { bytes, .. } => v.push(Out::D(bytes.to_vec())),
            Input::Gap { len, .. } => v.push(Out::G(len)),
        });
    }
    (v, s)
}

#[test]
fn in_order_chunks_pass_through() {
    let (v, _) = run(&[(100, 3, b"abc"), (103, 2, b"de")]);
    assert_eq!(v, vec![Out::D(b"abc".to_vec()), Out::D(b"de".to_vec())]);
}

#[test]
fn out_of_order_chunks_are_reordered() {
    let (v, s) = run(&[(100, 3, b"abc"), (106, 2, b"gh"), (103, 3, b"def")]);
    assert_eq!(
        v,
        vec![
            Out::D(b"abc".to_vec()),
            Out::D(b"def".to_vec()),
            Out::D(b"gh".to_vec())
        ]
    );
    assert!(!s.has_pending());
}

#[test]
fn truncated_chunk_leaves_a_gap_of_the_rest() {
    let (v, s) = run(&[(0, 10, b"abcd"), (10, 1, b"z")]);
    assert_eq!(
        v,
        vec![Out::D(b"abcd".to_vec()), Out::G(6), Out::D(b"z".to_vec())]
    );
    assert_eq!(s.stats.gap_bytes, 6);
}

#[test]
fn a_missing_chunk_becomes_a_gap_when_too_much_is_held() {
    let mut chunks: Vec<(u32, u32, &[u8])> = vec![(0, 1, b"a")];
    // Byte 1 never arrives; bytes 2.. do.
    for i in 0..=MAX_PENDING_CHUNKS as u32 {
        chunks.push((2 + i, 1, b"x"));
    }
    let (v, s) = run(&chunks);
    assert_eq!(v[0], Out::D(b"a".to_vec()));
    assert_eq!(v[1], Out::G(1));
    assert_eq!(v.len(), 2 + MAX_PENDING_CHUNKS + 1);
    assert!(!s.has_pending());
}

#[test]
fn duplicates_and_overlaps_are_trimmed() {
    let (v, s) = run(&[(0, 4, b"abcd"), (0, 4, b"abcd"), (2, 4, b"cdef")]);
    assert_eq!(v, vec![Out::D(b"abcd".to_vec()), Out::D(b"ef".to_vec())]);
    assert_eq!(s.stats.stale_chunks, 1);
}

#[test]
fn sequence_numbers_wrap() {
    let (v, _) = run(&[(u32::MAX - 1, 2, b"ab"), (0, 2, b"cd")]);
    assert_eq!(v, vec![Out::D(b"ab".to_vec()), Out::D(b"cd".to_vec())]);
}

#[test]
fn flush_all_turns_holes_into_gaps() {
    let mut s = Stream::new();
    let mut v = Vec::new();
    let mut f = |inp: Input<'_>| match inp {
        Input::Data { bytes, .. } => v.push(Out::D(bytes.to_vec())),
        Input::Gap { len, .. } => v.push(Out::G(len)),
    };
    s.push(0, 1, b"a".to_vec(), at(0), &mut f);
    s.push(5, 1, b"f".to_vec(), at(1), &mut f);
    s.flush_all(&mut f);
    assert_eq!(
        v,
        vec![Out::D(b"a".to_vec()), Out::G(4), Out::D(b"f".to_vec())]
    );
}
