//! Tests of context.rs: W3C, B3 and Jaeger propagation.
use super::*;

const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn parses_the_spec_example() {
    let p = parse_traceparent(GOOD).unwrap();
    assert_eq!(p.trace_id.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(p.parent_id.to_hex(), "00f067aa0ba902b7");
    assert_eq!(p.flags, 1);
}

#[test]
fn rejects_invalid_values() {
    let bad = [
        "",
        "00",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
    ];
    for b in bad {
        assert_eq!(parse_traceparent(b), None, "{b}");
    }
    for n in 0..GOOD.len() {
        assert_eq!(parse_traceparent(&GOOD[..n]), None, "prefix {n}");
    }
}

fn h(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn propagators_in_configured_order() {
    use Propagator::*;
    let headers = h(&[
        ("traceparent", GOOD),
        ("tracestate", "vendor=x"),
        ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"),
    ]);
    let w3c = extract(&headers, &[TraceContext, B3]).unwrap();
    assert_eq!(
        w3c.parent.trace_id.to_hex(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(w3c.trace_state, "vendor=x");
    let b3 = extract(&headers, &[B3, TraceContext]).unwrap();
    assert_eq!(b3.parent.parent_id.to_hex(), "e457b5a2e4d86bd1");
    assert_eq!(b3.trace_state, "");
    assert_eq!(extract(&headers, &[Baggage]), None);
    assert_eq!(extract(&headers, &[]), None);
}

#[test]
fn b3_and_jaeger_formats() {
    let p = parse_b3_single("a3ce929d0e0e4736-00f067aa0ba902b7-0").unwrap();
    assert_eq!(
        p.trace_id.to_hex(),
        "0000000000000000a3ce929d0e0e4736",
        "64-bit ids are left-padded"
    );
    assert_eq!(p.flags, 0);
    assert_eq!(
        parse_b3_single("0"),
        None,
        "a bare sampling decision has no parent"
    );
    assert_eq!(parse_b3_single("xyz-00f067aa0ba902b7"), None);
    let m = extract(
        &h(&[
            ("x-b3-traceid", "463ac35c9f6413ad"),
            ("x-b3-spanid", "a2fb4a1d1a96d312"),
            ("x-b3-sampled", "1"),
        ]),
        &[Propagator::B3Multi],
    )
    .unwrap();
    assert_eq!(m.parent.parent_id.to_hex(), "a2fb4a1d1a96d312");
    assert_eq!(m.parent.flags, 1);
    let j =
        parse_uber_trace_id("4bf92f3577b34da6a3ce929d0e0e4736%3A00f067aa0ba902b7%3A0%3A1").unwrap();
    assert_eq!(j.parent_id.to_hex(), "00f067aa0ba902b7");
    assert_eq!(j.flags, 1);
    for bad in [
        "",
        "1:2:3",
        "zz:00f067aa0ba902b7:0:1",
        "4bf9:0:0:1",
        "4bf9:00f067aa0ba902b7:0:xx",
    ] {
        assert_eq!(parse_uber_trace_id(bad), None, "{bad}");
    }
}

#[test]
fn later_versions_are_read_forward_compatibly() {
    let v = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future";
    assert!(parse_traceparent(v).is_some());
}
