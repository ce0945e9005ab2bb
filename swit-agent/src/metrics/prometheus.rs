//! Prometheus text exposition format (version 0.0.4) of the families.
use std::fmt::Write;

use super::family::{Family, Kind};
use crate::trace::requests::{BUCKETS_S, Hist, RequestsSnapshot, ValueRef};

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

/// The request histograms, after the families: OpenTelemetry names made
/// Prometheus names (dots to underscores, `_seconds`), buckets cumulative,
/// `service.name` as `service_name`. The series past the bound carry only
/// `otel_metric_overflow="true"`.
pub fn render_requests(snap: &RequestsSnapshot, out: &mut String) {
    let mut labels = String::new();
    for m in &snap.metrics {
        let name = m.instrument.prometheus_name();
        let _ = writeln!(out, "# HELP {name} {}", m.instrument.description());
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (key, h) in &m.series {
            labels.clear();
            label(&mut labels, "service.name", ValueRef::Str(&key.service));
            for (k, v) in m.instrument.keys().iter().zip(key.values.iter()) {
                label(&mut labels, k, v.as_ref());
            }
            series(out, name, &labels, h);
        }
        if m.overflow.count > 0 {
            series(out, name, "otel_metric_overflow=\"true\",", &m.overflow);
        }
    }
}

/// `key="value",` with the key's dots as underscores and the value escaped
/// as the format asks (backslash, quote, newline); nothing when absent.
fn label(out: &mut String, key: &str, v: ValueRef<'_>) {
    if v == ValueRef::None {
        return;
    }
    for c in key.chars() {
        out.push(if c.is_ascii_alphanumeric() { c } else { '_' });
    }
    out.push_str("=\"");
    match v {
        ValueRef::Str(text) => {
            for c in text.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
        }
        ValueRef::Int(i) => {
            let _ = write!(out, "{i}");
        }
        ValueRef::None => {}
    }
    out.push_str("\",");
}

/// One series' buckets, sum and count; `labels` ends with a comma or is
/// empty.
fn series(out: &mut String, name: &str, labels: &str, h: &Hist) {
    let mut cumulative = 0;
    for (bound, n) in BUCKETS_S.iter().zip(h.buckets) {
        cumulative += n;
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {}", h.count);
    let bare = labels.strip_suffix(',').unwrap_or(labels);
    let _ = writeln!(out, "{name}_sum{{{bare}}} {}", h.sum_seconds());
    let _ = writeln!(out, "{name}_count{{{bare}}} {}", h.count);
}

#[cfg(test)]
#[path = "prometheus_tests.rs"]
mod tests;
