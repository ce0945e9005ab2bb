//! Reading an incoming trace context from captured request headers:
//! W3C `traceparent`/`tracestate`, B3 (single and multiple headers) and
//! Jaeger's `uber-trace-id`, in the order the configuration lists them.
use super::span::{SpanId, TraceId};
use crate::config::Propagator;

/// A context found in headers, with the trace state to carry on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    pub parent: TraceParent,
    /// `tracestate` for W3C; empty otherwise.
    pub trace_state: String,
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The first context the configured propagators find. `baggage` carries no
/// parent and is not exported, so it never yields one.
pub fn extract(headers: &[(String, String)], propagators: &[Propagator]) -> Option<Incoming> {
    propagators.iter().find_map(|p| {
        let parent = match p {
            Propagator::TraceContext => header(headers, "traceparent").and_then(parse_traceparent),
            Propagator::B3 => header(headers, "b3").and_then(parse_b3_single),
            Propagator::B3Multi => parse_b3_multi(
                header(headers, "x-b3-traceid")?,
                header(headers, "x-b3-spanid")?,
                header(headers, "x-b3-sampled"),
                header(headers, "x-b3-flags"),
            ),
            Propagator::Jaeger => header(headers, "uber-trace-id").and_then(parse_uber_trace_id),
            Propagator::Baggage => None,
        }?;
        let trace_state = match p {
            Propagator::TraceContext => header(headers, "tracestate")
                .unwrap_or("")
                .trim()
                .to_string(),
            _ => String::new(),
        };
        Some(Incoming {
            parent,
            trace_state,
        })
    })
}

/// Hex of any length up to `N` bytes, right-aligned (B3 and Jaeger allow
/// 64-bit trace ids and omit leading zeros).
fn hex_id<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.trim();
    if s.is_empty() || s.len() > 2 * N || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let padded = format!("{s:0>width$}", width = 2 * N);
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&padded[2 * i..2 * i + 2], 16).ok()?;
    }
    (out != [0; N]).then_some(out)
}

fn b3_sampled(v: Option<&str>, debug: Option<&str>) -> u8 {
    match (v.map(str::trim), debug.map(str::trim)) {
        (_, Some("1")) | (Some("1" | "d" | "true"), _) => 1,
        // Absent means "defer": swit then decides as for a root, which a
        // parent-based sampler does with the sampled flag set.
        (None, _) => 1,
        _ => 0,
    }
}

/// `b3: {traceid}-{spanid}[-{sampled}[-{parentspanid}]]` (or just `0`).
pub fn parse_b3_single(v: &str) -> Option<TraceParent> {
    let mut it = v.trim().split('-');
    let trace = hex_id::<16>(it.next()?)?;
    let span = hex_id::<8>(it.next()?)?;
    let sampled = it.next();
    Some(TraceParent {
        trace_id: TraceId(trace),
        parent_id: SpanId(span),
        flags: b3_sampled(sampled, None),
    })
}

fn parse_b3_multi(
    trace: &str,
    span: &str,
    sampled: Option<&str>,
    flags: Option<&str>,
) -> Option<TraceParent> {
    Some(TraceParent {
        trace_id: TraceId(hex_id::<16>(trace)?),
        parent_id: SpanId(hex_id::<8>(span)?),
        flags: b3_sampled(sampled, flags),
    })
}

/// `uber-trace-id: {trace-id}:{span-id}:{parent-span-id}:{flags}`; the
/// value may be URL-encoded (`%3A`).
pub fn parse_uber_trace_id(v: &str) -> Option<TraceParent> {
    let v = v.trim().replace("%3A", ":").replace("%3a", ":");
    let parts: Vec<&str> = v.split(':').collect();
    if parts.len() != 4 {
        return None;
    }
    let flags = u8::from_str_radix(parts[3].trim(), 16).ok()?;
    Some(TraceParent {
        trace_id: TraceId(hex_id::<16>(parts[0])?),
        parent_id: SpanId(hex_id::<8>(parts[1])?),
        flags: flags & 1,
    })
}

/// The parent named by a `traceparent` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: TraceId,
    pub parent_id: SpanId,
    pub flags: u8,
}

/// Parses a `traceparent` value (version 00, or a later version read as 00
/// per the spec's forward-compatibility rule). Invalid values give `None`:
/// the spec says to start a new trace rather than guess.
pub fn parse_traceparent(v: &str) -> Option<TraceParent> {
    let v = v.trim();
    let b = v.as_bytes();
    if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    let version = hex_u8(&v[0..2])?;
    if version == 0xff
        || (version == 0 && b.len() != 55)
        || (version > 0 && b.len() > 55 && b[55] != b'-')
    {
        return None;
    }
    let mut trace = [0u8; 16];
    let mut span = [0u8; 8];
    for (i, t) in trace.iter_mut().enumerate() {
        *t = hex_u8(&v[3 + 2 * i..5 + 2 * i])?;
    }
    for (i, s) in span.iter_mut().enumerate() {
        *s = hex_u8(&v[36 + 2 * i..38 + 2 * i])?;
    }
    if trace == [0; 16] || span == [0; 8] {
        return None;
    }
    Some(TraceParent {
        trace_id: TraceId(trace),
        parent_id: SpanId(span),
        flags: hex_u8(&v[53..55])?,
    })
}

fn hex_u8(s: &str) -> Option<u8> {
    // Upper-case hex is invalid in traceparent.
    if !s
        .bytes()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    {
        return None;
    }
    u8::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
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
        let j = parse_uber_trace_id("4bf92f3577b34da6a3ce929d0e0e4736%3A00f067aa0ba902b7%3A0%3A1")
            .unwrap();
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
}
