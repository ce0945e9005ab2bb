//! One HTTP/2 connection on the framing driver: two framers (one HPACK
//! decoder each) and the streams they share.
//!
//! Framing steps are frames (and the preface); a lost side (a gap outside
//! a DATA payload, bytes that are not frames) forgets its HPACK table and
//! resumes at the next chunk that starts with frames.
//!
//! Whether the connection was seen from its start is read off the client's
//! first bytes: the preface means from the start (HPACK tables known and
//! empty, losses reported from the first byte); frames without it mean
//! capture began mid-connection, and both decoders start out not knowing
//! the dynamic tables.
use super::{
    H2Request, Http2Event,
    frame::{self, H2Detect},
    framer::{Framer, H2Frame},
    streams::Streams,
};
use crate::protocol::framing::{self, Candidates, Driver, GapFit, Rescan, Start};
use crate::protocol::{Moment, ProtocolKind, Side, Timing};

/// One HTTP/2 connection, on the framing driver.
pub type Session = Driver<Http2>;

/// HTTP/2 state of one connection.
#[derive(Debug)]
pub struct Http2 {
    req: Framer,
    resp: Framer,
    streams: Streams,
}

impl Default for Http2 {
    fn default() -> Self {
        Http2 {
            req: Framer::new(Side::Request),
            resp: Framer::new(Side::Response),
            streams: Streams::default(),
        }
    }
}

impl Driver<Http2> {
    /// A connection that switched from HTTP/1.1 (`Upgrade: h2c`): the
    /// client's preface follows, the server's frames follow its 101, and
    /// the upgraded request is stream 1, whose response comes as HTTP/2.
    pub fn after_upgrade(request: H2Request) -> Self {
        let mut h2 = Http2 {
            req: Framer::from_start(Side::Request),
            resp: Framer::from_start(Side::Response),
            streams: Streams::default(),
        };
        h2.streams.upgraded(request);
        Driver::new(h2)
    }
}

impl Http2 {
    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    fn framer(&mut self, side: Side) -> &mut Framer {
        self.parts(side).0
    }

    /// A side's framer, and the streams.
    fn parts(&mut self, side: Side) -> (&mut Framer, &mut Streams) {
        let f = match side {
            Side::Request => &mut self.req,
            Side::Response => &mut self.resp,
        };
        (f, &mut self.streams)
    }

    /// At a side's first input: is it seen from its start? The client's
    /// is if it begins with the preface (or too little to tell); the
    /// server's is if the client's was.
    fn decide(&mut self, side: Side, first: Option<&[u8]>) {
        if !self.framer(side).unseen() {
            return;
        }
        let from_start = match side {
            Side::Request => first.is_some_and(|b| {
                matches!(frame::detect(b), H2Detect::Preface | H2Detect::NeedMore)
            }),
            Side::Response => self.req.seen_from_start(),
        };
        self.framer(side).decide(from_start);
    }
}

impl framing::Protocol for Http2 {
    const KIND: ProtocolKind = ProtocolKind::Http2;
    /// Framing resumes only where a chunk starts (writes are
    /// frame-aligned): `start` refuses every other offset, and lines are
    /// the fewer of those the driver offers.
    const CANDIDATES: Candidates = Candidates::Lines;
    type Event = Http2Event;
    type Frame = H2Frame;

    fn start(&mut self, side: Side, bytes: &[u8], chunk_start: bool) -> Start {
        self.decide(side, Some(bytes));
        self.framer(side).start(bytes, chunk_start)
    }

    fn idle(&self, side: Side) -> bool {
        match side {
            Side::Request => self.req.idle(),
            Side::Response => self.resp.idle(),
        }
    }

    fn step(&mut self, side: Side, bytes: &[u8], at: Moment) -> framing::Step<H2Frame> {
        let (f, streams) = self.parts(side);
        f.step(bytes, at, streams)
    }

    fn on_frame(
        &mut self,
        side: Side,
        frame: H2Frame,
        timing: Timing,
        out: &mut dyn FnMut(Http2Event),
    ) {
        let (f, streams) = self.parts(side);
        f.on_frame(frame, timing, streams, out);
    }

    fn gap(&mut self, side: Side, len: u64, at: Moment, out: &mut dyn FnMut(Http2Event)) -> GapFit {
        let (f, streams) = self.parts(side);
        f.gap(len, at, streams, out)
    }

    /// Streams stay open: a later frame may still end them.
    fn lost(&mut self, side: Side, _: &mut dyn FnMut(Http2Event)) -> Rescan {
        self.framer(side).lost();
        Rescan::Here
    }

    /// Bytes missed before a side framed: the HPACK state they built is
    /// unknown.
    fn missed(&mut self, side: Side) {
        self.decide(side, None);
        self.framer(side).missed();
    }

    fn parse_error(side: Side, reason: &'static str) -> Http2Event {
        Http2Event::ParseError { side, reason }
    }

    /// Open streams end, cut short.
    fn close(&mut self, at: Moment, out: &mut dyn FnMut(Http2Event)) {
        self.streams.close(at, out);
        *self = Http2::default();
    }
}

#[cfg(test)]
#[path = "testkit_capture.rs"]
mod testkit_capture;

#[cfg(test)]
#[path = "session_capture_tests.rs"]
mod capture_tests;

#[cfg(test)]
#[path = "session_capture_resilience_tests.rs"]
mod capture_resilience_tests;
#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
