//! One connection's HTTP/1 session, on the framing driver: a head or body
//! state per direction and the FIFO that pairs pipelined requests with
//! their responses.
//!
//! Heads are buffered until their end (`\r\n\r\n` or `\n\n`) arrives and
//! parsed then, so a head in many small chunks costs linear work: each new
//! byte is searched once for the end, the start-line detector runs only
//! until it decides, and the head parser runs on a chunk that begins a
//! head (most heads arrive whole) and once more when a buffered head ends
//! or reaches [`MAX_HEAD_BYTES`].
//!
//! Gaps (uncaptured bytes) are skipped when they provably lie inside a body:
//! within the rest of a Content-Length body, within one chunk's data, or
//! anywhere in a body that runs until close; they count toward `body_size`.
//! Anywhere else the side loses its place:
//! - a Content-Length body shorter than the gap ends inside it: the message
//!   completes at the gap, then the side resynchronises (what followed in
//!   the gap is lost);
//! - a gap in a head loses that message;
//! - a gap in chunked framing abandons the message: a request stays queued
//!   with the body counted so far (its response still pairs with it), a
//!   response completes its exchange at the gap (status and start are known;
//!   `body_size` and `timing.last` are then lower bounds).
//!
//! Each such loss, and each head that is not HTTP/1, reports one
//! `ParseError` (once per episode, see [`framing`]) and the side
//! resynchronises at a message start (`HTTP/1.` for responses, a known
//! method and a space for requests) at the start of a chunk or after a LF.
//! A side starts out of sync, silently: capture may begin mid-message.
//!
//! After `101 Switching Protocols` or a 2xx answer to CONNECT the connection
//! no longer speaks HTTP/1 and the session ignores both directions.
use std::{collections::VecDeque, sync::Arc};

use super::parse::{self, BodyFraming, ChunkedDecoder, Head, HeadError, Parsed, StartLine};
use super::{Http1Event, MAX_HEAD_BYTES, Request, Response};
use crate::protocol::framing::{self, Candidates, Driver, GapFit, Rescan, Start};
use crate::protocol::{Moment, ProtocolKind, Side, Timing, headers::Headers};

/// Most requests kept waiting for a response; past it the oldest is dropped
/// (and reported) so a server that never answers cannot grow memory.
pub const MAX_PENDING: usize = 256;

/// One HTTP/1 connection, on the framing driver.
pub type Session = Driver<Http1>;

/// HTTP/1 state of one connection.
#[derive(Debug, Default)]
pub struct Http1 {
    req: SideState,
    resp: SideState,
    /// Requests waiting for their final response, oldest first.
    /// Shared with the [`Http1Event::RequestStarted`] sent for each: the
    /// event is usually handled (and dropped) before the request changes
    /// or leaves the queue, so neither is copied.
    pending: VecDeque<Arc<Request>>,
    /// Id of the request whose body the request side is reading.
    body_of: Option<u64>,
    /// The response whose body the response side is reading.
    response: Option<Response>,
    next_id: u64,
    /// The connection switched protocols: nothing more to parse.
    tunnel: bool,
    /// An `Upgrade: h2c` was accepted: the request it carried, answered
    /// over HTTP/2, and the bytes after the 101's head, for the HTTP/2
    /// session that takes over.
    h2c: Option<H2cUpgrade>,
}

/// What an accepted h2c upgrade hands on to HTTP/2.
#[derive(Debug)]
pub struct H2cUpgrade {
    pub request: Request,
    /// Response-side bytes of the chunk that carried the 101, after it.
    pub rest: Vec<u8>,
    pub at: Moment,
}

/// What a framing step of HTTP/1 produces.
#[derive(Debug)]
pub enum Frame {
    /// A head; after a 101, the rest of its chunk (another protocol's).
    Head { head: Head, after: Vec<u8> },
    /// The current message's body ended.
    End,
}

#[derive(Debug, Default)]
struct SideState {
    state: State,
    /// Head bytes received so far, at most [`MAX_HEAD_BYTES`].
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for the head's end.
    scanned: usize,
    /// The start-line detector accepted `buf`.
    started: bool,
    /// Head parser runs (tests bound them).
    #[cfg(test)]
    parses: usize,
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Head,
    Body(Body),
}

