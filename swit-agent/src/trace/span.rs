//! The agent's own span type: what flows from the correlator to export.
//! OpenTelemetry types appear only inside `export/`.
use std::{borrow::Cow, fmt, sync::Arc};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceId(pub [u8; 16]);

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SpanId(pub [u8; 8]);

/// Random ids without a system call each: a per-thread xoshiro256++ seeded
/// once from the kernel's generator. Ids must be unique and unpredictable
/// enough not to collide across hosts, not secret (the OpenTelemetry SDKs
/// make them the same way).
fn next_u64() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<[u64; 4]> = Cell::new({
            let mut b = [0u8; 32];
            while b == [0; 32] {
                getrandom::fill(&mut b).expect("getrandom");
            }
            std::array::from_fn(|i| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap()))
        });
    }
    STATE.with(|st| {
        let mut s = st.get();
        let out = (s[0].wrapping_add(s[3])).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        st.set(s);
        out
    })
}

fn nonzero_u64() -> u64 {
    loop {
        let v = next_u64();
        if v != 0 {
            return v;
        }
    }
}

impl TraceId {
    pub fn random() -> Self {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&nonzero_u64().to_le_bytes());
        b[8..].copy_from_slice(&next_u64().to_le_bytes());
        TraceId(b)
    }
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl SpanId {
    pub fn random() -> Self {
        SpanId(nonzero_u64().to_le_bytes())
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

/// Text of a span that is often one of a closed set (methods, schemes,
/// versions, names made of them): borrowed then, costing no allocation.
pub type Text = Cow<'static, str>;

#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(Text),
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
        AttrValue::Str(Cow::Owned(s.to_string()))
    }
}
impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        AttrValue::Str(Cow::Owned(s))
    }
}
impl From<Text> for AttrValue {
    fn from(s: Text) -> Self {
        AttrValue::Str(s)
    }
}
impl AttrValue {
    /// A value from a closed set: no allocation.
    pub const fn fixed(s: &'static str) -> Self {
        AttrValue::Str(Cow::Borrowed(s))
    }
}
impl From<i64> for AttrValue {
    fn from(i: i64) -> Self {
        AttrValue::Int(i)
    }
}

/// An attribute's name. The conventions' names are static and cost no
/// allocation; captured headers' names and the operator's resource
/// attributes are built at run time.
pub type AttrKey = Cow<'static, str>;

pub type Attributes = Vec<(AttrKey, AttrValue)>;

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
    pub name: Text,
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
    /// Heap bytes the span holds, roughly (its resource is shared, not
    /// counted): what the spans waiting for export are bounded by, since a
    /// span can carry a 64 KiB URL or query.
    pub fn approx_bytes(&self) -> usize {
        let attr = std::mem::size_of::<(AttrKey, AttrValue)>();
        std::mem::size_of::<Span>()
            + self.trace_state.len()
            + text_bytes(&self.name)
            + self.status_message.len()
            + self
                .attributes
                .iter()
                .map(|(k, v)| {
                    attr + text_bytes(k)
                        + match v {
                            AttrValue::Str(s) => text_bytes(s),
                            _ => 0,
                        }
                })
                .sum::<usize>()
    }

    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

/// Heap bytes of a text: none when borrowed.
fn text_bytes(t: &Text) -> usize {
    match t {
        Cow::Borrowed(_) => 0,
        Cow::Owned(s) => s.len(),
    }
}

#[cfg(test)]
#[path = "span_tests.rs"]
mod tests;
