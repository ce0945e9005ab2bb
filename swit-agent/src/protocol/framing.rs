//! The framing driver every protocol runs on: one connection's two sides
//! fed in stream order, with what all protocols share done once here.
//!
//! A protocol implements [`Protocol`]: how to recognise a message start,
//! how to take one step of framing, what a frame means for pairing, and
//! what a gap does inside a message. [`Driver`] owns the rest:
//! - **resynchronisation**: a side starts out of sync (capture may begin
//!   mid-message) and falls out of sync when its bytes stop making sense;
//!   bytes are then discarded up to a candidate start (any byte, or only
//!   line starts for text protocols) that [`Protocol::start`] accepts;
//! - **one report per episode**: losing its place reports one parse error,
//!   then nothing more until a message frames again, so garbage cannot
//!   flood events; a side that never framed reports nothing;
//! - **carry-over**: a start that [`Protocol::start`] cannot decide at the
//!   end of a chunk is kept (at most [`CARRY_MAX`] bytes) and decided with
//!   the next chunk;
//! - **gaps** (uncaptured bytes): ignored while out of sync, else offered
//!   to the protocol, which skips them inside a body or gives up its place;
//! - **the first timestamp**: the chunk that carried a message's first byte;
//! - **the seed hook** that turns every test's input into a fuzz seed.
use super::{Input, Moment, Side, Timing};

/// Bytes of an undecided message start kept across chunks.
pub const CARRY_MAX: usize = 64;

/// Where a lost side looks for the next message start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidates {
    /// At every byte (binary, length-prefixed protocols).
    Bytes,
    /// At the start of a chunk and after each LF (text protocols).
    Lines,
}

/// Does a message start at the beginning of these bytes? The answer of
/// [`Protocol::start`] and of every protocol's detector (as
/// [`Evidence`](super::Evidence): `Yes` is `Likely`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Yes,
    No,
    /// Too few bytes to tell: they are kept (carried to the next chunk) and
    /// asked about again with more.
    NeedMore,
}

/// What one framing step did.
#[derive(Debug)]
pub enum Outcome<F> {
    /// Bytes taken; nothing to report yet.
    More,
    /// The side is on track (a header parsed): a loss from here on is
    /// reported even before the message completes.
    OnTrack,
    /// A frame (a message, or a part of one the protocol reports).
    Frame(F),
    /// These bytes are not the protocol: the side loses its place.
    Invalid(&'static str),
}

/// One framing step: bytes taken from the front of the input, and what
/// they made.
#[derive(Debug)]
pub struct Step<F> {
    pub consumed: usize,
    pub outcome: Outcome<F>,
}

impl<F> Step<F> {
    pub fn more(consumed: usize) -> Self {
        Step {
            consumed,
            outcome: Outcome::More,
        }
    }

    pub fn frame(consumed: usize, frame: F) -> Self {
        Step {
            consumed,
            outcome: Outcome::Frame(frame),
        }
    }

    pub fn invalid(consumed: usize, reason: &'static str) -> Self {
        Step {
            consumed,
            outcome: Outcome::Invalid(reason),
        }
    }
}

/// What a gap met while the side was in sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapFit {
    /// It lay inside what the protocol can skip (a body): still in sync.
    Skipped,
    /// It cost the side its place.
    Lost,
}

/// Where the search for a start resumes after a side lost its place.
#[derive(Debug, Default)]
pub enum Rescan {
    /// With the next byte, as if mid-line.
    #[default]
    Here,
    /// With the next byte, which starts a line.
    LineStart,
    /// These bytes first (a refused header may hide a message start).
    Bytes(Vec<u8>),
}

/// A protocol, as the driver sees it. Implementations keep their framing
/// state per side and their pairing state; they never see chunks'
/// boundaries except through `chunk_start`.
pub trait Protocol {
    /// The registry entry.
    const KIND: super::ProtocolKind;
    /// Where lost sides look for a message start.
    const CANDIDATES: Candidates;
    /// What the protocol reports.
    type Event;
    /// What a framing step produces.
    type Frame;

    /// Does a message of `side` start at `bytes[0]`? `chunk_start`: the
    /// bytes begin a chunk (a syscall boundary, usually a message
    /// boundary, so a looser test may apply; a carried start that began a
    /// chunk still does when it is decided). On `Yes` the side's framing
    /// is set to read that message.
    fn start(&mut self, side: Side, bytes: &[u8], chunk_start: bool) -> Start;

