//! Tests of redact/mod.rs: the built-in finders, extra patterns, and secret headers.
use super::*;

const JWT: &str =
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";

fn builtin(t: &str) -> String {
    Redactor::default().scrub(t).into_owned()
}

#[test]
fn builtin_finders_table() {
    let cases: &[(&str, &str)] = &[
        // Nothing to find: borrowed, unchanged.
        ("GET /users/42", "GET /users/42"),
        (
            "SELECT name FROM users WHERE id = ?",
            "SELECT name FROM users WHERE id = ?",
        ),
        ("", ""),
        // JWTs anywhere, with or without a signature.
        (&format!("/api/{JWT}/x"), "/api/REDACTED/x"),
        (&format!("jwt={JWT}"), "jwt=REDACTED"),
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "REDACTED"),
        // Not JWTs: too short, one dot, glued to other base64.
        ("eyJ.a.b", "eyJ.a.b"),
        ("eyJhbGciOiJIUzI1NiJ9.x", "eyJhbGciOiJIUzI1NiJ9.x"),
        (
            "xeyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIx.abc",
            "xeyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIx.abc",
        ),
        // Authentication schemes.
        ("Bearer abcdefgh12345678", "Bearer REDACTED"),
        (
            "authorization: bearer  tok.en-value~+/=",
            "authorization: bearer  REDACTED",
        ),
        ("Basic dXNlcjpwYXNzd29yZA==", "Basic REDACTED"),
        ("SELECT basic FROM t", "SELECT basic FROM t"),
        ("xBearer abcdefgh12345678", "xBearer abcdefgh12345678"),
        // URL userinfo: the password only.
        (
            "postgres://app:hunter22@db:5432/app",
            "postgres://app:REDACTED@db:5432/app",
        ),
        ("redis://:s3cr3t@cache/0", "redis://:REDACTED@cache/0"),
        ("http://user@host/x", "http://user@host/x"),
        ("http://host/a@b:c", "http://host/a@b:c"),
        // key=value with a secret key, any case, any prefix or suffix.
        ("a=1&password=hunter2&b=2", "a=1&password=REDACTED&b=2"),
        (
            "host=db user=app PASSWORD=x1 dbname=app",
            "host=db user=app PASSWORD=REDACTED dbname=app",
        ),
        (
            "access_token=abc;refresh_token=def",
            "access_token=REDACTED;refresh_token=REDACTED",
        ),
        (
            "X-Amz-Signature=deadbeef&X-Amz-Date=1",
            "X-Amz-Signature=REDACTED&X-Amz-Date=1",
        ),
        ("api_key=k1, apikey=k2", "api_key=REDACTED, apikey=REDACTED"),
        // Already hidden, or a placeholder: left as is.
        ("token=REDACTED&password=?", "token=REDACTED&password=?"),
        ("password=", "password="),
        ("=x", "=x"),
        // Not a secret key.
        ("user=app&page=2", "user=app&page=2"),
    ];
    for (input, want) in cases {
        assert_eq!(builtin(input), *want, "{input:?}");
    }
    assert!(matches!(
        Redactor::default().scrub("GET /users/42"),
        Cow::Borrowed(_)
    ));
}

#[test]
fn findings_may_overlap_and_touch_non_ascii() {
    // The JWT and the key=value finder both hit the same value.
    assert_eq!(builtin(&format!("token={JWT}")), "token=REDACTED");
    assert_eq!(builtin("ä password=ü&x=1"), "ä password=REDACTED&x=1");
    assert_eq!(builtin("ä Bearer ééééééééé"), "ä Bearer ééééééééé");
}

#[test]
fn extra_patterns_hide_groups_or_whole_matches() {
    let r = Redactor::new(&[
        "sk_live_[0-9a-zA-Z]+".into(),
        "ssn=([0-9-]+)".into(),
        "(?i)card (\\d{4}) (\\d{4})".into(),
    ]);
    let cases = [
        ("key sk_live_abcDEF123 end", "key REDACTED end"),
        ("ssn=123-45-6789&x=1", "ssn=REDACTED&x=1"),
        ("CARD 1234 5678", "CARD REDACTED REDACTED"),
        ("nothing here", "nothing here"),
    ];
    for (input, want) in cases {
        assert_eq!(r.scrub(input), want, "{input:?}");
    }
}

#[test]
fn long_values_are_cut_before_scanning() {
    let long = "a".repeat(MAX_SCAN_BYTES + 10);
    assert_eq!(builtin(&long).len(), MAX_SCAN_BYTES);
    let mut multi = "é".repeat(MAX_SCAN_BYTES);
    multi.push_str("password=x");
    assert!(builtin(&multi).len() <= MAX_SCAN_BYTES);
}

