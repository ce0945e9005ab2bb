//! The last line of defence before export: every span handed to a sink
//! (console pretty, console OTLP/JSON, OTLP gRPC and HTTP) goes through one
//! [`Redactor`], so they all show the same thing.
//!
//! The protocols already keep secrets out where they are read
//! (Authorization and Cookie values, query values, SQL literals, Redis
//! `AUTH`, database handshakes); this pass catches what slips through in
//! free text, and applies the operator's `tracing.redaction`:
//!
//! - built-in finders, always on: JWTs (`eyJ...` with two dots), the
//!   credential after `Bearer`/`Basic`/`Digest`, the password in a URL's
//!   userinfo (`postgres://u:PASS@h`), and the value of a `key=value` pair
//!   whose key names a secret (`password=`, `token=`, `api_key=`, ...);
//! - extra patterns (regular expressions): a pattern with capture groups
//!   hides what its groups matched, one without hides the whole match;
//! - an attribute allowlist and denylist for traces (`*` globs on names).
//!
//! Hidden text becomes [`REDACTED`]. The span name, the status message and
//! every string attribute are scrubbed; resource attributes are the
//! process's identity and the operator's own and are left alone.
//!
//! Cost, measured on a span of 12 typical string attributes (optimised
//! build): the built-in finders about 3 µs; two extra patterns 0.1 µs more
//! with `regex`, 37 µs more with `regex-lite` (no literal prefilters),
//! hence `regex`, which is linear-time too. The finders are plain code that
//! starts with a cheap byte search.
use std::{borrow::Cow, ops::Range};

use super::span::{AttrValue, Span};
use crate::config::{glob, redaction::RedactionSettings};
pub use crate::protocol::http1::REDACTED;

/// Most bytes of a value the patterns look at; past it the value is cut to
/// this length first (attribute values are short; a huge one is not worth
/// scanning whole on the export thread).
pub const MAX_SCAN_BYTES: usize = 16 * 1024;

/// Key words that make a `key=value` pair's value a secret, lowercase,
/// matched anywhere in the key (`db_password`, `X-Amz-Signature`).
const SECRET_KEYS: [&str; 13] = [
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "access_key",
    "private_key",
    "credential",
    "signature",
    "session",
];

/// HTTP authentication schemes whose next word is a credential.
const AUTH_SCHEMES: [&str; 4] = ["bearer", "basic", "digest", "negotiate"];

/// Shortest word taken for a credential after an authentication scheme.
const MIN_CREDENTIAL: usize = 8;

/// The policy, compiled once from the settings.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    patterns: Vec<regex::Regex>,
    allow: Vec<String>,
    deny: Vec<String>,
}

impl Redactor {
    /// Settings were validated, so every pattern compiles; one that does not
    /// (impossible short of a bug) is skipped rather than stopping export.
    pub fn new(s: &RedactionSettings) -> Redactor {
        Redactor {
            patterns: s.patterns.iter().filter_map(|p| compile(p).ok()).collect(),
            allow: s.traces.allow.clone(),
            deny: s.traces.deny.clone(),
        }
    }

    /// Applies the policy to one span in place.
    pub fn apply(&self, span: &mut Span) {
        if !self.allow.is_empty() || !self.deny.is_empty() {
            span.attributes.retain(|(k, _)| self.keeps(k));
        }
        if let Cow::Owned(s) = self.scrub(&span.name) {
            span.name = s;
        }
        if let Cow::Owned(s) = self.scrub(&span.status_message) {
            span.status_message = s;
        }
        // Carried from the traffic's `tracestate` header: vendors' data,
        // which a service may have filled with anything.
        if let Cow::Owned(s) = self.scrub(&span.trace_state) {
            span.trace_state = s;
        }
        for (_, v) in &mut span.attributes {
            if let AttrValue::Str(s) = v
                && let Cow::Owned(new) = self.scrub(s)
            {
                *s = new;
            }
        }
    }

    /// Whether an attribute named `key` is exported: not denied, and allowed
    /// when an allowlist is given.
    pub fn keeps(&self, key: &str) -> bool {
        let hit = |list: &[String]| list.iter().any(|g| glob(g.as_bytes(), key.as_bytes()));
        !hit(&self.deny) && (self.allow.is_empty() || hit(&self.allow))
    }

    /// `text` with every secret found replaced by [`REDACTED`]; borrowed
    /// when nothing was found.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut cut = text.len().min(MAX_SCAN_BYTES);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let t = &text[..cut];
        let mut hide = builtin_secrets(t);
        for re in &self.patterns {
            pattern_secrets(re, t, &mut hide);
        }
        if hide.is_empty() && cut == text.len() {
            return Cow::Borrowed(text);
        }
        Cow::Owned(replace(t, hide))
    }
}

/// Checks an operator's pattern: it must compile within a small size.
pub fn compile(p: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(p)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            // regex's message draws the pattern over several lines and ends
            // with "error: what"; the one line kept is "what".
            let msg = e.to_string();
            let last = msg.lines().last().unwrap_or("").trim();
            last.strip_prefix("error: ").unwrap_or(last).to_owned()
        })
}