    /// No message of `side` is partly read.
    fn idle(&self, side: Side) -> bool;

    /// Takes bytes from the front of `bytes` (never empty). It must take
    /// at least one byte, or change state so that the next step does.
    fn step(&mut self, side: Side, bytes: &[u8], at: Moment) -> Step<Self::Frame>;

    /// Acts on a frame: pairs, reports.
    fn on_frame(
        &mut self,
        side: Side,
        frame: Self::Frame,
        timing: Timing,
        out: &mut dyn FnMut(Self::Event),
    );

    /// `len` bytes of `side` were not captured, while in sync.
    fn gap(&mut self, side: Side, len: u64, at: Moment, out: &mut dyn FnMut(Self::Event))
    -> GapFit;

    /// Bytes of `side` were not captured while it was out of sync:
    /// nothing is parsed, but state kept across messages (a table both
    /// ends build up) may now be incomplete.
    fn missed(&mut self, _side: Side) {}

    /// `side` lost its place (after the driver reported it): drop its
    /// framing state and whatever pairing can no longer be trusted.
    fn lost(&mut self, side: Side, out: &mut dyn FnMut(Self::Event)) -> Rescan;

    /// The event that reports a lost place.
    fn parse_error(side: Side, reason: &'static str) -> Self::Event;

    /// The connection stopped speaking this protocol (encrypted, tunnelled,
    /// subscribed): nothing more is parsed.
    fn stopped(&self) -> bool {
        false
    }

    /// The connection closed.
    fn close(&mut self, at: Moment, out: &mut dyn FnMut(Self::Event));
}

/// The driver's own state for one side.
#[derive(Debug)]
struct Track {
    synced: bool,
    /// An error episode is under way (or the side never framed): losses
    /// are not reported again until a message frames.
    quiet: bool,
    /// The chunk that carried the current message's first byte.
    first: Moment,
    /// While out of sync: the last byte seen was a LF.
    prev_lf: bool,
    /// While out of sync: an undecided start, at most [`CARRY_MAX`] bytes.
    carry: Vec<u8>,
    /// The carried bytes began a chunk.
    carry_chunk_start: bool,
}

impl Track {
    fn new() -> Self {
        Track {
            synced: false,
            quiet: true,
            first: Moment::default(),
            prev_lf: false,
            carry: Vec::new(),
            carry_chunk_start: false,
        }
    }
}

/// One connection's protocol state: the protocol and the driver's two
/// sides.
#[derive(Debug)]
pub struct Driver<P> {
    proto: P,
    req: Track,
    resp: Track,
}

impl<P: Protocol + Default> Default for Driver<P> {
    fn default() -> Self {
        Driver::new(P::default())
    }
}

impl<P: Protocol> Driver<P> {
    pub fn new(proto: P) -> Self {
        Driver {
            proto,
            req: Track::new(),
            resp: Track::new(),
        }
    }

    /// The protocol's own state.
    pub fn protocol(&self) -> &P {
        &self.proto
    }

    pub fn protocol_mut(&mut self) -> &mut P {
        &mut self.proto
    }

    /// Feeds the next input of one side.
    pub fn feed(&mut self, side: Side, input: Input<'_>, out: &mut dyn FnMut(P::Event)) {
        #[cfg(test)]
        super::seeds::input(P::KIND.as_str(), side, input);
        if self.proto.stopped() {
            return;
        }
        match input {
            Input::Data { bytes, at } => self.run(side, bytes, at, out),
            Input::Gap { len, at } => {
                let t = self.track(side);
                if !t.synced {
                    t.prev_lf = false;
                    t.carry.clear();
                    self.proto.missed(side);
                    return;
                }
                if self.proto.gap(side, len, at, out) == GapFit::Lost {
                    self.fail(side, "gap", out);
                }
            }
        }
    }

    /// The connection closed: both sides start over, out of sync.
    pub fn close(&mut self, at: Moment, out: &mut dyn FnMut(P::Event)) {
        self.proto.close(at, out);
        self.req = Track::new();
        self.resp = Track::new();
    }

    fn track(&mut self, side: Side) -> &mut Track {
        match side {
            Side::Request => &mut self.req,
            Side::Response => &mut self.resp,
        }
    }

