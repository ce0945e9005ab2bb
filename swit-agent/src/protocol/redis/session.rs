//! One connection's Redis session: a frame parser per direction and the
//! FIFO that pairs commands with replies.
//!
//! Pairing. Redis answers every command with exactly one reply, in order,
//! so pipelined commands pair first-in first-out. Transactions need nothing
//! more: `MULTI` is a call answered by `+OK`, each queued command a call
//! answered (and ended) by its `+QUEUED` or its queue-time error, and
//! `EXEC` a call answered by the array of results (`DISCARD` by `+OK`);
//! the results inside that array are not attributed to the queued calls.
//! Not replies, so never paired: RESP3 push frames (`>`), attributes
//! (dropped by the parser).
//!
//! After `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE` or `MONITOR` the server
//! sends data that answers no command. That command is reported when its
//! first reply arrives (a RESP3 push counts), then the session stops: no
//! further call is reported on the connection.
//!
//! `SELECT n` answered by `+OK` sets `db.namespace` of later calls (the
//! index as text, `"0"` at first; a session that starts mid-connection
//! cannot know an earlier `SELECT`).
//!
//! Gaps. A gap inside a bulk payload is skipped. Anywhere else the side
//! loses its place, reports one `ParseError` and resynchronises (nothing
//! more is reported until a frame parses again):
//! - the request side at a line start beginning `*<n>\r\n$<len>\r\n` and a
//!   known command (or a chunk starting with an inline known command); a
//!   command cut by the gap still gets a reply, which is skipped; commands
//!   lost whole inside a gap cannot be counted, and later replies may then
//!   pair with the wrong command until the pipeline drains;
//! - the response side at the next chunk that starts with a RESP type byte
//!   (servers write whole replies); calls waiting for a reply are dropped,
//!   since theirs may have been lost.
//!
//! Both sides start resynchronising, silently: capture may begin
//! mid-stream.
use std::collections::VecDeque;

use super::commands::{PUSH_MODE, is_container};
use super::parse::{DetectResult, Frame, Kind, Outcome, Parser, detect};
use crate::protocol::db::{DbCall, DbEvent, system};
use crate::protocol::{Input, Moment, Side, Timing};

/// Most calls kept waiting for a reply; past it further commands are
/// counted (so their replies are still skipped in order) but not reported.
pub const MAX_PENDING: usize = 4096;
/// Bytes of a key kept in `db.query.text`.
pub const MAX_KEY: usize = 128;
/// Most `?` written for arguments; more are summarised as `...`.
pub const MAX_PLACEHOLDERS: u64 = 16;

/// Redis state of one connection.
#[derive(Debug)]
pub struct Session {
    req: Direction,
    resp: Direction,
    /// Commands waiting for their reply, oldest first.
    pending: VecDeque<Entry>,
    /// `Entry::Call`s in `pending`.
    calls: usize,
    /// Database index (`SELECT`).
    namespace: String,
    next_id: u64,
    /// Subscribed or monitoring: nothing more is paired.
    push_mode: bool,
    dropped_calls: u64,
}

#[derive(Debug)]
struct Direction {
    parser: Parser,
    /// At a frame boundary (false while resynchronising).
    synced: bool,
    /// An error episode is under way: no further `ParseError` until a frame
    /// parses.
    quiet: bool,
    /// The chunk that carried the current frame's first byte.
    first: Moment,
    /// While resynchronising: the last byte seen was a LF.
    prev_lf: bool,
}

#[derive(Debug)]
enum Entry {
    Call(Box<Waiting>),
    /// Commands whose replies are skipped (not reported, or lost).
    Skip(u64),
}

#[derive(Debug)]
struct Waiting {
    call: DbCall,
    /// `SELECT`'s index: the namespace once the reply is `+OK`.
    select: Option<String>,
    /// The reply puts the connection in push mode.
    push: bool,
}

impl Direction {
    fn new(side: Side) -> Self {
        Direction {
            parser: Parser::new(side == Side::Request),
            synced: false,
            quiet: true,
            first: Moment::default(),
            prev_lf: false,
        }
    }

