//! HTTP/2 framing (RFC 9113 §4, §6): the frame parser and the detector that
//! tells whether a direction's first bytes are HTTP/2.
//!
//! Pure: bytes in, frames out. swit only watches a connection, so the parser
//! never answers the peer: where RFC 9113 says "connection error", it returns
//! a [`FrameError`] that says how many bytes to skip, and the caller decides.
//!
//! [`parse_frame`] checks what the framing layer can: stream id 0 or not,
//! fixed and minimum lengths, padding. It follows the RFC where an endpoint
//! must be lenient (undefined flags, unknown frame types, unknown settings
//! are ignored) because a real peer accepts those frames and goes on.
//! [`detect`] is stricter: it guesses from a few bytes whether a capture
//! that began mid-connection is HTTP/2, and every rule a sender is bound by
//! (no undefined flags, reserved bits clear, zero padding, sane settings)
//! makes that guess safer.

use std::fmt;
use std::iter::FusedIterator;
use std::slice::ChunksExact;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Every frame starts with a header of this size (RFC 9113 §4.1).
pub const FRAME_HEADER_LEN: usize = 9;
/// The largest frame payload accepted (SETTINGS_MAX_FRAME_SIZE's ceiling is
/// 2^24-1; we accept up to it but the caller bounds its buffer: see the
/// session's `MAX_BUFFERED_FRAME`).
pub const MAX_FRAME_LEN: u32 = (1 << 24) - 1;
/// The largest frame payload [`detect`] accepts: the initial
/// SETTINGS_MAX_FRAME_SIZE. Peers that raised it and send longer frames are
/// not detected mid-connection (they still are from the preface); few do, and
/// this bound is what rejects nearly every non-HTTP/2 stream at its first
/// byte.
pub const DETECT_MAX_FRAME_LEN: u32 = 1 << 14;

/// Frame types (RFC 9113 §6).
pub mod kind {
    pub const DATA: u8 = 0;
    pub const HEADERS: u8 = 1;
    pub const PRIORITY: u8 = 2;
    pub const RST_STREAM: u8 = 3;
    pub const SETTINGS: u8 = 4;
    pub const PUSH_PROMISE: u8 = 5;
    pub const PING: u8 = 6;
    pub const GOAWAY: u8 = 7;
    pub const WINDOW_UPDATE: u8 = 8;
    pub const CONTINUATION: u8 = 9;
}

/// Frame flags; which apply depends on the frame type.
pub mod flag {
    /// DATA, HEADERS.
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING.
    pub const ACK: u8 = 0x1;
    /// HEADERS, PUSH_PROMISE, CONTINUATION.
    pub const END_HEADERS: u8 = 0x4;
    /// DATA, HEADERS, PUSH_PROMISE.
    pub const PADDED: u8 = 0x8;
    /// HEADERS.
    pub const PRIORITY: u8 = 0x20;
}

/// SETTINGS parameters whose values RFC 9113 §6.5.2, RFC 8441 and RFC 9218
/// bound.
pub mod setting {
    pub const ENABLE_PUSH: u16 = 2;
    pub const INITIAL_WINDOW_SIZE: u16 = 4;
    pub const MAX_FRAME_SIZE: u16 = 5;
    pub const ENABLE_CONNECT_PROTOCOL: u16 = 8;
    pub const NO_RFC7540_PRIORITIES: u16 = 9;
}

/// Clears the reserved bit that precedes every 31-bit stream id and window
/// increment: receivers must ignore it (RFC 9113 §4.1).
const ID_MASK: u32 = 0x7fff_ffff;
/// Bytes of the stream dependency and weight a PRIORITY flag adds.
const PRIORITY_FIELDS: usize = 5;

/// The fixed 9-byte frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length, header excluded.
    pub len: u32,
    pub kind: u8,
    pub flags: u8,
    /// Stream id, reserved bit masked off.
    pub stream: u32,
}

