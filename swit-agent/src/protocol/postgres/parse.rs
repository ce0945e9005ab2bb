//! Pure PostgreSQL (protocol 3) frame functions: detection, message
//! headers, the start of a plausible message (resynchronisation), and the
//! few message bodies the session reads. Bytes in, values out; no I/O, no
//! clock, no panic, no allocation sized by the input's own length fields.
//!
//! Body readers take a prefix of a body (the session keeps only what it
//! needs, see [`keep`]) and are lenient: a string without its terminating
//! NUL ends at the end of the prefix.
use thiserror::Error;

use super::{MAX_NAME_BYTES, MAX_QUERY_BYTES};
use crate::protocol::{Side, framing};

/// Longest message accepted (PostgreSQL refuses larger ones too).
pub const MAX_MESSAGE_LEN: u32 = 1 << 30;
/// Longest startup packet (PostgreSQL's own limit, `MAX_STARTUP_PACKET_LENGTH`).
pub const MAX_STARTUP_LEN: u32 = 10_000;
/// Protocol 3.0 in a StartupMessage; 3.x minor versions share the major.
pub const PROTOCOL_3_0: u32 = 196_608;
pub const SSL_REQUEST: u32 = 80_877_103;
pub const GSSENC_REQUEST: u32 = 80_877_104;
pub const CANCEL_REQUEST: u32 = 80_877_102;
/// Largest CancelRequest (protocol 3.2 allows secret keys up to 256 bytes).
const MAX_CANCEL_LEN: u32 = 12 + 256;
/// Largest first message [`detect`] believes in: a real first message is
/// small, and this keeps binary protocols whose first byte happens to be a
/// PostgreSQL type byte from passing.
const DETECT_MAX_LEN: u32 = 1 << 24;
/// Body bytes a start check looks at, at most. [`start`] answers `NeedMore`
/// only when fewer than `5 + LOOKAHEAD` bytes are available.
pub const LOOKAHEAD: usize = 32;

/// Message types a frontend (client) sends.
pub const FRONTEND_TAGS: &[u8] = b"QPBEDCSHFdcfpX";
/// Message types a backend (server) sends.
pub const BACKEND_TAGS: &[u8] = b"RKSZTDCIENA123ntsGHWdcVv";

/// Why a message header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameError {
    /// A type byte that this side never sends.
    #[error("unknown message type {0:#04x}")]
    UnknownType(u8),
    /// A length below 4 (the length counts itself) or above
    /// [`MAX_MESSAGE_LEN`] (negative lengths read as huge).
    #[error("invalid message length {0}")]
    BadLength(u32),
    /// An untyped (startup phase) message with an unknown code.
    #[error("unknown startup code {0}")]
    UnknownStartup(u32),
}

impl FrameError {
    /// Short reason for [`crate::protocol::db::DbEvent::ParseError`].
    pub fn reason(self) -> &'static str {
        match self {
            FrameError::UnknownType(_) => "unknown message type",
            FrameError::BadLength(_) => "invalid message length",
            FrameError::UnknownStartup(_) => "unknown startup code",
        }
    }
}

/// Header of a typed message: type byte and int32 length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub tag: u8,
    /// Bytes after the header (the wire length minus its own 4 bytes).
    pub body_len: u32,
}

/// The untyped messages a frontend sends before the startup completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupKind {
    /// StartupMessage of protocol 3.`minor`: parameters follow.
    Startup {
        minor: u16,
    },
    SslRequest,
    GssEncRequest,
    CancelRequest,
}

/// Header of an untyped message: int32 length and int32 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartupHeader {
    pub kind: StartupKind,
    /// Bytes after the code.
    pub body_len: u32,
}

