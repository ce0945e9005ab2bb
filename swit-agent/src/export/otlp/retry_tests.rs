//! Tests of retry.rs: what is retried, the backoff, and the bounded buffer.
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
        name: "".into(),
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
            .push(("url.full".into(), AttrValue::from("x".repeat(10 * one))));
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
