//! Pure RESP2/RESP3 framing: an incremental frame parser that keeps a
//! summary of each frame, never its payloads, and the request detector.
//!
//! The parser is a byte-driven state machine, so a frame may arrive in any
//! number of pieces (one byte at a time gives the same frame as one chunk)
//! and a bulk payload is counted through, never buffered: a gap inside one
//! is skipped. What it keeps of a frame:
//! - its kind and, for an aggregate, its element count;
//! - the text of a simple string, error or bulk error (at most
//!   [`MAX_TEXT`] bytes; errors are needed for the status code);
//! - for a command (request side), its first [`MAX_WORDS`] words as
//!   [`keep_word`] allows: the name, the key, and the subcommand's argument
//!   of a container command (`CONFIG GET name`). Values are never kept.
//!
//! An attribute (`|`) is read and dropped: the frame is the reply it
//! decorates. Streamed strings and aggregates (`$?`, `*?`) are refused as
//! invalid: servers do not send them in practice.
use super::commands::{is_container, is_known};
use crate::protocol::framing::Start;

/// Deepest aggregate nesting accepted.
pub const MAX_DEPTH: usize = 16;
/// Most elements (all levels together) in one frame.
pub const MAX_ELEMENTS: u64 = 1 << 20;
/// Largest bulk payload accepted (Redis' default `proto-max-bulk-len`).
pub const MAX_BULK: u64 = 512 * 1024 * 1024;
/// Longest line (a type line, or an inline command); Redis' own limit for
/// inline commands.
pub const MAX_LINE: usize = 64 * 1024;
/// Bytes kept of a text (simple string, error, command word).
pub const MAX_TEXT: usize = 256;
/// Command words kept: name, key or subcommand, subcommand's argument.
pub const MAX_WORDS: usize = 3;
/// Bytes of a line held while it is read (numbers need far less; the
/// words of an inline command are cut here).
const LINE_KEEP: usize = 1024;

/// Outcome of [`parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// A complete frame of `len` bytes from the start of the input.
    Done { value: T, len: usize },
    /// The input is a strict prefix of a frame.
    NeedMore,
    /// Not RESP.
    Invalid(&'static str),
}

/// The type of a frame (of the reply, for an attribute-decorated one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Simple,
    Error,
    Integer,
    Bulk,
    /// `_`, `$-1` or `*-1`.
    Null,
    Boolean,
    Double,
    BigNumber,
    BulkError,
    Verbatim,
    Array,
    Map,
    Set,
    /// Out-of-band data (RESP3 `>`): not a reply to a command.
    Push,
    /// A command as a plain text line (`PING\r\n`).
    Inline,
}

/// What is kept of one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: Kind,
    /// Elements of an aggregate (pairs for a map), words of an inline
    /// command; `None` for scalars and nulls.
    pub len: Option<u64>,
    /// Simple string, error or bulk error text, lossy UTF-8, at most
    /// [`MAX_TEXT`] bytes.
    pub text: Option<String>,
    /// First words of a command (an array's string elements or an inline
    /// line's words): `None` where the element is not a string or
    /// [`keep_word`] withholds it.
    pub words: Vec<Option<String>>,
}

/// Whether word `index` of a command whose earlier words are `words` may be
/// kept: the name always; the first argument (the key) unless it is a
/// secret or free text (`AUTH`, `HELLO`, `ECHO`, `PING`, scripts); the
/// third word only after a container command's subcommand (`CLIENT
/// SETNAME x`), except for script bodies.
pub fn keep_word(words: &[Option<String>], index: usize) -> bool {
    let name = || words.first().and_then(|w| w.as_deref()).unwrap_or("");
    let is = |list: &[&str]| list.iter().any(|c| c.eq_ignore_ascii_case(name()));
    match index {
        0 => true,
        1 => !is(&["AUTH", "HELLO", "ECHO", "PING", "EVAL", "EVAL_RO"]),
        2 => is_container(name()) && !is(&["SCRIPT", "FUNCTION"]),
        _ => false,
    }
}

