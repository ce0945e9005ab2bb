//! The one place the redaction policy meets the spans: a sink in front of
//! whichever sink the settings chose, so the console, OTLP/JSON and OTLP
//! collectors all receive the same redacted spans.
use super::SpanSink;
use crate::trace::{redact::Redactor, span::Span};

/// Applies a [`Redactor`] to every batch, then hands it on.
pub struct RedactingSink {
    redactor: Redactor,
    inner: Box<dyn SpanSink>,
}

impl RedactingSink {
    pub fn new(redactor: Redactor, inner: Box<dyn SpanSink>) -> Self {
        RedactingSink { redactor, inner }
    }
}

impl SpanSink for RedactingSink {
    fn export(&mut self, mut batch: Vec<Span>) -> anyhow::Result<()> {
        for span in &mut batch {
            self.redactor.apply(span);
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
        config::redaction::{AttributeFilter, RedactionSettings},
        export::MemorySink,
        trace::span::{AttrValue, Resource, SpanId, SpanKind, StatusCode, TraceId},
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
        let mut sink = RedactingSink::new(Redactor::new(&settings), Box::new(mem.clone()));
        let span = Span {
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            parent_span_id: None,
            flags: 1,
            trace_state: String::new(),
            name: "GET /k/sk_live_abc123".into(),
            kind: SpanKind::Server,
            start_unix_ns: 1,
            end_unix_ns: 2,
            attributes: vec![
                ("url.path".into(), "/k/sk_live_abc123".into()),
                ("user_agent.original".into(), "curl/8".into()),
                ("http.response.status_code".into(), AttrValue::Int(200)),
            ],
            status: StatusCode::Unset,
            status_message: String::new(),
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
            assert_eq!(
                s.attributes,
                vec![
                    ("url.path".to_string(), "/k/REDACTED".into()),
                    ("http.response.status_code".to_string(), AttrValue::Int(200)),
                ]
            );
        }
    }
}