/// What the session keeps of a message body: bytes up to and including the
/// `nuls`-th NUL (`0`: the whole body), at most `cap` bytes. Anything else
/// is skipped by length, never buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keep {
    pub nuls: u8,
    pub cap: usize,
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Which bodies the session reads. Authentication ('R') and password/SASL
/// ('p') messages, DataRow, CopyData and parameters are never kept.
pub fn keep(side: Side, tag: u8) -> Option<Keep> {
    let k = |nuls, cap| Some(Keep { nuls, cap });
    match (side, tag) {
        (Side::Request, b'Q') => k(1, MAX_QUERY_BYTES),
        (Side::Request, b'P') => k(2, MAX_NAME_BYTES + MAX_QUERY_BYTES),
        // Portal and statement names only: the parameters that follow are not kept.
        (Side::Request, b'B') => k(2, 2 * MAX_NAME_BYTES),
        (Side::Request, b'E') => k(1, MAX_NAME_BYTES),
        (Side::Request, b'C') => k(1, 1 + MAX_NAME_BYTES),
        (Side::Response, b'C') => k(1, 128),
        (Side::Response, b'E') => k(0, 8 * 1024),
        (Side::Response, b'Z') => k(0, 1),
        _ => None,
    }
}

/// What the session keeps of a startup-phase message.
pub fn keep_startup(kind: StartupKind) -> Option<Keep> {
    match kind {
        StartupKind::Startup { .. } => Some(Keep {
            nuls: 0,
            cap: MAX_STARTUP_LEN as usize,
        }),
        _ => None,
    }
}

/// Parses a typed message header; `Ok(None)` if `buf` is shorter than 5.
pub fn parse_header(side: Side, buf: &[u8]) -> Result<Option<Header>, FrameError> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    let known = match side {
        Side::Request => FRONTEND_TAGS,
        Side::Response => BACKEND_TAGS,
    };
    if !known.contains(&tag) {
        return Err(FrameError::UnknownType(tag));
    }
    if buf.len() < 5 {
        return Ok(None);
    }
    let len = be32(&buf[1..5]);
    if !(4..=MAX_MESSAGE_LEN).contains(&len) {
        return Err(FrameError::BadLength(len));
    }
    Ok(Some(Header {
        tag,
        body_len: len - 4,
    }))
}

/// Parses an untyped (startup phase) header; `Ok(None)` if `buf` is a
/// plausible prefix shorter than 8 bytes.
pub fn parse_startup_header(buf: &[u8]) -> Result<Option<StartupHeader>, FrameError> {
    if buf.len() < 4 {
        // Lengths are at most 10000: the first two bytes are zero.
        return match buf.iter().take(2).all(|&b| b == 0) {
            true => Ok(None),
            false => Err(FrameError::BadLength(u32::MAX)),
        };
    }
    let len = be32(buf);
    if !(8..=MAX_STARTUP_LEN).contains(&len) {
        return Err(FrameError::BadLength(len));
    }
    if buf.len() < 8 {
        return Ok(None);
    }
    let code = be32(&buf[4..8]);
    let kind = match code {
        SSL_REQUEST if len == 8 => StartupKind::SslRequest,
        GSSENC_REQUEST if len == 8 => StartupKind::GssEncRequest,
        CANCEL_REQUEST if (16..=MAX_CANCEL_LEN).contains(&len) => StartupKind::CancelRequest,
        c if c >> 16 == 3 && len > 8 => StartupKind::Startup {
            minor: (c & 0xffff) as u16,
        },
        c => return Err(FrameError::UnknownStartup(c)),
    };
    Ok(Some(StartupHeader {
        kind,
        body_len: len - 8,
    }))
}

/// Whether a connection's request side starts like PostgreSQL: a
/// StartupMessage (protocol 3), SSLRequest, GSSENCRequest or CancelRequest;
/// or, for a connection already under way, a Query, Parse, Bind, Execute or
/// Sync message with a plausible length and content.
pub fn detect(request_side: &[u8]) -> framing::Start {
    if request_side.len() >= 5 && request_side[0] != 0 && be32(&request_side[1..5]) > DETECT_MAX_LEN
    {
        return framing::Start::No;
    }
    match start(Side::Request, request_side) {
        Start::NoMatch => framing::Start::No,
        Start::NeedMore => framing::Start::NeedMore,
        Start::Typed(len) | Start::Untyped(len) if len > DETECT_MAX_LEN => framing::Start::No,
        Start::Typed(_) | Start::Untyped(_) => framing::Start::Yes,
    }
}

