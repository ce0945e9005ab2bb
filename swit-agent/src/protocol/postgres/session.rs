//! One connection's PostgreSQL session on the framing driver: a framing
//! state machine per side (startup header, header, body, the SSL answer)
//! and the queue of what the backend owes the frontend, which pairs each
//! call with its result.
//!
//! Framing: every message states its length, so bodies the session does not
//! need are skipped by count, and a gap (uncaptured bytes) inside a body is
//! skipped too (a kept body cut by a gap is read as truncated). A gap that
//! covers a header, a length over 1 GiB, or a type byte the side never sends
//! loses the side's place; the driver then discards bytes up to a plausible
//! message start (see [`parse::start`]: on the request side a startup-phase
//! message or `Q`/`P`/`B`/`E`/`S`, on the response side ReadyForQuery),
//! rescanning a refused header's bytes first. A side starts in that state.
//! The first byte of each chunk is also tried with a looser test
//! ([`parse::fresh_start`]): a chunk starts at a syscall boundary, usually a
//! message boundary, so capture that begins on an idle connection is in
//! sync at once.
//!
//! Pairing: each frontend message that the backend answers queues an
//! [`Expect`]. Acknowledgements (`1`, `2`, `3`, `T`/`n` after Describe) pop
//! their entry; a result message first pops acknowledgements left over
//! before it (answered earlier, or lost). An Execute ends at
//! CommandComplete, EmptyQueryResponse, PortalSuspended or ErrorResponse;
//! a Query at ReadyForQuery. After an ErrorResponse in the extended protocol
//! the server skips to Sync: the first Execute before the Sync is reported
//! with the error, later ones are dropped. ReadyForQuery pops up to the
//! first Query or Sync; with none queued, everything queued is stale and
//! dropped. Calls dropped unreported (skipped, stale, past [`MAX_PENDING`])
//! are counted by `DbEvent::Dropped`. Sides are assumed fed in time order (a
//! request before the response it causes).
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
use super::parse::{self, Keep, StartupKind};
use crate::protocol::db::{DbCall, DbEvent, system};
use crate::protocol::framing::{self, Candidates, Driver, GapFit, Outcome, Rescan, Start, Step};
use crate::protocol::sql::{self, SqlSummary};
use crate::protocol::{Moment, ProtocolKind, Side, Timing};

/// Most calls and acknowledgements waiting for the backend; past it the
/// oldest is dropped.
pub const MAX_PENDING: usize = 1024;
pub use super::calls::MAX_STATEMENTS;
/// A kept-body buffer that grew past this is freed after its message.
const SHRINK_ABOVE: usize = 16 * 1024;
const _: () = assert!(parse::LOOKAHEAD + 5 < framing::CARRY_MAX);

/// One PostgreSQL connection, on the framing driver.
pub type Session = Driver<Postgres>;

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
}

/// Where a side in sync is.
#[derive(Debug, Clone, Copy)]
enum State {
    /// An untyped (startup phase) header is expected.
    Startup,
    Header,
    Body(Body),
    /// The one-byte answer to SSLRequest/GSSENCRequest.
    SslAnswer,
}

/// A message read whole; its kept body is in its side's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    tag: Tag,
}

/// One side. Its buffer may hold message bytes: `Debug` shows only its
/// length.
struct SideState {
    /// In sync (as the driver sees it): `state` is meaningful.
    synced: bool,
    state: State,
    /// Out of sync, but the other side's handshake put this side's next
    /// chunk at a message start, read in this state.
    resume: Option<State>,
    hdr: [u8; 8],
    hdr_len: usize,
    /// Length of the header just refused (0: none): a message may start
    /// inside it.
    refused: usize,
    /// Kept body bytes, at most the message's [`Keep::cap`].
    buf: Vec<u8>,
    /// Chunk that carried the current message's first byte (for a message
    /// a gap completes).
    first: Moment,
    /// No byte seen yet.
    fresh: bool,
}

