//! One connection's MySQL session: a packet reader per direction, the
//! connection phase (greeting, handshake response, authentication), the
//! FIFO of commands waiting for their answer and the response state
//! machine (OK, ERR, result sets, prepare answers).
//!
//! Gaps: packet lengths are explicit, so a gap inside a payload is skipped
//! (a big row, the tail of a long statement: the text kept is then a
//! prefix). A gap that covers a header loses the side's place; so does a
//! response packet that cannot be what the pending command expects. Each
//! loss reports one `ParseError` per episode, then:
//! - the request side resynchronises at the first chunk that starts with a
//!   plausible command packet ([`super::detect_command`]);
//! - the response side drops the calls waiting for an answer (reported as
//!   `Dropped`) and waits for the next command: its answer starts at the
//!   next response chunk and must have sequence id 1.
//!
//! A session starts in that state, silently: the first response chunk may
//! be a greeting (connection start), else the first command picks it up.
//!
//! End of result sets: with CLIENT_DEPRECATE_EOF a result ends with a
//! 0xFE-headed OK (at least 7 bytes) and has no EOF after its column
//! definitions; without, 5-byte EOFs mark both. When the handshake was not
//! seen the length tells them apart; a prepare answer's optional trailing
//! EOF is recognised by its sequence id (the next answer starts at 1).
use std::collections::{HashMap, VecDeque};

use super::MAX_QUERY_BYTES;
use super::parse::{self, MAX_PACKET, caps, command, status};
use super::reader::{Msg, RState, Reader};
use crate::protocol::db::{DbCall, DbEvent, system};
use crate::protocol::framing::{self, CARRY_MAX, Candidates, Driver, GapFit, Rescan, Start};
use crate::protocol::{Moment, ProtocolKind, Side, Timing, sql};

/// Most commands waiting for an answer; past it the oldest is dropped.
pub const MAX_PENDING: usize = 64;
/// Most prepared statements remembered; past it the oldest is forgotten.
pub const MAX_STATEMENTS: usize = 1024;
/// Most statement text bytes remembered across prepared statements.
pub const MAX_STATEMENT_BYTES: usize = 1 << 20;
/// Response payload bytes kept per message: enough for OK, ERR, greeting,
/// prepare answer and column count; rows are counted, never kept.
const RESPONSE_KEEP: usize = 1024;
/// Request payload bytes kept: the command byte and the statement text.
const REQUEST_KEEP: usize = 1 + MAX_QUERY_BYTES;
/// Longest error message kept.
const MAX_ERROR_MESSAGE: usize = 512;

/// One MySQL connection, on the framing driver.
pub type Session = Driver<Mysql>;

/// MySQL state of one connection.
#[derive(Debug)]
pub struct Mysql {
    req: Reader,
    resp: Reader,
    phase: Phase,
    /// No response byte was judged yet: it may start a greeting.
    greeting_open: bool,
    system: &'static str,
    namespace: Option<String>,
    server_caps: Option<u32>,
    /// CLIENT_DEPRECATE_EOF in force; `None` until known.
    deprecate_eof: Option<bool>,
    pending: VecDeque<Pending>,
    /// Progress of the answer to the oldest pending command.
    rs: Rs,
    /// First chunk of that answer, once it began.
    resp_first: Option<Moment>,
    /// Sequence id an optional EOF ending a prepare answer would have.
    trailing_eof: Option<u8>,
    statements: HashMap<u32, (u64, Stmt)>,
    statement_bytes: usize,
    statement_gen: u64,
    /// The statement of the latest COM_STMT_PREPARE (MariaDB executes id
    /// 0xFFFFFFFF as "the one just prepared", before its answer).
    last_prepared: Option<Stmt>,
    next_id: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing known (start, mid-stream start, lost handshake): commands.
    Unknown,
    /// The response side found a greeting; it is being read.
    Greeting,
    /// Greeting seen: the client's handshake response comes next.
    Handshake,
    /// Authentication exchange until the server's OK or ERR.
    Auth,
    Command,
    /// SSLRequest: the rest is TLS.
    Tls,
    /// COM_QUIT or failed authentication.
    Closed,
}

/// What a remembered prepared statement contributes to its executions.
#[derive(Debug, Clone, Default)]
struct Stmt {
    query_text: Option<String>,
    operation: Option<String>,
    collection: Option<String>,
}

impl Stmt {
    fn size(&self) -> usize {
        [&self.query_text, &self.operation, &self.collection]
            .iter()
            .map(|s| s.as_ref().map_or(0, String::len))
            .sum()
    }
}

