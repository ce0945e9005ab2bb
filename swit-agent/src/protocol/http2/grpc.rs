//! What gRPC adds to an HTTP/2 stream: length-prefixed messages in DATA,
//! `grpc-timeout`, and status codes in trailers (gRPC over HTTP/2, the
//! PROTOCOL-HTTP2 document of grpc/grpc).
use std::time::Duration;

/// Counts length-prefixed gRPC messages (1 byte compressed flag, 4 bytes
/// big-endian length, the message) in one direction's DATA bytes, which
/// may split prefixes and messages anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageCounter {
    /// Prefix bytes seen of the next message (0..5).
    prefix: [u8; 5],
    have: u8,
    /// Message bytes still to skip.
    remaining: u64,
    count: u64,
    /// A gap hid the framing: the count is no longer exact.
    lost: bool,
    /// A prefix whose flag byte is neither 0 nor 1: not gRPC's framing.
    malformed: bool,
}

impl MessageCounter {
    pub fn feed(&mut self, mut b: &[u8]) {
        if self.lost {
            return;
        }
        while !b.is_empty() {
            if self.remaining > 0 {
                let n = (self.remaining).min(b.len() as u64) as usize;
                self.remaining -= n as u64;
                b = &b[n..];
                continue;
            }
            let take = (5 - self.have as usize).min(b.len());
            self.prefix[self.have as usize..self.have as usize + take].copy_from_slice(&b[..take]);
            self.have += take as u8;
            b = &b[take..];
            if self.have == 5 {
                self.malformed |= self.prefix[0] > 1;
                self.count += 1;
                self.have = 0;
                self.remaining = u32::from_be_bytes([
                    self.prefix[1],
                    self.prefix[2],
                    self.prefix[3],
                    self.prefix[4],
                ]) as u64;
            }
        }
    }

    /// `len` DATA bytes were not captured.
    pub fn gap(&mut self, len: u64) {
        if self.have == 0 && len <= self.remaining {
            self.remaining -= len;
        } else {
            self.lost = true;
        }
    }

    /// Messages whose prefix was seen; `None` if a gap made it uncertain.
    pub fn count(&self) -> Option<u64> {
        (!self.lost).then_some(self.count)
    }

    /// Whether the bytes so far are whole gRPC messages: at least one,
    /// every prefix's flag 0 or 1, and the last message complete. Bytes of
    /// another protocol almost never fall so (their first byte would have
    /// to be 0 or 1 and the next four a length ending exactly at the end).
    pub fn framed(&self) -> bool {
        !self.lost && !self.malformed && self.count > 0 && self.have == 0 && self.remaining == 0
    }
}

/// `grpc-timeout`: an integer of at most 8 digits and a unit (H M S m u n).
pub fn parse_timeout(v: &str) -> Option<Duration> {
    let v = v.trim();
    if v.len() < 2 || v.len() > 9 {
        return None;
    }
    let (digits, unit) = v.split_at(v.len() - 1);
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

pub const OK: u32 = 0;
pub const CANCELLED: u32 = 1;
pub const UNKNOWN: u32 = 2;
pub const DEADLINE_EXCEEDED: u32 = 4;
pub const PERMISSION_DENIED: u32 = 7;
pub const RESOURCE_EXHAUSTED: u32 = 8;
pub const UNIMPLEMENTED: u32 = 12;
pub const INTERNAL: u32 = 13;
pub const UNAVAILABLE: u32 = 14;
pub const DATA_LOSS: u32 = 15;

/// The canonical name of a gRPC status code.
pub fn status_name(code: u32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN_STATUS",
    }
}

/// The status a gRPC library reports for a stream reset without a
/// `grpc-status` (the mapping in PROTOCOL-HTTP2, "Errors").
pub fn status_of_reset(h2_code: u32) -> u32 {
    match h2_code {
        0x7 => UNAVAILABLE,        // REFUSED_STREAM
        0x8 => CANCELLED,          // CANCEL
        0xb => RESOURCE_EXHAUSTED, // ENHANCE_YOUR_CALM
        0xc => PERMISSION_DENIED,  // INADEQUATE_SECURITY
        _ => INTERNAL,
    }
}

/// Whether a status marks the span as an error (OpenTelemetry RPC
/// conventions): a client treats every non-OK status as an error; a server
/// only those that mean it failed, not that the caller asked wrongly.
pub fn is_error(code: u32, server: bool) -> bool {
    if server {
        matches!(
            code,
            UNKNOWN | DEADLINE_EXCEEDED | UNIMPLEMENTED | INTERNAL | UNAVAILABLE | DATA_LOSS
        )
    } else {
        code != OK
    }
}

/// `application/grpc`, `application/grpc+proto`, `application/grpc-web`…
pub fn is_grpc_content_type(v: &str) -> bool {
    let v = v.trim().to_ascii_lowercase();
    v == "application/grpc"
        || v.starts_with("application/grpc+")
        || v.starts_with("application/grpc;")
}

/// `/package.Service/Method` into its two parts.
pub fn split_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix('/')?;
    let (svc, method) = rest.split_once('/')?;
    (!svc.is_empty() && !method.is_empty() && !method.contains('/')).then_some((svc, method))
}

#[cfg(test)]
#[path = "grpc_tests.rs"]
mod tests;