#[derive(Debug)]
enum Body {
    /// Bytes left.
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

impl SideState {
    /// One step of a head: skips empty lines before it, buffers it until
    /// its end (searching each byte once), then parses it.
    fn head(&mut self, side: Side, bytes: &[u8], method: Option<&str>) -> framing::Step<Frame> {
        let old = self.buf.len();
        if old == 0 {
            let blank = bytes
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            if blank > 0 {
                return framing::Step::more(blank);
            }
        }
        // In place while nothing is buffered: most heads arrive whole.
        let (hay, taken) = if old == 0 {
            (bytes, bytes.len())
        } else {
            let take = bytes.len().min(MAX_HEAD_BYTES.saturating_sub(old));
            self.buf.extend_from_slice(&bytes[..take]);
            (&self.buf[..], take)
        };
        if !self.started {
            let d = match side {
                Side::Request => parse::detect_request(hay),
                Side::Response => parse::looks_like_response(hay),
            };
            match d {
                Start::No => return self.refuse(old, HeadError::NotHttp),
                Start::Yes => self.started = true,
                Start::NeedMore => {}
            }
        }
        // A chunk that starts a head is parsed whatever it holds, so only a
        // buffered head needs its end found: the blank line's LF, after a
        // LF, or after a LF and a CR.
        let ended = old > 0
            && (self.scanned..hay.len()).any(|i| {
                hay[i] == b'\n' && (hay[..i].ends_with(b"\n") || hay[..i].ends_with(b"\n\r"))
            });
        self.scanned = hay.len();
        if old == 0 || ended || hay.len() >= MAX_HEAD_BYTES {
            #[cfg(test)]
            {
                self.parses += 1;
            }
            let parsed = match side {
                Side::Request => parse::parse_request_head(hay),
                Side::Response => parse::parse_response_head(hay, method),
            };
            match parsed {
                Ok(Parsed::Done { value, len }) => {
                    let consumed = len - old;
                    let after = match value.start {
                        StartLine::Response { status: 101 } => bytes[consumed..].to_vec(),
                        _ => Vec::new(),
                    };
                    self.buf.clear();
                    self.scanned = 0;
                    self.started = false;
                    let head = Frame::Head { head: value, after };
                    return framing::Step::frame(consumed, head);
                }
                Ok(Parsed::NeedMore) => {}
                Err(e) => return self.refuse(old, e),
            }
        }
        if old == 0 {
            // Bounded: a partial head of MAX_HEAD_BYTES is an error.
            self.buf.extend_from_slice(bytes);
        }
        framing::Step::more(taken)
    }

    /// A head that is not HTTP/1: skip its first byte so the search looks
    /// past it, or, if it was buffered, rescan this chunk from its start.
    fn refuse(&mut self, old: usize, e: HeadError) -> framing::Step<Frame> {
        self.buf.truncate(old);
        framing::Step::invalid(usize::from(old == 0), e.reason())
    }
}

fn body_state(framing: BodyFraming) -> State {
    match framing {
        BodyFraming::None | BodyFraming::Length(0) => State::Head,
        BodyFraming::Length(n) => State::Body(Body::Length(n)),
        BodyFraming::Chunked => State::Body(Body::Chunked(ChunkedDecoder::new())),
        BodyFraming::UntilClose => State::Body(Body::UntilClose),
    }
}

fn upgrade_is_h2c(headers: &Headers) -> bool {
    headers
        .iter()
        .any(|(k, v)| k == "upgrade" && v.trim().eq_ignore_ascii_case("h2c"))
}

impl framing::Protocol for Http1 {
    const KIND: ProtocolKind = ProtocolKind::Http1;
    const CANDIDATES: Candidates = Candidates::Lines;
    type Event = Http1Event;
    type Frame = Frame;

    /// Only known methods: an uppercase word at the start of a body line
    /// should not pass for a request. A prefix of a start is taken as one
    /// (the head step refuses it if it goes wrong).
    fn start(&mut self, side: Side, bytes: &[u8], _chunk_start: bool) -> Start {
        let d = match side {
            Side::Request => parse::request_start(bytes, true),
            Side::Response => parse::looks_like_response(bytes),
        };
        if d == Start::No {
            Start::No
        } else {
            Start::Yes
        }
    }

    fn idle(&self, side: Side) -> bool {
        let d = self.dir(side);
        matches!(d.state, State::Head) && d.buf.is_empty()
    }

