//! Tests of sampler.rs: decisions, and the ratio kept.
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
