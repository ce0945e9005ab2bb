//! Where spans go: the console (pretty trees or OTLP/JSON lines) and, later,
//! OTLP collectors. Everything outside this module speaks [`Span`]; the
//! OpenTelemetry protobuf types stay in here.
pub mod build;
pub mod console;
pub mod otlp;
pub mod otlp_json;
pub mod pipeline;
pub mod redact;
#[cfg(test)]
pub(crate) mod testkit;

use crate::trace::span::Span;

/// A destination for finished spans.
///
/// Contract (as opentelemetry-rust's `SpanExporter`): never called
/// concurrently; must not block forever.
pub trait SpanSink: Send {
    /// Takes a batch of finished spans out of `batch`. The caller empties
    /// what is left and fills the same vector again: a fresh batch vector
    /// per export was a large allocation and free each time, and the free
    /// made glibc consolidate its fast bins.
    fn export(&mut self, batch: &mut Vec<Span>) -> anyhow::Result<()>;
    /// Called about every 100 ms with the current time, so sinks that group
    /// spans (the pretty console) can emit what is complete.
    fn tick(&mut self, _now_unix_ns: u64) -> anyhow::Result<()> {
        Ok(())
    }
    /// Emits everything still held; called once at shutdown.
    fn flush(&mut self) -> anyhow::Result<()>;
}