#[derive(Debug)]
struct Pending {
    call: DbCall,
    kind: Kind,
    report: Report,
    /// Namespace in force once this command succeeds.
    new_namespace: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// OK, ERR, result sets, LOCAL INFILE.
    Result,
    /// COM_STMT_PREPARE_OK with definitions, or ERR.
    Prepare,
    /// OK or ERR.
    Simple,
    /// Unknown answer shape: skipped until the next command.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    Always,
    OnError,
    Never,
}

/// Response progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rs {
    /// The first packet of an answer, or of the next result of one.
    Start,
    Columns {
        left: u64,
    },
    /// After column definitions: an EOF, rows, or the end.
    Meta,
    Rows,
    /// Prepare answer: `left` definitions of this group, then `cols` more.
    PrepDefs {
        left: u32,
        cols: u16,
    },
    /// Prepare answer: an EOF after a group (optional if the mode is unknown).
    PrepEof {
        cols: u16,
    },
}

impl Default for Mysql {
    fn default() -> Self {
        Mysql {
            req: Reader::new(REQUEST_KEEP),
            resp: Reader::new(RESPONSE_KEEP),
            phase: Phase::Unknown,
            greeting_open: true,
            system: system::MYSQL,
            namespace: None,
            server_caps: None,
            deprecate_eof: None,
            pending: VecDeque::new(),
            rs: Rs::Start,
            resp_first: None,
            trailing_eof: None,
            statements: HashMap::new(),
            statement_bytes: 0,
            statement_gen: 0,
            last_prepared: None,
            next_id: 0,
        }
    }
}

impl framing::Protocol for Mysql {
    const KIND: ProtocolKind = ProtocolKind::Mysql;
    const CANDIDATES: Candidates = Candidates::Bytes;
    type Event = DbEvent;
    /// What a complete message reported.
    type Frame = Vec<DbEvent>;

    /// Only a chunk starts a message: on the request side a plausible
    /// command (or, after a greeting, the handshake response); on the
    /// response side the answer to a pending command, or the greeting if
    /// it comes first.
    fn start(&mut self, side: Side, bytes: &[u8], chunk_start: bool) -> Start {
        if !chunk_start {
            return Start::No;
        }
        let found = match side {
            Side::Request if self.phase == Phase::Handshake => return Start::Yes,
            Side::Request => parse::detect_command(bytes),
            Side::Response if !self.pending.is_empty() => {
                self.greeting_open = false;
                return Start::Yes;
            }
            Side::Response if !self.greeting_open => return Start::No,
            Side::Response => match parse::detect_server_greeting(bytes) {
                Start::NeedMore => Start::NeedMore,
                found => {
                    self.greeting_open = false;
                    if found == Start::Yes {
                        self.system = parse::greeting_system(bytes);
                        self.phase = Phase::Greeting;
                    }
                    found
                }
            },
        };
        match found {
            Start::NeedMore if bytes.len() >= CARRY_MAX => Start::No,
            found => found,
        }
    }

    fn idle(&self, side: Side) -> bool {
        !self.reader(side).started
    }

    fn step(&mut self, side: Side, bytes: &[u8], at: Moment) -> framing::Step<Vec<DbEvent>> {
        let (n, done) = self.reader_mut(side).step(bytes, at);
        match done.then(|| self.dispatch(side, at)) {
            None => framing::Step::more(n),
            Some(Ok(events)) => framing::Step::frame(n, events),
            Some(Err(reason)) => framing::Step::invalid(n, reason),
        }
    }

    fn on_frame(&mut self, _: Side, events: Vec<DbEvent>, _: Timing, out: &mut dyn FnMut(DbEvent)) {
        events.into_iter().for_each(out);
    }

    fn gap(&mut self, side: Side, len: u64, at: Moment, out: &mut dyn FnMut(DbEvent)) -> GapFit {
        let r = self.reader_mut(side);
        let left = match r.state {
            _ if len == 0 => return GapFit::Skipped,
            RState::Payload { left } if len <= u64::from(left) => left - len as u32,
            _ => return GapFit::Lost,
        };
        r.state = RState::Payload { left };
        r.total += len;
        r.holes = true;
        if left > 0 || !r.end_packet() {
            return GapFit::Skipped;
        }
        match self.dispatch(side, at) {
            Ok(events) => {
                events.into_iter().for_each(out);
                GapFit::Skipped
            }
            Err(_) => GapFit::Lost,
        }
    }