/// Parses one frame from the start of `buf`; `commands` for the request
/// side (inline commands allowed, words kept).
pub fn parse(buf: &[u8], commands: bool) -> Parsed<Frame> {
    let mut p = Parser::new(commands);
    let mut off = 0;
    while off < buf.len() {
        let step = p.feed(&buf[off..]);
        off += step.consumed;
        match step.outcome {
            Outcome::More => {}
            Outcome::Frame(value) => return Parsed::Done { value, len: off },
            Outcome::Invalid(r) => return Parsed::Invalid(r),
        }
    }
    Parsed::NeedMore
}

/// Does a connection's first request bytes look like Redis? A RESP array
/// whose first element is a known command name, or an inline known
/// command (not an HTTP request line).
pub fn detect(buf: &[u8]) -> Start {
    use Start::{NeedMore, No, Yes};
    let Some(&first) = buf.first() else {
        return NeedMore;
    };
    if first == b'*' {
        let Some((n, rest)) = header(&buf[1..]) else {
            return line_prefix(&buf[1..]);
        };
        if !(1..=MAX_ELEMENTS as i64).contains(&n) {
            return No;
        }
        if rest.is_empty() {
            return NeedMore;
        }
        if rest[0] != b'$' {
            return No;
        }
        let Some((len, rest)) = header(&rest[1..]) else {
            return line_prefix(&rest[1..]);
        };
        if !(1..=32).contains(&len) {
            return No;
        }
        let len = len as usize;
        if rest.len() < len {
            // A prefix of a known name?
            return match rest.is_empty() || super::commands::is_prefix(rest) {
                true => NeedMore,
                false => No,
            };
        }
        return match is_known(&rest[..len]) {
            true => Yes,
            false => No,
        };
    }
    let word_len = buf.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let word = &buf[..word_len];
    match buf.get(word_len) {
        None if super::commands::is_prefix(word) => NeedMore,
        Some(b' ' | b'\r' | b'\n') if is_known(word) => {
            let line = buf.iter().position(|&b| b == b'\n');
            match line {
                Some(end) if buf[..end].windows(6).any(|w| w == b" HTTP/") => No,
                Some(_) => Yes,
                None if buf.len() < LINE_KEEP => NeedMore,
                None => No,
            }
        }
        _ => No,
    }
}

/// `digits\r\n` (or `-1\r\n`) at the start: the number and what follows.
fn header(b: &[u8]) -> Option<(i64, &[u8])> {
    let end = b.windows(2).position(|w| w == b"\r\n")?;
    let n = parse_int(&b[..end]).unwrap_or(-2);
    Some((n, &b[end + 2..]))
}

/// A header line not yet ended: still plausible while short and numeric.
fn line_prefix(b: &[u8]) -> Start {
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    match &b[digits..] {
        [] | [b'\r'] if digits <= 7 => Start::NeedMore,
        _ => Start::No,
    }
}

