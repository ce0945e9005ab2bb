//! Sinks for the export path's unit tests; compiled only with `cfg(test)`
//! so that nothing test-only ships in the agent.
use super::SpanSink;
use crate::trace::span::Span;

/// Keeps every exported span, for tests to read back.
#[derive(Default, Clone)]
pub struct MemorySink {
    pub spans: std::sync::Arc<std::sync::Mutex<Vec<Span>>>,
}

impl SpanSink for MemorySink {
    fn export(&mut self, batch: &mut Vec<Span>) -> anyhow::Result<()> {
        self.spans.lock().expect("poisoned").extend(batch.drain(..));
        Ok(())
    }
    fn flush(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}