/// None if fewer than 9 bytes.
pub fn parse_header(b: &[u8]) -> Option<FrameHeader> {
    let &[l0, l1, l2, kind, flags, s0, s1, s2, s3] = b.first_chunk::<FRAME_HEADER_LEN>()?;
    Some(FrameHeader {
        len: u32::from_be_bytes([0, l0, l1, l2]),
        kind,
        flags,
        stream: u32::from_be_bytes([s0, s1, s2, s3]) & ID_MASK,
    })
}

/// One decoded frame, borrowing from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// `data` without padding; `flow_len` is the whole payload length
    /// (counts against flow control).
    Data {
        stream: u32,
        end_stream: bool,
        data: &'a [u8],
        flow_len: u32,
    },
    /// Header block fragment with padding and priority fields removed.
    Headers {
        stream: u32,
        end_stream: bool,
        end_headers: bool,
        fragment: &'a [u8],
    },
    Continuation {
        stream: u32,
        end_headers: bool,
        fragment: &'a [u8],
    },
    Priority {
        stream: u32,
    },
    RstStream {
        stream: u32,
        code: u32,
    },
    /// Settings are (id, value) pairs; ack has none.
    Settings {
        ack: bool,
        params: SettingsParams<'a>,
    },
    PushPromise {
        stream: u32,
        promised: u32,
        end_headers: bool,
        fragment: &'a [u8],
    },
    Ping {
        ack: bool,
    },
    GoAway {
        last_stream: u32,
        code: u32,
    },
    WindowUpdate {
        stream: u32,
        increment: u32,
    },
    /// Unknown frame types must be ignored (RFC 9113 §4.1, §5.5).
    Unknown {
        kind: u8,
        stream: u32,
    },
}

/// The parameters of a SETTINGS frame, read in place so that a frame of any
/// size costs no allocation. Iterates (identifier, value) pairs in order;
/// unknown identifiers are included, for the caller to ignore.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct SettingsParams<'a>(&'a [u8]);

impl<'a> SettingsParams<'a> {
    const PAIR_LEN: usize = 6;

    pub fn iter(&self) -> SettingsIter<'a> {
        SettingsIter(self.0.chunks_exact(Self::PAIR_LEN))
    }

    pub fn len(&self) -> usize {
        self.0.len() / Self::PAIR_LEN
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for SettingsParams<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for SettingsParams<'a> {
    type Item = (u16, u32);
    type IntoIter = SettingsIter<'a>;

    fn into_iter(self) -> SettingsIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &SettingsParams<'a> {
    type Item = (u16, u32);
    type IntoIter = SettingsIter<'a>;

    fn into_iter(self) -> SettingsIter<'a> {
        self.iter()
    }
}

/// Iterator over [`SettingsParams`].
#[derive(Debug, Clone)]
pub struct SettingsIter<'a>(ChunksExact<'a, u8>);

