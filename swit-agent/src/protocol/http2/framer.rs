//! One direction of an HTTP/2 connection: bytes into frames, header blocks
//! through HPACK, DATA payloads counted as they stream by.
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
use crate::protocol::{Input, Moment, Side, Timing};

#[derive(Debug)]
enum State {
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

#[derive(Debug)]
pub struct Framer {
    side: Side,
    state: State,
    buf: Vec<u8>,
    /// The chunk that carried the current frame's first byte.
    first: Moment,
    hpack: Decoder,
    pending: Option<Pending>,
    /// Errors are reported once per resynchronisation episode.
    quiet: bool,
    /// The side was seen from the connection's start.
    from_start: bool,
}

impl Framer {
    /// The client's side of a connection seen from its start: the preface
    /// comes first.
    pub fn client_from_start() -> Self {
        Self::with(Side::Request, State::Preface(0), Decoder::new())
    }

    /// The server's side of a connection seen from its start.
    pub fn server_from_start() -> Self {
        Self::with(Side::Response, State::Frame, Decoder::new())
    }

    /// A side whose start was not seen: frames resume at a chunk start and
    /// HPACK state from before is unknown.
    pub fn mid_stream(side: Side) -> Self {
        let mut f = Self::with(side, State::Resync, Decoder::new_mid_stream());
        f.quiet = true;
        f.from_start = false;
        f
    }

    pub fn seen_from_start(&self) -> bool {
        self.from_start
    }

    fn with(side: Side, state: State, hpack: Decoder) -> Self {
        Framer {
            side,
            state,
            buf: Vec::new(),
            first: Moment::default(),
            hpack,
            pending: None,
            quiet: false,
            from_start: true,
        }
    }

    pub fn feed(
        &mut self,
        input: Input<'_>,
        streams: &mut Streams,
        emit: &mut dyn FnMut(Http2Event),
    ) {
        match input {
            Input::Data { bytes, at } => self.data(bytes, at, streams, emit),
            Input::Gap { len, at } => self.gap(len, at, streams, emit),
        }
    }

    fn data(
        &mut self,
        bytes: &[u8],
        at: Moment,
        streams: &mut Streams,
        emit: &mut dyn FnMut(Http2Event),
    ) {
        let mut rest = bytes;
        let mut chunk_start = true;
        while !rest.is_empty() {
            let used = match &mut self.state {
                State::Resync => {
                    if !chunk_start {
                        return;
                    }
                    self.state = match resume_at(self.side, rest) {
                        Some(s) => s,
                        None => return,
                    };
                    0
                }
                State::Preface(have) => {
                    let want = &frame::PREFACE[*have..];
                    let n = want.len().min(rest.len());
                    if rest[..n] != want[..n] {
                        self.lose("not an HTTP/2 connection preface", emit);
                        continue;
                    }
                    *have += n;
                    if *have == frame::PREFACE.len() {
                        self.state = State::Frame;
                    }
                    n
                }
                State::Skip(left) => {
                    let n = (*left).min(rest.len() as u64);
                    *left -= n;
                    if *left == 0 {
                        self.state = State::Frame;
                    }
                    n as usize
                }
                State::Data(d) => {
                    let mut d = *d;
                    self.data_payload(&mut d, rest, at, streams, emit)
                }
                State::Frame => self.frame_bytes(rest, at, streams, emit),
            };
            rest = &rest[used..];
            chunk_start = false;
        }
    }

