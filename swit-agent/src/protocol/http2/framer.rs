//! One direction of an HTTP/2 connection: bytes into frames, header blocks
//! through HPACK, DATA payloads counted as they stream by. The framing
//! driver calls it one step at a time (see `session.rs`).
//!
//! Frames other than DATA are gathered whole (they are small: headers,
//! settings, control) up to [`MAX_BUFFERED_FRAME`]. DATA payloads are not
//! buffered: a 16 KiB frame split over many reads costs nothing, and a gap
//! that lies inside a payload is skipped without losing the framing.
//!
//! A gap anywhere else (frame headers, header blocks) loses the framing and
//! the HPACK state: the side resynchronises at the next chunk that starts
//! with plausible frames (writes are frame-aligned in practice) and its
//! decoder forgets the dynamic table, so later fields that refer to it are
//! left out rather than guessed.
use super::{
    Http2Event, MAX_BUFFERED_FRAME,
    frame::{self, FRAME_HEADER_LEN, Frame, H2Detect, Parsed, kind},
    hpack::Decoder,
    streams::{Block, Streams},
};
use crate::protocol::framing::{GapFit, Outcome, Start, Step};
use crate::protocol::{Moment, Side, Timing};

#[derive(Debug)]
enum State {
    /// No input yet: whether the side is seen from its start is not known.
    Unseen,
    /// Seen from its start, not read yet: losses are reported from the
    /// first byte on.
    Begin,
    /// Expecting the client connection preface; bytes matched so far.
    Preface(usize),
    /// At or inside a frame gathered in `buf`.
    Frame,
    /// Inside a DATA frame's payload.
    Data(Data),
    /// Skipping the rest of a frame too large to gather.
    Skip(u64),
    /// Framing lost: waiting for a chunk that starts with frames.
    Resync,
}

#[derive(Debug, Clone, Copy)]
struct Data {
    stream: u32,
    end_stream: bool,
    /// Payload bytes left, padding included.
    left: u32,
    /// The PADDED flag is set and its length byte is still to come.
    pad_pending: bool,
    /// Trailing padding bytes (within `left`).
    pad: u32,
}

/// A header block waiting for its CONTINUATION frames.
#[derive(Debug)]
struct Pending {
    stream: u32,
    end_stream: bool,
    /// PUSH_PROMISE blocks are decoded for HPACK state only.
    push: bool,
    bytes: Vec<u8>,
    first: Moment,
}

/// What a framing step hands to [`Framer::on_frame`].
#[derive(Debug)]
pub enum H2Frame {
    /// A whole frame other than DATA, in the framer's buffer.
    Buffered,
    /// A DATA frame that carried END_STREAM ended.
    EndStream(u32),
    /// This frame's content was lost, the framing was not.
    Error(&'static str),
}

#[derive(Debug)]
pub struct Framer {
    side: Side,
    state: State,
    buf: Vec<u8>,
    hpack: Decoder,
    pending: Option<Pending>,
    /// The side was seen from the connection's start.
    from_start: bool,
}

impl Framer {
    /// A side before its first input.
    pub fn new(side: Side) -> Self {
        Framer {
            side,
            state: State::Unseen,
            buf: Vec::new(),
            hpack: Decoder::new(),
            pending: None,
            from_start: false,
        }
    }

    /// A side seen from its start (the client's begins with the preface).
    pub fn from_start(side: Side) -> Self {
        let mut f = Self::new(side);
        f.decide(true);
        f
    }

    pub fn seen_from_start(&self) -> bool {
        self.from_start
    }

    /// No input came yet.
    pub fn unseen(&self) -> bool {
        matches!(self.state, State::Unseen)
    }

    /// Settles whether the side is seen from its start; a side that is not
    /// resumes at a chunk start and does not know the HPACK state from
    /// before.
    pub fn decide(&mut self, from_start: bool) {
        self.from_start = from_start;
        if from_start {
            self.state = State::Begin;
        } else {
            self.state = State::Resync;
            self.hpack = Decoder::new_mid_stream();
        }
    }

    /// Does framing resume at `b`? A side seen from its start begins with
    /// its first byte; else a chunk must start with frames this side could
    /// have sent, or (client side) with the preface.
    pub fn start(&mut self, b: &[u8], chunk_start: bool) -> Start {
        if matches!(self.state, State::Begin) {
            return Start::Yes;
        }
        if !chunk_start {
            return Start::No;
        }
        let resume = match frame::detect(b) {
            H2Detect::Frames { sender } => (!matches!(
                (self.side, sender),
                (Side::Request, frame::Sender::Server) | (Side::Response, frame::Sender::Client)
            ))
            .then_some(State::Frame),
            H2Detect::Preface if self.side == Side::Request => Some(State::Preface(0)),
            _ => None,
        };
        match resume {
            Some(s) => {
                self.state = s;
                Start::Yes
            }
            None => Start::No,
        }
    }

