//! Tests of redaction.rs: the file's `tracing.redaction` resolved, and its messages.
use super::{AttributeFilter, CaptureHeaders, RedactionSettings};
use crate::config::{
    Overrides, Settings,
    tests::{env_of, problems},
};

#[test]
fn the_section_resolves_with_variables_and_lowercase_headers() {
    let text = r#"
tracing:
  redaction:
    patterns: ["sk_live_[0-9a-zA-Z]+", "${EXTRA}"]
    attributes:
      traces: { deny: [user_agent.original, "http.request.header.*"], allow: [] }
    capture_headers:
      request: [X-Request-Id, " traceparent "]
      response: [Content-Type]
"#;
    let env = env_of(&[("EXTRA", "ssn=([0-9-]+)")]);
    let s = Settings::from_parts(Some(text), None, &env, &Overrides::default()).unwrap();
    assert_eq!(
        s.tracing.redaction,
        RedactionSettings {
            patterns: vec!["sk_live_[0-9a-zA-Z]+".into(), "ssn=([0-9-]+)".into()],
            traces: AttributeFilter {
                allow: vec![],
                deny: vec!["user_agent.original".into(), "http.request.header.*".into()],
            },
            capture_headers: CaptureHeaders {
                request: vec!["x-request-id".into(), "traceparent".into()],
                response: vec!["content-type".into()],
            },
        }
    );
    assert_eq!(
        Settings::file_defaults().tracing.redaction,
        RedactionSettings::default()
    );
    assert_eq!(
        Settings::no_file().tracing.redaction,
        RedactionSettings::default()
    );
}

#[test]
fn every_redaction_message_is_one_line_naming_the_key() {
    let many = format!(
        "tracing: {{ redaction: {{ patterns: [{}] }} }}",
        vec!["a"; 65].join(", ")
    );
    let long = format!(
        "tracing: {{ redaction: {{ patterns: [\"{}\"] }} }}",
        "a".repeat(1025)
    );
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "tracing: { redaction: { patterns: [\"(\"] } }",
            vec!["tracing.redaction.patterns[0]: \"(\" is not a regular expression: "],
        ),
        (
            "tracing: { redaction: { patterns: [\"ok\", \"\"] } }",
            vec!["tracing.redaction.patterns[1]: must not be empty"],
        ),
        (
            &many,
            vec!["tracing.redaction.patterns: 65 patterns, at most 64"],
        ),
        (
            &long,
            vec!["tracing.redaction.patterns[0]: 1025 bytes long, at most 1024"],
        ),
        (
            "tracing: { redaction: { attributes: { traces: { deny: [\"\"] } } } }",
            vec!["tracing.redaction.attributes.traces.deny[0]: must not be empty"],
        ),
        (
            "tracing: { redaction: { capture_headers: { request: [\"x a\"] } } }",
            vec!["tracing.redaction.capture_headers.request[0]: \"x a\" is not a header name"],
        ),
        (
            "tracing: { redaction: { attributes: { logs: { deny: [x] } } } }",
            vec!["tracing.redaction.attributes.logs: unknown key"],
        ),
        (
            "tracing: { redaction: { headers: [x] } }",
            vec!["tracing.redaction.headers: unknown key"],
        ),
        (
            "tracing: { redaction: { patterns: \"x\" } }",
            vec!["tracing.redaction.patterns: invalid type"],
        ),
    ];
    for (text, want) in cases {
        let got = problems(Some(text), &[], &Overrides::default());
        assert_eq!(got.len(), want.len(), "{text}: {got:?}");
        for (g, w) in got.iter().zip(&want) {
            assert!(g.starts_with(w), "{text}: {g:?} does not start with {w:?}");
            assert!(!g.contains('\n'), "{g:?}");
        }
    }
}

#[test]
fn attribute_allow_and_deny_lists() {
    let r = |allow: &[&str], deny: &[&str]| AttributeFilter {
        allow: allow.iter().map(|s| s.to_string()).collect(),
        deny: deny.iter().map(|s| s.to_string()).collect(),
    };
    let all = r(&[], &[]);
    assert!(all.keeps("url.query") && all.keeps("anything"));
    let deny = r(&[], &["url.query", "http.request.header.*"]);
    assert!(!deny.keeps("url.query"));
    assert!(!deny.keeps("http.request.header.x-request-id"));
    assert!(deny.keeps("url.path"));
    let allow = r(&["http.*", "url.path"], &["http.request.body.size"]);
    assert!(allow.keeps("http.request.method"));
    assert!(allow.keeps("url.path"));
    assert!(!allow.keeps("url.query"), "not allowed");
    assert!(
        !allow.keeps("http.request.body.size"),
        "denied wins over allowed"
    );
}
