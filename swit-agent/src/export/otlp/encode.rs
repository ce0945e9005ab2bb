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
use std::{mem::MaybeUninit, sync::Arc};

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
    if v < 0x80 {
        return 1;
    }
    // 1 byte per 7 bits.
    (64 - v.leading_zeros() as usize).div_ceil(7)
}

/// Writes into a buffer's spare capacity, reserved once for the whole
/// request: no capacity check nor growth per byte, only the slice's bounds
/// checks, and no zeroing first. Writes are in order, so the first `pos`
/// bytes are the initialized ones.
struct Cursor<'a> {
    buf: &'a mut [MaybeUninit<u8>],
    pos: usize,
}

impl Cursor<'_> {
    #[inline]
    fn byte(&mut self, b: u8) {
        self.buf[self.pos].write(b);
        self.pos += 1;
    }

    #[inline]
    fn two(&mut self, a: u8, b: u8) {
        self.buf[self.pos..self.pos + 2].write_copy_of_slice(&[a, b]);
        self.pos += 2;
    }

    #[inline]
    fn bytes(&mut self, b: &[u8]) {
        self.buf[self.pos..self.pos + b.len()].write_copy_of_slice(b);
        self.pos += b.len();
    }

    #[inline]
    fn varint(&mut self, v: u64) {
        if v < 0x80 {
            self.byte(v as u8);
        } else {
            self.long_varint(v);
        }
    }

    #[cold]
    fn long_varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.byte(v as u8 | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }

    /// The key and length of a length-delimited field.
    #[inline]
    fn len(&mut self, field: u8, len: usize) {
        if len < 0x80 {
            self.two(key(field, LEN), len as u8);
        } else {
            self.byte(key(field, LEN));
            self.long_varint(len as u64);
        }
    }

    #[inline]
    fn field_bytes(&mut self, field: u8, b: &[u8]) {
        self.len(field, b.len());
        self.bytes(b);
    }

    /// A string or bytes field, left out when empty (proto3).
    #[inline]
    fn opt_bytes(&mut self, field: u8, b: &[u8]) {
        if !b.is_empty() {
            self.field_bytes(field, b);
        }
    }

    #[inline]
    fn fixed64_field(&mut self, field: u8, v: u64) {
        if v != 0 {
            self.byte(key(field, FIXED64));
            self.bytes(&v.to_le_bytes());
        }
    }

    /// `AnyValue`: the oneof value, written even when it is the default.
    #[inline]
    fn any_value(&mut self, v: &AttrValue) {
        match v {
            AttrValue::Str(s) => self.field_bytes(1, s.as_bytes()),
            AttrValue::Bool(b) => self.two(key(2, VARINT), u8::from(*b)),
            AttrValue::Int(i) => {
                self.byte(key(3, VARINT));
                self.varint(*i as u64);
            }
            AttrValue::Double(d) => {
                self.byte(key(4, FIXED64));
                self.bytes(&d.to_bits().to_le_bytes());
            }
        }
    }

    /// A `KeyValue { key, value: Some(AnyValue) }` as field `field` of its
    /// parent.
    #[inline]
    fn key_value(&mut self, field: u8, k: &str, v: &AttrValue) {
        // The usual attribute: a named string whose every length fits one
        // byte (the `KeyValue`'s is the largest), written in two runs.
        if let AttrValue::Str(s) = v
            && !k.is_empty()
            && k.len() + s.len() < 0x80 - 6
        {
            let (k, s) = (k.as_bytes(), s.as_bytes());
            let kv_len = 2 + k.len() + 4 + s.len();
            let dst = &mut self.buf[self.pos..self.pos + 2 + kv_len];
            let (head, rest) = dst.split_at_mut(4);
            head.write_copy_of_slice(&[key(field, LEN), kv_len as u8, key(1, LEN), k.len() as u8]);
            let (kd, rest) = rest.split_at_mut(k.len());
            kd.write_copy_of_slice(k);
            let (mid, sd) = rest.split_at_mut(4);
            mid.write_copy_of_slice(&[key(2, LEN), 2 + s.len() as u8, key(1, LEN), s.len() as u8]);
            sd.write_copy_of_slice(s);
            self.pos += 2 + kv_len;
            return;
        }
        let value_len = any_value_len(v);
        self.len(field, opt_bytes_len(k.as_bytes()) + field_len(value_len));
        self.opt_bytes(1, k.as_bytes());
        self.len(2, value_len);
        self.any_value(v);
    }

    fn attributes(&mut self, field: u8, attrs: &[(AttrKey, AttrValue)]) {
        for (k, v) in attrs {
            self.key_value(field, k, v);
        }
    }

    /// A `Span` as field 2 of `ScopeSpans`; `len` is its [`span_len`].
    fn span(&mut self, s: &Span, len: usize) {
        self.len(2, len);
        self.field_bytes(1, &s.trace_id.0);
        self.field_bytes(2, &s.span_id.0);
        self.opt_bytes(3, s.trace_state.as_bytes());
        if let Some(p) = &s.parent_span_id {
            self.field_bytes(4, &p.0);
        }
        self.opt_bytes(5, s.name.as_bytes());
        self.two(key(6, VARINT), kind_number(s.kind));
        self.fixed64_field(7, s.start_unix_ns);
        self.fixed64_field(8, s.end_unix_ns);
        self.attributes(9, &s.attributes);
        self.len(15, status_len(s));
        self.opt_bytes(2, s.status_message.as_bytes());
        if s.status != StatusCode::Unset {
            self.two(key(3, VARINT), status_number(s.status));
        }
        if s.flags != 0 {
            self.bytes(&SPAN_FLAGS_KEY);
            self.bytes(&u32::from(s.flags).to_le_bytes());
        }
    }
}

