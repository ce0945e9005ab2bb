//! What the agent is asked to do. Today from the command line; the YAML
//! `tracing:` file of the OpenTelemetry issue lands here too.
use swit_ebpf_common::MAX_CAPTURE;

/// How the console prints spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConsoleFormat {
    /// One readable block per trace, children indented under parents.
    #[default]
    Pretty,
    /// One OTLP/JSON `ExportTraceServiceRequest` per line and batch.
    OtlpJson,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunConfig {
    /// Processes to trace (with their descendants at start).
    pub pids: Vec<u32>,
    pub console_format: ConsoleFormat,
    /// Payload bytes captured per syscall chunk.
    pub capture_bytes: u32,
    /// Kernel ring buffer size in bytes.
    pub ring_bytes: u32,
    /// Spans queued for export, at most.
    pub export_queue: usize,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            pids: Vec::new(),
            console_format: ConsoleFormat::Pretty,
            capture_bytes: MAX_CAPTURE,
            ring_bytes: 16 * 1024 * 1024,
            export_queue: 65536,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("nothing to trace: name at least one process with --pid PID")]
    NoTargets,
    #[error("--capture-bytes {0} is out of range: use 0..={MAX_CAPTURE}")]
    CaptureBytes(u32),
    #[error("--ring-bytes {0} must be a power of two between 64 KiB and 1 GiB")]
    RingBytes(u32),
}

impl RunConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.pids.is_empty() {
            return Err(ConfigError::NoTargets);
        }
        if self.capture_bytes > MAX_CAPTURE {
            return Err(ConfigError::CaptureBytes(self.capture_bytes));
        }
        if !self.ring_bytes.is_power_of_two() || !(65536..=1 << 30).contains(&self.ring_bytes) {
            return Err(ConfigError::RingBytes(self.ring_bytes));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let ok = RunConfig {
            pids: vec![1],
            ..Default::default()
        };
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(RunConfig::default().validate(), Err(ConfigError::NoTargets));
        let c = RunConfig {
            capture_bytes: MAX_CAPTURE + 1,
            ..ok.clone()
        };
        assert_eq!(
            c.validate(),
            Err(ConfigError::CaptureBytes(MAX_CAPTURE + 1))
        );
        let c = RunConfig {
            ring_bytes: 100_000,
            ..ok.clone()
        };
        assert_eq!(c.validate(), Err(ConfigError::RingBytes(100_000)));
    }
}