/// Outcome of [`start`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A typed message of this wire length plausibly starts here.
    Typed(u32),
    /// A startup-phase message of this wire length starts here.
    Untyped(u32),
    NeedMore,
    NoMatch,
}

/// Whether a message plausibly starts at `buf[0]`, for resynchronisation
/// at an unknown position. Request side: a startup-phase message, or
/// `Q`/`P`/`B`/`E`/`S` whose first body bytes look right. Response side:
/// ReadyForQuery only (`Z`, length 5, status `I`/`T`/`E`), the one message
/// whose every byte is checkable.
pub fn start(side: Side, buf: &[u8]) -> Start {
    match side {
        Side::Request => match buf.first() {
            None => Start::NeedMore,
            Some(0) => match parse_startup_header(buf) {
                Ok(Some(h)) => Start::Untyped(h.body_len + 8),
                Ok(None) => Start::NeedMore,
                Err(_) => Start::NoMatch,
            },
            Some(_) => frontend_start(buf),
        },
        Side::Response => ready_start(buf),
    }
}

/// [`start`], relaxed for the first byte a side ever shows: a chunk starts
/// at a syscall boundary, which is usually a message boundary, so on the
/// response side any backend message passes whose length is plausible
/// (below 16 MiB) and, when the chunk holds its end, is followed by
/// another backend message type.
pub fn fresh_start(side: Side, buf: &[u8]) -> Start {
    match fresh_backend(side, buf) {
        Start::Typed(len) if len > DETECT_MAX_LEN => Start::NoMatch,
        Start::Typed(len) => match buf.get(len as usize + 1) {
            Some(next) if !BACKEND_TAGS.contains(next) => Start::NoMatch,
            _ => Start::Typed(len),
        },
        s => s,
    }
}

fn fresh_backend(side: Side, buf: &[u8]) -> Start {
    if side == Side::Request {
        return start(side, buf);
    }
    let Some(&tag) = buf.first() else {
        return Start::NeedMore;
    };
    if !BACKEND_TAGS.contains(&tag) {
        return Start::NoMatch;
    }
    if buf.len() < 5 {
        return Start::NeedMore;
    }
    let len = be32(&buf[1..5]);
    let ok = match tag {
        b'Z' => return ready_start(buf),
        b'1' | b'2' | b'3' | b'n' | b'I' | b'c' | b's' => len == 4,
        b'K' => (12..=MAX_CANCEL_LEN).contains(&len),
        b'C' | b'E' | b'N' | b'S' | b'T' | b'D' | b'R' | b'A' | b't' => {
            len > 4 && len <= MAX_MESSAGE_LEN
        }
        _ => (4..=MAX_MESSAGE_LEN).contains(&len),
    };
    match ok {
        true => Start::Typed(len),
        false => Start::NoMatch,
    }
}

fn ready_start(buf: &[u8]) -> Start {
    let want = b"Z\0\0\0\x05";
    let n = buf.len().min(want.len());
    if buf[..n] != want[..n] {
        return Start::NoMatch;
    }
    match buf.get(5) {
        None => Start::NeedMore,
        Some(b'I' | b'T' | b'E') => Start::Typed(5),
        Some(_) => Start::NoMatch,
    }
}

