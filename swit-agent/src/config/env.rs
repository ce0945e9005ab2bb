//! The environment: `${VAR}` expansion in the file's strings, and the
//! standard `OTEL_*` variables, which override the file.
//!
//! Both read variables through a [`Lookup`] so tests never touch the
//! process environment. An empty variable counts as unset (OTel spec).
use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

use super::{Layered, Lookup, Problem, file::ScalarString};

/// Expands `${VAR}` and `${VAR:-default}` in `s`.
///
/// - `${VAR}` of an unset variable is the empty string.
/// - `${VAR:-default}` is `default` when VAR is unset or empty.
/// - `$$` is one literal `$`, so `$${VAR}` is the text `${VAR}`.
/// - A `$` followed by anything else is kept as it is.
///
/// Defaults are literal text (no nesting).
pub fn expand(s: &str, lookup: Lookup) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            let Some(end) = r.find('}') else {
                return Err(format!("{s:?} has \"${{\" without a closing \"}}\""));
            };
            let inner = &r[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if !is_var_name(name) {
                return Err(format!(
                    "{s:?}: \"{name}\" is not a variable name (use ${{NAME}} or ${{NAME:-default}}; $$ for a literal $)"
                ));
            }
            let value = lookup(name).filter(|v| !v.is_empty());
            out.push_str(&value.unwrap_or_else(|| default.unwrap_or_default().to_owned()));
            rest = &r[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_var_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Every variable [`apply`] reads: a test holds the two, and
/// docs/configuration.md, in step.
#[cfg(test)]
pub const VARIABLES: &[&str] = &[
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_PROPAGATORS",
    "OTEL_METRIC_EXPORT_INTERVAL",
];

/// Parses `k=v,k2=v2` with percent-encoded values (W3C baggage style, as
/// OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS are written).
pub fn parse_pairs(var: &str, s: &str) -> Result<BTreeMap<String, String>, Problem> {
    let mut out = BTreeMap::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((k, v)) = item.split_once('=') else {
            return Err(Problem::at(var, format!("{item:?} is not key=value")));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(Problem::at(var, format!("{item:?} has an empty key")));
        }
        let v = percent_decode_str(v.trim())
            .decode_utf8()
            .map_err(|_| Problem::at(var, format!("{item:?}: value is not UTF-8 once decoded")))?;
        out.insert(k.to_owned(), v.into_owned());
    }
    Ok(out)
}

/// Applies the `OTEL_*` variables over the file.
///
/// The exporter type is changed only by OTEL_TRACES_EXPORTER: an OTLP
/// endpoint or protocol variable left in the environment does not turn a
/// file's `console` into `otlp` (they configure the OTLP exporter for
/// when it is used). Values are checked later by `validate`, which names
/// the variable a wrong value came from.
pub(crate) fn apply(l: &mut Layered, lookup: Lookup, problems: &mut Vec<Problem>) {
    let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
    let t = &mut l.raw.tracing;
    if let Some(v) = get("OTEL_RESOURCE_ATTRIBUTES") {
        match parse_pairs("OTEL_RESOURCE_ATTRIBUTES", &v) {
            Ok(pairs) => {
                for (k, v) in pairs {
                    if k == "service.name" {
                        t.service_name = Some(v.clone());
                        l.origins
                            .insert("tracing.service_name", "OTEL_RESOURCE_ATTRIBUTES".into());
                    }
                    t.resource_attributes
                        .get_or_insert_with(BTreeMap::new)
                        .insert(k, ScalarString(v));
                }
            }
            Err(p) => problems.push(p),
        }
    }
    // OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES.
    if let Some(v) = get("OTEL_SERVICE_NAME") {
        t.service_name = Some(v);
        l.origins
            .insert("tracing.service_name", "OTEL_SERVICE_NAME".into());
    }
    // Milliseconds (OTel spec); checked with the file's value in validate.
    if let Some(v) = get("OTEL_METRIC_EXPORT_INTERVAL") {
        match v.trim().parse::<u64>() {
            Ok(ms) => {
                l.raw.agent.metrics_export_interval = Some(format!("{ms}ms"));
                l.origins.insert(
                    "agent.metrics_export_interval",
                    "OTEL_METRIC_EXPORT_INTERVAL".into(),
                );
            }
            Err(_) => problems.push(Problem::at(
                "OTEL_METRIC_EXPORT_INTERVAL",
                format!("{v:?} is not a number of milliseconds"),
            )),
        }
    }
    let e = &mut t.exporter;
    if let Some(v) = get("OTEL_TRACES_EXPORTER") {
        e.kind = Some(v.trim().to_owned());
        l.origins
            .insert("tracing.exporter.type", "OTEL_TRACES_EXPORTER".into());
    }
    if let Some(v) = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        e.endpoint = Some(v.trim().to_owned());
        l.endpoint_is_base = false;
        l.origins.insert(
            "tracing.exporter.endpoint",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".into(),
        );
    } else if let Some(v) = get("OTEL_EXPORTER_OTLP_ENDPOINT") {
        e.endpoint = Some(v.trim().to_owned());
        l.endpoint_is_base = true;
        l.origins.insert(
            "tracing.exporter.endpoint",
            "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
        );
    }
    if let Some(v) = get("OTEL_EXPORTER_OTLP_PROTOCOL") {
        e.protocol = Some(v.trim().to_owned());
        l.origins.insert(
            "tracing.exporter.protocol",
            "OTEL_EXPORTER_OTLP_PROTOCOL".into(),
        );
    }
    // The signal-specific variable wins, as for the endpoint.
    for var in [
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
    ] {
        if let Some(v) = get(var) {
            e.compression = Some(v.trim().to_owned());
            l.origins.insert("tracing.exporter.compression", var.into());
            break;
        }
    }
    if let Some(v) = get("OTEL_EXPORTER_OTLP_HEADERS") {
        match parse_pairs("OTEL_EXPORTER_OTLP_HEADERS", &v) {
            Ok(pairs) => e.headers.get_or_insert_with(BTreeMap::new).extend(pairs),
            Err(p) => problems.push(p),
        }
    }
    let s = &mut t.sampling;
    if let Some(v) = get("OTEL_TRACES_SAMPLER") {
        s.kind = Some(v.trim().to_owned());
        l.origins
            .insert("tracing.sampling.type", "OTEL_TRACES_SAMPLER".into());
    }
    if let Some(v) = get("OTEL_TRACES_SAMPLER_ARG") {
        match v.trim().parse::<f64>() {
            Ok(r) => {
                s.rate = Some(r);
                l.origins
                    .insert("tracing.sampling.rate", "OTEL_TRACES_SAMPLER_ARG".into());
            }
            Err(_) => problems.push(Problem::at(
                "OTEL_TRACES_SAMPLER_ARG",
                format!("{v:?} is not a number between 0 and 1"),
            )),
        }
    }
    if let Some(v) = get("OTEL_PROPAGATORS") {
        let list: Vec<String> = v
            .split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty() && p != "none")
            .collect();
        t.propagators = Some(list);
        l.origins
            .insert("tracing.propagators", "OTEL_PROPAGATORS".into());
    }
}

#[cfg(test)]
#[path = "env_tests.rs"]
mod tests;
