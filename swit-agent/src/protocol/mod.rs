//! Wire protocols: detect which one a connection speaks, parse its frames,
//! pair requests with responses.
//!
//! Every protocol is pure: it is fed ordered [`Input`]s for the request side
//! and the response side of one connection and returns [`ProtoEvent`]s. No
//! I/O, no clock: times come in with the bytes.
pub mod db;
pub mod http1;
pub mod http2;
pub mod mysql;
pub mod postgres;
pub mod redis;
pub mod script;
#[cfg(test)]
mod seeds;
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
    /// Who made the call: in a Go process whose goroutines swit follows,
    /// the goroutine (its `g` address, far above any thread id); else the
    /// kernel thread id.
    pub worker: u64,
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
    Http2(http2::Http2Event),
    /// Which database protocol, for per-protocol counts.
    Db(ProtocolKind, db::DbEvent),
}

/// Protocols swit recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolKind {
    Http1,
    Http2,
    Postgres,
    Mysql,
    Redis,
}

impl ProtocolKind {
    pub const ALL: [ProtocolKind; 5] = [
        ProtocolKind::Http1,
        ProtocolKind::Http2,
        ProtocolKind::Postgres,
        ProtocolKind::Mysql,
        ProtocolKind::Redis,
    ];

    /// The `protocol` label of the agent's metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolKind::Http1 => "http1",
            ProtocolKind::Http2 => "http2",
            ProtocolKind::Postgres => "postgresql",
            ProtocolKind::Mysql => "mysql",
            ProtocolKind::Redis => "redis",
        }
    }
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
    // The HTTP/2 preface begins like an HTTP/1 request line.
    let h2 = http2::detect(request_side);
    match h2 {
        http2::H2Detect::Preface => return Detect::Match(ProtocolKind::Http2),
        http2::H2Detect::NeedMore if http2::preface_prefix(request_side) => {
            return Detect::NeedMore;
        }
        _ => {}
    }
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
    // Frames without a preface (capture began mid-connection) are the
    // weakest evidence: every other protocol is asked first.
    let h2 = match h2 {
        http2::H2Detect::Frames {
            sender: http2::Sender::Client | http2::Sender::Unknown,
        } => Detect::Match(ProtocolKind::Http2),
        http2::H2Detect::NeedMore => Detect::NeedMore,
        _ => Detect::NoMatch,
    };
    match http1::detect_request(request_side) {
        Detect::Match(k) => Detect::Match(k),
        h => first_of([h, pg, redis, my, h2]),
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

/// The request an h2c upgrade carried, as HTTP/2's stream 1.
fn upgraded_request(r: http1::Request) -> http2::H2Request {
    let authority = r
        .headers
        .iter()
        .find(|(k, _)| k == "host")
        .map(|(_, v)| v.clone());
    http2::H2Request {
        stream: 1,
        http1_id: Some(r.id),
        method: Some(r.method),
        scheme: Some("http".into()),
        authority,
        path: Some(r.target),
        headers: r.headers,
        unknown_fields: 0,
        body_size: r.body_size,
        messages: None,
        ended: true,
        timing: r.timing,
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
    Http2(http2::Session),
    Postgres(postgres::Session),
    Mysql(mysql::Session),
    Redis(redis::Session),
}

impl Session {
    pub fn new(kind: ProtocolKind) -> Self {
        match kind {
            ProtocolKind::Http1 => Session::Http1(http1::Session::new()),
            ProtocolKind::Http2 => Session::Http2(http2::Session::new()),
            ProtocolKind::Postgres => Session::Postgres(postgres::Session::new()),
            ProtocolKind::Mysql => Session::Mysql(mysql::Session::new()),
            ProtocolKind::Redis => Session::Redis(redis::Session::new()),
        }
    }

    pub fn kind(&self) -> ProtocolKind {
        match self {
            Session::Http1(_) => ProtocolKind::Http1,
            Session::Http2(_) => ProtocolKind::Http2,
            Session::Postgres(_) => ProtocolKind::Postgres,
            Session::Mysql(_) => ProtocolKind::Mysql,
            Session::Redis(_) => ProtocolKind::Redis,
        }
    }

    /// Feeds one input of the given side; appends what it produced to `out`.
    pub fn feed(&mut self, side: Side, input: Input<'_>, out: &mut Vec<ProtoEvent>) {
        let kind = self.kind();
        let db = &mut |e| out.push(ProtoEvent::Db(kind, e));
        match self {
            Session::Http1(s) => {
                s.feed(side, input, &mut |e| out.push(ProtoEvent::Http1(e)));
                if let Some(up) = s.take_h2c() {
                    let mut h2 = http2::Session::after_upgrade(upgraded_request(up.request));
                    let rest = Input::Data {
                        bytes: &up.rest,
                        at: up.at,
                    };
                    h2.feed(Side::Response, rest, &mut |e| {
                        out.push(ProtoEvent::Http2(e))
                    });
                    *self = Session::Http2(h2);
                }
            }
            Session::Http2(s) => s.feed(side, input, &mut |e| out.push(ProtoEvent::Http2(e))),
            Session::Postgres(s) => s.feed(side, input, db),
            Session::Mysql(s) => s.feed(side, input, db),
            Session::Redis(s) => s.feed(side, input, db),
        }
    }

    /// The connection closed: a message that ends at close ends now.
    pub fn close(&mut self, at: Moment, out: &mut Vec<ProtoEvent>) {
        let kind = self.kind();
        let db = &mut |e| out.push(ProtoEvent::Db(kind, e));
        match self {
            Session::Http1(s) => s.close(at, &mut |e| out.push(ProtoEvent::Http1(e))),
            Session::Http2(s) => s.close(at, &mut |e| out.push(ProtoEvent::Http2(e))),
            Session::Postgres(s) => s.close(at, db),
            Session::Mysql(s) => s.close(at, db),
            Session::Redis(s) => s.close(at, db),
        }
    }
}

#[cfg(test)]
#[path = "upgrade_tests.rs"]
mod upgrade_tests;
