//! Our [`Span`] as OTLP: the protobuf request (shared with the gRPC/HTTP
//! exporters) and its OTLP/JSON line, the format the OpenTelemetry
//! Collector's file exporter writes and its `otlpjsonfile` receiver reads.
//!
//! The JSON comes from `opentelemetry-proto`'s `with-serde` derives rather
//! than our own encoder: they already follow the OTLP/JSON rules (hex ids,
//! enums as integers, 64-bit integers as decimal strings, lowerCamelCase).
//! The tests below pin those rules so a crate upgrade that breaks them fails
//! here. One gap: serde_json writes a non-finite double as `null`, where the
//! protobuf JSON mapping wants `"NaN"`; we never produce such attributes.
use std::{io::Write, sync::Arc};

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value},
    resource::v1::Resource as ProtoResource,
    trace::v1::{ResourceSpans, ScopeSpans, Span as ProtoSpan, Status, span, status},
};

use super::SpanSink;
use crate::trace::span::{AttrKey, AttrValue, Resource, Span, SpanKind, StatusCode};

/// Instrumentation scope name on every exported span.
pub const SCOPE_NAME: &str = "swit";

/// Builds one export request, one `ResourceSpans` per distinct resource.
///
/// Resources are compared by pointer first (spans of one process share an
/// `Arc`) and by content second, so a resource rebuilt with equal content
/// still lands in one group. Groups keep the order their first span came in.
pub fn to_request(spans: &[Span]) -> ExportTraceServiceRequest {
    let mut groups: Vec<(&Arc<Resource>, Vec<ProtoSpan>)> = Vec::new();
    for s in spans {
        let found = groups
            .iter()
            .position(|(r, _)| Arc::ptr_eq(r, &s.resource))
            .or_else(|| groups.iter().position(|(r, _)| ***r == *s.resource));
        let span = to_proto_span(s);
        match found {
            Some(i) => groups[i].1.push(span),
            None => groups.push((&s.resource, vec![span])),
        }
    }
    ExportTraceServiceRequest {
        resource_spans: groups
            .into_iter()
            .map(|(resource, spans)| ResourceSpans {
                resource: Some(to_proto_resource(resource)),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: SCOPE_NAME.to_string(),
                        version: env!("CARGO_PKG_VERSION").to_string(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect(),
    }
}

/// The OTLP/JSON encoding of `spans` as one line (no trailing newline).
#[cfg(test)]
pub fn to_json_line(spans: &[Span]) -> String {
    encode_line(spans).unwrap_or_else(|e| {
        // Only reachable if the proto types gain a map with non-string keys;
        // an empty request keeps the output a valid OTLP/JSON stream.
        log::error!("OTLP/JSON encoding failed: {e}");
        r#"{"resourceSpans":[]}"#.to_string()
    })
}

fn encode_line(spans: &[Span]) -> serde_json::Result<String> {
    serde_json::to_string(&to_request(spans))
}

fn to_proto_resource(r: &Resource) -> ProtoResource {
    let mut attributes = to_key_values(&r.attributes);
    // `service.name` is documented to be in `attributes` too, but a backend
    // without it files everything under "unknown_service", so make sure.
    if !r.attributes.iter().any(|(k, _)| k == "service.name") {
        attributes.insert(
            0,
            key_value("service.name", &r.service_name.as_str().into()),
        );
    }
    ProtoResource {
        attributes,
        ..Default::default()
    }
}

fn to_proto_span(s: &Span) -> ProtoSpan {
    let kind = match s.kind {
        SpanKind::Server => span::SpanKind::Server,
        SpanKind::Client => span::SpanKind::Client,
        SpanKind::Internal => span::SpanKind::Internal,
    };
    let code = match s.status {
        StatusCode::Unset => status::StatusCode::Unset,
        StatusCode::Ok => status::StatusCode::Ok,
        StatusCode::Error => status::StatusCode::Error,
    };
    ProtoSpan {
        trace_id: s.trace_id.0.to_vec(),
        span_id: s.span_id.0.to_vec(),
        trace_state: s.trace_state.clone(),
        parent_span_id: s.parent_span_id.map(|p| p.0.to_vec()).unwrap_or_default(),
        // W3C trace flags live in the low 8 bits; the remote-parent bits
        // (8, 9) stay 0, meaning "unknown", which is the honest answer.
        flags: u32::from(s.flags),
        name: s.name.to_string(),
        kind: kind as i32,
        start_time_unix_nano: s.start_unix_ns,
        end_time_unix_nano: s.end_unix_ns,
        attributes: to_key_values(&s.attributes),
        status: Some(Status {
            message: s.status_message.clone(),
            code: code as i32,
        }),
        ..Default::default()
    }
}

fn to_key_values(attrs: &[(AttrKey, AttrValue)]) -> Vec<KeyValue> {
    attrs.iter().map(|(k, v)| key_value(k, v)).collect()
}

fn key_value(key: &str, v: &AttrValue) -> KeyValue {
    let value = match v {
        AttrValue::Str(s) => any_value::Value::StringValue(s.to_string()),
        AttrValue::Int(i) => any_value::Value::IntValue(*i),
        AttrValue::Bool(b) => any_value::Value::BoolValue(*b),
        AttrValue::Double(d) => any_value::Value::DoubleValue(*d),
    };
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// Writes each exported batch as one OTLP/JSON line, flushed at once so a
/// reader (`tail -f`, the Collector's `otlpjsonfile` receiver) sees whole
/// lines even if the agent is killed.
pub struct OtlpJsonSink<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> OtlpJsonSink<W> {
    pub fn new(out: W) -> Self {
        Self { out }
    }
    #[cfg(test)]
    pub fn get_ref(&self) -> &W {
        &self.out
    }
    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write + Send> SpanSink for OtlpJsonSink<W> {
    fn export(&mut self, batch: &mut Vec<Span>) -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        // One write of line + newline, so concurrent writers to the same
        // file (stdout shared with logs) cannot split a line.
        let mut line = encode_line(batch)?;
        line.push('\n');
        self.out.write_all(line.as_bytes())?;
        self.out.flush()?;
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "otlp_json_tests.rs"]
mod tests;