impl Iterator for SettingsIter<'_> {
    type Item = (u16, u32);

    fn next(&mut self) -> Option<(u16, u32)> {
        let &[i0, i1, v0, v1, v2, v3] = self.0.next()?.first_chunk::<6>()?;
        Some((
            u16::from_be_bytes([i0, i1]),
            u32::from_be_bytes([v0, v1, v2, v3]),
        ))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for SettingsIter<'_> {}
impl FusedIterator for SettingsIter<'_> {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<T> {
    /// Value and bytes consumed.
    Complete(T, usize),
    /// At least this many more bytes are needed (total length wanted minus
    /// have).
    Partial(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameError {
    pub reason: &'static str,
    /// Bytes the bad frame occupies if its length field is usable, so a
    /// caller may skip it. [`parse_frame`] always sets it: the length field
    /// has no invalid values, and an error is only known once the header is.
    pub skip: Option<usize>,
}

/// Parses one frame at the start of `b`. Validates per RFC 9113: stream id 0
/// vs nonzero per type, fixed lengths (PRIORITY 5, RST_STREAM 4, PING 8,
/// WINDOW_UPDATE 4, SETTINGS multiple of 6 and 0 when ACK, GOAWAY >= 8),
/// padding length < payload, room for the priority fields and promised
/// stream id. Undefined flags, unknown types and setting values are left to
/// the caller, as RFC 9113 has receivers ignore or judge them.
///
/// Before the header is whole, `Partial` counts only up to its end: the
/// header alone may prove the frame bad, and then waiting for its payload
/// would be wasted. Errors found in the header are reported before the
/// payload has arrived.
pub fn parse_frame(b: &[u8]) -> Result<Parsed<Frame<'_>>, FrameError> {
    let Some(h) = parse_header(b) else {
        return Ok(Parsed::Partial(FRAME_HEADER_LEN.saturating_sub(b.len())));
    };
    let total = frame_len(&h);
    let fail = |reason| FrameError {
        reason,
        skip: Some(total),
    };
    check_header(&h).map_err(fail)?;
    let Some(payload) = b.get(FRAME_HEADER_LEN..total) else {
        return Ok(Parsed::Partial(total.saturating_sub(b.len())));
    };
    let frame = decode(&h, payload).map_err(fail)?;
    Ok(Parsed::Complete(frame, total))
}

/// Header plus payload; at most 2^24 + 8, so it fits any usize swit runs on.
fn frame_len(h: &FrameHeader) -> usize {
    FRAME_HEADER_LEN + h.len as usize
}

/// What the header alone says is wrong: stream id and length rules.
fn check_header(h: &FrameHeader) -> Result<(), &'static str> {
    check_stream(h.kind, h.stream)?;
    check_shape(h.kind, h.flags, h.len)
}

fn check_stream(k: u8, stream: u32) -> Result<(), &'static str> {
    match (k, stream) {
        (kind::DATA, 0) => Err("DATA on stream 0"),
        (kind::HEADERS, 0) => Err("HEADERS on stream 0"),
        (kind::PRIORITY, 0) => Err("PRIORITY on stream 0"),
        (kind::RST_STREAM, 0) => Err("RST_STREAM on stream 0"),
        (kind::PUSH_PROMISE, 0) => Err("PUSH_PROMISE on stream 0"),
        (kind::CONTINUATION, 0) => Err("CONTINUATION on stream 0"),
        (kind::SETTINGS, 1..) => Err("SETTINGS on a stream other than 0"),
        (kind::PING, 1..) => Err("PING on a stream other than 0"),
        (kind::GOAWAY, 1..) => Err("GOAWAY on a stream other than 0"),
        _ => Ok(()),
    }
}

/// Length rules, some of which depend on flags (padding, priority, ACK).
fn check_shape(k: u8, flags: u8, len: u32) -> Result<(), &'static str> {
    let padded = u32::from(flags & flag::PADDED != 0);
    match k {
        kind::DATA if len < padded => Err("padded DATA without a pad length"),
        kind::HEADERS => {
            let prio = if flags & flag::PRIORITY != 0 { 5 } else { 0 };
            if len < padded + prio {
                Err("HEADERS shorter than its pad length and priority fields")
            } else {
                Ok(())
            }
        }
        kind::PRIORITY if len != 5 => Err("PRIORITY length is not 5"),
        kind::RST_STREAM if len != 4 => Err("RST_STREAM length is not 4"),
        kind::SETTINGS if flags & flag::ACK != 0 && len != 0 => Err("SETTINGS ack with a payload"),
        kind::SETTINGS if !len.is_multiple_of(6) => Err("SETTINGS length is not a multiple of 6"),
        kind::PUSH_PROMISE if len < padded + 4 => {
            Err("PUSH_PROMISE too short for its promised stream id")
        }
        kind::PING if len != 8 => Err("PING length is not 8"),
        kind::GOAWAY if len < 8 => Err("GOAWAY shorter than 8"),
        kind::WINDOW_UPDATE if len != 4 => Err("WINDOW_UPDATE length is not 4"),
        _ => Ok(()),
    }
}

