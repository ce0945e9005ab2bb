//! One connection's PostgreSQL session: a framing state machine per
//! direction (header, body, resynchronisation) and the queue of what the
//! backend owes the frontend, which pairs each call with its result.
//!
//! Framing: every message states its length, so bodies the session does not
//! need are skipped by count, and a gap (uncaptured bytes) inside a body is
//! skipped too (a kept body cut by a gap is read as truncated). A gap that
//! covers a header, a length over 1 GiB, or a type byte the side never sends
//! loses the side's place: one `ParseError` per episode, then bytes are
//! discarded until a plausible message start (see [`parse::start`]: on the
//! request side a startup-phase message or `Q`/`P`/`B`/`E`/`S`, on the
//! response side ReadyForQuery). A side starts in that state, silently.
//! While resynchronising, the first byte of each chunk is also tried with a
//! looser test ([`parse::fresh_start`]): a chunk starts at a syscall
//! boundary, usually a message boundary, so capture that begins on an idle
//! connection is in sync at once. A start found across two chunks is timed
//! by the second.
//!
//! Pairing: each frontend message that the backend answers queues an
//! [`Expect`]. Acknowledgements (`1`, `2`, `3`, `T`/`n` after Describe) pop
//! their entry; a result message first pops acknowledgements left over
//! before it (answered earlier, or lost). An Execute ends at
//! CommandComplete, EmptyQueryResponse, PortalSuspended or ErrorResponse;
//! a Query at ReadyForQuery. After an ErrorResponse in the extended protocol
//! the server skips to Sync: the first Execute before the Sync is reported
//! with the error, later ones are discarded (counted). ReadyForQuery pops up
//! to the first Query or Sync; with none queued, everything queued is stale
//! and dropped. Sides are assumed fed in time order (a request before the
//! response it causes).
//!
//! Timing: a Query's request runs over its own chunks; an Execute's starts
//! at the first extended message (Parse, Bind, Describe, Close) since the
//! previous Execute, Sync or Query, so `P/B/E` in one write share its chunk
//! and a `B/E` reusing an old statement starts at the Bind. The response
//! runs from the first message of the call's own result to its last.
//!
//! SSLRequest or GSSENCRequest answered `S`/`G`: the rest is ciphertext and
//! the session ignores both directions from then on.
use std::collections::VecDeque;
use std::sync::Arc;

use super::calls::{Expect, Names, Pending, Prepared};
use super::parse::{self, Keep, Start, StartupKind};
use crate::protocol::db::{DbCall, DbEvent, system};
use crate::protocol::sql::{self, SqlSummary};
use crate::protocol::{Input, Moment, Side, Timing};

/// Most calls and acknowledgements waiting for the backend; past it the
/// oldest is dropped (and counted).
pub const MAX_PENDING: usize = 1024;
pub use super::calls::MAX_STATEMENTS;
/// Resync keeps at most this many undecided bytes across chunks.
const CARRY_MAX: usize = 64;
/// A kept-body buffer that grew past this is freed after its message.
const SHRINK_ABOVE: usize = 16 * 1024;
const _: () = assert!(parse::LOOKAHEAD + 5 < CARRY_MAX);

#[derive(Debug, Clone, Copy)]
enum Tag {
    Typed(u8),
    Startup(StartupKind),
}

#[derive(Debug, Clone, Copy)]
struct Body {
    tag: Tag,
    left: u32,
    keep: Option<Keep>,
    /// Keeping stopped: enough NULs seen, cap reached, or a gap.
    kept_all: bool,
    nuls: u8,
    /// The kept bytes stop short of what the message held.
    truncated: bool,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Resync,
    /// An untyped (startup phase) header is expected.
    Startup,
    Header,
    Body(Body),
    /// The one-byte answer to SSLRequest/GSSENCRequest.
    SslAnswer,
}

/// One direction. Its buffers may hold message bytes: `Debug` shows only
/// their lengths.
struct Direction {
    state: State,
    hdr: [u8; 8],
    hdr_len: usize,
    /// Kept body bytes, at most the message's [`Keep::cap`].
    buf: Vec<u8>,
    /// Undecided bytes while resynchronising, at most [`CARRY_MAX`].
    carry: Vec<u8>,
    /// Chunk that carried the current message's first byte.
    first: Moment,
    /// In a resync episode (or never synced): errors are not reported.
    quiet: bool,
    /// No byte seen yet.
    fresh: bool,
}

