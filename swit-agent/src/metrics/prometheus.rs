//! Prometheus text exposition format (version 0.0.4) of the families.
use std::fmt::Write;

use super::family::{Family, Kind};

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn render(families: &[Family]) -> String {
    let mut out = String::with_capacity(families.len() * 160);
    for f in families {
        let (name, kind) = match f.kind {
            Kind::Counter => (format!("{}_total", f.name), "counter"),
            Kind::Gauge => (f.name.to_string(), "gauge"),
        };
        // Help texts are ours: no backslashes or newlines to escape.
        let _ = writeln!(out, "# HELP {name} {}", f.help);
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (value, n) in &f.samples {
            match f.label {
                Some(label) => {
                    let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {n}");
                }
                None => {
                    let _ = writeln!(out, "{name} {n}");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
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
}
