//! Tests of redact.rs: every span is redacted before the inner sink.
use super::*;
use crate::{
    export::testkit::MemorySink,
    trace::span::{Resource, SpanId, SpanKind, StatusCode, TraceId},
};
use std::sync::Arc;

#[test]
fn every_span_of_every_batch_is_redacted_before_the_inner_sink() {
    let mem = MemorySink::default();
    let settings = RedactionSettings {
        patterns: vec!["sk_live_[a-z0-9]+".into()],
        traces: AttributeFilter {
            allow: vec![],
            deny: vec!["user_agent.*".into()],
        },
        ..Default::default()
    };
    let mut sink = RedactingSink::new(&settings, Box::new(mem.clone()));
    let span = Span {
        trace_id: TraceId::random(),
        span_id: SpanId::random(),
        parent_span_id: None,
        flags: 1,
        trace_state: "vendor=opaque,acme=token=s3cr3tvalue".into(),
        name: "GET /k/sk_live_abc123".into(),
        kind: SpanKind::Server,
        start_unix_ns: 1,
        end_unix_ns: 2,
        attributes: vec![
            ("url.path".into(), "/k/sk_live_abc123".into()),
            ("url.full".into(), "http://u:pw@h/a?b=REDACTED".into()),
            ("user_agent.original".into(), "curl/8".into()),
            ("http.response.status_code".into(), AttrValue::Int(200)),
        ],
        status: StatusCode::Error,
        status_message: "bad password=letmein".into(),
        resource: Arc::new(Resource {
            service_name: "s".into(),
            attributes: vec![],
        }),
    };
    sink.export(&mut vec![span.clone(), span]).unwrap();
    sink.flush().unwrap();
    let got = mem.spans.lock().unwrap();
    assert_eq!(got.len(), 2);
    for s in got.iter() {
        assert_eq!(s.name, "GET /k/REDACTED");
        assert_eq!(s.status_message, "bad password=REDACTED");
        assert_eq!(s.trace_state, "vendor=opaque,acme=token=REDACTED");
        assert_eq!(
            s.attributes,
            vec![
                ("url.path".into(), "/k/REDACTED".into()),
                ("url.full".into(), "http://u:REDACTED@h/a?b=REDACTED".into()),
                ("http.response.status_code".into(), AttrValue::Int(200)),
            ]
        );
    }
}

#[test]
fn plain_attributes_are_not_scanned_free_text_is() {
    let mem = MemorySink::default();
    let mut sink = RedactingSink::new(&RedactionSettings::default(), Box::new(mem.clone()));
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
    let span = Span {
        trace_id: TraceId::random(),
        span_id: SpanId::random(),
        parent_span_id: None,
        flags: 1,
        trace_state: String::new(),
        name: "GET".into(),
        kind: SpanKind::Server,
        start_unix_ns: 1,
        end_unix_ns: 2,
        attributes: vec![
            ("server.address".into(), jwt.into()),
            ("user_agent.original".into(), jwt.into()),
            ("error.type".into(), jwt.into()),
            ("some.future.attribute".into(), jwt.into()),
        ],
        status: StatusCode::Unset,
        status_message: String::new(),
        resource: Arc::new(Resource {
            service_name: "s".into(),
            attributes: vec![],
        }),
    };
    sink.export(&mut vec![span]).unwrap();
    let got = mem.spans.lock().unwrap();
    let values: Vec<String> = got[0]
        .attributes
        .iter()
        .map(|(_, v)| v.to_string())
        .collect();
    assert_eq!(
        values,
        [
            format!("{jwt:?}"),
            "\"REDACTED\"".to_string(),
            "\"REDACTED\"".to_string(),
            "\"REDACTED\"".to_string()
        ]
    );
}
