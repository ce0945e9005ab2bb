//! Reading an incoming trace context from captured request headers:
//! W3C `traceparent`/`tracestate`, B3 (single and multiple headers) and
//! Jaeger's `uber-trace-id`, in the order the configuration lists them.
use super::span::{SpanId, TraceId};
use crate::{config::Propagator, protocol::headers::HeaderFields};

/// A context found in headers, with the trace state to carry on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    pub parent: TraceParent,
    /// `tracestate` for W3C; empty otherwise.
    pub trace_state: String,
}

fn header<'a>(headers: HeaderFields<'a>, name: &str) -> Option<&'a str> {
    headers.get(name)
}

/// The first context the configured propagators find. `baggage` carries no
/// parent and is not exported, so it never yields one.
pub fn extract<'a>(
    headers: impl Into<HeaderFields<'a>>,
    propagators: &[Propagator],
) -> Option<Incoming> {
    let headers = headers.into();
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
#[path = "context_tests.rs"]
mod tests;