    fn run(&mut self, side: Side, bytes: &[u8], at: Moment, out: &mut dyn FnMut(P::Event)) {
        let mut off = 0;
        while off < bytes.len() && !self.proto.stopped() {
            let rest = &bytes[off..];
            if !self.track(side).synced {
                off += self.resync(side, rest, off == 0, at, out);
                continue;
            }
            if self.proto.idle(side) {
                self.track(side).first = at;
            }
            let step = self.proto.step(side, rest, at);
            off += step.consumed;
            match step.outcome {
                Outcome::More => {}
                Outcome::OnTrack => self.track(side).quiet = false,
                Outcome::Frame(frame) => {
                    let t = self.track(side);
                    t.quiet = false;
                    let timing = Timing {
                        first: t.first,
                        last: at,
                    };
                    self.proto.on_frame(side, frame, timing, out);
                }
                Outcome::Invalid(reason) => self.fail(side, reason, out),
            }
        }
    }

    /// Discards bytes up to a message start; returns how many of `rest`
    /// were used (0 when carried bytes were replayed: the chunk follows).
    fn resync(
        &mut self,
        side: Side,
        rest: &[u8],
        chunk_start: bool,
        at: Moment,
        out: &mut dyn FnMut(P::Event),
    ) -> usize {
        let carry = std::mem::take(&mut self.track(side).carry);
        let carry_chunk_start = self.track(side).carry_chunk_start;
        if !carry.is_empty() {
            let carried = carry.len();
            let mut joined = carry;
            joined.extend_from_slice(&rest[..rest.len().min(CARRY_MAX)]);
            for p in 0..carried {
                // The carry begins at a candidate; others follow a LF.
                if P::CANDIDATES == Candidates::Lines && p > 0 && joined[p - 1] != b'\n' {
                    continue;
                }
                let at_chunk = p == 0 && carry_chunk_start;
                match self.proto.start(side, &joined[p..], at_chunk) {
                    Start::Yes => {
                        self.track(side).synced = true;
                        // Replay the carried bytes; the chunk follows.
                        self.run(side, &joined[p..carried], at, out);
                        return 0;
                    }
                    Start::NeedMore => {
                        // Only short inputs are undecided: all of `rest` is in.
                        self.keep(side, &joined[p..], at_chunk);
                        return rest.len();
                    }
                    Start::No => {}
                }
            }
        }
        let t = self.track(side);
        let mut line_start = chunk_start || t.prev_lf;
        t.prev_lf = false;
        let mut i = 0;
        while i < rest.len() {
            if P::CANDIDATES == Candidates::Bytes || line_start {
                match self.proto.start(side, &rest[i..], chunk_start && i == 0) {
                    Start::Yes => {
                        self.track(side).synced = true;
                        return i;
                    }
                    Start::NeedMore => {
                        self.keep(side, &rest[i..], chunk_start && i == 0);
                        return rest.len();
                    }
                    Start::No => {}
                }
            }
            match P::CANDIDATES {
                Candidates::Bytes => i += 1,
                Candidates::Lines => match rest[i..].iter().position(|&b| b == b'\n') {
                    Some(p) => {
                        i += p + 1;
                        line_start = true;
                    }
                    None => i = rest.len(),
                },
            }
        }
        self.track(side).prev_lf = rest.last() == Some(&b'\n');
        rest.len()
    }

    /// Carries an undecided start; one too long to decide is no start.
    fn keep(&mut self, side: Side, bytes: &[u8], chunk_start: bool) {
        if bytes.len() <= CARRY_MAX {
            let t = self.track(side);
            t.carry = bytes.to_vec();
            t.carry_chunk_start = chunk_start;
        }
    }

    /// The side lost its place: report once per episode and resynchronise.
    fn fail(&mut self, side: Side, reason: &'static str, out: &mut dyn FnMut(P::Event)) {
        let t = self.track(side);
        if !t.quiet {
            out(P::parse_error(side, reason));
        }
        *t = Track::new();
        match self.proto.lost(side, out) {
            Rescan::Here => {}
            Rescan::LineStart => self.track(side).prev_lf = true,
            Rescan::Bytes(b) => self.keep(side, &b, false),
        }
    }
}

#[cfg(test)]
#[path = "framing_tests.rs"]
mod tests;
