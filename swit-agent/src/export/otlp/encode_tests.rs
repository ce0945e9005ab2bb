//! Tests of encode.rs: the same bytes as prost's encoding of
//! `to_request`'s tree, for every field and value kind.
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use super::*;
use crate::{
    export::otlp_json::to_request,
    trace::span::{SpanId, TraceId},
};

fn resource(name: &str, with_service_name: bool) -> Arc<Resource> {
    let mut attributes = vec![
        ("process.pid".into(), AttrValue::Int(42)),
        ("host.name".into(), "h".into()),
    ];
    if with_service_name {
        attributes.insert(0, ("service.name".into(), name.into()));
    }
    Arc::new(Resource {
        service_name: name.to_string(),
        attributes,
    })
}

fn span(r: &Arc<Resource>, i: u8) -> Span {
    Span {
        trace_id: TraceId([i; 16]),
        span_id: SpanId([i.wrapping_add(1); 8]),
        parent_span_id: None,
        flags: 1,
        trace_state: String::new(),
        name: "GET /ok".into(),
        kind: SpanKind::Server,
        start_unix_ns: 1_700_000_000_000_000_000,
        end_unix_ns: 1_700_000_000_000_050_000,
        attributes: vec![
            ("http.request.method".into(), "GET".into()),
            ("http.response.status_code".into(), AttrValue::Int(200)),
        ],
        status: StatusCode::Unset,
        status_message: String::new(),
        resource: r.clone(),
    }
}

fn same_as_prost(spans: &[Span]) {
    let mut ours = vec![0xee];
    encode_request(spans, &mut ours);
    assert_eq!(ours[0], 0xee, "appends");
    let theirs = to_request(spans).encode_to_vec();
    assert_eq!(ours[1..], theirs[..]);
    // And it decodes to the same tree.
    assert_eq!(
        ExportTraceServiceRequest::decode(&ours[1..]).unwrap(),
        to_request(spans)
    );
}

#[test]
fn a_typical_span() {
    same_as_prost(&[span(&resource("nginx", true), 1)]);
}

#[test]
fn nothing() {
    same_as_prost(&[]);
}

#[test]
fn every_field_and_value_kind() {
    let r = resource("svc", true);
    let mut s = span(&r, 7);
    s.parent_span_id = Some(SpanId([9; 8]));
    s.trace_state = "vendor=x".into();
    s.kind = SpanKind::Client;
    s.status = StatusCode::Error;
    s.status_message = "boom".into();
    s.flags = 0xff;
    s.attributes.extend([
        ("neg".into(), AttrValue::Int(-1)),
        ("zero".into(), AttrValue::Int(0)),
        ("big".into(), AttrValue::Int(i64::MAX)),
        ("t".into(), AttrValue::Bool(true)),
        ("f".into(), AttrValue::Bool(false)),
        ("d".into(), AttrValue::Double(1.5)),
        ("d0".into(), AttrValue::Double(0.0)),
        ("empty".into(), "".into()),
        ("".into(), "no key".into()),
        ("long".into(), "x".repeat(70_000).into()),
    ]);
    let mut internal = span(&r, 8);
    internal.kind = SpanKind::Internal;
    internal.status = StatusCode::Ok;
    internal.name = "".into();
    internal.flags = 0;
    internal.start_unix_ns = 0;
    internal.end_unix_ns = 0;
    internal.attributes.clear();
    same_as_prost(&[s, internal]);
}

#[test]
fn groups_by_resource_in_first_seen_order() {
    let (a, b) = (resource("a", true), resource("b", false));
    // Equal content, another Arc: the same group.
    let a2 = resource("a", true);
    let spans: Vec<Span> = (0..300u16)
        .map(|i| {
            let r = match i % 3 {
                0 => &b,
                1 => &a,
                _ => &a2,
            };
            span(r, i as u8)
        })
        .collect();
    same_as_prost(&spans);
}
