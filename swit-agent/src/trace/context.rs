//! W3C Trace Context: reading `traceparent` from captured headers.
use super::span::{SpanId, TraceId};

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

    #[test]
    fn later_versions_are_read_forward_compatibly() {
        let v = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future";
        assert!(parse_traceparent(v).is_some());
    }
}
