//! Head sampling, decided once per trace where the trace enters the host
//! (OpenTelemetry's TraceIdRatioBased and ParentBased samplers).
use super::span::TraceId;
use crate::config::Sampler;

/// Whether a trace is kept. `parent_sampled` is the sampled flag of an
/// incoming context (`traceparent` or another propagator), `None` at a root.
pub fn keep(sampler: Sampler, trace_id: &TraceId, parent_sampled: Option<bool>) -> bool {
    if sampler.parent_based()
        && let Some(sampled) = parent_sampled
    {
        return sampled;
    }
    match sampler {
        Sampler::AlwaysOn | Sampler::ParentBasedAlwaysOn => true,
        Sampler::AlwaysOff | Sampler::ParentBasedAlwaysOff => false,
        Sampler::TraceIdRatio(r) | Sampler::ParentBasedTraceIdRatio(r) => ratio_keeps(r, trace_id),
    }
}

/// The spec's rule: the trace id's low 8 bytes, read as a big-endian
/// number, below ratio × 2^64. Every process deciding on the same id agrees.
fn ratio_keeps(ratio: f64, id: &TraceId) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    if ratio <= 0.0 {
        return false;
    }
    let low = u64::from_be_bytes(id.0[8..16].try_into().expect("8 bytes"));
    (low as f64) < ratio * (u64::MAX as f64)
}

#[cfg(test)]
#[path = "sampler_tests.rs"]
mod tests;