#[test]
fn bad_patterns_say_why_in_one_line() {
    for p in ["(", "a{99999}", "[z-a]"] {
        let e = compile(p).unwrap_err();
        assert!(!e.is_empty() && !e.contains('\n'), "{p:?}: {e:?}");
        assert!(!e.starts_with("error"), "{p:?}: {e:?}");
    }
    assert!(compile("sk_[a-z]+").is_ok());
}

#[test]
fn credential_headers_are_secret_and_what_the_agent_reads_is_not() {
    for h in [
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "x-amz-security-token",
        "x-csrf-token",
        "private-token",
        "x-hub-signature-256",
        "www-authenticate",
        "x-session-id",
        "x-client-secret",
        "x-password",
    ] {
        assert!(is_secret_name(h), "{h}");
    }
    for h in [
        "host",
        "user-agent",
        "content-type",
        "content-length",
        "traceparent",
        "tracestate",
        "baggage",
        "b3",
        "x-b3-traceid",
        "uber-trace-id",
        "grpc-status",
        "grpc-message",
        "te",
        "upgrade",
        "x-request-id",
    ] {
        assert!(!is_secret_name(h), "{h}");
    }
}

/// The definition [`is_secret_name`] must keep answering.
fn contains_a_secret_word(name: &str) -> bool {
    SECRET_WORDS.iter().any(|w| name.contains(w))
}

/// The one-pass scan answers as the plain definition does: on the names in
/// the HTTP/1 tests' heads and other common headers, on every word embedded
/// in names (alone, prefixed, suffixed, cut short, case changed) and on
/// random names over an alphabet rich in the words' letters.
#[test]
fn is_secret_name_matches_its_definition() {
    let mut names: Vec<String> = [
        "",
        "a",
        "au",
        "aut",
        "pw",
        "pwd",
        "host",
        "user-agent",
        "accept",
        "accept-encoding",
        "accept-language",
        "content-length",
        "content-type",
        "connection",
        "transfer-encoding",
        "server",
        "date",
        "location",
        "cache-control",
        "upgrade",
        "http2-settings",
        "expect",
        "te",
        "trailer",
        "vary",
        "etag",
        "last-modified",
        "keep-alive",
        "x-forwarded-for",
        "x-request-id",
        "traceparent",
        "tracestate",
        "baggage",
        "b3",
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-sampled",
        "uber-trace-id",
        "grpc-status",
        "grpc-message",
        "grpc-timeout",
        "grpc-encoding",
        "grpc-accept-encoding",
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-auth-token",
        "x-csrf-token",
        "www-authenticate",
        "x-session-id",
        "x-client-secret",
        "x-password",
        "db_password",
        "x-amz-signature",
        "aws_access_key_id",
        "private_key",
        "credentials",
        "etag",
        "if-none-match",
        "x-amz-security-token",
        "x-ok",
        "x-trace",
        "x",
        "t",
        "ttoken",
        "ssecret",
        "ppwd",
        "aauth",
        "ccsrf",
        "api-ke",
        "apikeY",
        "Cookie",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for w in SECRET_WORDS {
        let cut = &w[..w.len() - 1];
        let upper = w.to_ascii_uppercase();
        for n in [
            w.to_owned(),
            format!("x-{w}"),
            format!("{w}-id"),
            format!("a{w}z"),
            cut.to_owned(),
            format!("x-{cut}"),
            format!("{cut}{w}"),
            format!("{w}{w}"),
            upper,
        ] {
            names.push(n);
        }
    }
    let alphabet = b"acdeiknoprstuwy-_k";
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 14) as usize;
        let name: String = (0..len)
            .map(|i| char::from(alphabet[((seed >> (4 * i % 60)) as usize) % alphabet.len()]))
            .collect();
        names.push(name);
    }
    let mut secrets = 0;
    for n in &names {
        let want = contains_a_secret_word(n);
        secrets += usize::from(want);
        assert_eq!(is_secret_name(n), want, "{n:?}");
    }
    // The random names reach both answers.
    assert!(secrets > 100 && secrets < names.len() - 100, "{secrets}");
}

#[test]
fn common_fields_hold_no_secret_word() {
    for f in COMMON_FIELDS {
        let name = std::str::from_utf8(f).unwrap();
        assert!(
            !SECRET_WORDS.iter().any(|w| name.contains(w)),
            "{name} holds a secret word: it cannot skip the scan"
        );
        assert_eq!(name, name.to_ascii_lowercase());
    }
}
