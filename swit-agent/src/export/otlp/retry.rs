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
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::trace::span::{AttrValue, Resource, SpanId, SpanKind, StatusCode, TraceId};

    fn span(id: u8) -> Span {
        Span {
            trace_id: TraceId([1; 16]),
            span_id: SpanId([id; 8]),
            parent_span_id: None,
            flags: 1,
            trace_state: String::new(),
            name: String::new(),
            kind: SpanKind::Client,
            start_unix_ns: 1,
            end_unix_ns: 2,
            attributes: vec![],
            status: StatusCode::Unset,
            status_message: String::new(),
            resource: Arc::new(Resource {
                service_name: "s".into(),
                attributes: vec![],
            }),
        }
    }

    fn ids(spans: &[Span]) -> Vec<u8> {
        spans.iter().map(|s| s.span_id.0[0]).collect()
    }

    #[test]
    fn http_statuses() {
        for (status, retry) in [
            (200, false),
            (400, false),
            (401, false),
            (403, false),
            (404, false),
            (413, false),
            (429, true),
            (500, false),
            (501, false),
            (502, true),
            (503, true),
            (504, true),
        ] {
            assert_eq!(http_status_retryable(status), retry, "{status}");
        }
    }

    #[test]
    fn grpc_codes() {
        use tonic::Code;
        for (code, retry) in [
            (Code::Ok, false),
            (Code::Cancelled, true),
            (Code::Unknown, false),
            (Code::InvalidArgument, false),
            (Code::DeadlineExceeded, true),
            (Code::NotFound, false),
            (Code::PermissionDenied, false),
            (Code::ResourceExhausted, true),
            (Code::FailedPrecondition, false),
            (Code::Aborted, true),
            (Code::OutOfRange, true),
            (Code::Unimplemented, false),
            (Code::Internal, false),
            (Code::Unavailable, true),
            (Code::DataLoss, true),
            (Code::Unauthenticated, false),
        ] {
            assert_eq!(grpc_code_retryable(code), retry, "{code:?}");
        }
    }

    #[test]
    fn retry_after_values() {
        for (v, want) in [
            ("3", Some(3)),
            (" 10 ", Some(10)),
            ("0", Some(0)),
            ("-1", None),
            ("soon", None),
            ("Wed, 21 Oct 2015 07:28:00 GMT", None),
            ("", None),
        ] {
            assert_eq!(parse_retry_after(v), want.map(Duration::from_secs), "{v:?}");
        }
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let ms = Duration::from_millis;
        for (initial, max, want) in [
            (500, 5000, vec![500, 1000, 2000, 4000, 5000, 5000]),
            (500, 800, vec![500, 800, 800]),
            (500, 100, vec![100, 100]),
            (0, 100, vec![0, 0]),
        ] {
            let mut b = Backoff::new(ms(initial), ms(max));
            let got: Vec<Duration> = want.iter().map(|_| b.next_delay()).collect();
            let want: Vec<Duration> = want.into_iter().map(ms).collect();
            assert_eq!(got, want, "initial {initial} max {max}");
            b.reset();
            assert_eq!(b.next_delay(), ms(initial.min(max)));
        }
    }

    #[test]
    fn buffer_drops_oldest_beyond_the_bound() {
        // (capacity, batches pushed, dropped per push, ids left)
        type Case = (usize, Vec<Vec<u8>>, Vec<usize>, Vec<u8>);
        let cases: Vec<Case> = vec![
            (4, vec![vec![1, 2], vec![3]], vec![0, 0], vec![1, 2, 3]),
            (3, vec![vec![1, 2], vec![3, 4]], vec![0, 1], vec![2, 3, 4]),
            (2, vec![vec![1, 2, 3, 4, 5]], vec![3], vec![4, 5]),
            (0, vec![vec![1, 2]], vec![2], vec![]),
            (2, vec![vec![], vec![1]], vec![0, 0], vec![1]),
        ];
        for (cap, pushes, dropped, left) in cases {
            let mut b = RetryBuffer::new(cap, usize::MAX);
            let got: Vec<usize> = pushes
                .iter()
                .map(|p| b.push_back(p.iter().map(|&i| span(i)).collect()))
                .collect();
            assert_eq!(got, dropped, "cap {cap}");
            assert_eq!(ids(&b.take_front(usize::MAX)), left, "cap {cap}");
            assert!(b.is_empty());
        }
    }

    #[test]
    fn buffer_drops_oldest_beyond_its_bytes() {
        let one = span(1).approx_bytes();
        let big = |id: u8| {
            let mut s = span(id);
            s.attributes
                .push(("url.full".into(), AttrValue::Str("x".repeat(10 * one))));
            s
        };
        // Room for a big span (eleven small ones and a bit) and one more.
        let mut b = RetryBuffer::new(100, 12 * one + one / 2);
        assert_eq!(b.push_back((1..=3).map(span).collect()), 0);
        // The big span pushes out the oldest two; nothing over the bound stays.
        assert_eq!(b.push_back(vec![big(4)]), 2);
        assert_eq!(ids(&b.take_front(usize::MAX)), vec![3, 4]);
        // Taking and putting back keeps the count exact.
        assert_eq!(b.push_back((5..=7).map(span).collect()), 0);
        let chunk = b.take_front(2);
        b.push_front(chunk);
        assert_eq!(b.push_back(vec![big(8)]), 2);
        assert_eq!(ids(&b.take_front(usize::MAX)), vec![7, 8]);
        // A span larger than the whole bound is not kept.
        let mut b = RetryBuffer::new(100, one);
        assert_eq!(b.push_back(vec![big(9)]), 1);
        assert!(b.is_empty());
    }

    #[test]
    fn taken_spans_go_back_in_order() {
        let mut b = RetryBuffer::new(10, usize::MAX);
        b.push_back((1..=5).map(span).collect());
        let chunk = b.take_front(2);
        assert_eq!(ids(&chunk), vec![1, 2]);
        assert_eq!(b.len(), 3);
        b.push_front(chunk);
        assert_eq!(ids(&b.take_front(10)), vec![1, 2, 3, 4, 5]);
        b.push_back(vec![span(9)]);
        assert_eq!(b.clear(), 1);
        assert!(b.take_front(3).is_empty());
    }
}
