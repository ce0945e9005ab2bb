//! The pure parts of retrying: which failures are worth retrying, how long
//! to wait, and the bounded buffer of spans waiting for the collector.
//!
//! Retryable statuses follow the OTLP specification ("Failures" in
//! protocol/exporter.md): HTTP 429, 502, 503, 504 and the gRPC codes
//! CANCELLED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, OUT_OF_RANGE,
//! UNAVAILABLE, DATA_LOSS. Everything else (400, INVALID_ARGUMENT, ...) means
//! the same request would fail again, so it is dropped and counted.
use std::{collections::VecDeque, time::Duration};

use crate::trace::span::Span;

/// Why one request failed.
#[derive(Debug, Clone, PartialEq)]
pub struct SendError {
    /// Whether sending the same spans later may succeed.
    pub retryable: bool,
    /// One line for the log.
    pub detail: String,
    /// The server asked us to wait this long (HTTP `Retry-After`).
    pub retry_after: Option<Duration>,
}

impl SendError {
    pub fn retryable(detail: impl Into<String>) -> Self {
        Self {
            retryable: true,
            detail: detail.into(),
            retry_after: None,
        }
    }
    pub fn fatal(detail: impl Into<String>) -> Self {
        Self {
            retryable: false,
            detail: detail.into(),
            retry_after: None,
        }
    }
}

/// A request the collector took, possibly rejecting some of its spans
/// (OTLP partial success).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Accepted {
    pub rejected_spans: u64,
    pub message: String,
}

/// Whether an OTLP/HTTP response status is worth retrying.
pub fn http_status_retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// Whether an OTLP/gRPC status code is worth retrying.
pub fn grpc_code_retryable(code: tonic::Code) -> bool {
    use tonic::Code::*;
    matches!(
        code,
        Cancelled
            | DeadlineExceeded
            | ResourceExhausted
            | Aborted
            | OutOfRange
            | Unavailable
            | DataLoss
    )
}

/// Parses `Retry-After` given in seconds. The HTTP-date form is ignored:
/// collectors send seconds, and a wrong host clock would make a date
/// meaningless anyway.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Exponential backoff: `initial`, doubling, capped at `max`. No jitter:
/// one agent per host sends to its collector, so there is no herd to spread.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    current: Option<Duration>,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        // A max below the initial step means "never wait longer than max".
        Self {
            initial: initial.min(max),
            max,
            current: None,
        }
    }

    /// The wait before the next attempt, growing on every call.
    pub fn next_delay(&mut self) -> Duration {
        let next = match self.current {
            None => self.initial,
            Some(d) => d.saturating_mul(2).min(self.max),
        };
        self.current = Some(next);
        next
    }

    pub fn reset(&mut self) {
        self.current = None;
    }

    pub fn max(&self) -> Duration {
        self.max
    }
}

/// Spans waiting for the collector, oldest first, at most `capacity` of
/// them and `max_bytes` of [`Span::approx_bytes`]. Overflow drops the
/// oldest spans: during a long outage the newest traces are the ones an
/// operator still wants to see.
#[derive(Debug)]
pub struct RetryBuffer {
    spans: VecDeque<Span>,
    capacity: usize,
    bytes: usize,
    max_bytes: usize,
}

impl RetryBuffer {
    pub fn new(capacity: usize, max_bytes: usize) -> Self {
        Self {
            spans: VecDeque::new(),
            capacity,
            bytes: 0,
            max_bytes,
        }
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Appends `batch`; returns how many of the oldest spans were dropped to
    /// stay within the bound.
    pub fn push_back(&mut self, batch: Vec<Span>) -> usize {
        self.bytes += batch.iter().map(Span::approx_bytes).sum::<usize>();
        self.spans.extend(batch);
        let mut over = 0;
        while self.spans.len() > self.capacity || self.bytes > self.max_bytes {
            let Some(s) = self.spans.pop_front() else {
                break;
            };
            self.bytes -= s.approx_bytes();
            over += 1;
        }
        over
    }

    /// Takes up to `n` of the oldest spans.
    pub fn take_front(&mut self, n: usize) -> Vec<Span> {
        let n = n.min(self.spans.len());
        let taken: Vec<Span> = self.spans.drain(..n).collect();
        self.bytes -= taken.iter().map(Span::approx_bytes).sum::<usize>();
        taken
    }

    /// Puts back spans taken by [`RetryBuffer::take_front`] whose send
    /// failed, keeping their place. They were within the bound before, and
    /// nothing is added in between (the sink is never called concurrently),
    /// so this cannot overflow.
    pub fn push_front(&mut self, chunk: Vec<Span>) {
        for s in chunk.into_iter().rev() {
            self.bytes += s.approx_bytes();
            self.spans.push_front(s);
        }
    }

    /// Empties the buffer; returns how many spans it held.
    pub fn clear(&mut self) -> usize {
        let n = self.spans.len();
        self.spans.clear();
        self.bytes = 0;
        n
    }
}

#[cfg(test)]
#[path = "retry_tests.rs"]
mod tests;
