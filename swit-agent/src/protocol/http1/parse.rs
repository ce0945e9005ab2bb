//! Pure HTTP/1 frame functions: detection, head parsing, body framing and a
//! chunked-body decoder. Bytes in, frames out; no I/O, no clock, no panic.
//!
//! Heads go through `httparse`. The chunked decoder is written here because
//! `httparse::parse_chunk_size` only reads the size line: the trailer
//! section, the CRLF after each chunk's data and skipping a gap inside the
//! data are still ours to do, and a byte-at-a-time state machine does all of
//! it without buffering a line.
use std::{borrow::Cow, mem::MaybeUninit};

use thiserror::Error;

use super::{MAX_HEAD_BYTES, MAX_HEADERS};
use crate::{
    protocol::{framing::Start, headers::Headers},
    redact::{REDACTED, is_secret_name},
};

/// Methods recognised without looking further than `METHOD SP`.
const KNOWN_METHODS: [&[u8]; 9] = [
    b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"CONNECT", b"OPTIONS", b"TRACE", b"PATCH",
];
/// Longest extension method (WebDAV, etc.) accepted as a request start.
const MAX_METHOD_LEN: usize = 20;
/// Past this many fields a head is refused: httparse needs a slot per field
/// to find the head's end and the framing fields may sit anywhere in it.
const MAX_PARSED_HEADERS: usize = 256;
/// Longest chunk-size line (extensions included) accepted.
const MAX_CHUNK_LINE: usize = 4096;

/// Outcome of a frame function that may need more bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// A complete frame of `len` bytes from the start of the input.
    Done { value: T, len: usize },
    /// The input is a strict prefix of a frame: nothing consumed.
    NeedMore,
}

/// Why a head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HeadError {
    /// The bytes do not start like an HTTP/1 message.
    #[error("not an HTTP/1 message start")]
    NotHttp,
    /// httparse refused the start line or a field.
    #[error("invalid head: {0}")]
    Syntax(#[source] httparse::Error),
    /// More than [`MAX_HEAD_BYTES`] without the end of the head.
    #[error("head longer than {MAX_HEAD_BYTES} bytes")]
    TooLarge,
    /// More fields than the parser will track.
    #[error("more than {MAX_PARSED_HEADERS} header fields")]
    TooManyHeaders,
    /// Content-Length not a decimal number, or several different values:
    /// the body's end is unknowable (RFC 9112 §6.3 makes it fatal too).
    #[error("invalid Content-Length")]
    ContentLength,
    /// A request whose final transfer coding is not chunked has no
    /// knowable length (RFC 9112 §6.3).
    #[error("invalid Transfer-Encoding")]
    TransferEncoding,
}

impl HeadError {
    /// Short reason for [`super::Http1Event::ParseError`].
    pub fn reason(self) -> &'static str {
        match self {
            HeadError::NotHttp => "not http",
            HeadError::Syntax(_) => "invalid head",
            HeadError::TooLarge => "head too large",
            HeadError::TooManyHeaders => "too many headers",
            HeadError::ContentLength => "invalid content-length",
            HeadError::TransferEncoding => "invalid transfer-encoding",
        }
    }
}

/// How a message's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (request without length, HEAD answer, 1xx, 204, 304).
    None,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// Chunked transfer coding: see [`ChunkedDecoder`].
    Chunked,
    /// Response body running until the connection closes.
    UntilClose,
}

/// First line of a head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: Method, target: String },
    Response { status: u16 },
}

/// A parsed request or response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub start: StartLine,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// The first [`MAX_HEADERS`] fields: names lowercased, sensitive values
    /// replaced by [`REDACTED`].
    pub headers: Headers,
    /// Fields past [`MAX_HEADERS`]: used for framing, not kept.
    pub dropped_headers: usize,
    pub framing: BodyFraming,
}

/// Whether `buf` starts an HTTP/1 request: a known method, or an uppercase
/// token followed by `" /"` or `" http"`, then a space.
pub fn detect_request(buf: &[u8]) -> Start {
    request_start(buf, false)
}

/// Whether `buf` starts an HTTP/1 response (`HTTP/1.`).
pub fn looks_like_response(buf: &[u8]) -> Start {
    prefix_match(buf, b"HTTP/1.")
}