    fn step(&mut self, side: Side, bytes: &[u8], at: Moment) -> framing::Step<Frame> {
        // The response side needs the method it answers (HEAD has no body).
        let method = match side {
            Side::Response => self.pending.front().map(|r| &*r.method),
            Side::Request => None,
        };
        let d = match side {
            Side::Request => &mut self.req,
            Side::Response => &mut self.resp,
        };
        let body = match &mut d.state {
            State::Head => return d.head(side, bytes, method),
            State::Body(body) => body,
        };
        let (used, payload, end) = match body {
            Body::Length(left) => {
                let n = (*left).min(bytes.len() as u64);
                *left -= n;
                (n as usize, n, *left == 0)
            }
            Body::Chunked(dec) => match dec.feed(bytes) {
                Ok(p) => (p.consumed, p.payload, p.done),
                Err(_) => return framing::Step::invalid(0, "invalid chunked body"),
            },
            Body::UntilClose => (bytes.len(), bytes.len() as u64, false),
        };
        self.add_body(side, payload, at);
        match end {
            true => framing::Step::frame(used, Frame::End),
            false => framing::Step::more(used),
        }
    }

    fn on_frame(
        &mut self,
        side: Side,
        frame: Frame,
        timing: Timing,
        out: &mut dyn FnMut(Http1Event),
    ) {
        match frame {
            Frame::Head { head, after } => self.on_head(head, after, timing, out),
            Frame::End => self.finish(side, out),
        }
    }

    fn gap(&mut self, side: Side, len: u64, at: Moment, out: &mut dyn FnMut(Http1Event)) -> GapFit {
        let State::Body(body) = &mut self.dir_mut(side).state else {
            // A gap in a head (or before one) loses that message.
            return GapFit::Lost;
        };
        // (body bytes counted, fit, the body ended)
        let (counted, fit, end) = match body {
            Body::UntilClose => (len, GapFit::Skipped, false),
            Body::Length(left) if len <= *left => {
                *left -= len;
                (len, GapFit::Skipped, *left == 0)
            }
            // The body ends inside the gap: what follows is lost.
            Body::Length(left) => (*left, GapFit::Lost, true),
            // Past one chunk's data the framing is lost: abandoned.
            Body::Chunked(dec) => match dec.skip_gap(len) {
                true => (len, GapFit::Skipped, false),
                false => (0, GapFit::Lost, false),
            },
        };
        self.add_body(side, counted, at);
        if end {
            self.finish(side, out);
        } else if fit == GapFit::Lost {
            self.abandon(side, out);
        }
        fit
    }

    /// A message whose body was under way is abandoned (see module doc).
    fn lost(&mut self, side: Side, out: &mut dyn FnMut(Http1Event)) -> Rescan {
        if matches!(self.dir(side).state, State::Body(_)) {
            self.abandon(side, out);
        }
        let d = self.dir_mut(side);
        let line_start = d.buf.last() == Some(&b'\n');
        *d = SideState::default();
        match line_start {
            true => Rescan::LineStart,
            false => Rescan::Here,
        }
    }

    fn parse_error(side: Side, reason: &'static str) -> Http1Event {
        Http1Event::ParseError { side, reason }
    }

    fn stopped(&self) -> bool {
        self.tunnel
    }

    /// A response running until close completes; every request still
    /// unanswered is reported cut short, the first with the head of its
    /// answer if that had begun.
    fn close(&mut self, at: Moment, out: &mut dyn FnMut(Http1Event)) {
        if !self.tunnel {
            if matches!(self.resp.state, State::Body(Body::UntilClose)) {
                if let Some(r) = &mut self.response {
                    r.ended_by_close = true;
                }
                self.finish_response(out);
            }
            let mut response = self.response.take();
            for request in self.pending.drain(..) {
                out(Http1Event::CutByClose {
                    request: Arc::unwrap_or_clone(request),
                    response: response.take(),
                    at,
                });
            }
        }
        self.req = SideState::default();
        self.resp = SideState::default();
        self.pending.clear();
        self.body_of = None;
        self.response = None;
    }
}

impl Http1 {
    /// After an accepted `Upgrade: h2c`: what HTTP/2 takes over (once).
    pub fn take_h2c(&mut self) -> Option<H2cUpgrade> {
        self.h2c.take()
    }

    /// Requests waiting for their final response.
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }

