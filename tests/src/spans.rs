//! Spans as the agent's otlp-json console prints them, read back.

use std::collections::HashMap;

use serde_json::Value;

/// One span as printed by the agent's otlp-json console.
#[derive(Debug, Clone)]
pub struct SpanRec {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub name: String,
    /// OTLP SpanKind: 2 server, 3 client.
    pub kind: i64,
    pub start: u64,
    pub end: u64,
    pub status_code: i64,
    pub attrs: HashMap<String, Value>,
    pub resource: HashMap<String, Value>,
}

impl SpanRec {
    pub fn attr_str(&self, k: &str) -> Option<&str> {
        self.attrs.get(k).and_then(|v| v.as_str())
    }
    pub fn attr_int(&self, k: &str) -> Option<i64> {
        self.attrs.get(k).and_then(|v| v.as_i64())
    }
    pub fn pid(&self) -> Option<i64> {
        self.resource.get("process.pid").and_then(|v| v.as_i64())
    }
}

fn any_value(v: &Value) -> Value {
    if let Some(s) = v.get("stringValue") {
        return s.clone();
    }
    if let Some(i) = v.get("intValue") {
        // OTLP/JSON writes 64-bit integers as strings.
        return match i {
            Value::String(s) => s.parse::<i64>().map(Value::from).unwrap_or(Value::Null),
            other => other.clone(),
        };
    }
    if let Some(b) = v.get("boolValue") {
        return b.clone();
    }
    v.get("doubleValue").cloned().unwrap_or(Value::Null)
}

fn attrs(v: Option<&Value>) -> HashMap<String, Value> {
    v.and_then(|a| a.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|kv| {
                    Some((
                        kv.get("key")?.as_str()?.to_string(),
                        any_value(kv.get("value")?),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn num(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

/// Parses one OTLP/JSON line (ExportTraceServiceRequest) into spans.
pub fn parse_otlp_line(line: &str) -> Vec<SpanRec> {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for rs in v
        .get("resourceSpans")
        .and_then(|x| x.as_array())
        .into_iter()
        .flatten()
    {
        let resource = attrs(rs.pointer("/resource/attributes"));
        for ss in rs
            .get("scopeSpans")
            .and_then(|x| x.as_array())
            .into_iter()
            .flatten()
        {
            for s in ss
                .get("spans")
                .and_then(|x| x.as_array())
                .into_iter()
                .flatten()
            {
                let str_of = |k: &str| s.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
                out.push(SpanRec {
                    trace_id: str_of("traceId"),
                    span_id: str_of("spanId"),
                    parent_span_id: str_of("parentSpanId"),
                    name: str_of("name"),
                    kind: s.get("kind").and_then(|x| x.as_i64()).unwrap_or(0),
                    start: num(s.get("startTimeUnixNano")),
                    end: num(s.get("endTimeUnixNano")),
                    status_code: s
                        .pointer("/status/code")
                        .and_then(|x| x.as_i64())
                        .unwrap_or(0),
                    attrs: attrs(s.get("attributes")),
                    resource: resource.clone(),
                });
            }
        }
    }
    out
}
