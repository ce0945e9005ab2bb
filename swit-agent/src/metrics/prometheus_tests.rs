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