    fn dir(&self, side: Side) -> &SideState {
        match side {
            Side::Request => &self.req,
            Side::Response => &self.resp,
        }
    }

    fn dir_mut(&mut self, side: Side) -> &mut SideState {
        match side {
            Side::Request => &mut self.req,
            Side::Response => &mut self.resp,
        }
    }

    fn on_head(
        &mut self,
        head: Head,
        after: Vec<u8>,
        timing: Timing,
        out: &mut dyn FnMut(Http1Event),
    ) {
        let Head {
            start,
            minor_version,
            headers,
            framing,
            ..
        } = head;
        match start {
            StartLine::Request { method, target } => {
                let id = self.next_id;
                self.next_id += 1;
                let request = Request {
                    id,
                    method,
                    target,
                    minor_version,
                    headers,
                    body_size: 0,
                    timing,
                };
                let request = Arc::new(request);
                out(Http1Event::RequestStarted(Arc::clone(&request)));
                if self.pending.len() >= MAX_PENDING {
                    self.pending.pop_front();
                    out(Http1Event::RequestsDropped { count: 1 });
                }
                self.pending.push_back(request);
                self.body_of = Some(id);
                self.req.state = body_state(framing);
            }
            StartLine::Response { status } => {
                // 1xx are interim: the request still waits for its final
                // answer. 101 is final: it ends HTTP/1 on this connection.
                if (100..200).contains(&status) && status != 101 {
                    return;
                }
                let connect = self
                    .pending
                    .front()
                    .is_some_and(|r| r.method.eq_ignore_ascii_case("CONNECT"));
                let switched = status == 101 || (connect && (200..300).contains(&status));
                if status == 101
                    && upgrade_is_h2c(&headers)
                    && let Some(request) = self.pending.pop_front()
                {
                    // The request is answered on HTTP/2 stream 1: no
                    // HTTP/1 exchange ends here.
                    self.tunnel = true;
                    self.body_of = None;
                    self.h2c = Some(H2cUpgrade {
                        request: Arc::unwrap_or_clone(request),
                        rest: after,
                        at: timing.last,
                    });
                    return;
                }
                self.response = Some(Response {
                    status,
                    minor_version,
                    headers,
                    body_size: 0,
                    timing,
                    ended_by_close: false,
                });
                self.resp.state = body_state(framing);
                if matches!(self.resp.state, State::Head) {
                    self.finish_response(out);
                }
                if switched {
                    self.tunnel = true;
                }
            }
        }
    }

    /// Counts body bytes (possibly none: framing) of the current message of
    /// `side`, which now ends no earlier than `at`.
    fn add_body(&mut self, side: Side, payload: u64, at: Moment) {
        match side {
            Side::Request => {
                let Some(id) = self.body_of else { return };
                // The request may already be answered (early response) or
                // dropped from a full queue: then there is nothing to update.
                if let Some(r) = self.pending.iter_mut().rev().find(|r| r.id == id) {
                    let r = Arc::make_mut(r);
                    r.body_size += payload;
                    r.timing.last = at;
                }
            }
            Side::Response => {
                if let Some(r) = &mut self.response {
                    r.body_size += payload;
                    r.timing.last = at;
                }
            }
        }
    }

    fn finish(&mut self, side: Side, emit: &mut dyn FnMut(Http1Event)) {
        match side {
            Side::Request => {
                self.req.state = State::Head;
                self.body_of = None;
            }
            Side::Response => self.finish_response(emit),
        }
    }

    /// Ends the current message of `side` where it stands (see module doc).
    fn abandon(&mut self, side: Side, emit: &mut dyn FnMut(Http1Event)) {
        match side {
            Side::Request => self.body_of = None,
            Side::Response => self.finish_response(emit),
        }
    }

    fn finish_response(&mut self, emit: &mut dyn FnMut(Http1Event)) {
        self.resp.state = State::Head;
        let Some(response) = self.response.take() else {
            return;
        };
        match self.pending.pop_front() {
            Some(request) => {
                if self.body_of == Some(request.id) {
                    // Answered before its body ended: stop counting it.
                    self.body_of = None;
                }
                emit(Http1Event::Exchange {
                    request: Arc::unwrap_or_clone(request),
                    response,
                });
            }
            None => emit(Http1Event::OrphanResponse(response)),
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "session_heads_tests.rs"]
mod heads_tests;
