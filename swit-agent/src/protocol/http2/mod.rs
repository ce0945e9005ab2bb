//! HTTP/2 (RFC 9113), and gRPC on top of it.
//!
//! Layout, bottom up:
//! - `frame`: one frame from bytes, and detection (the client preface, or a
//!   run of frames when capture began mid-connection);
//! - `hpack`: header blocks (RFC 7541), one decoder per direction, which
//!   knows what it does not know when capture began mid-connection;
//! - `framer`: one direction's bytes into frames and decoded header blocks,
//!   DATA payloads streamed rather than buffered, gaps skipped inside DATA;
//! - `streams`: frames of both directions into per-stream requests and
//!   responses, reported as [`Http2Event`]s;
//! - `grpc`: the gRPC details read off a stream (message framing, timeouts,
//!   status codes).
//!
//! The session reports what it saw and leaves out what it could not know:
//! a header that referenced HPACK state from before capture is absent, never
//! guessed.
mod frame;
mod framer;
pub mod grpc;
pub mod hpack;
mod session;
mod streams;

pub use frame::{H2Detect, PREFACE, Sender, detect};

/// `b` is a proper prefix of the client preface: wait for more.
pub fn preface_prefix(b: &[u8]) -> bool {
    b.len() < PREFACE.len() && PREFACE.starts_with(b)
}
pub use session::{Http2, Session};

impl super::Detector for Http2 {
    /// The preface is sure; frames without it (capture began
    /// mid-connection) are the weakest evidence of all.
    fn client_first(request_side: &[u8]) -> super::Evidence {
        use super::Evidence;
        match detect(request_side) {
            H2Detect::Preface => Evidence::Sure,
            H2Detect::NeedMore if preface_prefix(request_side) => Evidence::NeedMoreSure,
            H2Detect::NeedMore => Evidence::NeedMore,
            H2Detect::Frames {
                sender: Sender::Client | Sender::Unknown,
            } => Evidence::Weak,
            _ => Evidence::No,
        }
    }
}

use super::{Side, Timing};

/// Streams tracked per connection. gRPC and nginx default to 100 (h2load
/// -m 100 reaches it); past this bound the oldest stream is dropped and
/// counted.
pub const MAX_STREAMS: usize = 1024;
/// Regular header fields kept per message (pseudo-headers are kept apart).
pub const MAX_HEADERS: usize = 64;
/// Largest header block (HEADERS + CONTINUATION) or other non-DATA frame
/// buffered. Larger ones are skipped and the direction's HPACK state is
/// given up (a header block cannot be decoded in part).
pub const MAX_BUFFERED_FRAME: usize = 64 * 1024;

/// A stream's request: what the client's HEADERS said and how much it sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H2Request {
    pub stream: u32,
    /// Set for the request an h2c upgrade carried: its id in the HTTP/1
    /// session, where it started.
    pub http1_id: Option<u64>,
    /// Pseudo-header fields; `None` when absent or not decodable.
    pub method: Option<String>,
    pub scheme: Option<String>,
    pub authority: Option<String>,
    pub path: Option<String>,
    /// Regular fields, names lowercase, sensitive values redacted.
    pub headers: Vec<(String, String)>,
    /// Fields that referenced HPACK state from before capture began.
    pub unknown_fields: usize,
    /// DATA payload bytes (padding excluded).
    pub body_size: u64,
    /// gRPC messages sent; `None` once a gap hid the message framing.
    pub messages: Option<u64>,
    /// Its DATA was whole gRPC messages (see `MessageCounter::framed`):
    /// evidence of gRPC when the content type is hidden.
    pub framed: bool,
    /// The client ended its side (END_STREAM).
    pub ended: bool,
    pub timing: Timing,
}

/// A stream's response: headers, trailers, or how the stream was cut short.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct H2Response {
    /// `:status` of the final response; `None` if none came (reset) or it
    /// could not be decoded.
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub trailers: Vec<(String, String)>,
    pub unknown_fields: usize,
    pub body_size: u64,
    pub messages: Option<u64>,
    pub framed: bool,
    /// A second HEADERS block (trailers) ended the stream, decodable or
    /// not: gRPC ends every call so ...
    pub trailers_seen: bool,
    /// ... or with one HEADERS block that ends it (Trailers-Only, how a
    /// call that fails at once is answered).
    pub headers_only: bool,
    /// The stream ended with RST_STREAM (or was refused by GOAWAY).
    pub reset: Option<Reset>,
    /// The connection closed while the stream was open.
    pub cut_by_close: bool,
    /// `timing.first` is the response's first frame, `timing.last` the one
    /// that ended the stream. Without a response frame both are the reset.
    pub timing: Timing,
}

/// How a stream was cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reset {
    /// Which side sent the RST_STREAM (or the GOAWAY).
    pub by: Side,
    /// HTTP/2 error code (RFC 9113 §7).
    pub code: u32,
}

/// What an HTTP/2 session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Http2Event {
    /// A request's HEADERS are complete: reported before its body and
    /// response so that work done while serving it can name it as parent.
    RequestStarted(H2Request),
    /// The stream ended: END_STREAM from the server, or a reset.
    Exchange {
        request: H2Request,
        response: H2Response,
    },
    /// A response on a stream whose request was not seen (capture began
    /// mid-stream, or its header block was lost).
    OrphanResponse { stream: u32 },
    /// Streams given up unfinished: the per-connection bound was reached.
    StreamsDropped { count: u64 },
    /// The first header block with fields that could not be decoded, once
    /// per connection.
    HiddenHeaders,
    /// Bytes that broke HTTP/2 framing or HPACK on one side; the side was
    /// resynchronised at the next chunk that starts with frames.
    ParseError { side: Side, reason: &'static str },
}

/// Names of the HTTP/2 error codes (RFC 9113 §7), for `error.type`.
pub fn error_code_name(code: u32) -> &'static str {
    match code {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x4 => "SETTINGS_TIMEOUT",
        0x5 => "STREAM_CLOSED",
        0x6 => "FRAME_SIZE_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xa => "CONNECT_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        0xc => "INADEQUATE_SECURITY",
        0xd => "HTTP_1_1_REQUIRED",
        _ => "UNKNOWN_ERROR",
    }
}

/// HTTP/2 error code REFUSED_STREAM: what GOAWAY means for the streams it
/// leaves unprocessed.
pub const REFUSED_STREAM: u32 = 0x7;
/// HTTP/2 error code CANCEL.
pub const CANCEL: u32 = 0x8;
