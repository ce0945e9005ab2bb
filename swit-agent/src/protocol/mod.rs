//! Wire protocols: detect which one a connection speaks, parse its frames,
//! pair requests with responses.
//!
//! Every protocol is pure: it is fed ordered [`Input`]s for the request side
//! and the response side of one connection and returns [`ProtoEvent`]s. No
//! I/O, no clock: times come in with the bytes.
pub mod db;
pub mod framing;
pub mod headers;
pub mod http1;
pub mod http2;
pub mod mysql;
pub mod postgres;
pub mod redis;
pub mod script;
#[cfg(test)]
mod seeds;
pub mod sql;
#[cfg(test)]
pub mod testkit;

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

/// A protocol's own events, as the connection table passes them on.
pub trait IntoProto {
    fn into_proto(self, kind: ProtocolKind) -> ProtoEvent;
}

impl IntoProto for http1::Http1Event {
    fn into_proto(self, _: ProtocolKind) -> ProtoEvent {
        ProtoEvent::Http1(self)
    }
}

impl IntoProto for http2::Http2Event {
    fn into_proto(self, _: ProtocolKind) -> ProtoEvent {
        ProtoEvent::Http2(self)
    }
}

impl IntoProto for db::DbEvent {
    fn into_proto(self, kind: ProtocolKind) -> ProtoEvent {
        ProtoEvent::Db(kind, self)
    }
}

/// How strongly a connection's first bytes say "this protocol".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Evidence {
    No,
    /// Too few bytes to tell.
    NeedMore,
    /// The bytes are a prefix of something only this protocol sends (the
    /// HTTP/2 preface): wait for it, whatever else matches meanwhile.
    NeedMoreSure,
    /// Plausible, but other protocols are asked first (HTTP/2 frames
    /// without a preface: capture began mid-connection).
    Weak,
    /// A well-formed start of this protocol's message.
    Likely,
    /// Only this protocol sends these bytes.
    Sure,
}

/// How a protocol recognises a connection from its first bytes.
pub trait Detector {
    /// The first bytes of the request side (client to server).
    fn client_first(request_side: &[u8]) -> Evidence;
    /// The first bytes of the response side, for protocols whose server
    /// speaks first.
    fn server_first(_response_side: &[u8]) -> Evidence {
        Evidence::No
    }
}

/// The registry's answer: which protocol a connection speaks. (A protocol's
/// own detectors answer a [`framing::Start`], which [`Detector`] turns
/// into [`Evidence`].)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detect {
    Match(ProtocolKind),
    /// Too few bytes to tell.
    NeedMore,
    NoMatch,
}

impl From<framing::Start> for Evidence {
    fn from(s: framing::Start) -> Self {
        match s {
            framing::Start::Yes => Evidence::Likely,
            framing::Start::NeedMore => Evidence::NeedMore,
            framing::Start::No => Evidence::No,
        }
    }
}

/// Counts its arguments (for the registry's array length).
macro_rules! count {
    () => { 0 };
    ($head:ident $($tail:ident)*) => { 1 + count!($($tail)*) };
}

/// The registry: one line per protocol, `Kind => module::State, "label"`.
/// `module` holds the protocol (see [`framing`] and docs/architecture.md):
/// its `Session` type (fed by side, closed once) and `State: Detector`.
/// Everything else (the kind, its label for metrics and fuzz seeds, the
/// session enum, detection) follows from this list.
macro_rules! registry {
    ($($kind:ident => $module:ident :: $state:ident, $label:literal;)*) => {
        /// Protocols swit recognises, in the registry's order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ProtocolKind {
            $($kind,)*
        }

        impl ProtocolKind {
            pub const ALL: [ProtocolKind; count!($($kind)*)] = [$(ProtocolKind::$kind,)*];

            /// The `protocol` label of the agent's metrics, and the name of
            /// the protocol's fuzz seeds.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ProtocolKind::$kind => $label,)*
                }
            }

            /// The protocol's folder under `protocol/`.
            #[cfg(test)]
            pub fn module(self) -> &'static str {
                match self {
                    $(ProtocolKind::$kind => stringify!($module),)*
                }
            }

            /// The state type the registry line names.
            #[cfg(test)]
            pub fn state(self) -> &'static str {
                match self {
                    $(ProtocolKind::$kind => stringify!($state),)*
                }
            }

            fn evidence(self, bytes: &[u8], server_first: bool) -> Evidence {
                match (self, server_first) {
                    $(
                        (ProtocolKind::$kind, false) => <$module::$state as Detector>::client_first(bytes),
                        (ProtocolKind::$kind, true) => <$module::$state as Detector>::server_first(bytes),
                    )*
                }
            }
        }

        /// A live protocol session on one connection.
        #[derive(Debug)]
        pub enum Session {
            $($kind($module::Session),)*
        }

        impl Session {
            pub fn new(kind: ProtocolKind) -> Self {
                match kind {
                    $(ProtocolKind::$kind => Session::$kind(Default::default()),)*
                }
            }

            pub fn kind(&self) -> ProtocolKind {
                match self {
                    $(Session::$kind(_) => ProtocolKind::$kind,)*
                }
            }

            /// Feeds one input of the given side; appends what it produced
            /// to `out`.
            pub fn feed(&mut self, side: Side, input: Input<'_>, out: &mut Vec<ProtoEvent>) {
                match self {
                    $(Session::$kind(s) => s.feed(side, input, &mut |e| {
                        out.push(e.into_proto(ProtocolKind::$kind))
                    }),)*
                }
                self.change_over(out);
            }

            /// The connection closed: a message that ends at close ends now.
            pub fn close(&mut self, at: Moment, out: &mut Vec<ProtoEvent>) {
                match self {
                    $(Session::$kind(s) => s.close(at, &mut |e| {
                        out.push(e.into_proto(ProtocolKind::$kind))
                    }),)*
                }
            }
        }
    };
}

