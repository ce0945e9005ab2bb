//! Tests of framing.rs: the driver's own rules, on a toy protocol whose
//! messages are `+<text>\n` lines (and, with `Candidates::Bytes`, a start
//! is `+` anywhere). Each rule once: resync, one report per episode,
//! carry-over, gaps in and out of sync, the first timestamp.
use super::*;
use crate::protocol::testkit::{REQ, data, gap, m};

/// A line protocol: a message is `+` then text up to `\n`; any other
/// first byte is invalid. A start needs two bytes (`+` and a non-`+`),
/// so one `+` at a chunk's end is carried.
#[derive(Debug, Default)]
struct Lines<const BYTES: bool> {
    /// Bytes of the message read so far (0: idle).
    read: usize,
    missed: u32,
}

#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Msg { len: usize, first: u64, last: u64 },
    Error(&'static str),
}

impl<const BYTES: bool> Protocol for Lines<BYTES> {
    const KIND: crate::protocol::ProtocolKind = crate::protocol::ProtocolKind::Redis;
    const CANDIDATES: Candidates = if BYTES {
        Candidates::Bytes
    } else {
        Candidates::Lines
    };
    type Event = Ev;
    type Frame = usize;

    fn start(&mut self, _: Side, bytes: &[u8], _: bool) -> Start {
        match bytes {
            [b'+'] => Start::NeedMore,
            [b'+', b, ..] if *b != b'+' => Start::Yes,
            _ => Start::No,
        }
    }

    fn idle(&self, _: Side) -> bool {
        self.read == 0
    }

    fn step(&mut self, _: Side, bytes: &[u8], _: Moment) -> Step<usize> {
        if self.read == 0 && bytes[0] != b'+' {
            return Step::invalid(1, "not a +line");
        }
        match bytes.iter().position(|&b| b == b'\n') {
            Some(p) => {
                let len = self.read + p + 1;
                self.read = 0;
                Step::frame(p + 1, len)
            }
            None => {
                self.read += bytes.len();
                Step::more(bytes.len())
            }
        }
    }

    fn on_frame(&mut self, _: Side, len: usize, t: Timing, out: &mut dyn FnMut(Ev)) {
        out(Ev::Msg {
            len,
            first: t.first.worker,
            last: t.last.worker,
        });
    }

    fn gap(&mut self, _: Side, _: u64, _: Moment, _: &mut dyn FnMut(Ev)) -> GapFit {
        GapFit::Lost
    }

    fn missed(&mut self, _: Side) {
        self.missed += 1;
    }

    fn lost(&mut self, _: Side, _: &mut dyn FnMut(Ev)) -> Rescan {
        self.read = 0;
        Rescan::Here
    }

    fn parse_error(_: Side, reason: &'static str) -> Ev {
        Ev::Error(reason)
    }

    fn close(&mut self, _: Moment, _: &mut dyn FnMut(Ev)) {
        self.read = 0;
    }
}

fn feed<P: Protocol<Event = Ev> + Default>(inputs: &[Input<'_>]) -> (Vec<Ev>, Driver<P>) {
    let mut d = Driver::<P>::default();
    let mut out = Vec::new();
    for i in inputs {
        d.feed(REQ, *i, &mut |e| out.push(e));
    }
    (out, d)
}

fn msg(len: usize, first: u64, last: u64) -> Ev {
    Ev::Msg { len, first, last }
}

#[test]
fn a_side_starts_out_of_sync_silently_at_a_line_start() {
    // Mid-message garbage, then a line that starts with `+`.
    let (out, _) = feed::<Lines<false>>(&[data(b"tail of something\n+ok\n", 1)]);
    assert_eq!(out, [msg(4, 1, 1)]);
}

#[test]
fn candidates_are_line_starts_or_every_byte() {
    let bytes = b"xx+ab\n";
    assert_eq!(feed::<Lines<false>>(&[data(bytes, 1)]).0, []);
    assert_eq!(feed::<Lines<true>>(&[data(bytes, 1)]).0, [msg(4, 1, 1)]);
}

#[test]
fn one_report_per_episode_then_silence_until_a_frame() {
    let (out, _) = feed::<Lines<true>>(&[
        data(b"+a\n", 1),
        data(b"bad", 2),
        data(b"worse", 3),
        data(b"+b\n", 4),
        data(b"bad again", 5),
    ]);
    assert_eq!(
        out,
        [
            msg(3, 1, 1),
            Ev::Error("not a +line"),
            msg(3, 4, 4),
            Ev::Error("not a +line"),
        ]
    );
}

#[test]
fn an_undecided_start_is_carried_to_the_next_chunk() {
    // The `+` ends chunk 1; chunk 2 decides it, and the message's first
    // byte is timed by the chunk that carried it.
    let (out, _) = feed::<Lines<true>>(&[data(b"junk+", 1), data(b"ok\n", 2)]);
    assert_eq!(out, [msg(4, 2, 2)]);
    // Decided "no": the carried byte is dropped, the chunk is searched.
    let (out, _) = feed::<Lines<true>>(&[data(b"junk+", 1), data(b"+x\n", 2)]);
    assert_eq!(out, [msg(3, 2, 2)]);
}

#[test]
fn the_first_timestamp_is_the_chunk_of_the_first_byte() {
    let (out, _) = feed::<Lines<true>>(&[data(b"+he", 1), data(b"ll", 2), data(b"o\n", 3)]);
    assert_eq!(out, [msg(7, 1, 3)]);
}

#[test]
fn gaps_lose_the_place_in_sync_and_are_offered_out_of_sync() {
    let (out, d) = feed::<Lines<true>>(&[
        gap(10, 1),
        data(b"+z\n+a", 2),
        gap(5, 3),
        gap(5, 4),
        data(b"rest\n+b\n", 5),
    ]);
    // In sync, a gap is reported once; out of sync it is only `missed`.
    assert_eq!(out, [msg(3, 2, 2), Ev::Error("gap"), msg(3, 5, 5)]);
    assert_eq!(d.protocol().missed, 2);
}

#[test]
fn a_side_that_never_framed_reports_nothing() {
    let (out, _) = feed::<Lines<true>>(&[data(b"+a", 1), gap(3, 2), data(b"+b\n", 3)]);
    assert_eq!(out, [msg(3, 3, 3)]);
}

#[test]
fn close_puts_both_sides_out_of_sync() {
    let mut d = Driver::<Lines<false>>::default();
    let mut out = Vec::new();
    d.feed(REQ, data(b"+a\n", 1), &mut |e| out.push(e));
    d.close(m(2), &mut |e| out.push(e));
    d.feed(REQ, data(b"x\n+b\n", 3), &mut |e| out.push(e));
    assert_eq!(out, [msg(3, 1, 1), msg(3, 3, 3)]);
}
