//! Wire protocols: detect which one a connection speaks, parse its frames,
//! pair requests with responses.
//!
//! Every protocol is pure: it is fed ordered [`Input`]s for the request side
//! and the response side of one connection and returns [`ProtoEvent`]s. No
//! I/O, no clock: times come in with the bytes.
pub mod db;
pub mod http1;
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
}

/// Protocols swit recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolKind {
    Http1,
}

/// Looks at the first bytes of a connection's request side and names the
/// protocol it speaks.
pub fn detect(request_side: &[u8]) -> Detect {
    http1::detect_request(request_side)
}

/// Answer of a protocol detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detect {
    Match(ProtocolKind),
    /// Too few bytes to tell.
    NeedMore,
    NoMatch,
}

/// A live protocol session on one connection (static dispatch registry).
#[derive(Debug)]
pub enum Session {
    Http1(http1::Session),
}

impl Session {
    pub fn new(kind: ProtocolKind) -> Self {
        match kind {
            ProtocolKind::Http1 => Session::Http1(http1::Session::new()),
        }
    }

    /// Feeds one input of the given side; appends what it produced to `out`.
    pub fn feed(&mut self, side: Side, input: Input<'_>, out: &mut Vec<ProtoEvent>) {
        match self {
            Session::Http1(s) => s.feed(side, input, &mut |e| out.push(ProtoEvent::Http1(e))),
        }
    }

    /// The connection closed: a message that ends at close ends now.
    pub fn close(&mut self, at: Moment, out: &mut Vec<ProtoEvent>) {
        match self {
            Session::Http1(s) => s.close(at, &mut |e| out.push(ProtoEvent::Http1(e))),
        }
    }
}