/// Decodes a payload whose header passed [`check_header`].
fn decode<'a>(h: &FrameHeader, p: &'a [u8]) -> Result<Frame<'a>, &'static str> {
    let stream = h.stream;
    let end_stream = h.flags & flag::END_STREAM != 0;
    let end_headers = h.flags & flag::END_HEADERS != 0;
    let ack = h.flags & flag::ACK != 0;
    let short = "payload shorter than its fixed fields";
    Ok(match h.kind {
        kind::DATA => Frame::Data {
            stream,
            end_stream,
            data: unpad(h.flags, p)?.0,
            flow_len: h.len,
        },
        kind::HEADERS => {
            let body = unpad(h.flags, p)?.0;
            let fragment = if h.flags & flag::PRIORITY != 0 {
                // RFC 9113 §6.2: padding that eats into the other fields is a
                // protocol error.
                body.get(PRIORITY_FIELDS..)
                    .ok_or("HEADERS padding leaves no room for the priority fields")?
            } else {
                body
            };
            Frame::Headers {
                stream,
                end_stream,
                end_headers,
                fragment,
            }
        }
        kind::PRIORITY => Frame::Priority { stream },
        kind::RST_STREAM => Frame::RstStream {
            stream,
            code: be32(p, 0).ok_or(short)?,
        },
        kind::SETTINGS => Frame::Settings {
            ack,
            params: SettingsParams(p),
        },
        kind::PUSH_PROMISE => {
            let body = unpad(h.flags, p)?.0;
            let room = "PUSH_PROMISE padding leaves no room for the promised stream id";
            Frame::PushPromise {
                stream,
                promised: be32(body, 0).ok_or(room)? & ID_MASK,
                end_headers,
                fragment: body.get(4..).ok_or(room)?,
            }
        }
        kind::PING => Frame::Ping { ack },
        kind::GOAWAY => Frame::GoAway {
            last_stream: be32(p, 0).ok_or(short)? & ID_MASK,
            code: be32(p, 4).ok_or(short)?,
        },
        kind::WINDOW_UPDATE => Frame::WindowUpdate {
            stream,
            increment: be32(p, 0).ok_or(short)? & ID_MASK,
        },
        kind::CONTINUATION => Frame::Continuation {
            stream,
            end_headers,
            fragment: p,
        },
        k => Frame::Unknown { kind: k, stream },
    })
}

/// Splits a payload into its body and its padding when PADDED is set.
fn unpad(flags: u8, p: &[u8]) -> Result<(&[u8], &[u8]), &'static str> {
    if flags & flag::PADDED == 0 {
        return Ok((p, &[]));
    }
    let (&pad, rest) = p.split_first().ok_or("padded frame without a pad length")?;
    // RFC 9113 §6.1: padding as long as the payload or longer is an error.
    let body_len = rest
        .len()
        .checked_sub(usize::from(pad))
        .ok_or("padding as long as the payload")?;
    rest.split_at_checked(body_len)
        .ok_or("padding as long as the payload")
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(*b.get(at..)?.first_chunk::<4>()?))
}

/// What HTTP/2 detection says about the first bytes of a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H2Detect {
    /// The client connection preface (prior knowledge h2c, or after the h2c
    /// upgrade): this side is the client's.
    Preface,
    /// Looks like a run of HTTP/2 frames starting at a frame boundary
    /// (capture began mid-connection). `sender` says who sent them when the
    /// frames tell.
    Frames {
        sender: Sender,
    },
    NeedMore,
    NoMatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Client,
    Server,
    Unknown,
}

