//! What a finished exchange adds besides its span: the server route
//! (`http.route`, named in the span too) and the request metrics. Runs for
//! every exchange the sampler dropped as well when metrics are on: rates
//! and latencies count every request.
use super::requests::{Instrument, MAX_KEYS, RequestMetrics, RequestsSnapshot, ValueRef};
use super::{
    http_span::HttpSpanParts,
    route::{RouteSettings, Routes},
    span::{AttrValue, Attributes, SpanKind, Text},
};

/// `swit.route.source`: `config` when an `agent.routes` pattern named the
/// route, `heuristic` when the agent guessed it from the path.
pub const ROUTE_SOURCE: &str = "swit.route.source";

pub struct Red {
    pub routes: Routes,
    /// `None` when nothing exports request metrics (no `--metrics-addr`,
    /// no OTLP exporter): nothing is recorded.
    pub metrics: Option<RequestMetrics>,
}

impl Red {
    pub fn new(routes: RouteSettings, max_series: Option<usize>) -> Self {
        Red {
            routes: Routes::new(routes),
            metrics: max_series.map(RequestMetrics::new),
        }
    }

    /// Whether an exchange the sampler dropped must still be built.
    pub fn wants_unsampled(&self) -> bool {
        self.metrics.is_some()
    }

    /// Names the route of an HTTP server exchange and records the
    /// exchange's `ns` nanoseconds. A `sampled` span gets `http.route`,
    /// `swit.route.source` and the name `{method} {route}`.
    pub fn finish(
        &mut self,
        kind: SpanKind,
        parts: &mut HttpSpanParts,
        service: &str,
        ns: u64,
        sampled: bool,
    ) {
        let inst = match (parts.attributes.first().map(|(k, _)| &**k), kind) {
            (Some("rpc.system"), SpanKind::Client) => Instrument::RpcClient,
            (Some("rpc.system"), _) => Instrument::RpcServer,
            (Some("db.system.name"), SpanKind::Client) => Instrument::DbClient,
            // A traced database server's calls: no client duration.
            (Some("db.system.name"), _) => return,
            (_, SpanKind::Client) => Instrument::HttpClient,
            _ => Instrument::HttpServer,
        };
        let route = match (inst, value(&parts.attributes, "url.path")) {
            (Instrument::HttpServer, ValueRef::Str(path)) => Some(self.routes.route(service, path)),
            _ => None,
        };
        if let Some(m) = &mut self.metrics {
            let keys = inst.keys();
            let mut values = [ValueRef::None; MAX_KEYS];
            for (v, k) in values.iter_mut().zip(keys) {
                *v = match (*k, route) {
                    ("http.route", Some((r, _))) => ValueRef::Str(r),
                    _ => value(&parts.attributes, k),
                };
            }
            m.record(inst, service, &values[..keys.len()], ns);
        }
        if let (true, Some((route, source))) = (sampled, route) {
            let a = &mut parts.attributes;
            a.push(("http.route".into(), AttrValue::from(route)));
            a.push((ROUTE_SOURCE.into(), AttrValue::fixed(source.as_str())));
            let mut name = String::with_capacity(parts.name.len() + 1 + route.len());
            name.push_str(&parts.name);
            name.push(' ');
            name.push_str(route);
            parts.name = Text::Owned(name);
        }
    }

    pub fn snapshot(&self) -> RequestsSnapshot {
        self.metrics
            .as_ref()
            .map(RequestMetrics::snapshot)
            .unwrap_or_default()
    }
}

/// An attribute's value as a label value: strings and integers.
fn value<'a>(attrs: &'a Attributes, key: &str) -> ValueRef<'a> {
    match attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v) {
        Some(AttrValue::Str(s)) => ValueRef::Str(s),
        Some(AttrValue::Int(i)) => ValueRef::Int(*i),
        _ => ValueRef::None,
    }
}

#[cfg(test)]
#[path = "red_tests.rs"]
mod tests;
