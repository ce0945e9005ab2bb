//! The agent's own span type: what flows from the correlator to export.
//! OpenTelemetry types appear only inside `export/`.
use std::{fmt, sync::Arc};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceId(pub [u8; 16]);

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    pub fn random() -> Self {
        let mut b = [0u8; 16];
        while b == [0; 16] {
            getrandom::fill(&mut b).expect("getrandom");
        }
        TraceId(b)
    }
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl SpanId {
    pub fn random() -> Self {
        let mut b = [0u8; 8];
        while b == [0; 8] {
            getrandom::fill(&mut b).expect("getrandom");
        }
        SpanId(b)
    }
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Server,
    Client,
    Internal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusCode {
    Unset,
    Ok,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(String),
    Int(i64),
    Bool(bool),
    Double(f64),
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Str(s) => write!(f, "{s:?}"),
            AttrValue::Int(i) => write!(f, "{i}"),
            AttrValue::Bool(b) => write!(f, "{b}"),
            AttrValue::Double(d) => write!(f, "{d}"),
        }
    }
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> Self {
        AttrValue::Str(s.to_string())
    }
}
impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        AttrValue::Str(s)
    }
}
impl From<i64> for AttrValue {
    fn from(i: i64) -> Self {
        AttrValue::Int(i)
    }
}

pub type Attributes = Vec<(String, AttrValue)>;

/// What produced a set of spans: one traced process.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// `service.name`, also present in `attributes`.
    pub service_name: String,
    pub attributes: Attributes,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// `None` for a root span.
    pub parent_span_id: Option<SpanId>,
    /// W3C trace flags (bit 0: sampled).
    pub flags: u8,
    pub trace_state: String,
    pub name: String,
    pub kind: SpanKind,
    /// Unix epoch ns.
    pub start_unix_ns: u64,
    pub end_unix_ns: u64,
    pub attributes: Attributes,
    pub status: StatusCode,
    pub status_message: String,
    /// Shared by every span of one process.
    pub resource: Arc<Resource>,
}

impl Span {
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}