    /// Discards bytes up to a plausible frame start (see module doc);
    /// returns how many.
    fn resync(&mut self, side: Side, rest: &[u8], chunk_start: bool) -> usize {
        if side == Side::Response {
            if chunk_start && b"+-:$*_#,(!=%~|>".contains(&rest[0]) {
                self.synced = true;
                return 0;
            }
            return rest.len();
        }
        let mut line_start = chunk_start || self.prev_lf;
        let mut i = 0;
        loop {
            if line_start {
                let r = &rest[i..];
                let found = match detect(r) {
                    DetectResult::Match => true,
                    DetectResult::NeedMore => r[0] == b'*',
                    DetectResult::NoMatch => false,
                };
                // Inline commands only where a write starts.
                if found && (r[0] == b'*' || (chunk_start && i == 0)) {
                    self.synced = true;
                    return i;
                }
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

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    pub fn new() -> Self {
        Session {
            req: Direction::new(Side::Request),
            resp: Direction::new(Side::Response),
            pending: VecDeque::new(),
            calls: 0,
            namespace: "0".to_string(),
            next_id: 0,
            push_mode: false,
            dropped_calls: 0,
        }
    }

    /// Calls not reported because [`MAX_PENDING`] were waiting.
    pub fn dropped_calls(&self) -> u64 {
        self.dropped_calls
    }

    /// Calls waiting for their reply.
    pub fn pending_calls(&self) -> usize {
        self.calls
    }

    /// Feeds the next input of one side.
    pub fn feed(&mut self, side: Side, input: Input<'_>, out: &mut dyn FnMut(DbEvent)) {
        #[cfg(test)]
        crate::protocol::seeds::input("redis", side, input);
        if self.push_mode {
            return;
        }
        match input {
            Input::Data { bytes, at } => {
                let mut off = 0;
                while off < bytes.len() && !self.push_mode {
                    let d = self.dir(side);
                    if !d.synced {
                        off += d.resync(side, &bytes[off..], off == 0);
                        continue;
                    }
                    if d.parser.is_idle() {
                        d.first = at;
                    }
                    // Consumes at least one byte (see `Parser::feed`).
                    let step = d.parser.feed(&bytes[off..]);
                    off += step.consumed;
                    match step.outcome {
                        Outcome::More => {}
                        Outcome::Frame(frame) => {
                            d.quiet = false;
                            let timing = Timing {
                                first: d.first,
                                last: at,
                            };
                            self.on_frame(side, frame, timing, out);
                        }
                        Outcome::Invalid(reason) => self.fail(side, reason, out),
                    }
                }
            }
            Input::Gap { len, .. } => {
                let d = self.dir(side);
                if !d.synced {
                    d.prev_lf = false;
                    return;
                }
                if d.parser.skip_gap(len) {
                    return;
                }
                let cut = !d.parser.is_idle();
                self.fail(side, "gap", out);
                if side == Side::Request && cut {
                    self.push_skip(1);
                }
            }
        }
    }

    /// The connection closed: calls still waiting are dropped.
    pub fn close(&mut self, at: Moment, out: &mut dyn FnMut(DbEvent)) {
        // Redis frames never end at close: nothing completes now.
        let _ = (at, out);
        *self = Session::new();
    }

    fn dir(&mut self, side: Side) -> &mut Direction {
        match side {
            Side::Request => &mut self.req,
            Side::Response => &mut self.resp,
        }
    }

    fn on_frame(&mut self, side: Side, frame: Frame, timing: Timing, out: &mut dyn FnMut(DbEvent)) {
        match side {
            Side::Request => self.on_command(frame, timing),
            Side::Response => self.on_reply(frame, timing, out),
        }
    }

    fn on_command(&mut self, frame: Frame, timing: Timing) {
        if !matches!(frame.kind, Kind::Array | Kind::Inline) {
            return;
        }
        let Some(Some(name)) = frame.words.first() else {
            return;
        };
        let (operation, query) = describe(name, &frame.words, frame.len.unwrap_or(0));
        let select = match operation.as_str() {
            "SELECT" => frame.words.get(1).cloned().flatten(),
            _ => None,
        };
        let push = PUSH_MODE.contains(&operation.as_str());
        let id = self.next_id;
        self.next_id += 1;
        if self.calls >= MAX_PENDING {
            self.dropped_calls += 1;
            self.push_skip(1);
            return;
        }
        let call = DbCall {
            id,
            system: system::REDIS,
            operation: Some(operation),
            namespace: Some(self.namespace.clone()),
            query_text: Some(query),
            request: timing,
            ..DbCall::default()
        };
        self.pending
            .push_back(Entry::Call(Box::new(Waiting { call, select, push })));
        self.calls += 1;
    }

    fn on_reply(&mut self, frame: Frame, timing: Timing, out: &mut dyn FnMut(DbEvent)) {
        let front_push = matches!(self.pending.front(), Some(Entry::Call(w)) if w.push);
        if frame.kind == Kind::Push && !front_push {
            return;
        }
        let waiting = match self.pending.pop_front() {
            None => return,
            Some(Entry::Skip(n)) => {
                if n > 1 {
                    self.pending.push_front(Entry::Skip(n - 1));
                }
                return;
            }
            Some(Entry::Call(w)) => w,
        };
        self.calls -= 1;
        let Waiting {
            mut call,
            select,
            push,
        } = *waiting;
        call.response = timing;
        match frame.kind {
            Kind::Error | Kind::BulkError => {
                let text = frame.text.unwrap_or_default();
                let (code, message) = match text.split_once(' ') {
                    Some((code, rest)) => (code, rest.trim()),
                    None => (text.as_str(), ""),
                };
                let code = if code.is_empty() { "ERR" } else { code };
                call.status_code = Some(code.to_string());
                call.error_message = (!message.is_empty()).then(|| message.to_string());
            }
            Kind::Simple if frame.text.as_deref() == Some("OK") => {
                if let Some(db) = select {
                    self.namespace = db;
                }
            }
            _ => {}
        }
        out(DbEvent::Call(call));
        if push {
            self.push_mode = true;
            self.pending.clear();
            self.calls = 0;
        }
    }

    fn push_skip(&mut self, n: u64) {
        match self.pending.back_mut() {
            Some(Entry::Skip(k)) => *k += n,
            _ => self.pending.push_back(Entry::Skip(n)),
        }
    }

    /// The side lost its place: report once per episode and resynchronise.
    fn fail(&mut self, side: Side, reason: &'static str, out: &mut dyn FnMut(DbEvent)) {
        let d = self.dir(side);
        if !d.quiet {
            out(DbEvent::ParseError { side, reason });
        }
        d.quiet = true;
        d.synced = false;
        d.prev_lf = false;
        d.parser.reset();
        if side == Side::Response {
            self.pending.clear();
            self.calls = 0;
        }
    }
}

/// `db.operation.name` and `db.query.text` of a command of `len` words:
/// the name (and a container command's subcommand), the key, and a `?` per
/// further argument (`SET user:1 ?`, `HSET h ? ?`). `AUTH` is always
/// `AUTH ?`.
pub fn describe(name: &str, words: &[Option<String>], len: u64) -> (String, String) {
    let name = name.to_ascii_uppercase();
    if name == "AUTH" {
        return (name, "AUTH ?".to_string());
    }
    let mut op = name.clone();
    let mut parts = vec![name];
    let mut next = 1;
    if is_container(&op)
        && let Some(Some(sub)) = words.get(1)
        && (1..=32).contains(&sub.len())
        && sub
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        let sub = sub.to_ascii_uppercase();
        op = format!("{op} {sub}");
        parts.push(sub);
        next = 2;
    }
    if next < len {
        match words.get(next as usize) {
            Some(Some(key)) => parts.push(truncate(key, MAX_KEY).to_string()),
            _ => parts.push("?".to_string()),
        }
        next += 1;
    }
    let rest = len.saturating_sub(next);
    for _ in 0..rest.min(MAX_PLACEHOLDERS) {
        parts.push("?".to_string());
    }
    if rest > MAX_PLACEHOLDERS {
        parts.push("...".to_string());
    }
    (op, parts.join(" "))
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