/// [`detect_request`], optionally limited to the known methods (used when
/// hunting for a message start in bytes of unknown meaning, where an
/// uppercase word in a body should not pass for a request).
pub(super) fn request_start(buf: &[u8], known_only: bool) -> Start {
    let mut need_more = false;
    for m in KNOWN_METHODS {
        let (n, rest) = (m.len(), buf.get(m.len()..));
        match (buf.get(..n), rest) {
            (Some(head), Some(rest)) if head == m => match rest.first() {
                Some(b' ') => return Start::Yes,
                Some(_) => {}
                None => need_more = true,
            },
            _ if m.starts_with(buf) => need_more = true,
            _ => {}
        }
    }
    if need_more {
        return Start::NeedMore;
    }
    if known_only {
        return Start::No;
    }
    let token = buf.iter().take_while(|b| b.is_ascii_uppercase()).count();
    if token == 0 || token > MAX_METHOD_LEN {
        return if buf.is_empty() {
            Start::NeedMore
        } else {
            Start::No
        };
    }
    let rest = &buf[token..];
    if rest.is_empty() {
        return Start::NeedMore;
    }
    match prefix_match(rest, b" /") {
        Start::No => prefix_match_ci(rest, b" http"),
        d => d,
    }
}

fn prefix_match(buf: &[u8], want: &[u8]) -> Start {
    let n = buf.len().min(want.len());
    if buf[..n] != want[..n] {
        Start::No
    } else if n < want.len() {
        Start::NeedMore
    } else {
        Start::Yes
    }
}

fn prefix_match_ci(buf: &[u8], want: &[u8]) -> Start {
    let n = buf.len().min(want.len());
    if !buf[..n].eq_ignore_ascii_case(&want[..n]) {
        Start::No
    } else if n < want.len() {
        Start::NeedMore
    } else {
        Start::Yes
    }
}

/// Leading empty lines are allowed before a message (RFC 9112 §2.2; some
/// clients send a stray CRLF after a body) and httparse skips them too.
fn skip_empty_lines(buf: &[u8]) -> &[u8] {
    let n = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    &buf[n..]
}

/// Parses a request head from the start of `buf`.
pub fn parse_request_head(buf: &[u8]) -> Result<Parsed<Head>, HeadError> {
    let buf = &buf[..buf.len().min(MAX_HEAD_BYTES)];
    match detect_request(skip_empty_lines(buf)) {
        Start::No => return Err(HeadError::NotHttp),
        Start::NeedMore => return Ok(Parsed::NeedMore),
        Start::Yes => {}
    }
    // Left uninitialised: httparse writes the ones it fills, and zeroing
    // 2 KiB of slots took more than the parse of a short head.
    let mut small = [MaybeUninit::uninit(); MAX_HEADERS];
    match parse_request_with(buf, &mut small) {
        Err(HeadError::Syntax(httparse::Error::TooManyHeaders)) => {
            let mut big = vec![MaybeUninit::uninit(); MAX_PARSED_HEADERS];
            too_many(parse_request_with(buf, &mut big))
        }
        r => r,
    }
}

fn parse_request_with<'b>(
    buf: &'b [u8],
    slots: &mut [MaybeUninit<httparse::Header<'b>>],
) -> Result<Parsed<Head>, HeadError> {
    let mut req = httparse::Request::new(&mut []);
    let len = match parse_status(req.parse_with_uninit_headers(buf, slots), buf.len())? {
        Some(len) => len,
        None => return Ok(Parsed::NeedMore),
    };
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(HeadError::NotHttp);
    };
    let fields = Fields::scan(req.headers);
    let framing = match fields.chunked {
        Some(true) => BodyFraming::Chunked,
        Some(false) => return Err(HeadError::TransferEncoding),
        None => match fields.content_length? {
            Some(n) if n > 0 => BodyFraming::Length(n),
            _ => BodyFraming::None,
        },
    };
    let (headers, dropped_headers) = keep_headers(req.headers);
    let start = StartLine::Request {
        method: method_of(method),
        target: target.to_owned(),
    };
    Ok(Parsed::Done {
        value: Head {
            start,
            minor_version: minor,
            headers,
            dropped_headers,
            framing,
        },
        len,
    })
}

/// Parses a response head from the start of `buf`. `request_method` is the
/// method of the request it answers, when known: a HEAD or CONNECT answer
/// has no body whatever its fields say.
pub fn parse_response_head(
    buf: &[u8],
    request_method: Option<&str>,
) -> Result<Parsed<Head>, HeadError> {
    let buf = &buf[..buf.len().min(MAX_HEAD_BYTES)];
    match looks_like_response(skip_empty_lines(buf)) {
        Start::No => return Err(HeadError::NotHttp),
        Start::NeedMore => return Ok(Parsed::NeedMore),
        Start::Yes => {}
    }
    let mut small = [MaybeUninit::uninit(); MAX_HEADERS];
    match parse_response_with(buf, &mut small, request_method) {
        Err(HeadError::Syntax(httparse::Error::TooManyHeaders)) => {
            let mut big = vec![MaybeUninit::uninit(); MAX_PARSED_HEADERS];
            too_many(parse_response_with(buf, &mut big, request_method))
        }
        r => r,
    }
}

