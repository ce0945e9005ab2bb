//! One connection's HTTP/1 session: a state machine per direction (head,
//! body, resynchronisation) and the FIFO that pairs pipelined requests with
//! their responses.
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
//! `ParseError` and starts a resynchronisation episode: bytes are discarded
//! until a message start (`HTTP/1.` for responses, a known method and a
//! space for requests) at the start of a chunk or after a LF. Nothing more
//! is reported until a head parses again, so garbage cannot flood events.
//! A side starts in that state, silently: capture may begin mid-message.
//!
//! After `101 Switching Protocols` or a 2xx answer to CONNECT the connection
//! no longer speaks HTTP/1 and the session ignores both directions.
use std::collections::VecDeque;

use super::parse::{self, BodyFraming, ChunkedDecoder, Head, Parsed, StartLine};
use super::{Http1Event, MAX_HEAD_BYTES, Request, Response};
use crate::protocol::{Detect, Input, Moment, Side, Timing};

/// Most requests kept waiting for a response; past it the oldest is dropped
/// (and counted) so a server that never answers cannot grow memory.
pub const MAX_PENDING: usize = 256;
/// While a buffered head is shorter than this, every new byte is re-checked
/// (the start-line detector decides early); past it only a chunk bringing a
/// LF can end the head, so others skip the re-parse.
const RECHECK_BELOW: usize = 32;

/// HTTP/1 state of one connection.
#[derive(Debug)]
pub struct Session {
    req: Direction,
    resp: Direction,
    /// Requests waiting for their final response, oldest first.
    pending: VecDeque<Request>,
    /// Id of the request whose body the request side is reading.
    body_of: Option<u64>,
    /// The response whose body the response side is reading.
    response: Option<Response>,
    next_id: u64,
    dropped_requests: u64,
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

#[derive(Debug)]
struct Direction {
    state: State,
    /// Head bytes received so far, at most [`MAX_HEAD_BYTES`].
    buf: Vec<u8>,
    /// Chunk that carried the current message's first byte.
    first: Moment,
    /// A resync episode is under way (or the side never synced): errors are
    /// not reported again until a head parses.
    quiet: bool,
    /// While resynchronising: the last byte seen was a LF.
    prev_lf: bool,
}

#[derive(Debug)]
enum State {
    Resync,
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

impl Direction {
    fn new() -> Self {
        Direction {
            state: State::Resync,
            buf: Vec::new(),
            first: Moment::default(),
            quiet: true,
            prev_lf: false,
        }
    }

