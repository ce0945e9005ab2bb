//! Wire protocols: detect which one a connection speaks, parse its frames,
//! pair requests with responses.
//!
//! Every protocol is pure: it is fed ordered [`Input`]s for the request side
//! and the response side of one connection and returns [`ProtoEvent`]s. No
//! I/O, no clock: times come in with the bytes.
pub mod db;
pub mod http1;
pub mod mysql;
pub mod postgres;
pub mod redis;
pub mod sql;

/// One step of one direction of a connection, in stream order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// Contiguous bytes of the stream.
    Data { bytes: &'a [u8], at: Moment },
    /// `len` stream bytes that were not captured (capture limit, ring
    /// buffer overflow, sendfile). A parser skips them if it knows they lie
    /// inside a body, and resynchronises otherwise.
    Gap { len: u64, at: Moment },
}

/// When and by which thread a chunk of bytes moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Moment {
    /// CLOCK_MONOTONIC ns at the syscall's entry.
    pub enter_ns: u64,
    /// CLOCK_MONOTONIC ns at the syscall's exit.
    pub exit_ns: u64,
    /// Thread id (kernel tid) that made the syscall.
    pub tid: u32,
}

/// Where a message sits in time: its first and its last chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timing {
    /// The chunk that carried the message's first byte.
    pub first: Moment,
    /// The chunk that carried its last byte.
    pub last: Moment,
}

/// Which side of an exchange a direction carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Request,
    Response,
}

/// What a protocol session reports.
#[derive(Debug, Clone, PartialEq)]
pub enum ProtoEvent {
    Http1(http1::Http1Event),
    Db(db::DbEvent),
}

/// Protocols swit recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolKind {
    Http1,
    Postgres,
    Mysql,
    Redis,
}

/// Combines the answers of several detectors: the first match wins; if
/// none matches but one needs more bytes, wait.
fn first_of(answers: impl IntoIterator<Item = Detect>) -> Detect {
    let mut need_more = false;
    for a in answers {
        match a {
            Detect::Match(k) => return Detect::Match(k),
            Detect::NeedMore => need_more = true,
            Detect::NoMatch => {}
        }
    }
    if need_more {
        Detect::NeedMore
    } else {
        Detect::NoMatch
    }
}

/// Looks at the first bytes of a connection's request side (client to
/// server) and names the protocol it speaks. HTTP/1 goes first: an inline
/// Redis command can look like `GET key`.
pub fn detect(request_side: &[u8]) -> Detect {
    let pg = match postgres::detect(request_side) {
        postgres::DetectResult::Match => Detect::Match(ProtocolKind::Postgres),
        postgres::DetectResult::NeedMore => Detect::NeedMore,
        postgres::DetectResult::NoMatch => Detect::NoMatch,
    };
    let redis = match redis::detect(request_side) {
        redis::DetectResult::Match => Detect::Match(ProtocolKind::Redis),
        redis::DetectResult::NeedMore => Detect::NeedMore,
        redis::DetectResult::NoMatch => Detect::NoMatch,
    };
    let my = match mysql::detect_command(request_side) {
        mysql::DetectResult::Match(_) => Detect::Match(ProtocolKind::Mysql),
        mysql::DetectResult::NeedMore => Detect::NeedMore,
        mysql::DetectResult::NoMatch => Detect::NoMatch,
    };
    match http1::detect_request(request_side) {
        Detect::Match(k) => Detect::Match(k),
        h => first_of([h, pg, redis, my]),
    }
}

/// Looks at the first bytes of a connection's response side: protocols
/// whose server speaks first (MySQL's greeting).
pub fn detect_server_first(response_side: &[u8]) -> Detect {
    match mysql::detect_server_greeting(response_side) {
        mysql::DetectResult::Match(_) => Detect::Match(ProtocolKind::Mysql),
        mysql::DetectResult::NeedMore => Detect::NeedMore,
        mysql::DetectResult::NoMatch => Detect::NoMatch,
    }
}

/// Answer of a protocol detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detect {
    Match(ProtocolKind),
    /// Too few bytes to tell.
    NeedMore,
    NoMatch,
}

/// A live protocol session on one connection (static dispatch registry:
/// a protocol is a module and one line in each match).
#[derive(Debug)]
pub enum Session {
    Http1(http1::Session),
    Postgres(postgres::Session),
    Mysql(mysql::Session),
    Redis(redis::Session),
}

impl Session {
    pub fn new(kind: ProtocolKind) -> Self {
        match kind {
            ProtocolKind::Http1 => Session::Http1(http1::Session::new()),
            ProtocolKind::Postgres => Session::Postgres(postgres::Session::new()),
            ProtocolKind::Mysql => Session::Mysql(mysql::Session::new()),
            ProtocolKind::Redis => Session::Redis(redis::Session::new()),
        }
    }

    /// Feeds one input of the given side; appends what it produced to `out`.
    pub fn feed(&mut self, side: Side, input: Input<'_>, out: &mut Vec<ProtoEvent>) {
        let db = &mut |e| out.push(ProtoEvent::Db(e));
        match self {
            Session::Http1(s) => s.feed(side, input, &mut |e| out.push(ProtoEvent::Http1(e))),
            Session::Postgres(s) => s.feed(side, input, db),
            Session::Mysql(s) => s.feed(side, input, db),
            Session::Redis(s) => s.feed(side, input, db),
        }
    }

    /// The connection closed: a message that ends at close ends now.
    pub fn close(&mut self, at: Moment, out: &mut Vec<ProtoEvent>) {
        let db = &mut |e| out.push(ProtoEvent::Db(e));
        match self {
            Session::Http1(s) => s.close(at, &mut |e| out.push(ProtoEvent::Http1(e))),
            Session::Postgres(s) => s.close(at, db),
            Session::Mysql(s) => s.close(at, db),
            Session::Redis(s) => s.close(at, db),
        }
    }
}