impl std::fmt::Debug for SideState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SideState")
            .field("synced", &self.synced)
            .field("state", &self.state)
            .field("kept", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl SideState {
    fn new() -> Self {
        SideState {
            synced: false,
            state: State::Header,
            resume: None,
            hdr: [0; 8],
            hdr_len: 0,
            refused: 0,
            buf: Vec::new(),
            first: Moment::default(),
            fresh: true,
        }
    }

    fn enter(&mut self, state: State) {
        self.synced = true;
        self.state = state;
        self.hdr_len = 0;
    }

    /// The other side's handshake says this side is at a message start.
    fn resume(&mut self, state: State) {
        self.fresh = false;
        match self.synced {
            true => self.enter(state),
            false => self.resume = Some(state),
        }
    }

    /// Reads header bytes; a whole header starts a body.
    fn header(&mut self, side: Side, rest: &[u8], at: Moment) -> Step<Frame> {
        let startup = matches!(self.state, State::Startup);
        if self.hdr_len == 0 {
            self.first = at;
        }
        let need = if startup { 8 } else { 5 };
        let take = (need - self.hdr_len).min(rest.len());
        self.hdr[self.hdr_len..self.hdr_len + take].copy_from_slice(&rest[..take]);
        self.hdr_len += take;
        if self.hdr_len < need {
            return Step::more(take);
        }
        self.hdr_len = 0;
        let hdr = self.hdr;
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
                self.buf.clear();
                self.state = State::Body(Body {
                    tag,
                    left,
                    keep,
                    kept_all: keep.is_none(),
                    nuls: 0,
                });
                if left == 0 {
                    self.state = State::Header;
                    return Step::frame(take, Frame { tag });
                }
                Step {
                    consumed: take,
                    outcome: Outcome::OnTrack,
                }
            }
            // A full header always parses to a value or an error.
            Ok(None) => Step::invalid(take, "invalid header"),
            Err(e) => {
                self.refused = need;
                Step::invalid(take, e.reason())
            }
        }
    }

    /// Reads (or skips) body bytes, keeping what the message's [`Keep`]
    /// says.
    fn body(&mut self, mut b: Body, rest: &[u8]) -> Step<Frame> {
        let n = (b.left as usize).min(rest.len());
        if let (Some(k), false) = (b.keep, b.kept_all) {
            for &byte in &rest[..n] {
                if self.buf.len() >= k.cap {
                    b.kept_all = true;
                    break;
                }
                self.buf.push(byte);
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
        if b.left > 0 {
            self.state = State::Body(b);
            return Step::more(n);
        }
        self.state = State::Header;
        Step::frame(n, Frame { tag: b.tag })
    }
}

/// PostgreSQL state of one connection.
#[derive(Debug)]
pub struct Postgres {
    req: SideState,
    resp: SideState,
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
}

impl Default for Postgres {
    fn default() -> Self {
        Postgres {
            req: SideState::new(),
            resp: SideState::new(),
            queue: VecDeque::new(),
            statements: Names::new(),
            portals: Names::new(),
            namespace: None,
            next_id: 0,
            group_first: None,
            skip_to_sync: false,
            stopped: false,
        }
    }
}

impl framing::Protocol for Postgres {
    const KIND: ProtocolKind = ProtocolKind::Postgres;
    const CANDIDATES: Candidates = Candidates::Bytes;
    type Event = DbEvent;
    type Frame = Frame;

    /// [`parse::start`], after [`parse::fresh_start`] at a chunk's start. A
    /// side the other side's handshake resumed starts at its next chunk
    /// (bytes carried from before the handshake are discarded).
    fn start(&mut self, side: Side, bytes: &[u8], chunk_start: bool) -> Start {
        let d = self.dir(side);
        d.fresh = false;
        if let Some(state) = d.resume {
            if !chunk_start {
                return Start::No;
            }
            d.resume = None;
            d.enter(state);
            return Start::Yes;
        }
        let fresh = match chunk_start {
            true => parse::fresh_start(side, bytes),
            false => parse::Start::NoMatch,
        };
        let s = match fresh {
            parse::Start::Typed(_) | parse::Start::Untyped(_) => fresh,
            _ => parse::start(side, bytes),
        };
        match s {
            parse::Start::Typed(_) => d.enter(State::Header),
            parse::Start::Untyped(_) => d.enter(State::Startup),
            parse::Start::NeedMore => return Start::NeedMore,
            parse::Start::NoMatch => return Start::No,
        }
        Start::Yes
    }

    fn idle(&self, side: Side) -> bool {
        let d = match side {
            Side::Request => &self.req,
            Side::Response => &self.resp,
        };
        !matches!(d.state, State::Body(_)) && d.hdr_len == 0
    }

    fn step(&mut self, side: Side, bytes: &[u8], at: Moment) -> Step<Frame> {
        let d = self.dir(side);
        match d.state {
            State::Startup if d.hdr_len == 0 && bytes[0] == 0x16 => {
                // A TLS handshake record where the startup packet should be.
                self.stopped = true;
                Step::more(bytes.len())
            }
            State::Startup | State::Header => d.header(side, bytes, at),
            State::Body(b) => d.body(b, bytes),
            State::SslAnswer => {
                d.state = State::Header;
                match bytes[0] {
                    b'N' => Step::more(1),
                    // An old server refuses with an ErrorResponse: read it as one.
                    b'E' => Step::more(0),
                    _ => {
                        // 'S', 'G': encryption starts; anything else is not ours.
                        self.stopped = true;
                        Step::more(1)
                    }
                }
            }
        }
    }

    fn on_frame(&mut self, side: Side, frame: Frame, timing: Timing, out: &mut dyn FnMut(DbEvent)) {
        self.complete(side, frame.tag, timing, out);
    }

    /// Skipped inside a body (a kept body is then truncated); a body the
    /// gap ends completes.
    fn gap(&mut self, side: Side, len: u64, at: Moment, out: &mut dyn FnMut(DbEvent)) -> GapFit {
        let d = self.dir(side);
        let State::Body(b) = &mut d.state else {
            return GapFit::Lost;
        };
        b.kept_all = true;
        let left = u64::from(b.left);
        b.left = left.saturating_sub(len) as u32;
        if len < left {
            return GapFit::Skipped;
        }
        let tag = b.tag;
        d.state = State::Header;
        let timing = Timing {
            first: d.first,
            last: at,
        };
        self.complete(side, tag, timing, out);
        match len > left {
            true => GapFit::Lost,
            false => GapFit::Skipped,
        }
    }

    /// Calls waiting when the response side lost its place keep only the
    /// counts their tags give.
    fn lost(&mut self, side: Side, _: &mut dyn FnMut(DbEvent)) -> Rescan {
        let d = self.dir(side);
        d.synced = false;
        d.hdr_len = 0;
        d.buf.clear();
        let refused = std::mem::take(&mut d.refused);
        let rescan = match refused {
            0 => Rescan::Here,
            n => Rescan::Bytes(d.hdr[1..n].to_vec()),
        };
        if side == Side::Response {
            for e in &mut self.queue {
                if let Expect::Simple(p) | Expect::Execute(p) = e {
                    p.lost = true;
                }
            }
        }
        rescan
    }

    fn parse_error(side: Side, reason: &'static str) -> DbEvent {
        DbEvent::ParseError { side, reason }
    }

    fn stopped(&self) -> bool {
        self.stopped
    }

    /// A call whose result had begun (a FATAL error ends a connection
    /// without ReadyForQuery) is reported; the rest is dropped.
    fn close(&mut self, _at: Moment, out: &mut dyn FnMut(DbEvent)) {
        match self.queue.pop_front() {
            Some(Expect::Simple(p) | Expect::Execute(p)) if p.responded => {
                out(DbEvent::Call(p.into_call(false)));
            }
            _ => {}
        }
        self.queue.clear();
        self.req = SideState::new();
        self.resp = SideState::new();
        self.group_first = None;
        self.skip_to_sync = false;
    }
}

impl Postgres {
    fn dir(&mut self, side: Side) -> &mut SideState {
        match side {
            Side::Request => &mut self.req,
            Side::Response => &mut self.resp,
        }
    }

    /// A message of `side` ended.
    fn complete(&mut self, side: Side, tag: Tag, t: Timing, out: &mut dyn FnMut(DbEvent)) {
        let buf = std::mem::take(&mut self.dir(side).buf);
        match (side, tag) {
            (Side::Request, Tag::Startup(kind)) => self.on_startup(kind, &buf),
            (Side::Request, Tag::Typed(tag)) => self.on_frontend(tag, &buf, t, out),
            (Side::Response, Tag::Typed(tag)) => self.on_backend(tag, &buf, t, out),
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
                self.resp.resume(State::Header);
            }
            StartupKind::SslRequest | StartupKind::GssEncRequest => {
                self.req.state = State::Startup;
                self.resp.resume(State::SslAnswer);
            }
            StartupKind::CancelRequest => {}
        }
    }

    fn push(&mut self, e: Expect, out: &mut dyn FnMut(DbEvent)) {
        if self.queue.len() >= MAX_PENDING {
            let oldest = self.queue.pop_front();
            if matches!(oldest, Some(Expect::Simple(_) | Expect::Execute(_))) {
                out(DbEvent::Dropped { count: 1 });
            }
        }
        self.queue.push_back(e);
    }

    fn new_call(&mut self, text: Option<SqlSummary>, first: Moment, last: Moment) -> Pending {
        let (operation, collection, query_text) = match text {
            Some(s) => (s.operation, s.collection, Some(s.sanitized)),
            None => (None, None, None),
        };
        let call = DbCall {
            id: self.next_id,
            system: system::POSTGRESQL,
            operation,
            collection,
            namespace: self.namespace.clone(),
            query_text,
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
            lost: !self.resp.synced && self.resp.resume.is_none() && !self.resp.fresh,
        }
    }

    fn on_frontend(&mut self, tag: u8, body: &[u8], t: Timing, out: &mut dyn FnMut(DbEvent)) {
        if self.skip_to_sync && b"PBDEC".contains(&tag) {
            if tag == b'E' {
                out(DbEvent::Dropped { count: 1 });
            }
            return;
        }
        match tag {
            b'Q' => {
                let summary = sql::summarize(&parse::text(parse::cstr(body).0));
                let p = self.new_call(Some(summary), t.first, t.last);
                self.group_first = None;
                self.push(Expect::Simple(p), out);
            }
            b'P' => {
                let (name, query) = parse::two_strings(body);
                let summary = sql::summarize(&parse::text(query));
                let prepared = Arc::new(Prepared { summary });
                self.statements.insert(name, prepared.clone());
                self.group_first.get_or_insert(t.first);
                self.push(Expect::Parse(prepared, t), out);
            }
            b'B' => {
                let (portal, statement) = parse::two_strings(body);
                let prepared = self.statements.get(statement).cloned();
                self.portals.insert(portal, prepared);
                self.group_first.get_or_insert(t.first);
                self.push(Expect::Bind, out);
            }
            b'D' => {
                self.group_first.get_or_insert(t.first);
                self.push(Expect::Describe, out);
            }
            b'C' => {
                match parse::close_target(body) {
                    Some((b'S', name)) => self.statements.remove(name),
                    Some((b'P', name)) => self.portals.remove(name),
                    _ => {}
                }
                self.group_first.get_or_insert(t.first);
                self.push(Expect::Close, out);
            }
            b'E' => {
                let portal = parse::cstr(body).0;
                let prepared = self.portals.get(portal).cloned().flatten();
                let start = self.group_first.take().unwrap_or(t.first);
                let summary = prepared.as_deref().map(|p| p.summary.clone());
                let p = self.new_call(summary, start, t.last);
                self.push(Expect::Execute(p), out);
            }
            b'S' => {
                self.group_first = None;
                self.skip_to_sync = false;
                self.push(Expect::Sync, out);
            }
            b'F' => self.push(Expect::Function, out),
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

    fn on_backend(&mut self, tag: u8, body: &[u8], t: Timing, out: &mut dyn FnMut(DbEvent)) {
        match tag {
            b'Z' => self.ready(t.first, t.last, out),
            b'1' => self.ack(|e| matches!(e, Expect::Parse(..))),
            b'2' => self.ack(|e| matches!(e, Expect::Bind)),
            b'3' => self.ack(|e| matches!(e, Expect::Close)),
            b'T' | b'n' if matches!(self.queue.front(), Some(Expect::Describe)) => {
                self.queue.pop_front();
            }
            b'T' | b'n' | b't' => {
                if let Some(Expect::Simple(p)) = self.queue.front_mut() {
                    p.respond(t.first, t.last);
                }
            }
            b'D' => {
                if let Some(p) = self.current() {
                    p.data_rows += 1;
                    p.respond(t.first, t.last);
                }
            }
            b'C' | b'I' | b's' => {
                let Some(p) = self.current() else { return };
                p.respond(t.first, t.last);
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
            b'E' => self.error(parse::error_fields(body), t.first, t.last, out),
            b'G' | b'H' | b'W' | b'd' | b'c' => {
                if let Some(p) = self.current() {
                    p.respond(t.first, t.last);
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
                let mut skipped = 0;
                let mut prepare: Option<(Arc<Prepared>, Timing)> = None;
                while let Some(e) = self.queue.front() {
                    if matches!(e, Expect::Sync | Expect::Simple(_)) {
                        break;
                    }
                    match self.queue.pop_front() {
                        Some(Expect::Execute(p)) if failing.is_none() => failing = Some(p),
                        Some(Expect::Execute(_)) => skipped += 1,
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
                    (None, Some((s, t))) => {
                        Some(self.new_call(Some(s.summary.clone()), t.first, t.last))
                    }
                    (None, None) => None,
                };
                if let Some(mut p) = failing {
                    p.respond(first, at);
                    p.error(f);
                    out(DbEvent::Call(p.into_call(false)));
                }
                if skipped > 0 {
                    out(DbEvent::Dropped { count: skipped });
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
        for e in self.queue.drain(..n) {
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
                    out(DbEvent::Dropped { count: 1 });
                    continue;
                }
                _ => continue,
            };
            out(DbEvent::Call(p.into_call(false)));
        }
    }
}

#[cfg(test)]
#[path = "testkit.rs"]
mod testkit;
#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
