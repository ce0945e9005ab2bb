//! Tests of otlp.rs: counters as cumulative sums, gauges as gauges.
use super::*;
use crate::metrics::{Snapshot, family::families};

#[test]
fn counters_are_cumulative_sums_and_gauges_gauges() {
    let s = Snapshot {
        spans: 3,
        rss_bytes: 1 << 20,
        parse_errors_by: [0, 0, 2, 0, 0],
        ..Snapshot::default()
    };
    let req = request(&families(&s), resource("h", 7), 100, 200);
    let rm = &req.resource_metrics[0];
    let attrs = &rm.resource.as_ref().unwrap().attributes;
    assert!(attrs.contains(&text("service.name", "swit-agent")));
    assert!(attrs.contains(&text("host.name", "h")));
    let m = &rm.scope_metrics[0].metrics;
    let find = |n: &str| m.iter().find(|x| x.name == n).unwrap();
    let Some(metric::Data::Sum(sum)) = &find("swit_spans").data else {
        panic!("spans is a sum")
    };
    assert!(sum.is_monotonic);
    assert_eq!(
        sum.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    let p = &sum.data_points[0];
    assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (100, 200));
    assert_eq!(p.value, Some(number_data_point::Value::AsInt(3)));
    let Some(metric::Data::Gauge(g)) = &find("swit_memory_rss_bytes").data else {
        panic!("rss is a gauge")
    };
    assert_eq!(
        g.data_points[0].value,
        Some(number_data_point::Value::AsInt(1 << 20))
    );
    let Some(metric::Data::Sum(pe)) = &find("swit_parse_errors").data else {
        panic!("parse errors are a sum")
    };
    let pg = pe
        .data_points
        .iter()
        .find(|p| p.attributes == vec![text("protocol", "postgresql")])
        .unwrap();
    assert_eq!(pg.value, Some(number_data_point::Value::AsInt(2)));
}

#[test]
fn request_histograms_are_cumulative_per_service() {
    use crate::trace::requests::{BUCKETS_S, Instrument, RequestMetrics, ValueRef};
    let mut m = RequestMetrics::new(2);
    let v = |status| {
        [
            ValueRef::Str("GET"),
            ValueRef::Str("/a"),
            ValueRef::Int(status),
            ValueRef::None,
        ]
    };
    m.record(Instrument::HttpServer, "web", &v(200), 3_000_000);
    m.record(Instrument::HttpServer, "web", &v(200), 60_000_000);
    m.record(Instrument::HttpServer, "api", &v(500), 1_000_000);
    m.record(Instrument::HttpServer, "api", &v(404), 1_000_000);
    let mut req = request(&[], resource("h", 7), 100, 200);
    add_requests(&mut req, &m.snapshot(), "h", 100, 200);
    assert_eq!(req.resource_metrics.len(), 3, "the agent's, api's, web's");
    let of = |svc: &str| {
        req.resource_metrics
            .iter()
            .find(|r| {
                r.resource
                    .as_ref()
                    .unwrap()
                    .attributes
                    .contains(&text("service.name", svc))
            })
            .unwrap()
    };
    let web = &of("web").scope_metrics[0].metrics;
    assert_eq!(web.len(), 1);
    assert_eq!(web[0].name, "http.server.request.duration");
    assert_eq!(web[0].unit, "s");
    let Some(metric::Data::Histogram(h)) = &web[0].data else {
        panic!("a histogram")
    };
    assert_eq!(
        h.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    let p = &h.data_points[0];
    assert_eq!(
        (p.count, p.start_time_unix_nano, p.time_unix_nano),
        (2, 100, 200)
    );
    assert_eq!(p.sum, Some(0.063));
    assert_eq!(p.explicit_bounds, BUCKETS_S.to_vec());
    assert_eq!(p.bucket_counts.len(), BUCKETS_S.len() + 1);
    assert_eq!(p.bucket_counts[0], 1);
    assert_eq!(p.bucket_counts[4], 1, "60 ms in (0.05, 0.075]");
    assert_eq!(
        p.attributes,
        vec![
            text("http.request.method", "GET"),
            text("http.route", "/a"),
            kv("http.response.status_code", any_value::Value::IntValue(200)),
        ]
    );
    // The third series is past the bound of 2: the agent's resource
    // carries it, marked as overflow.
    let own = &of("swit-agent").scope_metrics[0].metrics;
    let Some(metric::Data::Histogram(o)) = &own
        .iter()
        .find(|m| m.name == "http.server.request.duration")
        .unwrap()
        .data
    else {
        panic!("a histogram")
    };
    assert_eq!(o.data_points[0].count, 1);
    assert_eq!(
        o.data_points[0].attributes,
        vec![kv(
            "otel.metric.overflow",
            any_value::Value::BoolValue(true)
        )]
    );
}
