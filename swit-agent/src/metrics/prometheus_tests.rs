//! Tests of prometheus.rs: the text format of counters, gauges and labels.
use super::*;

#[test]
fn counters_gauges_and_labels() {
    let f = vec![
        Family {
            name: "swit_events",
            help: "Records read",
            kind: Kind::Counter,
            label: None,
            samples: vec![("", 7)],
        },
        Family {
            name: "swit_dropped_events",
            help: "Lost",
            kind: Kind::Counter,
            label: Some("reason"),
            samples: vec![("ringbuf_full", 1), ("malformed", 0)],
        },
        Family {
            name: "swit_memory_rss_bytes",
            help: "RSS",
            kind: Kind::Gauge,
            label: None,
            samples: vec![("", 4096)],
        },
    ];
    assert_eq!(
        render(&f),
        "# HELP swit_events_total Records read
# TYPE swit_events_total counter
swit_events_total 7
# HELP swit_dropped_events_total Lost
# TYPE swit_dropped_events_total counter
swit_dropped_events_total{reason=\"ringbuf_full\"} 1
swit_dropped_events_total{reason=\"malformed\"} 0
# HELP swit_memory_rss_bytes RSS
# TYPE swit_memory_rss_bytes gauge
swit_memory_rss_bytes 4096
"
    );
}

#[test]
fn request_histograms_follow_the_exposition_format() {
    use crate::trace::requests::{Instrument, RequestMetrics, ValueRef};
    let mut m = RequestMetrics::new(1);
    let v = [
        ValueRef::Str("GET"),
        ValueRef::Str("/a/\"q\"\\\n"),
        ValueRef::Int(200),
        ValueRef::None,
    ];
    m.record(Instrument::HttpServer, "web", &v, 3_000_000);
    m.record(Instrument::HttpServer, "web", &v, 60_000_000);
    // Past the one series allowed: the overflow series.
    m.record(Instrument::HttpServer, "other", &v, 20_000_000_000);
    let mut out = String::new();
    render_requests(&m.snapshot(), &mut out);
    let l = "service_name=\"web\",http_request_method=\"GET\",http_route=\"/a/\\\"q\\\"\\\\\\n\",http_response_status_code=\"200\"";
    let want_head = "# HELP http_server_request_duration_seconds Duration of HTTP server requests\n\
                     # TYPE http_server_request_duration_seconds histogram\n";
    assert!(out.starts_with(want_head), "{out}");
    for (le, n) in [
        ("0.005", 1),
        ("0.01", 1),
        ("0.05", 1),
        ("0.075", 2),
        ("1", 2),
        ("10", 2),
        ("+Inf", 2),
    ] {
        let line = format!("http_server_request_duration_seconds_bucket{{{l},le=\"{le}\"}} {n}\n");
        assert!(out.contains(&line), "{line} in\n{out}");
    }
    assert!(out.contains(&format!(
        "http_server_request_duration_seconds_sum{{{l}}} 0.063\n"
    )));
    assert!(out.contains(&format!(
        "http_server_request_duration_seconds_count{{{l}}} 2\n"
    )));
    assert!(out.contains(
        "http_server_request_duration_seconds_bucket{otel_metric_overflow=\"true\",le=\"10\"} 0\n"
    ));
    assert!(
        out.contains(
            "http_server_request_duration_seconds_count{otel_metric_overflow=\"true\"} 1\n"
        )
    );
    // Every metric is declared, with or without series.
    for name in [
        "http_client_request_duration_seconds",
        "rpc_server_duration_seconds",
        "rpc_client_duration_seconds",
        "db_client_operation_duration_seconds",
    ] {
        assert!(
            out.contains(&format!("# TYPE {name} histogram\n")),
            "{name}"
        );
    }
}