/// Ranges of `t` that the built-in finders say are secrets.
pub fn builtin_secrets(t: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    jwts(t, &mut out);
    auth_credentials(t, &mut out);
    url_passwords(t, &mut out);
    secret_values(t, &mut out);
    out
}

fn pattern_secrets(re: &regex::Regex, t: &str, out: &mut Vec<Range<usize>>) {
    if re.captures_len() == 1 {
        out.extend(re.find_iter(t).map(|m| m.range()).filter(|r| !r.is_empty()));
        return;
    }
    for c in re.captures_iter(t) {
        out.extend(
            c.iter()
                .skip(1)
                .flatten()
                .map(|m| m.range())
                .filter(|r| !r.is_empty()),
        );
    }
}

/// `t` with the (possibly overlapping) ranges replaced, each run once.
fn replace(t: &str, mut hide: Vec<Range<usize>>) -> String {
    hide.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(t.len());
    let mut at = 0;
    for r in hide {
        if r.end <= at {
            continue;
        }
        // An overlapping range extends the one already replaced.
        if r.start >= at {
            out.push_str(&t[at..r.start]);
            out.push_str(REDACTED);
        }
        at = r.end;
    }
    out.push_str(&t[at..]);
    out
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// JSON Web Tokens: base64url `{"` (`eyJ`) then two more dot-separated
/// base64url parts (the signature may be empty: `alg: none`).
fn jwts(t: &str, out: &mut Vec<Range<usize>>) {
    let b = t.as_bytes();
    let seg = |s: usize| s + b[s..].iter().take_while(|&&c| is_b64url(c)).count();
    let mut from = 0;
    while let Some(i) = t[from..].find("eyJ").map(|i| from + i) {
        from = i + 3;
        if i > 0 && is_b64url(b[i - 1]) {
            continue;
        }
        let header = seg(i);
        if b.get(header) != Some(&b'.') {
            continue;
        }
        let payload = seg(header + 1);
        if payload - header < 5 || b.get(payload) != Some(&b'.') {
            continue;
        }
        let end = seg(payload + 1);
        out.push(i..end);
        from = end;
    }
}

/// The word after an HTTP authentication scheme (`Bearer abc.def`).
fn auth_credentials(t: &str, out: &mut Vec<Range<usize>>) {
    let b = t.as_bytes();
    for (i, _) in t.char_indices().filter(|(_, c)| *c == ' ') {
        let before = &b[..i];
        let Some(scheme) = AUTH_SCHEMES.iter().find(|s| {
            before.len() >= s.len()
                && before[before.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes())
        }) else {
            continue;
        };
        let s = i - scheme.len();
        if s > 0 && b[s - 1].is_ascii_alphanumeric() {
            continue;
        }
        let start = i + 1 + b[i + 1..].iter().take_while(|&&c| c == b' ').count();
        let end = start
            + b[start..]
                .iter()
                .take_while(|&&c| c.is_ascii_alphanumeric() || b"-._~+/=".contains(&c))
                .count();
        // Short words are more often prose or SQL ("basic FROM t") than
        // credentials (tokens, base64 of user:password).
        if end - start >= MIN_CREDENTIAL {
            out.push(start..end);
        }
    }
}

/// The password of `scheme://user:password@host`.
fn url_passwords(t: &str, out: &mut Vec<Range<usize>>) {
    let mut from = 0;
    while let Some(i) = t[from..].find("://").map(|i| from + i) {
        let auth_start = i + 3;
        from = auth_start;
        let rest = &t[auth_start..];
        let auth_len = rest
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(rest.len());
        let authority = &rest[..auth_len];
        let Some(at) = authority.rfind('@') else {
            continue;
        };
        if let Some(colon) = authority[..at].find(':')
            && colon + 1 < at
        {
            out.push(auth_start + colon + 1..auth_start + at);
        }
    }
}

/// The value of `key=value` where the key names a secret.
fn secret_values(t: &str, out: &mut Vec<Range<usize>>) {
    let b = t.as_bytes();
    for (i, _) in t.match_indices('=') {
        let key_start = b[..i]
            .iter()
            .rposition(|&c| !(c.is_ascii_alphanumeric() || b"_-.".contains(&c)))
            .map_or(0, |p| p + 1);
        let key = &t[key_start..i];
        let lower = key.to_ascii_lowercase();
        if key.is_empty() || !SECRET_KEYS.iter().any(|k| lower.contains(k)) {
            continue;
        }
        let start = i + 1;
        let len = b[start..]
            .iter()
            .take_while(|&&c| !(c.is_ascii_whitespace() || b"&;,\"'".contains(&c)))
            .count();
        let value = &t[start..start + len];
        if len > 0 && value != REDACTED && value != "?" {
            out.push(start..start + len);
        }
    }
}

#[cfg(test)]
#[path = "redact_tests.rs"]
mod tests;