/// Says whether `b`, the first bytes seen of one direction, is HTTP/2.
///
/// `Preface` if `b` starts with [`PREFACE`]. Otherwise `Frames` only if `b`
/// is a chain of frames that a conforming sender could have written, from
/// its first byte to its end: each header valid for its type as
/// [`parse_frame`] checks, plus a known type, no undefined flag, reserved
/// bits clear, a length of at most [`DETECT_MAX_FRAME_LEN`], CONTINUATION
/// only where a header block is open (or first, as a write may start one),
/// and for each complete frame zero padding, a nonzero window increment,
/// legal setting values, no stream depending on itself, and an even
/// promised stream on an odd one. The last frame may be cut short, as far
/// as what is there of it is valid. At least one whole 9-byte header is
/// needed: shorter input gives `NeedMore`, or `NoMatch` as soon as its first
/// bytes rule HTTP/2 out (a first byte other than 0, or the preface's `P`,
/// does: no frame of 16384 bytes or less starts otherwise).
///
/// `sender` comes from what only one side sends: the first field of a
/// HEADERS block names a request pseudo-header (client) or `:status`
/// (server); PUSH_PROMISE is the server's; SETTINGS_ENABLE_PUSH = 1 the
/// client's. Frames that disagree give `Unknown`.
pub fn detect(b: &[u8]) -> H2Detect {
    if b.starts_with(PREFACE) {
        return H2Detect::Preface;
    }
    if PREFACE.starts_with(b) {
        return H2Detect::NeedMore;
    }
    let mut scan = Scan::default();
    let mut at = 0;
    while let Some(rest) = b.get(at..).filter(|r| !r.is_empty()) {
        match scan.frame(rest) {
            Seen::Next(n) => at += n,
            Seen::Last => break,
            Seen::Short => return H2Detect::NeedMore,
            Seen::Bad => return H2Detect::NoMatch,
        }
    }
    H2Detect::Frames {
        sender: scan.sender(),
    }
}

/// What [`Scan::frame`] found at the start of the rest of the input.
enum Seen {
    /// A plausible complete frame of this many bytes.
    Next(usize),
    /// A plausible frame that the input cuts short.
    Last,
    /// The first header, cut short but plausible so far.
    Short,
    Bad,
}

/// State carried from frame to frame by [`detect`].
#[derive(Default)]
struct Scan {
    frames: usize,
    /// Stream of a header block awaiting CONTINUATION.
    open_block: Option<u32>,
    client: bool,
    server: bool,
}

impl Scan {
    fn frame(&mut self, rest: &[u8]) -> Seen {
        let Some(h) = parse_header(rest) else {
            return match (header_prefix_plausible(rest), self.frames) {
                (false, _) => Seen::Bad,
                (true, 0) => Seen::Short,
                (true, _) if rest.get(3).is_some_and(|&k| !self.kind_in_order(k)) => Seen::Bad,
                (true, _) => Seen::Last,
            };
        };
        let reserved = rest.get(5).is_some_and(|&s| s & 0x80 != 0);
        if !header_plausible(&h, reserved) || !self.in_order(&h) {
            return Seen::Bad;
        }
        self.frames += 1;
        self.open_block = match h.kind {
            kind::HEADERS | kind::PUSH_PROMISE | kind::CONTINUATION
                if h.flags & flag::END_HEADERS == 0 =>
            {
                Some(h.stream)
            }
            _ => None,
        };
        let avail = rest.get(FRAME_HEADER_LEN..).unwrap_or_default();
        match avail.get(..h.len as usize) {
            Some(p) if self.complete(&h, p) => Seen::Next(frame_len(&h)),
            Some(_) => Seen::Bad,
            None if self.partial(&h, avail) => Seen::Last,
            None => Seen::Bad,
        }
    }

    /// A header block must go on in CONTINUATION frames of its own stream,
    /// with nothing in between (RFC 9113 §6.10).
    fn in_order(&self, h: &FrameHeader) -> bool {
        match self.open_block {
            Some(s) => h.kind == kind::CONTINUATION && h.stream == s,
            None => self.kind_in_order(h.kind),
        }
    }

    fn kind_in_order(&self, k: u8) -> bool {
        match self.open_block {
            Some(_) => k == kind::CONTINUATION,
            None => k != kind::CONTINUATION || self.frames == 0,
        }
    }