/// A length-delimited field of `len` bytes: key, length, then the bytes.
#[inline]
fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// A string or bytes field, left out when empty (proto3).
#[inline]
fn opt_bytes_len(b: &[u8]) -> usize {
    if b.is_empty() { 0 } else { field_len(b.len()) }
}

/// `AnyValue`: the oneof value, written even when it is the default.
#[inline]
fn any_value_len(v: &AttrValue) -> usize {
    match v {
        AttrValue::Str(s) => field_len(s.len()),
        AttrValue::Bool(_) => 2,
        AttrValue::Int(i) => 1 + varint_len(*i as u64),
        AttrValue::Double(_) => 9,
    }
}

/// `KeyValue { key, value: Some(AnyValue) }`.
#[inline]
fn key_value_len(k: &str, v: &AttrValue) -> usize {
    opt_bytes_len(k.as_bytes()) + field_len(any_value_len(v))
}

fn attributes_len(attrs: &[(AttrKey, AttrValue)]) -> usize {
    attrs
        .iter()
        .map(|(k, v)| field_len(key_value_len(k, v)))
        .sum()
}

/// `service.name` from the resource's own field when its attributes lack
/// it, first (as `to_request`).
fn missing_service_name(r: &Resource) -> Option<AttrValue> {
    (!r.attributes.iter().any(|(k, _)| k == "service.name"))
        .then(|| AttrValue::Str(r.service_name.clone().into()))
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

/// One `ResourceSpans`: the resource, the `service.name` its attributes
/// lack, its spans' indices and [`span_len`]s, and the lengths of its
/// resource and scope spans.
struct Group<'a> {
    resource: &'a Arc<Resource>,
    extra: Option<AttrValue>,
    members: Vec<(usize, usize)>,
    resource_len: usize,
    scope_spans_len: usize,
}

impl Group<'_> {
    fn resource_spans_len(&self) -> usize {
        field_len(self.resource_len) + field_len(self.scope_spans_len)
    }
}

/// Appends to `out` the protobuf `ExportTraceServiceRequest` of `spans`:
/// one `ResourceSpans` per distinct resource, grouped as
/// [`to_request`](crate::export::otlp_json::to_request) groups them.
/// Every length is known before the first byte, so `out` grows once.
pub fn encode_request(spans: &[Span], out: &mut Vec<u8>) {
    let mut groups: Vec<Group> = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        let found = groups
            .iter()
            .position(|g| Arc::ptr_eq(g.resource, &s.resource))
            .or_else(|| groups.iter().position(|g| **g.resource == *s.resource));
        let len = span_len(s);
        match found {
            Some(g) => {
                groups[g].members.push((i, len));
                groups[g].scope_spans_len += field_len(len);
            }
            None => {
                let extra = missing_service_name(&s.resource);
                groups.push(Group {
                    resource: &s.resource,
                    resource_len: resource_len(&s.resource, extra.as_ref()),
                    extra,
                    members: vec![(i, len)],
                    scope_spans_len: field_len(scope_len()) + field_len(len),
                });
            }
        }
    }
    let total: usize = groups
        .iter()
        .map(|g| field_len(g.resource_spans_len()))
        .sum();
    out.reserve(total);
    let mut w = Cursor {
        buf: &mut out.spare_capacity_mut()[..total],
        pos: 0,
    };
    for g in &groups {
        // ExportTraceServiceRequest.resource_spans
        w.len(1, g.resource_spans_len());
        // ResourceSpans.resource
        w.len(1, g.resource_len);
        if let Some(v) = &g.extra {
            w.key_value(1, "service.name", v);
        }
        w.attributes(1, &g.resource.attributes);
        // ResourceSpans.scope_spans
        w.len(2, g.scope_spans_len);
        // ScopeSpans.scope
        w.len(1, scope_len());
        w.field_bytes(1, SCOPE_NAME.as_bytes());
        w.field_bytes(2, VERSION.as_bytes());
        // ScopeSpans.spans
        for &(i, len) in &g.members {
            w.span(&spans[i], len);
        }
    }
    // A length computed wrong would have panicked on the bounds above if
    // too short; too long would leave bytes unwritten.
    assert_eq!(w.pos, total, "lengths computed and written differ");
    let len = out.len() + total;
    // SAFETY: `total` bytes of spare capacity were reserved, and the cursor
    // wrote every one of them, in order, from the first (`pos == total`).
    unsafe { out.set_len(len) };
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