    /// At a frame boundary.
    pub fn idle(&self) -> bool {
        matches!(self.state, State::Frame) && self.buf.is_empty()
    }

    /// Takes bytes from the front of `b`: the preface, a frame's header
    /// or payload.
    pub fn step(&mut self, b: &[u8], at: Moment, streams: &mut Streams) -> Step<H2Frame> {
        match &mut self.state {
            State::Begin => {
                self.state = match self.side {
                    Side::Request => State::Preface(0),
                    Side::Response => State::Frame,
                };
                Step {
                    consumed: 0,
                    outcome: Outcome::OnTrack,
                }
            }
            State::Preface(have) => {
                let want = &frame::PREFACE[*have..];
                let n = want.len().min(b.len());
                if b[..n] != want[..n] {
                    // Not consumed: the chunk may start with frames.
                    return Step::invalid(0, "not an HTTP/2 connection preface");
                }
                *have += n;
                if *have == frame::PREFACE.len() {
                    self.state = State::Frame;
                }
                Step::more(n)
            }
            State::Skip(left) => {
                let n = (*left).min(b.len() as u64);
                *left -= n;
                if *left == 0 {
                    self.state = State::Frame;
                }
                Step::more(n as usize)
            }
            State::Data(d) => {
                let d = *d;
                self.data_payload(d, b, at, streams)
            }
            State::Frame => self.frame_bytes(b, streams),
            State::Unseen | State::Resync => Step::invalid(0, "out of sync"),
        }
    }

    /// Streams DATA payload bytes.
    fn data_payload(
        &mut self,
        mut d: Data,
        rest: &[u8],
        at: Moment,
        streams: &mut Streams,
    ) -> Step<H2Frame> {
        let mut used = 0;
        if d.pad_pending {
            d.pad_pending = false;
            d.pad = rest[0] as u32;
            d.left -= 1;
            used = 1;
            if d.pad > d.left {
                return Step::invalid(used, "DATA padding longer than its payload");
            }
        }
        let data_left = (d.left - d.pad) as usize;
        let n = data_left.min(rest.len() - used);
        if n > 0 {
            streams.data(self.side, d.stream, &rest[used..used + n], at);
        }
        used += n;
        d.left -= n as u32;
        let pad = (d.left as usize).min(rest.len() - used).min(d.pad as usize);
        d.left -= pad as u32;
        d.pad -= pad as u32;
        used += pad;
        if d.left > 0 {
            self.state = State::Data(d);
            return Step::more(used);
        }
        self.state = State::Frame;
        match d.end_stream {
            true => Step::frame(used, H2Frame::EndStream(d.stream)),
            false => Step::more(used),
        }
    }

    /// Gathers a frame in `buf`; a whole one is handed on.
    fn frame_bytes(&mut self, rest: &[u8], streams: &Streams) -> Step<H2Frame> {
        let have = self.buf.len();
        let want = match frame::parse_header(&self.buf) {
            Some(h) => FRAME_HEADER_LEN + h.len as usize,
            None => FRAME_HEADER_LEN,
        };
        let n = (want - have).min(rest.len());
        self.buf.extend_from_slice(&rest[..n]);
        if have >= FRAME_HEADER_LEN {
            return match self.buf.len() == want {
                true => Step::frame(n, H2Frame::Buffered),
                false => Step::more(n),
            };
        }
        let Some(h) = frame::parse_header(&self.buf) else {
            return Step::more(n);
        };
        if h.kind == kind::DATA {
            self.buf.clear();
            if self.pending.is_some() {
                return Step::invalid(n, "DATA inside a header block");
            }
            if h.stream == 0 {
                return Step::invalid(n, "DATA on stream 0");
            }
            let padded = h.flags & frame::flag::PADDED != 0;
            if padded && h.len == 0 {
                return Step::invalid(n, "padded DATA with no payload");
            }
            if h.len > self.frame_limit(streams) {
                return Step::invalid(n, "frame larger than SETTINGS_MAX_FRAME_SIZE");
            }
            let end_stream = h.flags & frame::flag::END_STREAM != 0;
            if h.len == 0 {
                return match end_stream {
                    true => Step::frame(n, H2Frame::EndStream(h.stream)),
                    false => Step::more(n),
                };
            }
            self.state = State::Data(Data {
                stream: h.stream,
                end_stream,
                left: h.len,
                pad_pending: padded,
                pad: 0,
            });
            return Step::more(n);
        }
        if h.len > self.frame_limit(streams) {
            // Larger than the receiver accepts: not a frame header.
            return Step::invalid(n, "frame larger than SETTINGS_MAX_FRAME_SIZE");
        }
        if h.len as usize > MAX_BUFFERED_FRAME {
            self.buf.clear();
            self.state = State::Skip(h.len as u64);
            // If it carried a header block, the HPACK state is gone with it.
            if matches!(
                h.kind,
                kind::HEADERS | kind::CONTINUATION | kind::PUSH_PROMISE
            ) {
                self.pending = None;
                self.hpack.lost_sync();
                return Step::frame(n, H2Frame::Error("header block too large"));
            }
            return Step::more(n);
        }
        if h.len == 0 {
            // Whole already: handled now, not when the next read comes
            // (an empty trailers block may end a stream).
            return Step::frame(n, H2Frame::Buffered);
        }
        Step::more(n)
    }