    /// A lost handshake leaves the phase unknown; a lost response side
    /// drops the calls waiting for an answer, since theirs may be lost.
    fn lost(&mut self, side: Side, out: &mut dyn FnMut(DbEvent)) -> Rescan {
        self.reader_mut(side).reset();
        if matches!(self.phase, Phase::Greeting | Phase::Handshake | Phase::Auth) {
            self.phase = Phase::Unknown;
        }
        if side == Side::Response {
            let count = self
                .pending
                .drain(..)
                .filter(|p| p.report != Report::Never)
                .count();
            if count > 0 {
                out(DbEvent::Dropped {
                    count: count as u64,
                });
            }
            self.rs = Rs::Start;
            self.resp_first = None;
            self.trailing_eof = None;
        }
        Rescan::Here
    }

    fn parse_error(side: Side, reason: &'static str) -> DbEvent {
        DbEvent::ParseError { side, reason }
    }

    fn stopped(&self) -> bool {
        matches!(self.phase, Phase::Tls | Phase::Closed)
    }

    /// Nothing in MySQL ends at close. Answers cut short are not losses:
    /// the client closed without waiting.
    fn close(&mut self, _at: Moment, _: &mut dyn FnMut(DbEvent)) {
        self.pending.clear();
        self.phase = Phase::Closed;
    }
}

impl Mysql {
    /// Prepared statements remembered.
    pub fn statements(&self) -> usize {
        self.statements.len()
    }

    fn reader(&self, side: Side) -> &Reader {
        match side {
            Side::Request => &self.req,
            Side::Response => &self.resp,
        }
    }

    fn reader_mut(&mut self, side: Side) -> &mut Reader {
        match side {
            Side::Request => &mut self.req,
            Side::Response => &mut self.resp,
        }
    }