    fn complete(&mut self, h: &FrameHeader, p: &[u8]) -> bool {
        let Ok(frame) = decode(h, p) else {
            return false;
        };
        // RFC 9113 §6.1: padding octets must be zero when sent.
        let padding_zero = match h.kind {
            kind::DATA | kind::HEADERS | kind::PUSH_PROMISE => {
                unpad(h.flags, p).is_ok_and(|(_, pad)| pad.iter().all(|&x| x == 0))
            }
            _ => true,
        };
        if !padding_zero {
            return false;
        }
        let reserved_clear = |at| p.get(at).is_some_and(|&x| x & 0x80 == 0);
        match frame {
            Frame::Headers {
                stream, fragment, ..
            } => {
                self.hint(header_block_sender(fragment));
                h.flags & flag::PRIORITY == 0 || depends_not_on_self(p, h.flags, stream)
            }
            Frame::Priority { stream } => depends_not_on_self(p, 0, stream),
            Frame::Settings { params, .. } => {
                if params.iter().any(|kv| kv == (setting::ENABLE_PUSH, 1)) {
                    // RFC 9113 §6.5.2: a server must not send ENABLE_PUSH = 1.
                    self.hint(Sender::Client);
                }
                params.iter().all(setting_plausible)
            }
            Frame::PushPromise {
                stream, promised, ..
            } => {
                self.hint(Sender::Server);
                let at = usize::from(h.flags & flag::PADDED != 0);
                // Pushes go on client streams (odd) and open server ones (even).
                reserved_clear(at) && promised != 0 && promised.is_multiple_of(2) && stream % 2 == 1
            }
            Frame::WindowUpdate { increment, .. } => increment != 0 && reserved_clear(0),
            Frame::GoAway { .. } => reserved_clear(0),
            _ => true,
        }
    }

    /// Checks what has arrived of a frame's payload, and takes the sender
    /// from a HEADERS block's first bytes if they are there.
    fn partial(&mut self, h: &FrameHeader, avail: &[u8]) -> bool {
        let padded = h.flags & flag::PADDED != 0;
        let pad = match (padded, avail.first()) {
            (false, _) => 0,
            (true, Some(&pad)) => usize::from(pad),
            (true, None) => return true,
        };
        let fixed = usize::from(padded)
            + match h.kind {
                kind::HEADERS if h.flags & flag::PRIORITY != 0 => PRIORITY_FIELDS,
                kind::PUSH_PROMISE => 4,
                _ => 0,
            };
        let len = h.len as usize;
        // A DATA frame's pad length byte counts in `fixed`, so pad < len.
        if fixed + pad > len {
            return false;
        }
        match h.kind {
            kind::HEADERS => {
                let end = (len - pad).min(avail.len());
                if let Some(start) = avail.get(fixed..end) {
                    self.hint(header_block_sender(start));
                }
            }
            kind::PUSH_PROMISE => self.hint(Sender::Server),
            _ => {}
        }
        true
    }

    fn hint(&mut self, s: Sender) {
        match s {
            Sender::Client => self.client = true,
            Sender::Server => self.server = true,
            Sender::Unknown => {}
        }
    }

    fn sender(&self) -> Sender {
        match (self.client, self.server) {
            (true, false) => Sender::Client,
            (false, true) => Sender::Server,
            _ => Sender::Unknown,
        }
    }
}

/// What [`parse_frame`] accepts plus the rules only a sender is bound by.
fn header_plausible(h: &FrameHeader, reserved: bool) -> bool {
    h.len <= DETECT_MAX_FRAME_LEN
        && !reserved
        && h.kind <= kind::CONTINUATION
        && h.flags & !defined_flags(h.kind) == 0
        && check_header(h).is_ok()
}

/// Whether some completion of a header cut short (under 9 bytes) passes
/// [`header_plausible`]. Zeros are the loosest filler for length, type and
/// flags (no flag adds a length demand less), so only the stream id needs
/// two tries: zero, and nonzero.
fn header_prefix_plausible(p: &[u8]) -> bool {
    let mut raw = [0u8; FRAME_HEADER_LEN];
    for (to, from) in raw.iter_mut().zip(p) {
        *to = *from;
    }
    let reserved = raw[5] & 0x80 != 0;
    let zero = parse_header(&raw);
    raw[FRAME_HEADER_LEN - 1] = 1;
    let nonzero = parse_header(&raw);
    [zero, nonzero]
        .iter()
        .flatten()
        .any(|h| header_plausible(h, reserved))
}