registry! {
    Http1 => http1::Http1, "http1";
    Http2 => http2::Http2, "http2";
    Postgres => postgres::Postgres, "postgresql";
    Mysql => mysql::Mysql, "mysql";
    Redis => redis::Redis, "redis";
}

impl ProtocolKind {
    /// The kind a label names (a fuzz seed directory, a metrics label).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// Names the protocol of a connection from its first bytes: the strongest
/// evidence wins, ties going to the registry's order; a prefix of a sure
/// sign waits for more bytes.
fn detect_by(bytes: &[u8], server_first: bool) -> Detect {
    let mut best: Option<(Evidence, ProtocolKind)> = None;
    let mut need_more = Evidence::No;
    for kind in ProtocolKind::ALL {
        match kind.evidence(bytes, server_first) {
            Evidence::No => {}
            e @ (Evidence::NeedMore | Evidence::NeedMoreSure) => need_more = need_more.max(e),
            e => {
                if best.is_none_or(|(b, _)| e > b) {
                    best = Some((e, kind));
                }
            }
        }
    }
    match best {
        Some((Evidence::Sure, kind)) => Detect::Match(kind),
        _ if need_more == Evidence::NeedMoreSure => Detect::NeedMore,
        Some((_, kind)) => Detect::Match(kind),
        None if need_more == Evidence::NeedMore => Detect::NeedMore,
        None => Detect::NoMatch,
    }
}

/// Looks at the first bytes of a connection's request side (client to
/// server) and names the protocol it speaks.
pub fn detect(request_side: &[u8]) -> Detect {
    detect_by(request_side, false)
}

/// Looks at the first bytes of a connection's response side: protocols
/// whose server speaks first (MySQL's greeting).
pub fn detect_server_first(response_side: &[u8]) -> Detect {
    detect_by(response_side, true)
}

impl Session {
    /// HTTP/1's `Upgrade: h2c`, accepted: the connection goes on as
    /// HTTP/2, whose stream 1 is the request that asked.
    fn change_over(&mut self, out: &mut Vec<ProtoEvent>) {
        let Session::Http1(s) = self else { return };
        let Some(up) = s.protocol_mut().take_h2c() else {
            return;
        };
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

/// The request an h2c upgrade carried, as HTTP/2's stream 1.
fn upgraded_request(r: http1::Request) -> http2::H2Request {
    let authority = r.headers.iter().find(|(k, _)| *k == "host");
    http2::H2Request {
        stream: 1,
        http1_id: Some(r.id),
        method: Some(r.method.into_owned()),
        scheme: Some("http".into()),
        authority: authority.map(|(_, v)| v.to_owned()),
        path: Some(r.target),
        // Once per upgraded connection: HTTP/2 keeps pairs.
        headers: r
            .headers
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        unknown_fields: 0,
        body_size: r.body_size,
        messages: None,
        framed: false,
        ended: true,
        timing: r.timing,
    }
}

#[cfg(test)]
#[path = "walkthrough_tests.rs"]
mod walkthrough_tests;

#[cfg(test)]
#[path = "upgrade_tests.rs"]
mod upgrade_tests;