fn parse_response_with<'b>(
    buf: &'b [u8],
    slots: &mut [MaybeUninit<httparse::Header<'b>>],
    request_method: Option<&str>,
) -> Result<Parsed<Head>, HeadError> {
    let mut resp = httparse::Response::new(&mut []);
    let parsed =
        httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut resp, buf, slots);
    let len = match parse_status(parsed, buf.len())? {
        Some(len) => len,
        None => return Ok(Parsed::NeedMore),
    };
    let (Some(status), Some(minor)) = (resp.code, resp.version) else {
        return Err(HeadError::NotHttp);
    };
    let fields = Fields::scan(resp.headers);
    let method = request_method.unwrap_or("");
    // RFC 9112 §6.3: the order of these rules matters.
    let framing = if (100..200).contains(&status)
        || status == 204
        || status == 304
        || method.eq_ignore_ascii_case("HEAD")
        || (method.eq_ignore_ascii_case("CONNECT") && (200..300).contains(&status))
    {
        BodyFraming::None
    } else {
        match fields.chunked {
            Some(true) => BodyFraming::Chunked,
            Some(false) => BodyFraming::UntilClose,
            None => match fields.content_length? {
                Some(0) => BodyFraming::None,
                Some(n) => BodyFraming::Length(n),
                None => BodyFraming::UntilClose,
            },
        }
    };
    let (headers, dropped_headers) = keep_headers(resp.headers);
    let start = StartLine::Response { status };
    Ok(Parsed::Done {
        value: Head {
            start,
            minor_version: minor,
            headers,
            dropped_headers,
            framing,
        },
        len,
    })
}

/// Maps httparse's answer to `Some(head length)`, `None` (need more) or an
/// error, applying the head size bound.
fn parse_status(r: httparse::Result<usize>, avail: usize) -> Result<Option<usize>, HeadError> {
    match r {
        Ok(httparse::Status::Complete(len)) => Ok(Some(len)),
        Ok(httparse::Status::Partial) if avail >= MAX_HEAD_BYTES => Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(HeadError::Syntax(e)),
    }
}

/// Names the second refusal for what it is: past [`MAX_PARSED_HEADERS`].
fn too_many(r: Result<Parsed<Head>, HeadError>) -> Result<Parsed<Head>, HeadError> {
    match r {
        Err(HeadError::Syntax(httparse::Error::TooManyHeaders)) => Err(HeadError::TooManyHeaders),
        r => r,
    }
}

/// The framing fields of a head.
struct Fields {
    /// `Some(last coding is chunked)` when Transfer-Encoding is present.
    chunked: Option<bool>,
    /// The agreed Content-Length, if any; an error if invalid or conflicting.
    content_length: Result<Option<u64>, HeadError>,
}