fn defined_flags(k: u8) -> u8 {
    match k {
        kind::DATA => flag::END_STREAM | flag::PADDED,
        kind::HEADERS => flag::END_STREAM | flag::END_HEADERS | flag::PADDED | flag::PRIORITY,
        kind::SETTINGS | kind::PING => flag::ACK,
        kind::PUSH_PROMISE => flag::END_HEADERS | flag::PADDED,
        kind::CONTINUATION => flag::END_HEADERS,
        _ => 0,
    }
}

/// RFC 9113 §5.3.1: a stream cannot depend on itself. The dependency
/// follows the pad length byte, if any.
fn depends_not_on_self(p: &[u8], flags: u8, stream: u32) -> bool {
    let at = usize::from(flags & flag::PADDED != 0);
    be32(p, at).is_some_and(|d| d & ID_MASK != stream)
}

/// Values RFC 9113 §6.5.2 (and RFC 8441, RFC 9218) make a connection error.
fn setting_plausible((id, value): (u16, u32)) -> bool {
    match id {
        setting::ENABLE_PUSH
        | setting::ENABLE_CONNECT_PROTOCOL
        | setting::NO_RFC7540_PRIORITIES => value <= 1,
        setting::INITIAL_WINDOW_SIZE => value <= ID_MASK,
        setting::MAX_FRAME_SIZE => (DETECT_MAX_FRAME_LEN..=MAX_FRAME_LEN).contains(&value),
        _ => true,
    }
}

/// Who sends a header block, from its first field: requests start with
/// pseudo-headers whose names sit at static indexes 1..=7 (`:authority`,
/// `:method`, `:path`, `:scheme`), responses with `:status` at 8..=14
/// (RFC 7541 Appendix A). A field whose name is new or in the dynamic table
/// tells nothing.
fn header_block_sender(mut f: &[u8]) -> Sender {
    // RFC 7541 §4.2: a block may open with at most two table size updates.
    for _ in 0..3 {
        let Some(&first) = f.first() else {
            return Sender::Unknown;
        };
        if first & 0xe0 == 0x20 {
            let Some((_, n)) = hpack_int(f, 5) else {
                return Sender::Unknown;
            };
            f = f.get(n..).unwrap_or_default();
            continue;
        }
        // Indexed field: 7-bit index; literal with incremental indexing:
        // 6-bit name index; without or never indexed: 4-bit.
        let bits = match first {
            0x80.. => 7,
            0x40.. => 6,
            _ => 4,
        };
        return match hpack_int(f, bits) {
            Some((1..=7, _)) => Sender::Client,
            Some((8..=14, _)) => Sender::Server,
            // A literal with a new name (grpcio sends `:path` so): the
            // name, when not Huffman-coded, is a pseudo-header's.
            Some((0, n)) if bits < 7 => match literal_name(&f[n..]) {
                Some(b":status") => Sender::Server,
                Some(b":method" | b":path" | b":scheme" | b":authority") => Sender::Client,
                _ => Sender::Unknown,
            },
            _ => Sender::Unknown,
        };
    }
    Sender::Unknown
}

/// A raw (not Huffman-coded) HPACK string literal at the start of `b`.
fn literal_name(b: &[u8]) -> Option<&[u8]> {
    if b.first()? & 0x80 != 0 {
        return None;
    }
    let (len, n) = hpack_int(b, 7)?;
    b.get(n..n.checked_add(usize::try_from(len).ok()?)?)
}

/// An HPACK integer (RFC 7541 §5.1) with a `bits`-bit prefix: its value and
/// length, or None if cut short or longer than any index could be.
fn hpack_int(b: &[u8], bits: u32) -> Option<(u64, usize)> {
    let max = (1u64 << bits) - 1;
    let mut value = u64::from(*b.first()?) & max;
    if value < max {
        return Some((value, 1));
    }
    for (i, &c) in b.iter().enumerate().skip(1).take(5) {
        value += u64::from(c & 0x7f) << (7 * (i - 1));
        if c & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "frame_detect_tests.rs"]
mod detect_tests;
