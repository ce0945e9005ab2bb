//! The one place the redaction policy meets the spans: a sink in front of
//! whichever sink the settings chose, so the console, OTLP/JSON and OTLP
//! collectors all receive the same redacted spans.
//!
//! The span name, the status message, the trace state and every string
//! attribute are scrubbed; resource attributes are the process's identity
//! and the operator's own and are left alone.
use std::borrow::Cow;

use super::SpanSink;
use crate::{
    config::redaction::{AttributeFilter, RedactionSettings},
    redact::Redactor,
    trace::span::{AttrValue, Span},
};

/// Applies `tracing.redaction` to every batch, then hands it on.
pub struct RedactingSink {
    redactor: Redactor,
    attributes: AttributeFilter,
    inner: Box<dyn SpanSink>,
}

impl RedactingSink {
    pub fn new(settings: &RedactionSettings, inner: Box<dyn SpanSink>) -> Self {
        RedactingSink {
            redactor: Redactor::new(&settings.patterns),
            attributes: settings.traces.clone(),
            inner,
        }
    }

    fn apply(&self, span: &mut Span) {
        span.attributes.retain(|(k, _)| self.attributes.keeps(k));
        let scrub = |s: &mut String| {
            if let Cow::Owned(new) = self.redactor.scrub(s) {
                *s = new;
            }
        };
        scrub(&mut span.name);
        scrub(&mut span.status_message);
        // Carried from the traffic's `tracestate` header: vendors' data,
        // which a service may have filled with anything.
        scrub(&mut span.trace_state);
        for (_, v) in &mut span.attributes {
            if let AttrValue::Str(s) = v {
                scrub(s);
            }
        }
    }
}

impl SpanSink for RedactingSink {
    fn export(&mut self, mut batch: Vec<Span>) -> anyhow::Result<()> {
        for span in &mut batch {
            self.apply(span);
        }
        self.inner.export(batch)
    }
    fn tick(&mut self, now_unix_ns: u64) -> anyhow::Result<()> {
        self.inner.tick(now_unix_ns)
    }
    fn flush(&mut self) -> anyhow::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        export::MemorySink,
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
        sink.export(vec![span.clone(), span]).unwrap();
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
                    ("url.path".to_string(), "/k/REDACTED".into()),
                    (
                        "url.full".to_string(),
                        "http://u:REDACTED@h/a?b=REDACTED".into()
                    ),
                    ("http.response.status_code".to_string(), AttrValue::Int(200)),
                ]
            );
        }
    }
}