fn frontend_start(buf: &[u8]) -> Start {
    let tag = buf[0];
    if !b"QPBES".contains(&tag) {
        return Start::NoMatch;
    }
    if buf.len() < 5 {
        // A length above MAX_MESSAGE_LEN has its top bits set.
        return match buf.get(1) {
            Some(&b) if b > 0x40 => Start::NoMatch,
            _ => Start::NeedMore,
        };
    }
    let len = be32(&buf[1..5]);
    let min = match tag {
        b'Q' => 5,
        b'P' => 8,
        b'B' => 12,
        b'E' => 9,
        _ => 4,
    };
    if len < min || len > MAX_MESSAGE_LEN || (tag == b'S' && len != 4) {
        return Start::NoMatch;
    }
    let body_len = (len - 4) as usize;
    let avail = &buf[5..buf.len().min(5 + body_len)];
    let complete = avail.len() == body_len;
    let window = &avail[..avail.len().min(LOOKAHEAD)];
    // The window is the whole body: its end is the body's end.
    let whole = complete && window.len() == body_len;
    let seen_all = complete || window.len() == LOOKAHEAD;
    let verdict = match tag {
        b'Q' => sql_text(window, whole, true),
        b'P' => names_then(window, 1, whole, true),
        b'B' => names_then(window, 2, whole, false),
        b'E' => match names_then(window, 1, whole, false) {
            // Execute is a portal name and an int32: its length is exact.
            Start::Typed(_) => {
                let name = window.iter().position(|&b| b == 0);
                match name {
                    Some(p) if p + 1 + 4 == body_len => Start::Typed(0),
                    Some(_) => Start::NoMatch,
                    None => Start::Typed(0),
                }
            }
            v => v,
        },
        _ => Start::Typed(0),
    };
    match verdict {
        Start::Typed(_) => Start::Typed(len),
        Start::NeedMore if seen_all => Start::Typed(len),
        v => v,
    }
}

/// Printable name bytes (statement and portal names are identifiers).
fn name_byte(b: u8) -> bool {
    b.is_ascii_graphic() || b == b' ' || b >= 0x80
}

/// `count` NUL-terminated names, then (for Parse) SQL text.
fn names_then(window: &[u8], count: usize, whole: bool, sql: bool) -> Start {
    let mut rest = window;
    for _ in 0..count {
        match rest.iter().position(|&b| !name_byte(b)) {
            Some(p) if rest[p] == 0 => rest = &rest[p + 1..],
            Some(_) => return Start::NoMatch,
            None if whole => return Start::NoMatch,
            None => return Start::NeedMore,
        }
    }
    match sql {
        true => sql_text(rest, whole, false),
        false => Start::Typed(0),
    }
}

/// Whether bytes look like the start of SQL text: printable (or UTF-8),
/// the first non-blank byte a letter, `(`, `-`, `/` or `;`, then the NUL
/// that ends the text: for a Query (`nul_last`) the body's last byte, for a
/// Parse anywhere (parameter types follow).
fn sql_text(window: &[u8], whole: bool, nul_last: bool) -> Start {
    let mut first = false;
    for (i, &b) in window.iter().enumerate() {
        if b == 0 {
            return match !nul_last || (whole && i + 1 == window.len()) {
                true => Start::Typed(0),
                false => Start::NoMatch,
            };
        }
        if !(b.is_ascii_graphic() || b.is_ascii_whitespace() || b >= 0x80) {
            return Start::NoMatch;
        }
        if !first && !b.is_ascii_whitespace() {
            if !(b.is_ascii_alphabetic() || b"(-/;".contains(&b)) {
                return Start::NoMatch;
            }
            first = true;
        }
    }
    match whole {
        true => Start::NoMatch, // a whole body holds the NUL
        false => Start::NeedMore,
    }
}

/// Splits a NUL-terminated string off `buf`: `(string, rest after the NUL)`,
/// rest `None` when there is no NUL (the string runs to the end).
pub fn cstr(buf: &[u8]) -> (&[u8], Option<&[u8]>) {
    match buf.iter().position(|&b| b == 0) {
        Some(p) => (&buf[..p], Some(&buf[p + 1..])),
        None => (buf, None),
    }
}

