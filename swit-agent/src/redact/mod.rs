//! What is a secret, and how it is hidden: the one policy the protocol
//! parsers, the configuration's checks and the export path share.
//!
//! The parsers keep secrets out where they are read: the value of a header
//! whose name is a secret's ([`is_secret_name`]) is never kept, query
//! values and SQL literals never reach a span, Redis `AUTH` and database
//! handshakes are not kept. On the way out every span goes through one
//! [`Redactor`] (see `export::redact`), which catches what slips through in
//! free text, and applies the operator's `tracing.redaction.patterns`:
//!
//! - built-in finders, always on: JWTs (`eyJ...` with two dots), the
//!   credential after `Bearer`/`Basic`/`Digest`, the password in a URL's
//!   userinfo (`postgres://u:PASS@h`), and the value of a `key=value` pair
//!   whose key is a secret's name (`password=`, `token=`, `api_key=`, ...);
//! - extra patterns (regular expressions): a pattern with capture groups
//!   hides what its groups matched, one without hides the whole match.
//!
//! Hidden text becomes [`REDACTED`].
//!
//! Cost, measured on a span of 12 typical string attributes (optimised
//! build): the built-in finders about 3 µs; two extra patterns 0.1 µs more
//! with `regex`, 37 µs more with `regex-lite` (no literal prefilters),
//! hence `regex`, which is linear-time too. The finders are plain code that
//! starts with a cheap byte search.
use std::{borrow::Cow, ops::Range};

/// What hidden text is replaced by.
pub const REDACTED: &str = "REDACTED";

/// Words that make a name a secret's, lowercase, matched anywhere in the
/// lowercase name: headers (`x-api-key`, `x-auth-token`, `set-cookie`,
/// `www-authenticate`, `x-csrf-token`) and `key=value` keys (`db_password`,
/// `X-Amz-Signature`) alike. None of them is in a header the agent reads
/// (host, user-agent, content-type, traceparent, tracestate, baggage, b3,
/// grpc-*).
const SECRET_WORDS: [&str; 15] = [
    "auth",
    "cookie",
    "token",
    "secret",
    "passw",
    "pwd",
    "api-key",
    "apikey",
    "api_key",
    "access_key",
    "private_key",
    "session",
    "credential",
    "signature",
    "csrf",
];

/// Shortest word of [`SECRET_WORDS`]: a shorter name holds none.
const MIN_SECRET_WORD: usize = {
    let mut i = 0;
    let mut min = usize::MAX;
    while i < SECRET_WORDS.len() {
        if SECRET_WORDS[i].len() < min {
            min = SECRET_WORDS[i].len();
        }
        i += 1;
    }
    min
};

/// Per byte, the words of [`SECRET_WORDS`] that have it at position `AT`
/// (bit `i` for word `i`).
const fn words_with_byte_at<const AT: usize>() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < SECRET_WORDS.len() {
        t[SECRET_WORDS[i].as_bytes()[AT] as usize] |= 1 << i;
        i += 1;
    }
    t
}
const FIRST_BYTE: [u16; 256] = words_with_byte_at::<0>();
const _: () = assert!(MIN_SECRET_WORD > 1 && SECRET_WORDS.len() <= 16);
const SECOND_BYTE: [u16; 256] = words_with_byte_at::<1>();

/// Whether the value named `name` (a header, a `key=value` key; lowercase)
/// is a secret: whether it contains one of [`SECRET_WORDS`].
///
/// Called for every header the parsers keep, so it is one pass over the
/// name: at each position only the words that start with the byte there
/// and the next are compared (one bit set per byte and position says which,
/// so most positions compare none). A table test holds it to the plain
/// `SECRET_WORDS.iter().any(|w| name.contains(w))`.
pub fn is_secret_name(name: &str) -> bool {
    let b = name.as_bytes();
    if b.len() < MIN_SECRET_WORD || is_common_field(b) {
        return false;
    }
    (0..=b.len() - MIN_SECRET_WORD).any(|i| {
        // `i + 1` is in the name: MIN_SECRET_WORD > 1.
        let mut words = FIRST_BYTE[usize::from(b[i])] & SECOND_BYTE[usize::from(b[i + 1])];
        while words != 0 {
            let w = SECRET_WORDS[words.trailing_zeros() as usize];
            if b[i..].starts_with(w.as_bytes()) {
                return true;
            }
            words &= words - 1;
        }
        false
    })
}

/// Field names nearly every head carries, none holding a secret word (a
/// test holds them to it): one comparison each, by length first, instead
/// of the scan, which cost about 140 instructions a name.
pub(crate) const COMMON_FIELDS: [&[u8]; 16] = [
    b"host",
    b"user-agent",
    b"accept",
    b"accept-encoding",
    b"accept-language",
    b"connection",
    b"content-length",
    b"content-type",
    b"date",
    b"server",
    b"cache-control",
    b"keep-alive",
    b"traceparent",
    b"tracestate",
    b"transfer-encoding",
    b"x-forwarded-for",
];

#[inline]
fn is_common_field(b: &[u8]) -> bool {
    COMMON_FIELDS.contains(&b)
}

/// Query values can carry secrets (tokens, emails): keep the keys only.
pub fn redact_query(q: &str) -> String {
    q.split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) => format!("{k}={REDACTED}"),
            None => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Most bytes of a value the patterns look at; past it the value is cut to
/// this length first (attribute values are short; a huge one is not worth
/// scanning whole on the export thread).
pub const MAX_SCAN_BYTES: usize = 16 * 1024;

/// HTTP authentication schemes whose next word is a credential.
const AUTH_SCHEMES: [&str; 4] = ["bearer", "basic", "digest", "negotiate"];

/// Shortest word taken for a credential after an authentication scheme.
const MIN_CREDENTIAL: usize = 8;

/// The operator's patterns, compiled once, with the built-in finders.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    patterns: Vec<regex::Regex>,
}

impl Redactor {
    /// The patterns were validated, so every one compiles; one that does
    /// not (impossible short of a bug) is skipped rather than stopping
    /// export.
    pub fn new(patterns: &[String]) -> Redactor {
        Redactor {
            patterns: patterns.iter().filter_map(|p| compile(p).ok()).collect(),
        }
    }

    /// `text` with every secret found replaced by [`REDACTED`]; borrowed
    /// when nothing was found.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if text.is_empty() {
            return Cow::Borrowed(text);
        }
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
///
/// One pass over the bytes first tells which finders could match at all
/// (each needs a byte most attribute values lack); only those run.
pub fn builtin_secrets(t: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let found = t
        .as_bytes()
        .iter()
        .fold(0u8, |m, &c| m | TRIGGERS[usize::from(c)]);
    if found & JWT != 0 {
        jwts(t, &mut out);
    }
    if found & AUTH != 0 {
        auth_credentials(t, &mut out);
    }
    if found & URL != 0 {
        url_passwords(t, &mut out);
    }
    if found & KEY_VALUE != 0 {
        secret_values(t, &mut out);
    }
    out
}

/// The finder each byte may start: `J` of a JWT's `eyJ`, the space after
/// an authentication scheme, `:` of `://`, `=` of `key=value`.
const JWT: u8 = 1;
const AUTH: u8 = 2;
const URL: u8 = 4;
const KEY_VALUE: u8 = 8;
const TRIGGERS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'J' as usize] = JWT;
    t[b' ' as usize] = AUTH;
    t[b':' as usize] = URL;
    t[b'=' as usize] = KEY_VALUE;
    t
};

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
        if key.is_empty() || !is_secret_name(&key.to_ascii_lowercase()) {
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
mod tests;
