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
use super::parse::{Frame, Kind, Outcome, Parser, detect};
use crate::protocol::db::{DbCall, DbEvent, system};
use crate::protocol::framing::{self, Candidates, Driver, GapFit, Rescan, Start};
use crate::protocol::{Moment, ProtocolKind, Side, Timing};

/// Most calls kept waiting for a reply; past it further commands are
/// counted (so their replies are still skipped in order) but not reported.
pub const MAX_PENDING: usize = 4096;
/// Bytes of a key kept in `db.query.text`.
pub const MAX_KEY: usize = 128;
/// Most `?` written for arguments; more are summarised as `...`.
pub const MAX_PLACEHOLDERS: u64 = 16;

/// One Redis connection, on the framing driver.
pub type Session = Driver<Redis>;

/// Redis state of one connection: a frame parser per side and the calls
/// waiting for replies.
#[derive(Debug)]
pub struct Redis {
    req: Parser,
    resp: Parser,
    /// Commands waiting for their reply, oldest first.
    pending: VecDeque<Entry>,
    /// `Entry::Call`s in `pending`.
    calls: usize,
    /// Database index (`SELECT`).
    namespace: String,
    next_id: u64,
    /// Subscribed or monitoring: nothing more is paired.
    push_mode: bool,
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

impl Default for Redis {
    fn default() -> Self {
        Redis {
            req: Parser::new(true),
            resp: Parser::new(false),
            pending: VecDeque::new(),
            calls: 0,
            namespace: "0".to_string(),
            next_id: 0,
            push_mode: false,
        }
    }
}

impl framing::Protocol for Redis {
    const KIND: ProtocolKind = ProtocolKind::Redis;
    const CANDIDATES: Candidates = Candidates::Lines;
    type Event = DbEvent;
    type Frame = Frame;

    /// Servers write whole replies, so a reply starts a chunk with a RESP
    /// type byte. A command starts a line with `*<n>\r\n$<len>\r\n` and a
    /// known name, or (inline) starts a chunk with a known command.
    fn start(&mut self, side: Side, bytes: &[u8], chunk_start: bool) -> Start {
        let yes = match side {
            Side::Response => chunk_start && b"+-:$*_#,(!=%~|>".contains(&bytes[0]),
            Side::Request => {
                let found = match detect(bytes) {
                    Start::Yes => true,
                    Start::NeedMore => bytes[0] == b'*',
                    Start::No => false,
                };
                found && (bytes[0] == b'*' || chunk_start)
            }
        };
        if yes { Start::Yes } else { Start::No }
    }

    fn idle(&self, side: Side) -> bool {
        self.parser(side).is_idle()
    }

    fn step(&mut self, side: Side, bytes: &[u8], _at: Moment) -> framing::Step<Frame> {
        // Consumes at least one byte (see `Parser::feed`).
        let step = self.parser_mut(side).feed(bytes);
        framing::Step {
            consumed: step.consumed,
            outcome: match step.outcome {
                Outcome::More => framing::Outcome::More,
                Outcome::Frame(f) => framing::Outcome::Frame(f),
                Outcome::Invalid(reason) => framing::Outcome::Invalid(reason),
            },
        }
    }

    fn on_frame(&mut self, side: Side, frame: Frame, timing: Timing, out: &mut dyn FnMut(DbEvent)) {
        match side {
            Side::Request => self.on_command(frame, timing, out),
            Side::Response => self.on_reply(frame, timing, out),
        }
    }

    fn gap(&mut self, side: Side, len: u64, _at: Moment, _: &mut dyn FnMut(DbEvent)) -> GapFit {
        let parser = self.parser_mut(side);
        if parser.skip_gap(len) {
            return GapFit::Skipped;
        }
        // A command cut by the gap still gets a reply, to be skipped.
        if side == Side::Request && !parser.is_idle() {
            self.push_skip(1);
        }
        GapFit::Lost
    }

    /// A lost reply side may have lost replies too: the calls waiting can
    /// no longer be paired.
    fn lost(&mut self, side: Side, out: &mut dyn FnMut(DbEvent)) -> Rescan {
        self.parser_mut(side).reset();
        if side == Side::Response {
            if self.calls > 0 {
                out(DbEvent::Dropped {
                    count: self.calls as u64,
                });
            }
            self.pending.clear();
            self.calls = 0;
        }
        Rescan::Here
    }

    fn parse_error(side: Side, reason: &'static str) -> DbEvent {
        DbEvent::ParseError { side, reason }
    }

    fn stopped(&self) -> bool {
        self.push_mode
    }

    /// Redis frames never end at close: nothing completes now. Calls still
    /// waiting got no reply before the client closed; they are not losses.
    fn close(&mut self, _at: Moment, _: &mut dyn FnMut(DbEvent)) {
        *self = Redis::default();
    }
}

impl Redis {
    /// Calls waiting for their reply.
    pub fn pending_calls(&self) -> usize {
        self.calls
    }

    fn parser(&self, side: Side) -> &Parser {
        match side {
            Side::Request => &self.req,
            Side::Response => &self.resp,
        }
    }

    fn parser_mut(&mut self, side: Side) -> &mut Parser {
        match side {
            Side::Request => &mut self.req,
            Side::Response => &mut self.resp,
        }
    }

    fn on_command(&mut self, frame: Frame, timing: Timing, out: &mut dyn FnMut(DbEvent)) {
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
            out(DbEvent::Dropped { count: 1 });
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
