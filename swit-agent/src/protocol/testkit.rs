//! What every protocol's tests share (test builds only): moments and
//! inputs, a deterministic noise source, and the three checks every parser
//! must pass — a conversation split anywhere gives the same events, no
//! strict prefix of a message reports anything, and garbage never panics
//! and reports a bounded number of errors.
use super::framing::{Driver, Protocol};
use super::{Input, Moment, Side};

/// The request side, for short tables.
pub const REQ: Side = Side::Request;
/// The response side.
pub const RESP: Side = Side::Response;

/// The `n`th moment of a test: distinct, increasing, one worker each.
pub fn m(n: u64) -> Moment {
    Moment {
        enter_ns: n * 10,
        exit_ns: n * 10 + 1,
        worker: n,
    }
}

/// Bytes captured at moment `n`.
pub fn data(bytes: &[u8], n: u64) -> Input<'_> {
    Input::Data { bytes, at: m(n) }
}

/// `len` bytes lost at moment `n`.
pub fn gap(len: u64, n: u64) -> Input<'static> {
    Input::Gap { len, at: m(n) }
}

/// A conversation: each step is one write of one side.
pub type Script = Vec<(Side, Vec<u8>)>;

/// xorshift64: the same noise on every run, so a failure replays.
pub struct Prng(pub u64);

impl Prng {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0 | 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// Anything fed by side and closed once: a protocol on the driver, or the
/// registry's session.
pub trait Fed: Default {
    type Event;
    fn feed_one(&mut self, side: Side, input: Input<'_>, out: &mut Vec<Self::Event>);
    fn close_at(&mut self, at: Moment, out: &mut Vec<Self::Event>);
}

impl<P: Protocol + Default> Fed for Driver<P> {
    type Event = P::Event;

    fn feed_one(&mut self, side: Side, input: Input<'_>, out: &mut Vec<P::Event>) {
        self.feed(side, input, &mut |e| out.push(e));
    }

    fn close_at(&mut self, at: Moment, out: &mut Vec<P::Event>) {
        self.close(at, &mut |e| out.push(e));
    }
}

/// Feeds each step whole, at moment `i` for step `i`.
pub fn run<S: Fed>(steps: &[(Side, Vec<u8>)]) -> Vec<S::Event> {
    play::<S>(steps, false)
}

/// Feeds each step whole, at moment `i` for step `i`, then closes.
pub fn run_closed<S: Fed>(steps: &[(Side, Vec<u8>)]) -> Vec<S::Event> {
    play::<S>(steps, true)
}

fn play<S: Fed>(steps: &[(Side, Vec<u8>)], close: bool) -> Vec<S::Event> {
    let mut s = S::default();
    let mut out = Vec::new();
    for (i, (side, bytes)) in steps.iter().enumerate() {
        s.feed_one(*side, data(bytes, i as u64), &mut out);
    }
    if close {
        s.close_at(m(steps.len() as u64), &mut out);
    }
    out
}

/// Feeds each step cut into chunks of 1 to `max` bytes (all at the step's
/// moment, as one write read in several reads), in `rounds` random ways,
/// then closes, and checks every way gives the events of the whole steps.
pub fn split_anywhere<S: Fed>(steps: &[(Side, Vec<u8>)], max: usize, rounds: u64)
where
    S::Event: PartialEq + std::fmt::Debug,
{
    let whole = run_closed::<S>(steps);
    let mut rng = Prng(0x5eed);
    for round in 0..rounds {
        let mut s = S::default();
        let mut out = Vec::new();
        for (i, (side, bytes)) in steps.iter().enumerate() {
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let n = 1 + rng.below(rest.len().min(max));
                s.feed_one(*side, data(&rest[..n], i as u64), &mut out);
                rest = &rest[n..];
            }
        }
        s.close_at(m(steps.len() as u64), &mut out);
        assert_eq!(out, whole, "round {round}");
    }
}

/// After `preamble`, feeds every strict prefix of `message` (on `side`)
/// to a fresh session and checks it reports nothing beyond what the
/// preamble alone reports: half a message is never a call, nor an error.
pub fn truncated_prefixes<S: Fed>(preamble: &[(Side, Vec<u8>)], side: Side, message: &[u8])
where
    S::Event: PartialEq + std::fmt::Debug,
{
    let before = run::<S>(preamble);
    for cut in 0..message.len() {
        let mut steps = preamble.to_vec();
        steps.push((side, message[..cut].to_vec()));
        assert_eq!(
            run::<S>(&steps),
            before,
            "cut at {cut} of {}",
            message.len()
        );
    }
}

/// Plays `valid` with noise, `rounds` times: bytes flipped, random chunk
/// sizes, gaps, random bytes, pieces of the conversation replayed out of
/// place; then closes. Nothing may panic, and errors stay bounded by the
/// number of inputs (one per episode at most). Returns the events, for
/// checks of the protocol's own.
pub fn garbage<S: Fed>(
    valid: &[(Side, Vec<u8>)],
    rounds: u64,
    is_error: impl Fn(&S::Event) -> bool,
) -> Vec<S::Event> {
    garbage_then::<S>(valid, rounds, is_error, |_| {})
}

/// [`garbage`], and `closed` checks each session once it is closed.
pub fn garbage_then<S: Fed>(
    valid: &[(Side, Vec<u8>)],
    rounds: u64,
    is_error: impl Fn(&S::Event) -> bool,
    closed: impl Fn(&S),
) -> Vec<S::Event> {
    let flat: Vec<u8> = valid.iter().flat_map(|(_, b)| b.clone()).collect();
    let mut rng = Prng(0x9e37_79b9_7f4a_7c15);
    let mut all = Vec::new();
    for _ in 0..rounds {
        let mut s = S::default();
        let mut out = Vec::new();
        let mut inputs = 0;
        for (i, (side, bytes)) in valid.iter().enumerate() {
            let mut bytes = bytes.clone();
            for b in bytes.iter_mut() {
                if rng.below(64) == 0 {
                    *b = rng.next_u64() as u8;
                }
            }
            let mut off = 0;
            while off < bytes.len() {
                let n = (1 + rng.below(40)).min(bytes.len() - off);
                let at = m(i as u64);
                inputs += 1;
                match rng.below(16) {
                    0 => s.feed_one(*side, gap(rng.next_u64() % 100_000, i as u64), &mut out),
                    1 => {
                        let len = rng.below(64) + 1;
                        let noise = rng.bytes(len);
                        s.feed_one(*side, data(&noise, i as u64), &mut out);
                    }
                    2 if !flat.is_empty() => {
                        let a = rng.below(flat.len());
                        let b = (a + rng.below(200)).min(flat.len());
                        let side = if rng.below(2) == 0 { REQ } else { RESP };
                        s.feed_one(
                            side,
                            Input::Data {
                                bytes: &flat[a..b],
                                at,
                            },
                            &mut out,
                        );
                    }
                    _ => {
                        let input = Input::Data {
                            bytes: &bytes[off..off + n],
                            at,
                        };
                        s.feed_one(*side, input, &mut out);
                    }
                }
                off += n;
            }
        }
        s.close_at(m(valid.len() as u64), &mut out);
        closed(&s);
        let errors = out.iter().filter(|e| is_error(e)).count();
        assert!(errors <= inputs, "{errors} errors from {inputs} inputs");
        all.extend(out);
    }
    all
}