impl std::fmt::Debug for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direction")
            .field("state", &self.state)
            .field("kept", &self.buf.len())
            .field("carry", &self.carry.len())
            .field("quiet", &self.quiet)
            .finish_non_exhaustive()
    }
}

impl Direction {
    fn new() -> Self {
        Direction {
            state: State::Resync,
            hdr: [0; 8],
            hdr_len: 0,
            buf: Vec::new(),
            carry: Vec::new(),
            first: Moment::default(),
            quiet: true,
            fresh: true,
        }
    }

    fn synced(&mut self, start: Start) {
        self.state = match start {
            Start::Untyped(_) => State::Startup,
            _ => State::Header,
        };
        self.hdr_len = 0;
        self.carry.clear();
    }
}

/// PostgreSQL state of one connection.
#[derive(Debug)]
pub struct Session {
    req: Direction,
    resp: Direction,
    queue: VecDeque<Expect>,
    statements: Names<Arc<Prepared>>,
    /// Portal name -> its statement (`None`: prepared before capture).
    portals: Names<Option<Arc<Prepared>>>,
    namespace: Option<String>,
    next_id: u64,
    /// Start of the extended-protocol group the next Execute belongs to.
    group_first: Option<Moment>,
    /// An extended-protocol error arrived before its Sync was seen: the
    /// server skips the frontend's messages until Sync, so does the session.
    skip_to_sync: bool,
    /// Encrypted (or otherwise not PostgreSQL): nothing more is parsed.
    stopped: bool,
    dropped: u64,
    skipped: u64,
    truncated: u64,
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
            queue: VecDeque::new(),
            statements: Names::new(),
            portals: Names::new(),
            namespace: None,
            next_id: 0,
            group_first: None,
            skip_to_sync: false,
            stopped: false,
            dropped: 0,
            skipped: 0,
            truncated: 0,
        }
    }

    /// Entries dropped because [`MAX_PENDING`] were waiting.
    pub fn dropped_calls(&self) -> u64 {
        self.dropped
    }

    /// Calls that produced no result: skipped by the server after an error,
    /// or whose result was lost to a gap before any of it was seen.
    pub fn skipped_calls(&self) -> u64 {
        self.skipped
    }

    /// Query texts longer than [`super::MAX_QUERY_BYTES`] (or cut by a gap)
    /// that were summarised truncated.
    pub fn truncated_queries(&self) -> u64 {
        self.truncated
    }

    /// The session saw TLS (or GSS) encryption start: it parses no more.
    pub fn is_encrypted(&self) -> bool {
        self.stopped
    }

    /// Feeds the next input of one side.
    pub fn feed(&mut self, side: Side, input: Input<'_>, out: &mut dyn FnMut(DbEvent)) {
        #[cfg(test)]
        crate::protocol::seeds::input("postgres", side, input);
        if self.stopped {
            return;
        }
        match input {
            Input::Data { bytes, at } => {
                let d = self.dir(side);
                let resyncing = matches!(d.state, State::Resync) && d.carry.is_empty();
                if (d.fresh || resyncing) && !bytes.is_empty() {
                    d.fresh = false;
                    let s = parse::fresh_start(side, bytes);
                    if matches!(s, Start::Typed(_) | Start::Untyped(_)) {
                        d.synced(s);
                    }
                }
                self.run(side, bytes, at, out);
            }
            Input::Gap { len, at } => self.gap(side, len, at, out),
        }
    }

    /// The connection closed: a call whose result had begun (a FATAL error
    /// ends a connection without ReadyForQuery) is reported; the rest is
    /// dropped.
    pub fn close(&mut self, at: Moment, out: &mut dyn FnMut(DbEvent)) {
        let _ = at; // the last result chunk is known when it matters
        match self.queue.pop_front() {
            Some(Expect::Simple(p) | Expect::Execute(p)) if p.responded => {
                out(DbEvent::Call(p.into_call(false)));
            }
            _ => {}
        }
        self.queue.clear();
        self.req = Direction::new();
        self.resp = Direction::new();
        self.group_first = None;
        self.skip_to_sync = false;
    }

    fn dir(&mut self, side: Side) -> &mut Direction {
        match side {
            Side::Request => &mut self.req,
            Side::Response => &mut self.resp,
        }
    }

    fn run(&mut self, side: Side, bytes: &[u8], at: Moment, out: &mut dyn FnMut(DbEvent)) {
        let mut off = 0;
        while off < bytes.len() && !self.stopped {
            let rest = &bytes[off..];
            // Each step consumes bytes, or (resync replaying its carry)
            // shrinks the carry, so the loop ends.
            off += match self.dir(side).state {
                State::Resync => self.resync(side, rest, at, out),
                State::Startup | State::Header => self.header(side, rest, at, out),
                State::Body(_) => self.body(side, rest, at, out),
                State::SslAnswer => self.ssl_answer(rest[0]),
            };
        }
    }

    /// Discards bytes up to a plausible message start; returns how many.
    fn resync(
        &mut self,
        side: Side,
        rest: &[u8],
        at: Moment,
        out: &mut dyn FnMut(DbEvent),
    ) -> usize {
        let d = self.dir(side);
        if !d.carry.is_empty() {
            let carried = d.carry.len();
            let mut joined = std::mem::take(&mut d.carry);
            joined.extend_from_slice(&rest[..rest.len().min(CARRY_MAX)]);
            for p in 0..carried {
                match parse::start(side, &joined[p..]) {
                    s @ (Start::Typed(_) | Start::Untyped(_)) => {
                        d.synced(s);
                        // Replay the carried bytes; the chunk follows.
                        self.run(side, &joined[p..carried], at, out);
                        return 0;
                    }
                    Start::NeedMore => {
                        // Only short inputs are undecided: all of `rest` is in.
                        d.carry = joined[p..].to_vec();
                        return rest.len();
                    }
                    Start::NoMatch => {}
                }
            }
        }
        for i in 0..rest.len() {
            match parse::start(side, &rest[i..]) {
                s @ (Start::Typed(_) | Start::Untyped(_)) => {
                    d.synced(s);
                    return i;
                }
                Start::NeedMore => {
                    d.carry = rest[i..].to_vec();
                    return rest.len();
                }
                Start::NoMatch => {}
            }
        }
        rest.len()
    }

    fn header(
        &mut self,
        side: Side,
        rest: &[u8],
        at: Moment,
        out: &mut dyn FnMut(DbEvent),
    ) -> usize {
        let d = self.dir(side);
        let startup = matches!(d.state, State::Startup);
        if startup && d.hdr_len == 0 && rest[0] == 0x16 {
            // A TLS handshake record where the startup packet should be.
            self.stopped = true;
            return rest.len();
        }
        if d.hdr_len == 0 {
            d.first = at;
        }
        let need = if startup { 8 } else { 5 };
        let take = (need - d.hdr_len).min(rest.len());
        d.hdr[d.hdr_len..d.hdr_len + take].copy_from_slice(&rest[..take]);
        d.hdr_len += take;
        if d.hdr_len < need {
            return take;
        }
        d.hdr_len = 0;
        let hdr = d.hdr;
        let parsed = match startup {
            true => parse::parse_startup_header(&hdr).map(|h| {
                h.map(|h| {
                    (
                        Tag::Startup(h.kind),
                        h.body_len,
                        parse::keep_startup(h.kind),
                    )
                })
            }),
            false => parse::parse_header(side, &hdr[..5])
                .map(|h| h.map(|h| (Tag::Typed(h.tag), h.body_len, parse::keep(side, h.tag)))),
        };
        match parsed {
            Ok(Some((tag, left, keep))) => {
                d.quiet = false;
                d.buf.clear();
                d.state = State::Body(Body {
                    tag,
                    left,
                    keep,
                    kept_all: keep.is_none(),
                    nuls: 0,
                    truncated: false,
                });
                if left == 0 {
                    self.complete(side, at, out);
                }
            }
            // A full header always parses to a value or an error.
            Ok(None) => self.fail(side, "invalid header", out),
            Err(e) => {
                self.fail(side, e.reason(), out);
                // A message may start inside the refused header.
                self.dir(side).carry = hdr[1..need].to_vec();
            }
        }
        take
    }

    fn body(&mut self, side: Side, rest: &[u8], at: Moment, out: &mut dyn FnMut(DbEvent)) -> usize {
        let d = self.dir(side);
        let State::Body(b) = &mut d.state else {
            return 0;
        };
        let n = (b.left as usize).min(rest.len());
        if let (Some(k), false) = (b.keep, b.kept_all) {
            for &byte in &rest[..n] {
                if d.buf.len() >= k.cap {
                    b.kept_all = true;
                    b.truncated = true;
                    break;
                }
                d.buf.push(byte);
                if byte == 0 && k.nuls > 0 {
                    b.nuls += 1;
                    if b.nuls == k.nuls {
                        b.kept_all = true;
                        break;
                    }
                }
            }
        }
        b.left -= n as u32;
        if b.left == 0 {
            self.complete(side, at, out);
        }
        n
    }

    fn ssl_answer(&mut self, byte: u8) -> usize {
        match byte {
            b'N' => {
                self.resp.state = State::Header;
                1
            }
            // An old server refuses with an ErrorResponse: read it as one.
            b'E' => {
                self.resp.state = State::Header;
                0
            }
            _ => {
                // 'S', 'G': encryption starts; anything else is not ours.
                self.stopped = true;
                1
            }
        }
    }

    fn gap(&mut self, side: Side, len: u64, at: Moment, out: &mut dyn FnMut(DbEvent)) {
        let d = self.dir(side);
        match &mut d.state {
            State::Resync => d.carry.clear(),
            State::Body(b) => {
                if b.keep.is_some() && !b.kept_all {
                    b.kept_all = true;
                    b.truncated = true;
                }
                let left = u64::from(b.left);
                b.left = left.saturating_sub(len) as u32;
                if len >= left {
                    self.complete(side, at, out);
                    if len > left {
                        self.fail(side, "gap", out);
                    }
                }
            }
            State::Startup | State::Header | State::SslAnswer => self.fail(side, "gap", out),
        }
    }

    /// The side lost its place: report once per episode and resynchronise.
    fn fail(&mut self, side: Side, reason: &'static str, out: &mut dyn FnMut(DbEvent)) {
        let d = self.dir(side);
        if !d.quiet {
            out(DbEvent::ParseError { side, reason });
        }
        d.quiet = true;
        d.state = State::Resync;
        d.hdr_len = 0;
        d.buf.clear();
        d.carry.clear();
        if side == Side::Response {
            for e in &mut self.queue {
                if let Expect::Simple(p) | Expect::Execute(p) = e {
                    p.lost = true;
                }
            }
        }
    }

    /// A message of `side` ended with the chunk `at`.
    fn complete(&mut self, side: Side, at: Moment, out: &mut dyn FnMut(DbEvent)) {
        let d = self.dir(side);
        let State::Body(b) = d.state else {
            return;
        };
        d.state = State::Header;
        let first = d.first;
        let buf = std::mem::take(&mut d.buf);
        match (side, b.tag) {
            (Side::Request, Tag::Startup(kind)) => self.on_startup(kind, &buf),
            (Side::Request, Tag::Typed(tag)) => self.on_frontend(tag, &buf, b.truncated, first, at),
            (Side::Response, Tag::Typed(tag)) => self.on_backend(tag, &buf, first, at, out),
            (Side::Response, Tag::Startup(_)) => {}
        }
        let d = self.dir(side);
        if buf.capacity() <= SHRINK_ABOVE {
            d.buf = buf;
            d.buf.clear();
        }
    }

    fn on_startup(&mut self, kind: StartupKind, body: &[u8]) {
        match kind {
            StartupKind::Startup { .. } => {
                let params = parse::startup_params(body);
                // PostgreSQL's default database is the user's name.
                self.namespace = params.database.or(params.user);
                // A new connection: the backend is at a message start.
                self.resp.synced(Start::Typed(0));
                self.resp.fresh = false;
            }
            StartupKind::SslRequest | StartupKind::GssEncRequest => {
                self.req.state = State::Startup;
                self.resp.state = State::SslAnswer;
                self.resp.carry.clear();
                self.resp.fresh = false;
            }
            StartupKind::CancelRequest => {}
        }
    }

    fn push(&mut self, e: Expect) {
        if self.queue.len() >= MAX_PENDING {
            self.queue.pop_front();
            self.dropped += 1;
        }
        self.queue.push_back(e);
    }

    fn new_call(&mut self, text: Option<&SqlSummary>, first: Moment, last: Moment) -> Pending {
        let call = DbCall {
            id: self.next_id,
            system: system::POSTGRESQL,
            operation: text.and_then(|s| s.operation.clone()),
            collection: text.and_then(|s| s.collection.clone()),
            namespace: self.namespace.clone(),
            query_text: text.map(|s| s.sanitized.clone()),
            request: Timing { first, last },
            ..DbCall::default()
        };
        self.next_id += 1;
        Pending {
            call,
            data_rows: 0,
            tag_rows: None,
            tag_verb: None,
            responded: false,
            lost: matches!(self.resp.state, State::Resync) && !self.resp.fresh,
        }
    }

    fn summarize(&mut self, query: &[u8], truncated: bool) -> SqlSummary {
        if truncated {
            self.truncated += 1;
        }
        sql::summarize(&parse::text(query))
    }

    fn on_frontend(&mut self, tag: u8, body: &[u8], truncated: bool, first: Moment, at: Moment) {
        if self.skip_to_sync && b"PBDEC".contains(&tag) {
            self.skipped += u64::from(tag == b'E');
            return;
        }
        match tag {
            b'Q' => {
                let (query, end) = parse::cstr(body);
                let summary = self.summarize(query, truncated || end.is_none());
                let p = self.new_call(Some(&summary), first, at);
                self.group_first = None;
                self.push(Expect::Simple(p));
            }
            b'P' => {
                let (name, query, whole) = parse::two_strings(body);
                let summary = self.summarize(query, truncated || !whole);
                let prepared = Arc::new(Prepared { summary });
                self.statements.insert(name, prepared.clone());
                self.group_first.get_or_insert(first);
                let request = Timing { first, last: at };
                self.push(Expect::Parse(prepared, request));
            }
            b'B' => {
                let (portal, statement, _) = parse::two_strings(body);
                let prepared = self.statements.get(statement).cloned();
                self.portals.insert(portal, prepared);
                self.group_first.get_or_insert(first);
                self.push(Expect::Bind);
            }
            b'D' => {
                self.group_first.get_or_insert(first);
                self.push(Expect::Describe);
            }
            b'C' => {
                match parse::close_target(body) {
                    Some((b'S', name)) => self.statements.remove(name),
                    Some((b'P', name)) => self.portals.remove(name),
                    _ => {}
                }
                self.group_first.get_or_insert(first);
                self.push(Expect::Close);
            }
            b'E' => {
                let portal = parse::cstr(body).0;
                let prepared = self.portals.get(portal).cloned().flatten();
                let start = self.group_first.take().unwrap_or(first);
                let p = self.new_call(prepared.as_deref().map(|p| &p.summary), start, at);
                self.push(Expect::Execute(p));
            }
            b'S' => {
                self.group_first = None;
                self.skip_to_sync = false;
                self.push(Expect::Sync);
            }
            b'F' => self.push(Expect::Function),
            // Flush, CopyData/Done/Fail, password/SASL, Terminate: no answer owed.
            _ => {}
        }
    }

    /// Pops acknowledgements still queued before a result (answered, or
    /// lost); returns the call the result belongs to, if any.
    fn current(&mut self) -> Option<&mut Pending> {
        while matches!(
            self.queue.front(),
            Some(Expect::Parse(..) | Expect::Bind | Expect::Describe | Expect::Close)
        ) {
            self.queue.pop_front();
        }
        match self.queue.front_mut() {
            Some(Expect::Simple(p) | Expect::Execute(p)) => Some(p),
            _ => None,
        }
    }

    /// An acknowledgement: pops up to the first entry `is` accepts, if one
    /// comes before any call or Sync.
    fn ack(&mut self, is: fn(&Expect) -> bool) {
        let pos = self.queue.iter().position(|e| {
            is(e) || matches!(e, Expect::Simple(_) | Expect::Execute(_) | Expect::Sync)
        });
        if let Some(i) = pos.filter(|&i| is(&self.queue[i])) {
            self.queue.drain(..=i);
        }
    }

    fn on_backend(
        &mut self,
        tag: u8,
        body: &[u8],
        first: Moment,
        at: Moment,
        out: &mut dyn FnMut(DbEvent),
    ) {
        match tag {
            b'Z' => self.ready(first, at, out),
            b'1' => self.ack(|e| matches!(e, Expect::Parse(..))),
            b'2' => self.ack(|e| matches!(e, Expect::Bind)),
            b'3' => self.ack(|e| matches!(e, Expect::Close)),
            b'T' | b'n' if matches!(self.queue.front(), Some(Expect::Describe)) => {
                self.queue.pop_front();
            }
            b'T' | b'n' | b't' => {
                if let Some(Expect::Simple(p)) = self.queue.front_mut() {
                    p.respond(first, at);
                }
            }
            b'D' => {
                if let Some(p) = self.current() {
                    p.data_rows += 1;
                    p.respond(first, at);
                }
            }
            b'C' | b'I' | b's' => {
                let Some(p) = self.current() else { return };
                p.respond(first, at);
                if tag == b'C' {
                    p.tag(&parse::command_tag(body));
                }
                // A Query's statements end at ReadyForQuery; an Execute here.
                if matches!(self.queue.front(), Some(Expect::Execute(_)))
                    && let Some(Expect::Execute(p)) = self.queue.pop_front()
                {
                    out(DbEvent::Call(p.into_call(tag == b's')));
                }
            }
            b'E' => self.error(parse::error_fields(body), first, at, out),
            b'G' | b'H' | b'W' | b'd' | b'c' => {
                if let Some(p) = self.current() {
                    p.respond(first, at);
                }
            }
            // Authentication, BackendKeyData, ParameterStatus, notices,
            // notifications, ParameterDescription, FunctionCallResponse,
            // NegotiateProtocolVersion: nothing to pair.
            _ => {}
        }
    }

    fn error(
        &mut self,
        f: parse::ErrorFields,
        first: Moment,
        at: Moment,
        out: &mut dyn FnMut(DbEvent),
    ) {
        match self.queue.front_mut() {
            None | Some(Expect::Sync | Expect::Function) => {}
            Some(Expect::Simple(p)) => {
                p.respond(first, at);
                p.error(f);
            }
            Some(_) => {
                // Extended protocol: the server now skips to Sync.
                let mut failing: Option<Pending> = None;
                let mut prepare: Option<(Arc<Prepared>, Timing)> = None;
                while let Some(e) = self.queue.front() {
                    if matches!(e, Expect::Sync | Expect::Simple(_)) {
                        break;
                    }
                    match self.queue.pop_front() {
                        Some(Expect::Execute(p)) if failing.is_none() => failing = Some(p),
                        Some(Expect::Execute(_)) => self.skipped += 1,
                        Some(Expect::Parse(s, t)) if failing.is_none() && prepare.is_none() => {
                            prepare = Some((s, t));
                        }
                        _ => {}
                    }
                }
                if self.queue.is_empty() {
                    self.skip_to_sync = true;
                }
                let failing = match (failing, prepare) {
                    (Some(p), _) => Some(p),
                    (None, Some((s, t))) => Some(self.new_call(Some(&s.summary), t.first, t.last)),
                    (None, None) => None,
                };
                if let Some(mut p) = failing {
                    p.respond(first, at);
                    p.error(f);
                    out(DbEvent::Call(p.into_call(false)));
                }
            }
        }
    }

    fn ready(&mut self, first: Moment, at: Moment, out: &mut dyn FnMut(DbEvent)) {
        let end = self
            .queue
            .iter()
            .position(|e| matches!(e, Expect::Simple(_) | Expect::Sync | Expect::Function));
        let n = end.map_or(self.queue.len(), |i| i + 1);
        let popped: Vec<Expect> = self.queue.drain(..n).collect();
        for e in popped {
            // A result never seen (lost to a gap, or skipped by the server)
            // is not reported: its outcome is unknown.
            let p = match e {
                Expect::Simple(mut p) if p.responded || !p.lost => {
                    p.respond(first, at);
                    p
                }
                // Executes still queued lost their end: reported if their
                // result had begun (counts then come from tags only).
                Expect::Execute(mut p) if p.responded => {
                    p.lost = true;
                    p
                }
                Expect::Simple(_) | Expect::Execute(_) => {
                    self.skipped += 1;
                    continue;
                }
                _ => continue,
            };
            out(DbEvent::Call(p.into_call(false)));
        }
    }
}

#[cfg(test)]
#[path = "session_cases.rs"]
mod cases;
#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
