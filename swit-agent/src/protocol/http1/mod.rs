//! HTTP/1.0 and HTTP/1.1.
//!
//! Heads are parsed by `httparse` (hyper's parser: partial input returns
//! `Partial`, which maps onto "needs more data"); bodies are framed here:
//! Content-Length, chunked, none (HEAD, 1xx, 204, 304), or until close.
//!
//! Layout: `parse` holds the pure frame functions (head parsing, chunked
//! decoding, detection); `session` drives one connection's two directions,
//! pairs requests with responses in order (pipelining) and reports
//! [`Http1Event`]s.
mod parse;
mod session;

pub use parse::{
    BodyFraming, ChunkedDecoder, ChunkedError, ChunkedProgress, Head, HeadError, Method, Parsed,
    StartLine, detect_request, looks_like_response, parse_request_head, parse_response_head,
};
pub use session::{H2cUpgrade, Http1, MAX_PENDING, Session};

impl super::Detector for Http1 {
    fn client_first(request_side: &[u8]) -> super::Evidence {
        detect_request(request_side).into()
    }
}

use std::sync::Arc;

use super::{Moment, Timing, headers::Headers};

/// Most header fields kept per message; past it the message is still parsed
/// but further fields are counted, not kept.
pub const MAX_HEADERS: usize = 64;
/// Largest head (start line + fields) buffered while waiting for its end.
/// A longer head is a parse error for the connection (resynchronised).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// A request as seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Per-connection sequence number, 0 for the first request seen.
    pub id: u64,
    /// Borrowed for the standard methods.
    pub method: Method,
    /// The request target as sent (origin-form path and query, or absolute-form).
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Field names lowercased, in wire order; sensitive values redacted.
    pub headers: Headers,
    /// Body bytes (after de-chunking framing is removed: the payload size).
    pub body_size: u64,
    pub timing: Timing,
}

/// A response as seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub minor_version: u8,
    pub headers: Headers,
    pub body_size: u64,
    pub timing: Timing,
    /// The body ran until the connection closed (no length, not chunked).
    pub ended_by_close: bool,
}

/// What an HTTP/1 session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Http1Event {
    /// A request head is complete. Sent before its body and response so that
    /// work done while serving it (outgoing calls) can name it as parent.
    /// `body_size` is 0 and `timing.last` is the chunk that completed the head.
    /// Shared with the session, which keeps the request until it is
    /// answered: no copy of its head is made for this event.
    RequestStarted(Arc<Request>),
    /// A request and its final (non-1xx) response are complete.
    Exchange {
        request: Request,
        response: Response,
    },
    /// A response with no request to answer (capture began mid-exchange).
    OrphanResponse(Response),
    /// The connection closed before `request` was answered in full:
    /// `response` is the answer's head when it had begun. `at` is the close.
    /// A client that gave up, or a server that failed mid-answer.
    CutByClose {
        request: Request,
        response: Option<Response>,
        at: Moment,
    },
    /// Requests given up unanswered: more were pipelined than the session
    /// keeps.
    RequestsDropped { count: u64 },
    /// Bytes that are not HTTP/1 where a message should start; the side was
    /// resynchronised at the next message start, if any.
    ParseError {
        side: super::Side,
        reason: &'static str,
    },
}