/// Text of wire bytes: invalid UTF-8 replaced, an incomplete character at
/// the end (a truncated body) dropped.
pub fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let end = match std::str::from_utf8(bytes) {
        // Valid text, the usual case, is borrowed as it is.
        Ok(s) => return std::borrow::Cow::Borrowed(s),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => bytes.len(),
    };
    String::from_utf8_lossy(&bytes[..end])
}

/// The StartupMessage parameters swit uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StartupParams {
    pub user: Option<String>,
    pub database: Option<String>,
}

/// Reads `name\0value\0...\0` after a StartupMessage's code.
pub fn startup_params(body: &[u8]) -> StartupParams {
    let mut params = StartupParams::default();
    let mut rest = body;
    while let (name, Some(after)) = cstr(rest) {
        if name.is_empty() {
            break;
        }
        let (value, next) = cstr(after);
        let Some(next) = next else {
            break; // a truncated value is not trusted
        };
        match name {
            b"user" => params.user = Some(text(value).into_owned()),
            b"database" => params.database = Some(text(value).into_owned()),
            _ => {}
        }
        rest = next;
    }
    params
}

/// Two leading strings of a body: Parse (statement, query), Bind (portal,
/// statement); a string cut by the end of the kept prefix ends there.
pub fn two_strings(body: &[u8]) -> (&[u8], &[u8]) {
    let (first, rest) = cstr(body);
    (first, cstr(rest.unwrap_or_default()).0)
}

/// Close: `S` (statement) or `P` (portal), and the name.
pub fn close_target(body: &[u8]) -> Option<(u8, &[u8])> {
    let (&kind, rest) = body.split_first()?;
    Some((kind, cstr(rest).0))
}

/// A CommandComplete tag: `SELECT 5`, `INSERT 0 1`, `CREATE TABLE`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandTag {
    /// The tag's first word: `SELECT`, `INSERT`, `CREATE`.
    pub verb: String,
    /// The tag's last number, when it ends with one (rows affected).
    pub count: Option<u64>,
}

impl CommandTag {
    /// Rows sent back: the count of SELECT, FETCH and COPY. DML counts rows
    /// changed, MOVE rows skipped: neither is `db.response.returned_rows`.
    pub fn returned_rows(&self) -> Option<u64> {
        match self.verb.as_str() {
            "SELECT" | "FETCH" | "COPY" => self.count,
            _ => None,
        }
    }
}

pub fn command_tag(body: &[u8]) -> CommandTag {
    let tag = text(cstr(body).0);
    let mut words = tag.split_ascii_whitespace();
    let verb = words.next().unwrap_or_default().to_string();
    let count = tag
        .split_ascii_whitespace()
        .last()
        .filter(|w| *w != verb)
        .and_then(|w| w.parse().ok());
    CommandTag { verb, count }
}

/// The ErrorResponse fields swit uses. Detail, hint, where and the rest may
/// echo literal values and are not read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorFields {
    /// `V` (never localised), else `S`: ERROR, FATAL, PANIC.
    pub severity: Option<String>,
    /// `C`: the SQLSTATE.
    pub code: Option<String>,
    /// `M`: the primary message.
    pub message: Option<String>,
}

/// Reads ErrorResponse (or NoticeResponse) fields; a field cut by the end
/// of the kept prefix is ignored.
pub fn error_fields(body: &[u8]) -> ErrorFields {
    let mut f = ErrorFields::default();
    let mut rest = body;
    while let Some((&code, after)) = rest.split_first() {
        if code == 0 {
            break;
        }
        let (value, next) = cstr(after);
        let Some(next) = next else { break };
        match code {
            b'V' => f.severity = Some(text(value).into_owned()),
            b'S' if f.severity.is_none() => f.severity = Some(text(value).into_owned()),
            b'C' => f.code = Some(text(value).into_owned()),
            b'M' => f.message = Some(text(value).into_owned()),
            _ => {}
        }
        rest = next;
    }
    f
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