    /// Discards bytes up to the next plausible message start; returns how
    /// many were discarded (the state is `Head` if a start was found).
    fn resync(&mut self, side: Side, rest: &[u8], chunk_start: bool) -> usize {
        let mut line_start = chunk_start || self.prev_lf;
        let mut i = 0;
        loop {
            if line_start && is_start(side, &rest[i..]) {
                self.state = State::Head;
                return i;
            }
            match rest[i..].iter().position(|&b| b == b'\n') {
                Some(p) if i + p + 1 < rest.len() => {
                    i += p + 1;
                    line_start = true;
                }
                Some(_) => {
                    self.prev_lf = true;
                    return rest.len();
                }
                None => {
                    self.prev_lf = false;
                    return rest.len();
                }
            }
        }
    }
}

/// Resync accepts only known methods: an uppercase word at the start of a
/// body line should not pass for a request.
fn is_start(side: Side, b: &[u8]) -> bool {
    let d = match side {
        Side::Request => parse::request_start(b, true),
        Side::Response => parse::looks_like_response(b),
    };
    d != Detect::NoMatch
}

fn parse_head(
    side: Side,
    buf: &[u8],
    method: Option<&str>,
) -> Result<Parsed<Head>, parse::HeadError> {
    match side {
        Side::Request => parse::parse_request_head(buf),
        Side::Response => parse::parse_response_head(buf, method),
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

fn upgrade_is_h2c(headers: &[(String, String)]) -> bool {
    headers
        .iter()
        .any(|(k, v)| k == "upgrade" && v.trim().eq_ignore_ascii_case("h2c"))
}

/// What a gap does to the side it falls in.
enum GapEffect {
    Ignore,
    /// Inside the body: count it; `done` if it ends exactly at the body end.
    Skip {
        len: u64,
        done: bool,
    },
    /// The body ends inside the gap after `len` bytes; what follows is lost.
    EndsInside {
        len: u64,
    },
    /// The current message's framing is lost.
    Abandon,
    /// A head (or the start of one) is lost.
    Lost,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    pub fn new() -> Self {
        Session {
            req: Direction::new(),
            resp: Direction::new(),
            pending: VecDeque::new(),
            body_of: None,
            response: None,
            next_id: 0,
            dropped_requests: 0,
            tunnel: false,
            h2c: None,
        }
    }

    /// After an accepted `Upgrade: h2c`: what HTTP/2 takes over (once).
    pub fn take_h2c(&mut self) -> Option<H2cUpgrade> {
        self.h2c.take()
    }

    /// Requests dropped unanswered because [`MAX_PENDING`] were waiting.
    pub fn dropped_requests(&self) -> u64 {
        self.dropped_requests
    }

    /// Requests waiting for their final response.
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }

    /// Feeds the next input of one side.
    pub fn feed(&mut self, side: Side, input: Input<'_>, emit: &mut dyn FnMut(Http1Event)) {
        #[cfg(test)]
        crate::protocol::seeds::input("http1", side, input);
        if self.tunnel {
            return;
        }
        match input {
            Input::Data { bytes, at } => {
                let mut off = 0;
                while off < bytes.len() && !self.tunnel {
                    let rest = &bytes[off..];
                    // Each step consumes bytes or changes state in a way that
                    // makes the next step consume (see `head`'s error path).
                    off += match self.dir(side).state {
                        State::Resync => self.dir(side).resync(side, rest, off == 0),
                        State::Head => self.head(side, rest, at, emit),
                        State::Body(_) => self.body(side, rest, at, emit),
                    };
                }
                if let Some(up) = &mut self.h2c {
                    up.rest = bytes[off.min(bytes.len())..].to_vec();
                    up.at = at;
                }
            }
            Input::Gap { len, at } => self.gap(side, len, at, emit),
        }
    }

    /// The connection closed: a response running until close completes;
    /// every request still unanswered is reported cut short, the first with
    /// the head of its answer if that had begun.
    pub fn close(&mut self, at: Moment, emit: &mut dyn FnMut(Http1Event)) {
        if !self.tunnel && matches!(self.resp.state, State::Body(Body::UntilClose)) {
            if let Some(r) = &mut self.response {
                r.ended_by_close = true;
            }
            self.finish_response(emit);
        }
        if !self.tunnel {
            let mut response = self.response.take();
            for request in self.pending.drain(..) {
                emit(Http1Event::CutByClose {
                    request,
                    response: response.take(),
                    at,
                });
            }
        }
        self.req = Direction::new();
        self.resp = Direction::new();
        self.pending.clear();
        self.body_of = None;
        self.response = None;
    }

    fn dir(&mut self, side: Side) -> &mut Direction {
        match side {
            Side::Request => &mut self.req,
            Side::Response => &mut self.resp,
        }
    }

    fn head(
        &mut self,
        side: Side,
        rest: &[u8],
        at: Moment,
        emit: &mut dyn FnMut(Http1Event),
    ) -> usize {
        // The response side needs the method it answers (HEAD has no body).
        let method = match side {
            Side::Response => self.pending.front().map(|r| r.method.clone()),
            Side::Request => None,
        };
        let d = self.dir(side);
        let old = d.buf.len();
        if old == 0 {
            let blank = rest
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            if blank > 0 {
                return blank;
            }
            d.first = at;
        }
        let (parsed, taken) = if old == 0 {
            // Parse in place: most heads arrive whole in one chunk.
            (parse_head(side, rest, method.as_deref()), rest.len())
        } else {
            let take = rest.len().min(MAX_HEAD_BYTES.saturating_sub(old));
            d.buf.extend_from_slice(&rest[..take]);
            let worth = old < RECHECK_BELOW
                || rest[..take].contains(&b'\n')
                || d.buf.len() >= MAX_HEAD_BYTES;
            let parsed = if worth {
                parse_head(side, &d.buf, method.as_deref())
            } else {
                Ok(Parsed::NeedMore)
            };
            (parsed, take)
        };
        match parsed {
            Ok(Parsed::NeedMore) => {
                if old == 0 {
                    // Bounded: a partial head of MAX_HEAD_BYTES is an error.
                    d.buf.extend_from_slice(rest);
                }
                taken
            }
            Ok(Parsed::Done { value, len }) => {
                d.buf.clear();
                d.quiet = false;
                self.on_head(value, at, emit);
                len.saturating_sub(old)
            }
            Err(e) => {
                let ended_line = old > 0 && d.buf[old - 1] == b'\n';
                self.fail(side, e.reason(), emit);
                if old == 0 {
                    // Skip the bad start so resync looks past it.
                    1
                } else {
                    // The buffered bytes are gone; rescan this chunk's bytes.
                    self.dir(side).prev_lf = ended_line;
                    0
                }
            }
        }
    }

    fn on_head(&mut self, head: Head, at: Moment, emit: &mut dyn FnMut(Http1Event)) {
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
                let timing = Timing {
                    first: self.req.first,
                    last: at,
                };
                let request = Request {
                    id,
                    method,
                    target,
                    minor_version,
                    headers,
                    body_size: 0,
                    timing,
                };
                emit(Http1Event::RequestStarted(request.clone()));
                if self.pending.len() >= MAX_PENDING {
                    self.pending.pop_front();
                    self.dropped_requests += 1;
                    emit(Http1Event::RequestsDropped { count: 1 });
                }
                self.pending.push_back(request);
                self.body_of = Some(id);
                self.req.state = body_state(framing);
            }
            StartLine::Response { status } => {
                self.resp.state = State::Head;
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
                        request,
                        rest: Vec::new(),
                        at,
                    });
                    return;
                }
                let timing = Timing {
                    first: self.resp.first,
                    last: at,
                };
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
                    self.finish_response(emit);
                }
                if switched {
                    self.tunnel = true;
                }
            }
        }
    }

    fn body(
        &mut self,
        side: Side,
        rest: &[u8],
        at: Moment,
        emit: &mut dyn FnMut(Http1Event),
    ) -> usize {
        let State::Body(body) = &mut self.dir(side).state else {
            return 0;
        };
        let (used, payload, done, broken) = match body {
            Body::Length(left) => {
                let n = (*left).min(rest.len() as u64);
                *left -= n;
                (n as usize, n, *left == 0, false)
            }
            Body::Chunked(dec) => match dec.feed(rest) {
                Ok(p) => (p.consumed, p.payload, p.done, false),
                Err(_) => (0, 0, false, true),
            },
            Body::UntilClose => (rest.len(), rest.len() as u64, false, false),
        };
        if used > 0 {
            self.add_body(side, payload, at);
        }
        if broken {
            self.abandon(side, emit);
            self.fail(side, "invalid chunked body", emit);
        } else if done {
            self.finish(side, emit);
        }
        used
    }

    fn gap(&mut self, side: Side, len: u64, at: Moment, emit: &mut dyn FnMut(Http1Event)) {
        let effect = match &mut self.dir(side).state {
            State::Resync => GapEffect::Ignore,
            State::Head => GapEffect::Lost,
            State::Body(Body::UntilClose) => GapEffect::Skip { len, done: false },
            State::Body(Body::Length(left)) if len <= *left => {
                *left -= len;
                GapEffect::Skip {
                    len,
                    done: *left == 0,
                }
            }
            State::Body(Body::Length(left)) => GapEffect::EndsInside { len: *left },
            State::Body(Body::Chunked(dec)) => match dec.skip_gap(len) {
                true => GapEffect::Skip { len, done: false },
                false => GapEffect::Abandon,
            },
        };
        match effect {
            GapEffect::Ignore => self.dir(side).prev_lf = false,
            GapEffect::Skip { len, done } => {
                self.add_body(side, len, at);
                if done {
                    self.finish(side, emit);
                }
            }
            GapEffect::EndsInside { len } => {
                self.add_body(side, len, at);
                self.finish(side, emit);
                self.fail(side, "gap", emit);
            }
            GapEffect::Abandon => {
                self.add_body(side, 0, at);
                self.abandon(side, emit);
                self.fail(side, "gap", emit);
            }
            GapEffect::Lost => self.fail(side, "gap", emit),
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
                emit(Http1Event::Exchange { request, response });
            }
            None => emit(Http1Event::OrphanResponse(response)),
        }
    }

    /// The side lost its place: report once per episode and resynchronise.
    fn fail(&mut self, side: Side, reason: &'static str, emit: &mut dyn FnMut(Http1Event)) {
        let d = self.dir(side);
        if !d.quiet {
            emit(Http1Event::ParseError { side, reason });
        }
        d.quiet = true;
        d.buf.clear();
        d.state = State::Resync;
        d.prev_lf = false;
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
