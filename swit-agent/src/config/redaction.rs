//! `tracing.redaction`: what the operator adds to (or, for attributes,
//! takes from) what is exported. The built-in protections (sensitive
//! headers, query values, SQL literals, handshakes, the finders of
//! `crate::redact`) cannot be turned off here.
//!
//! ```yaml
//! tracing:
//!   redaction:
//!     patterns: ["sk_live_[0-9a-zA-Z]+", "ssn=([0-9-]+)"]
//!     attributes:
//!       traces: { deny: [user_agent.original], allow: [] }
//!     capture_headers:
//!       request: [x-request-id]
//!       response: [content-type]
//! ```
//!
//! `attributes` is keyed by signal so that metrics and logs can join
//! `traces` later without renaming anything.
use serde::Deserialize;

/// Most extra patterns; each is matched against every string of every span.
pub const MAX_PATTERNS: usize = 64;
/// Longest pattern accepted, in bytes.
pub const MAX_PATTERN_BYTES: usize = 1024;
/// Most headers captured per direction.
pub const MAX_CAPTURED_HEADERS: usize = 32;

/// `tracing.redaction` as written.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRedaction {
    pub patterns: Option<Vec<String>>,
    pub attributes: RawAttributes,
    pub capture_headers: RawCaptureHeaders,
}

/// `tracing.redaction.attributes`: one filter per signal.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAttributes {
    pub traces: RawFilter,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawFilter {
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCaptureHeaders {
    pub request: Option<Vec<String>>,
    pub response: Option<Vec<String>>,
}

/// `tracing.redaction` resolved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RedactionSettings {
    /// Regular expressions (checked to compile) whose matches are hidden.
    pub patterns: Vec<String>,
    /// Attribute names (`*` globs) for spans.
    pub traces: AttributeFilter,
    /// Headers exported as `http.request.header.<name>` and
    /// `http.response.header.<name>`.
    pub capture_headers: CaptureHeaders,
}

/// Which attributes a signal exports: none denied, and only allowed ones
/// when `allow` is not empty. Names are `*`/`?` globs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AttributeFilter {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

impl AttributeFilter {
    /// Whether an attribute named `key` is exported.
    pub fn keeps(&self, key: &str) -> bool {
        let hit = |list: &[String]| {
            list.iter()
                .any(|g| super::glob(g.as_bytes(), key.as_bytes()))
        };
        !hit(&self.deny) && (self.allow.is_empty() || hit(&self.allow))
    }
}

/// Header names, lowercase, to export as attributes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CaptureHeaders {
    pub request: Vec<String>,
    pub response: Vec<String>,
}

impl CaptureHeaders {
    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty()
    }
}

/// Checks the raw section; problems are `(key path, message)`.
pub fn resolve(raw: &RawRedaction) -> (RedactionSettings, Vec<(String, String)>) {
    const KEY: &str = "tracing.redaction";
    let mut problems = Vec::new();
    let mut patterns = Vec::new();
    let given = raw.patterns.clone().unwrap_or_default();
    if given.len() > MAX_PATTERNS {
        problems.push((
            format!("{KEY}.patterns"),
            format!("{} patterns, at most {MAX_PATTERNS}", given.len()),
        ));
    }
    for (i, p) in given.into_iter().take(MAX_PATTERNS).enumerate() {
        let key = format!("{KEY}.patterns[{i}]");
        if p.is_empty() {
            problems.push((key, "must not be empty".into()));
        } else if p.len() > MAX_PATTERN_BYTES {
            problems.push((
                key,
                format!("{} bytes long, at most {MAX_PATTERN_BYTES}", p.len()),
            ));
        } else if let Err(e) = crate::redact::compile(&p) {
            problems.push((key, format!("{p:?} is not a regular expression: {e}")));
        } else {
            patterns.push(p);
        }
    }
    let mut names = |list: &Option<Vec<String>>, key: &str, lowercase: bool, max: usize| {
        let list = list.clone().unwrap_or_default();
        if list.len() > max {
            problems.push((
                key.to_owned(),
                format!("{} names, at most {max}", list.len()),
            ));
        }
        let mut out = Vec::new();
        for (i, n) in list.into_iter().take(max).enumerate() {
            let n = n.trim().to_owned();
            if n.is_empty() {
                problems.push((format!("{key}[{i}]"), "must not be empty".into()));
            } else if lowercase && !n.bytes().all(is_token_byte) {
                problems.push((format!("{key}[{i}]"), format!("{n:?} is not a header name")));
            } else {
                out.push(if lowercase { n.to_ascii_lowercase() } else { n });
            }
        }
        out
    };
    let f = &raw.attributes.traces;
    let traces = AttributeFilter {
        allow: names(
            &f.allow,
            "tracing.redaction.attributes.traces.allow",
            false,
            1024,
        ),
        deny: names(
            &f.deny,
            "tracing.redaction.attributes.traces.deny",
            false,
            1024,
        ),
    };
    let h = &raw.capture_headers;
    let capture_headers = CaptureHeaders {
        request: names(
            &h.request,
            "tracing.redaction.capture_headers.request",
            true,
            MAX_CAPTURED_HEADERS,
        ),
        response: names(
            &h.response,
            "tracing.redaction.capture_headers.response",
            true,
            MAX_CAPTURED_HEADERS,
        ),
    };
    (
        RedactionSettings {
            patterns,
            traces,
            capture_headers,
        },
        problems,
    )
}

/// RFC 9110 token characters: what a header name is made of.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
#[path = "redaction_tests.rs"]
mod tests;
