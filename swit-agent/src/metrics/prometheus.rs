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
#[path = "prometheus_tests.rs"]
mod tests;
