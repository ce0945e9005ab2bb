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
