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
mod tests {
    use super::*;

    fn id(low: u64) -> TraceId {
        let mut b = [1u8; 16];
        b[8..].copy_from_slice(&low.to_be_bytes());
        TraceId(b)
    }

    #[test]
    fn decisions() {
        let half = u64::MAX / 2;
        let table = [
            (Sampler::AlwaysOn, id(0), None, true),
            (Sampler::AlwaysOff, id(0), None, false),
            (Sampler::AlwaysOn, id(0), Some(false), true),
            (Sampler::TraceIdRatio(0.5), id(half - 1000), None, true),
            (Sampler::TraceIdRatio(0.5), id(half + 1000), None, false),
            (
                Sampler::TraceIdRatio(0.5),
                id(half + 1000),
                Some(true),
                false,
            ),
            (Sampler::TraceIdRatio(0.0), id(0), None, false),
            (Sampler::TraceIdRatio(1.0), id(u64::MAX), None, true),
            (Sampler::ParentBasedAlwaysOn, id(0), Some(false), false),
            (Sampler::ParentBasedAlwaysOn, id(0), None, true),
            (Sampler::ParentBasedAlwaysOff, id(0), Some(true), true),
            (Sampler::ParentBasedAlwaysOff, id(0), None, false),
            (
                Sampler::ParentBasedTraceIdRatio(0.0),
                id(0),
                Some(true),
                true,
            ),
            (
                Sampler::ParentBasedTraceIdRatio(1.0),
                id(0),
                Some(false),
                false,
            ),
        ];
        for (s, t, p, want) in table {
            assert_eq!(keep(s, &t, p), want, "{s:?} {t:?} {p:?}");
        }
    }

    #[test]
    fn ratio_keeps_about_the_ratio() {
        let kept = (0..10_000)
            .filter(|_| keep(Sampler::TraceIdRatio(0.1), &TraceId::random(), None))
            .count();
        assert!((700..1300).contains(&kept), "{kept} of 10000 kept at 0.1");
    }
}
