//! Tests of otlp_json.rs: the OTLP JSON rules and the sink's lines.
use serde_json::{Value, json};

use super::*;
use crate::trace::span::{SpanId, TraceId};

fn resource(name: &str) -> Arc<Resource> {
    Arc::new(Resource {
        service_name: name.to_string(),
        attributes: vec![("service.name".into(), name.into())],
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
        name: "GET /checkout".into(),
        kind: SpanKind::Server,
        start_unix_ns: 1_700_000_000_000_000_000,
        end_unix_ns: 1_700_000_000_012_400_000,
        attributes: vec![
            ("url.path".into(), "/checkout".into()),
            ("http.response.status_code".into(), 123i64.into()),
            ("tls".into(), AttrValue::Bool(true)),
            ("ratio".into(), AttrValue::Double(0.5)),
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
    sink.export(&mut vec![span(&r, 1, None), span(&r, 2, Some(1))])
        .unwrap();
    sink.export(&mut vec![]).unwrap();
    sink.export(&mut vec![span(&r, 3, None)]).unwrap();
    sink.flush().unwrap();
    let out = String::from_utf8(sink.into_inner()).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(out.ends_with('\n'));
    // The crate's own deserializer reads our line back to the same request.
    let back: ExportTraceServiceRequest = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(back, to_request(&[span(&r, 1, None), span(&r, 2, Some(1))]));
}
