//! Tests of requests.rs: buckets, series found again, the series bound.
use super::*;

const MS: u64 = 1_000_000;

#[test]
fn durations_land_in_the_conventions_buckets() {
    let mut h = Hist::default();
    for ns in [0, 5 * MS, 5 * MS + 1, 100 * MS, 10_000 * MS, 60_000 * MS] {
        h.record(ns);
    }
    // le is inclusive: 5 ms is in the 0.005 bucket.
    assert_eq!(h.buckets[0], 2);
    assert_eq!(h.buckets[1], 1);
    assert_eq!(h.buckets[5], 1, "100 ms in le=0.1");
    assert_eq!(h.buckets[13], 1, "10 s in le=10");
    assert_eq!(h.buckets[14], 1, "past 10 s");
    assert_eq!(h.count, 6);
    assert_eq!(h.sum_ns, 70_110 * MS + 1);
}

#[test]
fn series_are_found_by_their_labels() {
    let mut m = RequestMetrics::new(10);
    let get = [
        ValueRef::Str("GET"),
        ValueRef::Str("/a"),
        ValueRef::Int(200),
        ValueRef::None,
    ];
    let err = [
        ValueRef::Str("GET"),
        ValueRef::Str("/a"),
        ValueRef::Int(500),
        ValueRef::Str("500"),
    ];
    m.record(Instrument::HttpServer, "web", &get, MS);
    m.record(Instrument::HttpServer, "web", &get, 2 * MS);
    m.record(Instrument::HttpServer, "api", &get, MS);
    m.record(Instrument::HttpServer, "web", &err, MS);
    // An absent value is not the empty string.
    let empty = [get[0], get[1], get[2], ValueRef::Str("")];
    m.record(Instrument::HttpServer, "web", &empty, MS);
    assert_eq!(m.held(), 4);
    let s = m.snapshot();
    let server = &s.metrics[0];
    assert_eq!(server.instrument, Instrument::HttpServer);
    let count = |svc: &str, v: &[ValueRef]| {
        server
            .series
            .iter()
            .find(|(k, _)| k.is(svc, v))
            .map(|(_, h)| h.count)
    };
    assert_eq!(count("web", &get), Some(2));
    assert_eq!(count("api", &get), Some(1));
    assert_eq!(count("web", &err), Some(1));
    assert!(s.metrics[1..].iter().all(|m| m.series.is_empty()));
}

#[test]
fn past_the_bound_exchanges_overflow_and_are_counted() {
    let mut m = RequestMetrics::new(100);
    for i in 0..10_000 {
        let route = format!("/r{i}");
        let v = [
            ValueRef::Str("postgresql"),
            ValueRef::Str(&route),
            ValueRef::None,
        ];
        m.record(Instrument::DbClient, "svc", &v, MS);
    }
    let s = m.snapshot();
    let db = &s.metrics[4];
    assert_eq!(db.series.len(), 100);
    assert_eq!(db.overflow.count, 9_900);
    // A series already held keeps counting.
    let v = [
        ValueRef::Str("postgresql"),
        ValueRef::Str("/r7"),
        ValueRef::None,
    ];
    m.record(Instrument::DbClient, "svc", &v, MS);
    let s = m.snapshot();
    assert_eq!(s.metrics[4].overflow.count, 9_900);
    assert_eq!(
        s.metrics[4]
            .series
            .iter()
            .map(|(_, h)| h.count)
            .sum::<u64>(),
        101
    );
}
