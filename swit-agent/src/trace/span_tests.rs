//! Tests of span.rs: ids are never zero and never repeat.
use super::*;
use std::collections::HashSet;

#[test]
fn ids_are_never_zero_and_do_not_repeat_within_or_across_threads() {
    let draw = || {
        (0..50_000)
            .map(|_| (TraceId::random().0, SpanId::random().0))
            .collect::<Vec<_>>()
    };
    let other = std::thread::spawn(draw);
    let mine = draw();
    let theirs = other.join().unwrap();
    let mut traces = HashSet::new();
    let mut spans = HashSet::new();
    for (t, s) in mine.iter().chain(&theirs) {
        assert_ne!(*t, [0; 16]);
        assert_ne!(*s, [0; 8]);
        assert!(traces.insert(*t), "a trace id repeated");
        assert!(spans.insert(*s), "a span id repeated");
    }
}