    /// The largest frame this side may send: what the receiver's SETTINGS
    /// allow, 16384 until they say (RFC 9113 §6.5.2). A side seen from
    /// mid-connection may have missed SETTINGS that raised it: anything the
    /// frame format allows.
    fn frame_limit(&self, streams: &Streams) -> u32 {
        let seen = streams.max_frame[side_index(self.side)];
        match (seen, self.from_start) {
            (Some(v), _) => v,
            (None, true) => frame::DETECT_MAX_FRAME_LEN,
            (None, false) => frame::MAX_FRAME_LEN,
        }
    }

    /// Acts on what a step produced.
    pub fn on_frame(
        &mut self,
        f: H2Frame,
        timing: Timing,
        streams: &mut Streams,
        emit: &mut dyn FnMut(Http2Event),
    ) {
        match f {
            H2Frame::Buffered => {
                let buf = std::mem::take(&mut self.buf);
                self.frame(&buf, timing, streams, emit);
                self.buf = buf;
                self.buf.clear();
            }
            H2Frame::EndStream(stream) => streams.end_stream(self.side, stream, timing.last, emit),
            H2Frame::Error(reason) => self.error(reason, emit),
        }
    }

    fn frame(
        &mut self,
        buf: &[u8],
        timing: Timing,
        streams: &mut Streams,
        emit: &mut dyn FnMut(Http2Event),
    ) {
        let at = timing.last;
        let f = match frame::parse_frame(buf) {
            Ok(Parsed::Complete(f, _)) => f,
            Ok(Parsed::Partial(_)) => return,
            Err(e) => {
                // The length was usable (the frame is whole in `buf`):
                // drop just this frame, unless it carried HPACK state.
                let k = buf.get(3).copied().unwrap_or(0);
                if matches!(k, kind::HEADERS | kind::CONTINUATION | kind::PUSH_PROMISE) {
                    self.pending = None;
                    self.hpack.lost_sync();
                }
                self.error(e.reason, emit);
                return;
            }
        };
        if self.pending.is_some() && !matches!(f, Frame::Continuation { .. }) {
            // RFC 9113 §6.10: nothing may interleave a header block.
            self.pending = None;
            self.hpack.lost_sync();
            self.error("frame inside a header block", emit);
        }
        match f {
            Frame::Headers {
                stream,
                end_stream,
                end_headers,
                fragment,
            } => self.block_start(
                stream,
                end_stream,
                false,
                end_headers,
                fragment,
                timing,
                streams,
                emit,
            ),
            Frame::PushPromise {
                stream,
                end_headers,
                fragment,
                ..
            } => self.block_start(
                stream,
                false,
                true,
                end_headers,
                fragment,
                timing,
                streams,
                emit,
            ),
            Frame::Continuation {
                stream,
                end_headers,
                fragment,
            } => {
                let Some(p) = self.pending.as_mut().filter(|p| p.stream == stream) else {
                    self.pending = None;
                    self.hpack.lost_sync();
                    self.error("CONTINUATION without a header block", emit);
                    return;
                };
                if p.bytes.len() + fragment.len() > MAX_BUFFERED_FRAME {
                    self.pending = None;
                    self.hpack.lost_sync();
                    self.error("header block too large", emit);
                    return;
                }
                p.bytes.extend_from_slice(fragment);
                if end_headers {
                    let p = self.pending.take().expect("checked above");
                    self.block_end(
                        p.stream,
                        p.end_stream,
                        p.push,
                        &p.bytes,
                        p.first,
                        at,
                        streams,
                        emit,
                    );
                }
            }
            Frame::RstStream { stream, code } => streams.reset(self.side, stream, code, at, emit),
            Frame::GoAway { last_stream, .. } => streams.goaway(self.side, last_stream, at, emit),
            Frame::Settings { ack: false, params } => {
                // This side receives at most this much per frame: it binds
                // the other side's frames.
                let other = match self.side {
                    Side::Request => Side::Response,
                    Side::Response => Side::Request,
                };
                for (id, v) in params {
                    if id == frame::setting::MAX_FRAME_SIZE
                        && (frame::DETECT_MAX_FRAME_LEN..=frame::MAX_FRAME_LEN).contains(&v)
                    {
                        streams.max_frame[side_index(other)] = Some(v);
                    }
                }
            }
            // Settings do not move the HPACK table size: only a size
            // update in a header block does (RFC 7541 §4.2).
            Frame::Data { .. }
            | Frame::Settings { .. }
            | Frame::Ping { .. }
            | Frame::WindowUpdate { .. }
            | Frame::Priority { .. }
            | Frame::Unknown { .. } => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn block_start(
        &mut self,
        stream: u32,
        end_stream: bool,
        push: bool,
        end_headers: bool,
        fragment: &[u8],
        timing: Timing,
        streams: &mut Streams,
        emit: &mut dyn FnMut(Http2Event),
    ) {
        let Timing { first, last } = timing;
        if end_headers {
            self.block_end(
                stream, end_stream, push, fragment, first, last, streams, emit,
            );
        } else {
            self.pending = Some(Pending {
                stream,
                end_stream,
                push,
                bytes: fragment.to_vec(),
                first,
            });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn block_end(
        &mut self,
        stream: u32,
        end_stream: bool,
        push: bool,
        block: &[u8],
        first: Moment,
        last: Moment,
        streams: &mut Streams,
        emit: &mut dyn FnMut(Http2Event),
    ) {
        let mut fields = Vec::new();
        let unknown = match self.hpack.decode(block, &mut fields) {
            Ok(stats) => stats.unknown,
            Err(_) => {
                // The decoder has fallen back to unknown state by itself;
                // this block's fields are lost.
                self.error("HPACK", emit);
                return;
            }
        };
        if push {
            return;
        }
        streams.headers(
            self.side,
            stream,
            Block { fields, unknown },
            end_stream,
            Timing { first, last },
            emit,
        );
    }

    /// A gap while in sync: skipped if it lies inside a payload.
    pub fn gap(
        &mut self,
        len: u64,
        at: Moment,
        streams: &mut Streams,
        emit: &mut dyn FnMut(Http2Event),
    ) -> GapFit {
        match &mut self.state {
            State::Skip(left) if len <= *left => {
                *left -= len;
                if *left == 0 {
                    self.state = State::Frame;
                }
            }
            State::Data(d) if !d.pad_pending && len <= (d.left - d.pad) as u64 => {
                let mut d = *d;
                streams.data_gap(self.side, d.stream, len, at);
                d.left -= len as u32;
                if d.left == 0 {
                    self.state = State::Frame;
                    if d.end_stream {
                        streams.end_stream(self.side, d.stream, at, emit);
                    }
                } else {
                    self.state = State::Data(d);
                }
            }
            _ => return GapFit::Lost,
        }
        GapFit::Skipped
    }

    /// Framing is gone: resynchronise, and forget the HPACK table.
    pub fn lost(&mut self) {
        self.state = State::Resync;
        self.buf.clear();
        self.pending = None;
        self.hpack.lost_sync();
    }

    /// Bytes were missed before the side framed: a side seen from its
    /// start loses its HPACK state, one not seen from it never had it.
    pub fn missed(&mut self) {
        if matches!(self.state, State::Begin) {
            self.lost();
        }
    }

    fn error(&self, reason: &'static str, emit: &mut dyn FnMut(Http2Event)) {
        emit(Http2Event::ParseError {
            side: self.side,
            reason,
        });
    }
}

fn side_index(side: Side) -> usize {
    match side {
        Side::Request => 0,
        Side::Response => 1,
    }
}
