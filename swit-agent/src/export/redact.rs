//! The one place the redaction policy meets the spans: a sink in front of
//! whichever sink the settings chose, so the console, OTLP/JSON and OTLP
//! collectors all receive the same redacted spans.
//!
//! The span name, the status message, the trace state and every string
//! attribute that can hold free text are scrubbed: all but the
//! [`plain`] ones, whose values the agent picks from a closed set or
//! parses as an address. Resource attributes are the process's identity
//! and the operator's own and are left alone.
use std::borrow::Cow;

use super::SpanSink;
use crate::{
    config::redaction::{AttributeFilter, RedactionSettings},
    redact::Redactor,
    trace::span::{AttrValue, Span, Text},
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
        // The same scan for borrowed texts: only a finding replaces them.
        let scrub_text = |s: &mut Text| {
            if let Cow::Owned(new) = self.redactor.scrub(s) {
                *s = Cow::Owned(new);
            }
        };
        scrub_text(&mut span.name);
        scrub(&mut span.status_message);
        // Carried from the traffic's `tracestate` header: vendors' data,
        // which a service may have filled with anything.
        scrub(&mut span.trace_state);
        for (k, v) in &mut span.attributes {
            if let AttrValue::Str(s) = v
                && !plain(k)
            {
                scrub_text(s);
            }
        }
    }
}

/// Attributes with no free text, not scanned: methods (an unknown one is
/// kept whole in `http.request.method_original`, which is scanned),
/// schemes, protocol versions and names, system names, and the addresses:
/// IPs, or a host name the parser took from `Host` or `:authority` without
/// its userinfo. Any other attribute, including one added later, is
/// scanned; so are error types and codes, which a Redis server words.
pub fn plain(key: &str) -> bool {
    matches!(
        key,
        "http.request.method"
            | "url.scheme"
            | "server.address"
            | "client.address"
            | "network.peer.address"
            | "network.protocol.name"
            | "network.protocol.version"
            | "db.system.name"
            | "rpc.system"
    )
}

impl SpanSink for RedactingSink {
    fn export(&mut self, batch: &mut Vec<Span>) -> anyhow::Result<()> {
        for span in batch.iter_mut() {
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
#[path = "redact_tests.rs"]
mod tests;
