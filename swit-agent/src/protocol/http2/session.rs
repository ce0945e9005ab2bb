//! One HTTP/2 connection: two framers (one HPACK decoder each) and the
//! streams they share.
//!
//! Whether the connection was seen from its start is read off the client's
//! first bytes: the preface means from the start (HPACK tables known and
//! empty); frames without it mean capture began mid-connection, and both
//! decoders start out not knowing the dynamic tables.
use super::{
    H2Request, Http2Event,
    frame::{self, H2Detect},
    framer::Framer,
    streams::Streams,
};
use crate::protocol::{Input, Moment, Side};

#[derive(Debug, Default)]
pub struct Session {
    req: Option<Framer>,
    resp: Option<Framer>,
    streams: Streams,
}

impl Session {
    pub fn new() -> Self {
        Self::default()
    }

    /// A connection that switched from HTTP/1.1 (`Upgrade: h2c`): the
    /// client's preface follows, the server's frames follow its 101, and
    /// the upgraded request is stream 1, whose response comes as HTTP/2.
    pub fn after_upgrade(request: H2Request) -> Self {
        let mut s = Session {
            req: Some(Framer::client_from_start()),
            resp: Some(Framer::server_from_start()),
            streams: Streams::default(),
        };
        s.streams.upgraded(request);
        s
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Streams dropped (bound reached, or open at close).
    pub fn dropped_streams(&self) -> u64 {
        self.streams.dropped
    }

    pub fn feed(&mut self, side: Side, input: Input<'_>, emit: &mut dyn FnMut(Http2Event)) {
        #[cfg(test)]
        crate::protocol::seeds::input("http2", side, input);
        let framer = match side {
            Side::Request => self.req.get_or_insert_with(|| {
                let from_start = match input {
                    Input::Data { bytes, .. } => {
                        matches!(frame::detect(bytes), H2Detect::Preface | H2Detect::NeedMore)
                    }
                    Input::Gap { .. } => false,
                };
                if from_start {
                    Framer::client_from_start()
                } else {
                    Framer::mid_stream(Side::Request)
                }
            }),
            Side::Response => {
                let from_start = self.req.as_ref().is_some_and(Framer::seen_from_start);
                self.resp.get_or_insert_with(|| {
                    if from_start {
                        Framer::server_from_start()
                    } else {
                        Framer::mid_stream(Side::Response)
                    }
                })
            }
        };
        framer.feed(input, &mut self.streams, emit);
    }

    /// The connection closed: open streams end, cut short.
    pub fn close(&mut self, at: Moment, emit: &mut dyn FnMut(Http2Event)) {
        self.streams.close(at, emit);
    }
}

#[cfg(test)]
#[path = "capture_replay.rs"]
mod capture_replay;

#[cfg(test)]
#[path = "capture_tests.rs"]
mod capture_tests;

#[cfg(test)]
#[path = "capture_resilience_tests.rs"]
mod capture_resilience_tests;
#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