    /// Streams DATA payload bytes; returns how many of `rest` it used.
    fn data_payload(
        &mut self,
        d: &mut Data,
        rest: &[u8],
        at: Moment,
        streams: &mut Streams,
        emit: &mut dyn FnMut(Http2Event),
    ) -> usize {
        let mut used = 0;
        if d.pad_pending {
            d.pad_pending = false;
            d.pad = rest[0] as u32;
            d.left -= 1;
            used = 1;
            if d.pad > d.left {
                self.lose("DATA padding longer than its payload", emit);
                return used;
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
        if d.left == 0 {
            self.state = State::Frame;
            if d.end_stream {
                streams.end_stream(self.side, d.stream, at, emit);
            }
        } else {
            self.state = State::Data(*d);
        }
        used
    }

    /// Gathers a frame in `buf`; handles it when whole. Returns bytes used.
    fn frame_bytes(
        &mut self,
        rest: &[u8],
        at: Moment,
        streams: &mut Streams,
        emit: &mut dyn FnMut(Http2Event),
    ) -> usize {
        if self.buf.is_empty() {
            self.first = at;
        }
        if self.buf.len() < FRAME_HEADER_LEN {
            let n = (FRAME_HEADER_LEN - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..n]);
            if self.buf.len() < FRAME_HEADER_LEN {
                return n;
            }
            let Some(h) = frame::parse_header(&self.buf) else {
                return n;
            };
            if h.kind == kind::DATA {
                self.buf.clear();
                if self.pending.is_some() {
                    self.lose("DATA inside a header block", emit);
                    return n;
                }
                if h.stream == 0 {
                    self.lose("DATA on stream 0", emit);
                    return n;
                }
                let padded = h.flags & frame::flag::PADDED != 0;
                if padded && h.len == 0 {
                    self.lose("padded DATA with no payload", emit);
                    return n;
                }
                if h.len > self.frame_limit(streams) {
                    self.lose("frame larger than SETTINGS_MAX_FRAME_SIZE", emit);
                    return n;
                }
                let d = Data {
                    stream: h.stream,
                    end_stream: h.flags & frame::flag::END_STREAM != 0,
                    left: h.len,
                    pad_pending: padded,
                    pad: 0,
                };
                if d.left == 0 {
                    if d.end_stream {
                        streams.end_stream(self.side, d.stream, at, emit);
                    }
                } else {
                    self.state = State::Data(d);
                }
                return n;
            }
            if h.len > self.frame_limit(streams) {
                // Larger than the receiver accepts: not a frame header.
                self.lose("frame larger than SETTINGS_MAX_FRAME_SIZE", emit);
                return n;
            }
            if h.len as usize > MAX_BUFFERED_FRAME {
                self.buf.clear();
                self.too_large(h.kind, emit);
                self.state = State::Skip(h.len as u64);
                return n;
            }
            if h.len == 0 {
                // Whole already: handled now, not when the next read comes
                // (an empty trailers block may end a stream).
                self.buffered_frame(at, streams, emit);
            }
            return n;
        }
        let Some(h) = frame::parse_header(&self.buf) else {
            return 0;
        };
        let total = FRAME_HEADER_LEN + h.len as usize;
        let n = (total - self.buf.len()).min(rest.len());
        self.buf.extend_from_slice(&rest[..n]);
        if self.buf.len() == total {
            self.buffered_frame(at, streams, emit);
        }
        n
    }

    /// Handles the whole frame in `buf` and empties it.
    fn buffered_frame(
        &mut self,
        at: Moment,
        streams: &mut Streams,
        emit: &mut dyn FnMut(Http2Event),
    ) {
        let buf = std::mem::take(&mut self.buf);
        self.frame(&buf, at, streams, emit);
        self.buf = buf;
        self.buf.clear();
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

    /// A frame too large to gather: if it carried a header block, the
    /// HPACK state is gone with it.
    fn too_large(&mut self, k: u8, emit: &mut dyn FnMut(Http2Event)) {
        if matches!(k, kind::HEADERS | kind::CONTINUATION | kind::PUSH_PROMISE) {
            self.pending = None;
            self.hpack.lost_sync();
            self.error("header block too large", emit);
        }
    }

    fn frame(
        &mut self,
        buf: &[u8],
        at: Moment,
        streams: &mut Streams,
        emit: &mut dyn FnMut(Http2Event),
    ) {
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
                at,
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
                at,
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
        at: Moment,
        streams: &mut Streams,
        emit: &mut dyn FnMut(Http2Event),
    ) {
        let first = self.first;
        if end_headers {
            self.block_end(stream, end_stream, push, fragment, first, at, streams, emit);
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
        self.quiet = false;
        streams.headers(
            self.side,
            stream,
            Block { fields, unknown },
            end_stream,
            Timing { first, last },
            emit,
        );
    }

    fn gap(
        &mut self,
        len: u64,
        at: Moment,
        streams: &mut Streams,
        emit: &mut dyn FnMut(Http2Event),
    ) {
        match &mut self.state {
            State::Resync => {}
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
            _ => self.lose("bytes lost inside HTTP/2 framing", emit),
        }
    }

    /// Framing is gone: resynchronise, and forget the HPACK table.
    fn lose(&mut self, reason: &'static str, emit: &mut dyn FnMut(Http2Event)) {
        self.state = State::Resync;
        self.buf.clear();
        self.pending = None;
        self.hpack.lost_sync();
        self.error(reason, emit);
    }

    fn error(&mut self, reason: &'static str, emit: &mut dyn FnMut(Http2Event)) {
        if !self.quiet {
            emit(Http2Event::ParseError {
                side: self.side,
                reason,
            });
        }
        self.quiet = matches!(self.state, State::Resync);
    }
}

fn side_index(side: Side) -> usize {
    match side {
        Side::Request => 0,
        Side::Response => 1,
    }
}

/// Where a chunk can resume framing: it starts with frames this side
/// could have sent, or (client side) with the preface.
fn resume_at(side: Side, b: &[u8]) -> Option<State> {
    match frame::detect(b) {
        H2Detect::Frames { sender } => (!matches!(
            (side, sender),
            (Side::Request, frame::Sender::Server) | (Side::Response, frame::Sender::Client)
        ))
        .then_some(State::Frame),
        H2Detect::Preface if side == Side::Request => Some(State::Preface(0)),
        _ => None,
    }
}