fn parse_int(b: &[u8]) -> Option<i64> {
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// What one [`Parser::feed`] call did.
#[derive(Debug)]
pub struct Fed {
    /// Bytes used from the input: up to the end of a frame, through an
    /// invalid byte, or all of them.
    pub consumed: usize,
    pub outcome: Outcome,
}

#[derive(Debug)]
pub enum Outcome {
    /// The input was used up inside a frame (or between frames).
    More,
    Frame(Frame),
    /// Not RESP; the parser must be [`Parser::reset`].
    Invalid(&'static str),
}

/// Incremental parser for one direction.
#[derive(Debug)]
pub struct Parser {
    commands: bool,
    state: State,
    /// Current line (or kept payload), at most `LINE_KEEP` bytes.
    buf: Vec<u8>,
    line_len: usize,
    last: u8,
    stack: Vec<Agg>,
    elements: u64,
    /// Kind of the top-level frame, once its type byte is read.
    kind: Option<Kind>,
    len: Option<u64>,
    text: Option<String>,
    words: Vec<Option<String>>,
    /// The current element is command word `words.len()`; keep it?
    word: Option<bool>,
    /// Bytes of the current frame have been read.
    started: bool,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Type,
    /// Reading the line after type byte `ty` (0: an inline command).
    Line {
        ty: u8,
    },
    /// `left` payload bytes of a `$`, `!` or `=` string to go.
    Payload {
        ty: u8,
        left: u64,
    },
    /// The CRLF after a payload; `got` bytes of it seen.
    PayloadEnd {
        ty: u8,
        got: u8,
    },
}

#[derive(Debug, Clone, Copy)]
struct Agg {
    left: u64,
    /// An attribute: when done it does not count as an element.
    attribute: bool,
}

const INLINE: u8 = 0;

impl Parser {
    pub fn new(commands: bool) -> Self {
        Parser {
            commands,
            state: State::Type,
            buf: Vec::new(),
            line_len: 0,
            last: 0,
            stack: Vec::new(),
            elements: 0,
            kind: None,
            len: None,
            text: None,
            words: Vec::new(),
            word: None,
            started: false,
        }
    }

    /// Forgets any frame in progress.
    pub fn reset(&mut self) {
        *self = Parser::new(self.commands);
    }

    /// No byte of a frame has been read since the last one ended.
    pub fn is_idle(&self) -> bool {
        !self.started
    }

    /// `len` uncaptured bytes: skipped (true) when they lie within the
    /// payload of the current bulk string, else the frame is lost (false;
    /// the caller resets).
    pub fn skip_gap(&mut self, len: u64) -> bool {
        if let State::Payload { ty, left } = self.state
            && len <= left
        {
            self.state = match left - len {
                0 => State::PayloadEnd { ty, got: 0 },
                left => State::Payload { ty, left },
            };
            return true;
        }
        false
    }

    /// Reads bytes until a frame ends, the bytes prove invalid, or they run
    /// out.
    pub fn feed(&mut self, bytes: &[u8]) -> Fed {
        let mut i = 0;
        while i < bytes.len() {
            let res = match self.state {
                State::Type => {
                    let b = bytes[i];
                    if self.commands && self.stack.is_empty() && self.kind.is_none() && b != b'*' {
                        self.begin_line(INLINE);
                        Ok(None)
                    } else {
                        i += 1;
                        self.type_byte(b)
                    }
                }
                State::Line { ty } => {
                    let rest = &bytes[i..];
                    match rest.iter().position(|&b| b == b'\n') {
                        None => {
                            i = bytes.len();
                            self.push_line(rest).map(|()| None)
                        }
                        Some(p) => {
                            i += p + 1;
                            self.push_line(&rest[..p]).and_then(|()| self.end_line(ty))
                        }
                    }
                }
                State::Payload { ty, left } => {
                    let n = (left.min((bytes.len() - i) as u64)) as usize;
                    if self.word == Some(true) || (ty == b'!' && self.stack.is_empty()) {
                        let room = MAX_TEXT.saturating_sub(self.buf.len()).min(n);
                        self.buf.extend_from_slice(&bytes[i..i + room]);
                    }
                    i += n;
                    self.state = match left - n as u64 {
                        0 => State::PayloadEnd { ty, got: 0 },
                        left => State::Payload { ty, left },
                    };
                    Ok(None)
                }
                State::PayloadEnd { ty, got } => {
                    let b = bytes[i];
                    i += 1;
                    match (got, b) {
                        (0, b'\r') => {
                            self.state = State::PayloadEnd { ty, got: 1 };
                            Ok(None)
                        }
                        (1, b'\n') => Ok(self.end_string(ty)),
                        _ => Err("bulk string not ended by CRLF"),
                    }
                }
            };
            match res {
                Ok(None) => {}
                Ok(Some(frame)) => {
                    return Fed {
                        consumed: i,
                        outcome: Outcome::Frame(frame),
                    };
                }
                Err(r) => {
                    return Fed {
                        consumed: i.max(1),
                        outcome: Outcome::Invalid(r),
                    };
                }
            }
        }
        Fed {
            consumed: bytes.len(),
            outcome: Outcome::More,
        }
    }

    fn begin_line(&mut self, ty: u8) {
        self.started = true;
        self.buf.clear();
        self.line_len = 0;
        self.last = 0;
        self.state = State::Line { ty };
    }

    fn push_line(&mut self, b: &[u8]) -> Result<(), &'static str> {
        self.line_len += b.len();
        if self.line_len > MAX_LINE {
            return Err("line too long");
        }
        let room = LINE_KEEP.saturating_sub(self.buf.len()).min(b.len());
        self.buf.extend_from_slice(&b[..room]);
        if let Some(&l) = b.last() {
            self.last = l;
        }
        Ok(())
    }

    /// At an element's type byte.
    fn type_byte(&mut self, b: u8) -> Result<Option<Frame>, &'static str> {
        const TYPES: &[u8] = b"+-:$*_#,(!=%~|>";
        if !TYPES.contains(&b) {
            return Err("unknown type byte");
        }
        self.started = true;
        if self.stack.is_empty() && b != b'|' && self.kind.is_none() {
            self.kind = Some(kind_of(b));
        }
        // A command word: a direct element of the top-level array.
        self.word = None;
        if self.commands
            && self.kind == Some(Kind::Array)
            && self.stack.len() == 1
            && b != b'|'
            && self.words.len() < MAX_WORDS
        {
            if matches!(b, b'$' | b'+' | b':') {
                self.word = Some(keep_word(&self.words, self.words.len()));
            } else {
                self.words.push(None);
            }
        }
        self.begin_line(b);
        Ok(None)
    }

    fn end_line(&mut self, ty: u8) -> Result<Option<Frame>, &'static str> {
        let kept = self.buf.len().min(self.line_len);
        if ty == INLINE {
            let line = match self.buf[..kept].strip_suffix(b"\r") {
                Some(l) if self.line_len == kept => l,
                _ => &self.buf[..kept],
            };
            return self.end_inline(line.to_vec());
        }
        if self.last != b'\r' {
            return Err("line not ended by CRLF");
        }
        // Without the CR (it is kept only when the whole line was).
        let line = &self.buf[..kept.min(self.line_len - 1)];
        match ty {
            b'+' | b'-' => {
                let text = lossy(line);
                if self.stack.is_empty() {
                    self.text = Some(text.clone());
                }
                self.word_done(text);
            }
            b':' => {
                parse_int(line).ok_or("invalid integer")?;
                self.word_done(lossy(line));
            }
            b'_' if line.is_empty() => {}
            b'#' if line == b"t" || line == b"f" => {}
            b',' | b'(' if !line.is_empty() && line.iter().all(|c| c.is_ascii_graphic()) => {}
            b'$' | b'!' | b'=' => {
                let n = parse_int(line).ok_or("invalid length")?;
                if n == -1 && ty == b'$' {
                    self.word_done_none();
                    self.set_null();
                } else if (0..=MAX_BULK as i64).contains(&n) {
                    self.buf.clear();
                    self.state = match n {
                        0 => State::PayloadEnd { ty, got: 0 },
                        n => State::Payload { ty, left: n as u64 },
                    };
                    return Ok(None);
                } else {
                    return Err("invalid length");
                }
            }
            b'*' | b'%' | b'~' | b'|' | b'>' => {
                let n = parse_int(line).ok_or("invalid count")?;
                if n == -1 && ty == b'*' {
                    self.set_null();
                } else if (0..=MAX_ELEMENTS as i64).contains(&n) {
                    let n = n as u64;
                    let elems = if matches!(ty, b'%' | b'|') { 2 * n } else { n };
                    self.elements += elems;
                    if self.elements > MAX_ELEMENTS {
                        return Err("too many elements");
                    }
                    if self.stack.is_empty() && ty != b'|' {
                        self.len = Some(n);
                    }
                    if elems > 0 {
                        if self.stack.len() >= MAX_DEPTH {
                            return Err("nested too deep");
                        }
                        self.stack.push(Agg {
                            left: elems,
                            attribute: ty == b'|',
                        });
                        self.state = State::Type;
                        return Ok(None);
                    }
                    if ty == b'|' {
                        self.state = State::Type;
                        return Ok(None);
                    }
                } else {
                    return Err("invalid count");
                }
            }
            _ => return Err("invalid value"),
        }
        Ok(self.element_done())
    }

    fn end_inline(&mut self, line: Vec<u8>) -> Result<Option<Frame>, &'static str> {
        if line.iter().any(|&c| c < 0x20 && c != b'\t') || line.contains(&0x7f) {
            return Err("not resp");
        }
        let mut words = Vec::new();
        let mut count = 0u64;
        for w in line
            .split(u8::is_ascii_whitespace)
            .filter(|w| !w.is_empty())
        {
            if words.len() < MAX_WORDS {
                let keep = keep_word(&words, words.len());
                words.push(keep.then(|| lossy(w)));
            }
            count += 1;
        }
        if count == 0 {
            // Redis skips empty lines between commands.
            self.reset();
            return Ok(None);
        }
        self.kind = Some(Kind::Inline);
        self.len = Some(count);
        self.words = words;
        Ok(self.finish())
    }

    fn end_string(&mut self, ty: u8) -> Option<Frame> {
        let text = lossy(&self.buf);
        if ty == b'!' && self.stack.is_empty() {
            self.text = Some(text.clone());
        }
        self.word_done(text);
        self.element_done()
    }

    fn set_null(&mut self) {
        if self.stack.is_empty() {
            self.kind = Some(Kind::Null);
        }
    }

    fn word_done(&mut self, text: String) {
        if let Some(keep) = self.word.take() {
            self.words.push(keep.then_some(text));
        }
    }

    fn word_done_none(&mut self) {
        if self.word.take().is_some() {
            self.words.push(None);
        }
    }

    /// One element is complete: close the aggregates it completes.
    fn element_done(&mut self) -> Option<Frame> {
        self.state = State::Type;
        loop {
            let Some(top) = self.stack.last_mut() else {
                // An element at the top: the frame, unless it was only an
                // attribute (then the reply follows).
                return self.kind.is_some().then(|| self.finish()).flatten();
            };
            top.left -= 1;
            if top.left > 0 {
                return None;
            }
            let agg = self.stack.pop()?;
            if agg.attribute {
                // Decorates the element that follows: not one itself.
                return None;
            }
        }
    }

    fn finish(&mut self) -> Option<Frame> {
        let frame = Frame {
            kind: self.kind?,
            len: self.len,
            text: self.text.take(),
            words: std::mem::take(&mut self.words),
        };
        self.reset();
        Some(frame)
    }
}

fn kind_of(b: u8) -> Kind {
    match b {
        b'+' => Kind::Simple,
        b'-' => Kind::Error,
        b':' => Kind::Integer,
        b'$' => Kind::Bulk,
        b'_' => Kind::Null,
        b'#' => Kind::Boolean,
        b',' => Kind::Double,
        b'(' => Kind::BigNumber,
        b'!' => Kind::BulkError,
        b'=' => Kind::Verbatim,
        b'%' => Kind::Map,
        b'~' => Kind::Set,
        b'>' => Kind::Push,
        _ => Kind::Array,
    }
}

fn lossy(b: &[u8]) -> String {
    let b = &b[..b.len().min(MAX_TEXT)];
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