impl Fields {
    fn scan(headers: &[httparse::Header<'_>]) -> Self {
        let mut chunked = None;
        let mut content_length = Ok(None);
        for h in headers {
            if h.name.eq_ignore_ascii_case("transfer-encoding") {
                // Several fields form one list; only the last coding counts.
                if let Some(last) = h
                    .value
                    .rsplit(|&b| b == b',')
                    .map(trim)
                    .find(|c| !c.is_empty())
                {
                    chunked = Some(last.eq_ignore_ascii_case(b"chunked"));
                }
            } else if h.name.eq_ignore_ascii_case("content-length") {
                content_length = content_length.and_then(|prev| {
                    h.value.split(|&b| b == b',').try_fold(prev, |prev, item| {
                        match (prev, decimal(trim(item))) {
                            (_, None) => Err(HeadError::ContentLength),
                            (Some(p), Some(n)) if p != n => Err(HeadError::ContentLength),
                            (_, Some(n)) => Ok(Some(n)),
                        }
                    })
                });
            }
        }
        Fields {
            chunked,
            content_length,
        }
    }
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

fn decimal(b: &[u8]) -> Option<u64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// A request method: the known ones cost no allocation.
pub type Method = Cow<'static, str>;

fn method_of(m: &str) -> Method {
    match KNOWN_METHODS.iter().find(|k| **k == m.as_bytes()) {
        // KNOWN_METHODS are ASCII, so this never fails.
        Some(k) => Method::Borrowed(std::str::from_utf8(k).unwrap_or("")),
        None => Method::Owned(m.to_owned()),
    }
}

fn keep_headers(headers: &[httparse::Header<'_>]) -> (Headers, usize) {
    let kept = &headers[..headers.len().min(MAX_HEADERS)];
    // A redacted value may be longer than the value it hides.
    let bytes = kept
        .iter()
        .map(|h| h.name.len() + h.value.len().max(REDACTED.len()))
        .sum();
    let mut out = Headers::with_capacity(kept.len(), bytes);
    for h in kept {
        out.push_named(h.name, |name| {
            if is_secret_name(name) {
                Cow::Borrowed(REDACTED)
            } else {
                // The strict check is the cheap one; values are nearly
                // always ASCII.
                match std::str::from_utf8(h.value) {
                    Ok(v) => Cow::Borrowed(v),
                    Err(_) => String::from_utf8_lossy(h.value),
                }
            }
        });
    }
    (out, headers.len().saturating_sub(MAX_HEADERS))
}

/// Decodes a chunked body incrementally without buffering: payload bytes are
/// counted, never copied, and trailers are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: ChunkState,
    /// Bytes of the current size line or of the trailer section, to bound
    /// what a peer can make us scan for a terminator.
    line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size {
        size: u64,
        digits: u8,
    },
    /// Past the size digits: whitespace, extensions, CR, until LF.
    SizeRest {
        size: u64,
    },
    Data {
        remaining: u64,
    },
    /// After a chunk's data: CR or LF expected.
    DataEnd,
    /// After a chunk's data and a CR: LF expected.
    DataLf,
    TrailerStart,
    TrailerLine,
    /// An empty line's CR ended the trailers: LF expected.
    EndLf,
    Done,
}

/// What one [`ChunkedDecoder::feed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkedProgress {
    /// Input bytes used; the rest belongs to the next message when `done`.
    pub consumed: usize,
    /// Payload bytes among them (framing excluded).
    pub payload: u64,
    /// The last chunk and the trailers are complete.
    pub done: bool,
}

/// The chunked framing is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("invalid chunked body")]
pub struct ChunkedError;

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder {
            state: ChunkState::Size { size: 0, digits: 0 },
            line: 0,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Consumes as much of `input` as belongs to this body.
    pub fn feed(&mut self, input: &[u8]) -> Result<ChunkedProgress, ChunkedError> {
        let mut i = 0;
        let mut payload = 0u64;
        while i < input.len() && self.state != ChunkState::Done {
            if let ChunkState::Data { remaining } = self.state {
                let n = remaining.min((input.len() - i) as u64);
                i += n as usize;
                payload += n;
                self.state = match remaining - n {
                    0 => ChunkState::DataEnd,
                    r => ChunkState::Data { remaining: r },
                };
                continue;
            }
            self.byte(input[i])?;
            i += 1;
        }
        Ok(ChunkedProgress {
            consumed: i,
            payload,
            done: self.is_done(),
        })
    }

    /// Skips `len` uncaptured bytes if they lie inside one chunk's data;
    /// returns false (and changes nothing) otherwise.
    pub fn skip_gap(&mut self, len: u64) -> bool {
        match self.state {
            ChunkState::Data { remaining } if len <= remaining => {
                self.state = match remaining - len {
                    0 => ChunkState::DataEnd,
                    r => ChunkState::Data { remaining: r },
                };
                true
            }
            _ => false,
        }
    }

    fn byte(&mut self, b: u8) -> Result<(), ChunkedError> {
        use ChunkState::*;
        self.state = match self.state {
            Size { size, digits } => match (b as char).to_digit(16) {
                Some(d) if digits < 16 => Size {
                    size: size << 4 | u64::from(d),
                    digits: digits + 1,
                },
                Some(_) => return Err(ChunkedError),
                None if digits == 0 => return Err(ChunkedError),
                None if b == b'\n' => self.size_line_end(size),
                None if matches!(b, b';' | b' ' | b'\t' | b'\r') => {
                    self.line = 0;
                    SizeRest { size }
                }
                None => return Err(ChunkedError),
            },
            SizeRest { size } => match b {
                b'\n' => self.size_line_end(size),
                _ if self.line >= MAX_CHUNK_LINE => return Err(ChunkedError),
                _ => {
                    self.line += 1;
                    SizeRest { size }
                }
            },
            DataEnd => match b {
                b'\r' => DataLf,
                b'\n' => Size { size: 0, digits: 0 },
                _ => return Err(ChunkedError),
            },
            DataLf => match b {
                b'\n' => Size { size: 0, digits: 0 },
                _ => return Err(ChunkedError),
            },
            TrailerStart | TrailerLine if self.line >= MAX_HEAD_BYTES => return Err(ChunkedError),
            TrailerStart => {
                self.line += 1;
                match b {
                    b'\r' => EndLf,
                    b'\n' => Done,
                    _ => TrailerLine,
                }
            }
            TrailerLine => {
                self.line += 1;
                if b == b'\n' {
                    TrailerStart
                } else {
                    TrailerLine
                }
            }
            EndLf => match b {
                b'\n' => Done,
                _ => return Err(ChunkedError),
            },
            // `feed` never passes data bytes or bytes after the end here.
            Data { .. } | Done => self.state,
        };
        Ok(())
    }

    fn size_line_end(&mut self, size: u64) -> ChunkState {
        self.line = 0;
        if size == 0 {
            ChunkState::TrailerStart
        } else {
            ChunkState::Data { remaining: size }
        }
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