    /// A message of `side` is complete: what it reports, or why the side
    /// lost its place.
    fn dispatch(&mut self, side: Side, at: Moment) -> Result<Vec<DbEvent>, &'static str> {
        let r = self.reader_mut(side);
        let msg = r.msg(at);
        let payload = std::mem::take(&mut r.buf);
        let mut events = Vec::new();
        let mut out = |e| events.push(e);
        let done = match side {
            Side::Request => {
                self.on_request(&msg, &payload, &mut out);
                Ok(())
            }
            Side::Response => self.on_response(&msg, &payload, &mut out),
        };
        let mut payload = payload;
        payload.clear();
        self.reader_mut(side).buf = payload;
        done.map(|()| events)
    }

    fn on_request(&mut self, msg: &Msg, p: &[u8], out: &mut dyn FnMut(DbEvent)) {
        if msg.seq != 0 {
            // Handshake response (1); else authentication data, LOCAL
            // INFILE contents: never kept.
            if self.phase == Phase::Handshake && msg.seq == 1 {
                self.on_handshake_response(p);
            }
            return;
        }
        self.phase = Phase::Command;
        self.on_command(msg, p, out);
    }

    fn on_handshake_response(&mut self, p: &[u8]) {
        let Some(h) = parse::parse_handshake_response(p) else {
            self.phase = Phase::Auth;
            return;
        };
        if h.ssl_request {
            self.phase = Phase::Tls;
            return;
        }
        self.deprecate_eof = self
            .server_caps
            .map(|s| s & h.capabilities & caps::DEPRECATE_EOF != 0);
        if h.schema.is_some() {
            self.namespace = h.schema;
        }
        self.phase = Phase::Auth;
    }

    fn new_call(&mut self, msg: &Msg) -> DbCall {
        let id = self.next_id;
        self.next_id += 1;
        DbCall {
            id,
            system: self.system,
            namespace: self.namespace.clone(),
            request: Timing {
                first: msg.first,
                last: msg.last,
            },
            ..DbCall::default()
        }
    }

    fn on_command(&mut self, msg: &Msg, p: &[u8], out: &mut dyn FnMut(DbEvent)) {
        let Some((&cmd, args)) = p.split_first() else {
            return;
        };
        let (kind, report) = match cmd {
            command::QUERY => (Kind::Result, Report::Always),
            command::STMT_PREPARE => (Kind::Prepare, Report::OnError),
            command::STMT_EXECUTE => (Kind::Result, Report::Always),
            command::PING | command::INIT_DB => (Kind::Simple, Report::Always),
            command::STMT_RESET => (Kind::Simple, Report::Never),
            command::RESET_CONNECTION => {
                self.forget_statements();
                (Kind::Simple, Report::Never)
            }
            command::QUIT => {
                self.phase = Phase::Closed;
                return;
            }
            command::STMT_CLOSE => {
                if let Some(id) = args.get(..4) {
                    let id = u32::from_le_bytes([id[0], id[1], id[2], id[3]]);
                    if let Some((_, s)) = self.statements.remove(&id) {
                        self.statement_bytes -= s.size();
                    }
                }
                return;
            }
            command::STMT_SEND_LONG_DATA => return,
            command::CHANGE_USER => {
                self.forget_statements();
                (Kind::Other, Report::Never)
            }
            _ => (Kind::Other, Report::Never),
        };
        let mut call = self.new_call(msg);
        let mut new_namespace = None;
        match cmd {
            command::QUERY | command::STMT_PREPARE => {
                let text = if cmd == command::QUERY {
                    parse::query_text(args)
                } else {
                    Some(args)
                };
                if let Some(text) = text {
                    let text = String::from_utf8_lossy(text);
                    let s = sql::summarize_mysql(&text);
                    if s.operation.as_deref() == Some("USE") {
                        new_namespace = use_target(&text);
                    }
                    call.query_text = Some(s.sanitized);
                    call.operation = s.operation;
                    call.collection = s.collection;
                }
                if cmd == command::STMT_PREPARE {
                    self.last_prepared = Some(Stmt {
                        query_text: call.query_text.clone(),
                        operation: call.operation.clone(),
                        collection: call.collection.clone(),
                    });
                }
            }
            command::STMT_EXECUTE => {
                let id = args
                    .get(..4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                let stmt = match id {
                    Some(u32::MAX) => self.last_prepared.as_ref(),
                    Some(id) => self.statements.get(&id).map(|(_, s)| s),
                    None => None,
                };
                match stmt {
                    Some(s) => {
                        call.query_text = s.query_text.clone();
                        call.operation = s.operation.clone();
                        call.collection = s.collection.clone();
                    }
                    None => call.operation = Some("EXECUTE".to_string()),
                }
            }
            command::PING => call.operation = Some("PING".to_string()),
            command::INIT_DB => {
                let schema = String::from_utf8_lossy(args).into_owned();
                call.operation = Some("USE".to_string());
                call.namespace = Some(schema.clone());
                new_namespace = Some(schema);
            }
            _ => {}
        }
        self.push(
            Pending {
                call,
                kind,
                report,
                new_namespace,
            },
            out,
        );
    }

    fn push(&mut self, p: Pending, out: &mut dyn FnMut(DbEvent)) {
        // A command of unknown answer shape is answered once the next
        // command is sent (the protocol is lock-step).
        while self.pending.front().is_some_and(|f| f.kind == Kind::Other) {
            self.pending.pop_front();
            self.rs = Rs::Start;
            self.resp_first = None;
        }
        if self.pending.len() >= MAX_PENDING {
            if self
                .pending
                .pop_front()
                .is_some_and(|d| d.report != Report::Never)
            {
                out(DbEvent::Dropped { count: 1 });
            }
            self.rs = Rs::Start;
            self.resp_first = None;
        }
        // A response side out of sync starts again with this answer (see
        // `start`).
        self.pending.push_back(p);
    }

    fn forget_statements(&mut self) {
        self.statements.clear();
        self.statement_bytes = 0;
    }

    fn remember(&mut self, id: u32, stmt: Stmt) {
        self.statement_gen += 1;
        self.statement_bytes += stmt.size();
        if let Some((_, old)) = self.statements.insert(id, (self.statement_gen, stmt)) {
            self.statement_bytes -= old.size();
        }
        while self.statements.len() > MAX_STATEMENTS || self.statement_bytes > MAX_STATEMENT_BYTES {
            let Some(oldest) = self
                .statements
                .iter()
                .min_by_key(|(_, (g, _))| *g)
                .map(|(id, _)| *id)
            else {
                break;
            };
            if let Some((_, s)) = self.statements.remove(&oldest) {
                self.statement_bytes -= s.size();
            }
        }
    }
}

/// The schema named by `USE db` (backquotes removed).
fn use_target(text: &str) -> Option<String> {
    let mut words = text.split_whitespace();
    words.next()?;
    let name = words.next()?.trim_end_matches(';').trim_matches('`');
    (!name.is_empty() && name.len() <= 64).then(|| name.to_string())
}

/// The answers' side: result sets, prepared statements, OK and ERR.
#[path = "answers.rs"]
mod answers;

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "session_gap_tests.rs"]
mod gap_tests;
