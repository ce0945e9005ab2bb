//! The OTLP protobuf `ExportTraceServiceRequest` written straight from our
//! [`Span`]s into one buffer: no message tree, no allocation per span, and
//! each length computed once, from the bottom up, before the bytes it
//! prefixes.
//!
//! The bytes are the ones prost writes for [`to_request`](crate::export::otlp_json::to_request)'s tree
//! (fields in tag order, proto3 defaults left out, oneof values always
//! written): the tests compare the two on every kind of span.
//! The OTLP/JSON sink still goes through that tree (its serde derives
//! follow the JSON mapping).
use std::sync::Arc;

use crate::{
    export::otlp_json::SCOPE_NAME,
    trace::span::{AttrKey, AttrValue, Resource, Span, SpanKind, StatusCode},
};

/// Wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

const fn key(field: u8, wire: u8) -> u8 {
    (field << 3) | wire
}

/// Span's `flags` (field 16, fixed32): its key, `16 << 3 | 5`, as a
/// varint is two bytes.
const SPAN_FLAGS_KEY: [u8; 2] = [0x80 | FIXED32, 1];

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn varint_len(v: u64) -> usize {
    // 1 byte per 7 bits, at least one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field of `len` bytes: key, length, then the bytes.
fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn put_len(out: &mut Vec<u8>, field: u8, len: usize) {
    out.push(key(field, LEN));
    put_varint(out, len as u64);
}

fn put_bytes(out: &mut Vec<u8>, field: u8, b: &[u8]) {
    put_len(out, field, b.len());
    out.extend_from_slice(b);
}

/// A string or bytes field, left out when empty (proto3).
fn opt_bytes_len(b: &[u8]) -> usize {
    if b.is_empty() { 0 } else { field_len(b.len()) }
}

fn put_opt_bytes(out: &mut Vec<u8>, field: u8, b: &[u8]) {
    if !b.is_empty() {
        put_bytes(out, field, b);
    }
}

/// `AnyValue`: the oneof value, written even when it is the default.
fn any_value_len(v: &AttrValue) -> usize {
    match v {
        AttrValue::Str(s) => field_len(s.len()),
        AttrValue::Bool(_) => 2,
        AttrValue::Int(i) => 1 + varint_len(*i as u64),
        AttrValue::Double(_) => 9,
    }
}

fn put_any_value(out: &mut Vec<u8>, v: &AttrValue) {
    match v {
        AttrValue::Str(s) => put_bytes(out, 1, s.as_bytes()),
        AttrValue::Bool(b) => out.extend_from_slice(&[key(2, VARINT), u8::from(*b)]),
        AttrValue::Int(i) => {
            out.push(key(3, VARINT));
            put_varint(out, *i as u64);
        }
        AttrValue::Double(d) => {
            out.push(key(4, FIXED64));
            out.extend_from_slice(&d.to_bits().to_le_bytes());
        }
    }
}

/// `KeyValue { key, value: Some(AnyValue) }`.
fn key_value_len(k: &str, v: &AttrValue) -> usize {
    opt_bytes_len(k.as_bytes()) + field_len(any_value_len(v))
}

/// A `KeyValue` as field `field` of its parent.
fn put_key_value(out: &mut Vec<u8>, field: u8, k: &str, v: &AttrValue) {
    put_len(out, field, key_value_len(k, v));
    put_opt_bytes(out, 1, k.as_bytes());
    put_len(out, 2, any_value_len(v));
    put_any_value(out, v);
}

fn attributes_len(attrs: &[(AttrKey, AttrValue)]) -> usize {
    attrs
        .iter()
        .map(|(k, v)| field_len(key_value_len(k, v)))
        .sum()
}

fn put_attributes(out: &mut Vec<u8>, field: u8, attrs: &[(AttrKey, AttrValue)]) {
    for (k, v) in attrs {
        put_key_value(out, field, k, v);
    }
}

/// `service.name` from the resource's own field when its attributes lack
/// it, first (as `to_request`).
fn missing_service_name(r: &Resource) -> Option<AttrValue> {
    (!r.attributes.iter().any(|(k, _)| k == "service.name"))
        .then(|| AttrValue::Str(r.service_name.clone()))
}

fn resource_len(r: &Resource, extra: Option<&AttrValue>) -> usize {
    extra.map_or(0, |v| field_len(key_value_len("service.name", v))) + attributes_len(&r.attributes)
}

fn scope_len() -> usize {
    field_len(SCOPE_NAME.len()) + field_len(VERSION.len())
}

fn kind_number(k: SpanKind) -> u8 {
    match k {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
    }
}

fn status_number(c: StatusCode) -> u8 {
    match c {
        StatusCode::Unset => 0,
        StatusCode::Ok => 1,
        StatusCode::Error => 2,
    }
}

fn status_len(s: &Span) -> usize {
    opt_bytes_len(s.status_message.as_bytes()) + if s.status == StatusCode::Unset { 0 } else { 2 }
}

fn span_len(s: &Span) -> usize {
    field_len(16)
        + field_len(8)
        + opt_bytes_len(s.trace_state.as_bytes())
        + s.parent_span_id.map_or(0, |_| field_len(8))
        + opt_bytes_len(s.name.as_bytes())
        + 2
        + if s.start_unix_ns == 0 { 0 } else { 9 }
        + if s.end_unix_ns == 0 { 0 } else { 9 }
        + attributes_len(&s.attributes)
        + field_len(status_len(s))
        + if s.flags == 0 { 0 } else { 2 + 4 }
}

fn put_fixed64_field(out: &mut Vec<u8>, field: u8, v: u64) {
    if v != 0 {
        out.push(key(field, FIXED64));
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// A `Span` as field 2 of `ScopeSpans`; `len` is its [`span_len`].
fn put_span(out: &mut Vec<u8>, s: &Span, len: usize) {
    put_len(out, 2, len);
    put_bytes(out, 1, &s.trace_id.0);
    put_bytes(out, 2, &s.span_id.0);
    put_opt_bytes(out, 3, s.trace_state.as_bytes());
    if let Some(p) = &s.parent_span_id {
        put_bytes(out, 4, &p.0);
    }
    put_opt_bytes(out, 5, s.name.as_bytes());
    out.extend_from_slice(&[key(6, VARINT), kind_number(s.kind)]);
    put_fixed64_field(out, 7, s.start_unix_ns);
    put_fixed64_field(out, 8, s.end_unix_ns);
    put_attributes(out, 9, &s.attributes);
    put_len(out, 15, status_len(s));
    put_opt_bytes(out, 2, s.status_message.as_bytes());
    if s.status != StatusCode::Unset {
        out.extend_from_slice(&[key(3, VARINT), status_number(s.status)]);
    }
    if s.flags != 0 {
        out.extend_from_slice(&SPAN_FLAGS_KEY);
        out.extend_from_slice(&u32::from(s.flags).to_le_bytes());
    }
}

/// One `ResourceSpans`: the resource, and its spans' indices and
/// [`span_len`]s.
type Group<'a> = (&'a Arc<Resource>, Vec<(usize, usize)>);

/// Appends to `out` the protobuf `ExportTraceServiceRequest` of `spans`:
/// one `ResourceSpans` per distinct resource, grouped as
/// [`to_request`](crate::export::otlp_json::to_request) groups them.
pub fn encode_request(spans: &[Span], out: &mut Vec<u8>) {
    let mut groups: Vec<Group> = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        let found = groups
            .iter()
            .position(|(r, _)| Arc::ptr_eq(r, &s.resource))
            .or_else(|| groups.iter().position(|(r, _)| ***r == *s.resource));
        let entry = (i, span_len(s));
        match found {
            Some(g) => groups[g].1.push(entry),
            None => groups.push((&s.resource, vec![entry])),
        }
    }
    for (resource, members) in &groups {
        let extra = missing_service_name(resource);
        let res_len = resource_len(resource, extra.as_ref());
        let scope_spans_len = field_len(scope_len())
            + members
                .iter()
                .map(|&(_, len)| field_len(len))
                .sum::<usize>();
        let resource_spans_len = field_len(res_len) + field_len(scope_spans_len);
        out.reserve(field_len(resource_spans_len));
        // ExportTraceServiceRequest.resource_spans
        put_len(out, 1, resource_spans_len);
        // ResourceSpans.resource
        put_len(out, 1, res_len);
        if let Some(v) = &extra {
            put_key_value(out, 1, "service.name", v);
        }
        put_attributes(out, 1, &resource.attributes);
        // ResourceSpans.scope_spans
        put_len(out, 2, scope_spans_len);
        // ScopeSpans.scope
        put_len(out, 1, scope_len());
        put_bytes(out, 1, SCOPE_NAME.as_bytes());
        put_bytes(out, 2, VERSION.as_bytes());
        // ScopeSpans.spans
        for &(i, len) in members {
            put_span(out, &spans[i], len);
        }
    }
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
