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
use crate::trace::span::{AttrValue, Resource, Span, SpanKind, StatusCode};

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
        name: s.name.clone(),
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

fn to_key_values(attrs: &[(String, AttrValue)]) -> Vec<KeyValue> {
    attrs.iter().map(|(k, v)| key_value(k, v)).collect()
}

fn key_value(key: &str, v: &AttrValue) -> KeyValue {
    let value = match v {
        AttrValue::Str(s) => any_value::Value::StringValue(s.clone()),
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
    pub fn get_ref(&self) -> &W {
        &self.out
    }
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write + Send> SpanSink for OtlpJsonSink<W> {
    fn export(&mut self, batch: Vec<Span>) -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        // One write of line + newline, so concurrent writers to the same
        // file (stdout shared with logs) cannot split a line.
        let mut line = encode_line(&batch)?;
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
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::trace::span::{SpanId, TraceId};

    fn resource(name: &str) -> Arc<Resource> {
        Arc::new(Resource {
            service_name: name.to_string(),
            attributes: vec![("service.name".to_string(), name.into())],
        })
    }

    fn span(resource: &Arc<Resource>, id: u8, parent: Option<u8>) -> Span {
        Span {
            trace_id: TraceId([
                0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
                0x47, 0x36,
            ]),
            span_id: SpanId([0, 0, 0, 0, 0, 0, 0, id]),
            parent_span_id: parent.map(|p| SpanId([0, 0, 0, 0, 0, 0, 0, p])),
            flags: 1,
            trace_state: "vendor=x".to_string(),
            name: "GET /checkout".to_string(),
            kind: SpanKind::Server,
            start_unix_ns: 1_700_000_000_000_000_000,
            end_unix_ns: 1_700_000_000_012_400_000,
            attributes: vec![
                ("url.path".to_string(), "/checkout".into()),
                ("http.response.status_code".to_string(), 123i64.into()),
                ("tls".to_string(), AttrValue::Bool(true)),
                ("ratio".to_string(), AttrValue::Double(0.5)),
            ],
            status: StatusCode::Error,
            status_message: "boom".to_string(),
            resource: resource.clone(),
        }
    }

    #[test]
    fn json_line_follows_otlp_json_rules() {
        let r = resource("frontend");
        let line = to_json_line(&[span(&r, 2, Some(1)), span(&r, 1, None)]);
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();

        let rs = &v["resourceSpans"][0];
        assert_eq!(
            rs["resource"]["attributes"][0],
            json!({"key": "service.name", "value": {"stringValue": "frontend"}})
        );
        let scope = &rs["scopeSpans"][0]["scope"];
        assert_eq!(scope["name"], "swit");
        assert_eq!(scope["version"], env!("CARGO_PKG_VERSION"));

        let s = &rs["scopeSpans"][0]["spans"][0];
        let trace_id = s["traceId"].as_str().unwrap();
        assert_eq!(trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(trace_id.len(), 32);
        assert!(trace_id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(s["spanId"], "0000000000000002");
        assert_eq!(s["parentSpanId"], "0000000000000001");
        assert_eq!(s["traceState"], "vendor=x");
        assert_eq!(s["flags"], 1);
        assert!(s["kind"].is_i64());
        assert_eq!(s["kind"], 2);
        assert_eq!(s["startTimeUnixNano"], "1700000000000000000");
        assert_eq!(s["endTimeUnixNano"], "1700000000012400000");
        assert_eq!(s["status"]["code"], 2);
        assert_eq!(s["status"]["message"], "boom");

        let attrs = s["attributes"].as_array().unwrap();
        assert_eq!(
            attrs[0],
            json!({"key": "url.path", "value": {"stringValue": "/checkout"}})
        );
        assert_eq!(
            attrs[1],
            json!({"key": "http.response.status_code", "value": {"intValue": "123"}})
        );
        assert_eq!(
            attrs[2],
            json!({"key": "tls", "value": {"boolValue": true}})
        );
        assert_eq!(
            attrs[3],
            json!({"key": "ratio", "value": {"doubleValue": 0.5}})
        );

        // A root span's parent is empty, which OTLP/JSON spells "".
        let root = &rs["scopeSpans"][0]["spans"][1];
        assert!(root["parentSpanId"].as_str().is_none_or(str::is_empty));
    }

    #[test]
    fn kinds_and_status_codes_map_to_proto_numbers() {
        let r = resource("a");
        let mut spans = Vec::new();
        for (kind, status) in [
            (SpanKind::Server, StatusCode::Unset),
            (SpanKind::Client, StatusCode::Ok),
            (SpanKind::Internal, StatusCode::Error),
        ] {
            let mut s = span(&r, 1, None);
            s.kind = kind;
            s.status = status;
            spans.push(s);
        }
        let req = to_request(&spans);
        let got: Vec<(i32, i32)> = req.resource_spans[0].scope_spans[0]
            .spans
            .iter()
            .map(|s| (s.kind, s.status.as_ref().map_or(-1, |st| st.code)))
            .collect();
        assert_eq!(got, vec![(2, 0), (3, 1), (1, 2)]);
        assert!(
            req.resource_spans[0].scope_spans[0].spans[0]
                .parent_span_id
                .is_empty()
        );
    }

    #[test]
    fn groups_spans_by_resource() {
        let a = resource("a");
        let a_copy = resource("a"); // equal content, different Arc
        let b = resource("b");
        let spans = [
            span(&a, 1, None),
            span(&b, 2, None),
            span(&a_copy, 3, None),
            span(&a, 4, None),
        ];
        let req = to_request(&spans);
        assert_eq!(req.resource_spans.len(), 2);
        let ids = |i: usize| -> Vec<u8> {
            req.resource_spans[i].scope_spans[0]
                .spans
                .iter()
                .map(|s| s.span_id[7])
                .collect()
        };
        assert_eq!(ids(0), vec![1, 3, 4]);
        assert_eq!(ids(1), vec![2]);
        for rs in &req.resource_spans {
            assert_eq!(rs.scope_spans.len(), 1);
        }
    }

    #[test]
    fn resource_without_service_name_attribute_gets_one() {
        let r = Arc::new(Resource {
            service_name: "svc".to_string(),
            attributes: vec![],
        });
        let req = to_request(&[span(&r, 1, None)]);
        let attrs = &req.resource_spans[0].resource.as_ref().unwrap().attributes;
        assert_eq!(attrs.len(), 1);
        assert_eq!(attrs[0].key, "service.name");
    }

    #[test]
    fn sink_writes_one_line_per_batch_and_parses_back() {
        let r = resource("a");
        let mut sink = OtlpJsonSink::new(Vec::new());
        sink.export(vec![span(&r, 1, None), span(&r, 2, Some(1))])
            .unwrap();
        sink.export(vec![]).unwrap();
        sink.export(vec![span(&r, 3, None)]).unwrap();
        sink.flush().unwrap();
        let out = String::from_utf8(sink.into_inner()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(out.ends_with('\n'));
        // The crate's own deserializer reads our line back to the same request.
        let back: ExportTraceServiceRequest = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(back, to_request(&[span(&r, 1, None), span(&r, 2, Some(1))]));
    }
}
