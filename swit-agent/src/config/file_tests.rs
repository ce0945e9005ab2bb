//! Tests of file.rs: parse problems named by key and line, and string expansion.
use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn problems(text: &str) -> Vec<String> {
    let ps = match parse(text, &no_env) {
        Ok((_, ps)) => ps,
        Err(ps) => ps,
    };
    ps.iter().map(|p| p.to_string()).collect()
}

#[test]
fn empty_and_comment_only_files_are_empty_configs() {
    for text in ["", "\n", "# nothing yet\n", "---\n"] {
        assert_eq!(
            parse(text, &no_env),
            Ok((RawConfig::default(), vec![])),
            "{text:?}"
        );
    }
}

#[test]
fn unknown_keys_at_every_depth_are_all_reported() {
    let cases: &[(&str, &[&str])] = &[
        ("bogus: 1\n", &["bogus: unknown key"]),
        ("tracing:\n  bogus: 1\n", &["tracing.bogus: unknown key"]),
        (
            "tracing:\n  exporter:\n    bogus: 1\n",
            &["tracing.exporter.bogus: unknown key"],
        ),
        (
            "tracing:\n  exporter:\n    tls: { ca: x }\n",
            &["tracing.exporter.tls.ca: unknown key"],
        ),
        (
            "tracing:\n  sampling: { type: always_on, ratio: 1 }\n",
            &["tracing.sampling.ratio: unknown key"],
        ),
        (
            "agent:\n  services:\n    - { match: { pod: x }, name: a }\n",
            &["agent.services[0].match.pod: unknown key"],
        ),
        (
            "agent:\n  targets: { cgroup: x }\n  capture: { byts: 1 }\n",
            &[
                "agent.targets.cgroup: unknown key",
                "agent.capture.byts: unknown key",
            ],
        ),
        (
            "tracing:\n  exporter: { bogus: 1, timeout: 5s }\n  extra: 2\nagent: { x: 1 }\n",
            &[
                "tracing.exporter.bogus: unknown key",
                "tracing.extra: unknown key",
                "agent.x: unknown key",
            ],
        ),
    ];
    for (text, want) in cases {
        let got = problems(text);
        assert_eq!(got.len(), want.len(), "{text:?}: {got:?}");
        for (g, w) in got.iter().zip(want.iter()) {
            assert!(
                g.starts_with(w),
                "{text:?}: {g:?} does not start with {w:?}"
            );
        }
    }
}

#[test]
fn problems_carry_lines() {
    let text = "tracing:\n  enabled: true\n  exporter:\n    type: otlp\n    bogus: 1\n";
    let ps = parse(text, &no_env).unwrap().1;
    assert_eq!(ps[0].line, Some(5));
    let text = "tracing:\n  bogus: 1\nagent:\n  capture:\n    nope: 2\n";
    let ps = parse(text, &no_env).unwrap().1;
    assert_eq!(
        ps.iter().map(|p| p.line).collect::<Vec<_>>(),
        [Some(2), Some(5)]
    );
}

#[test]
fn wrong_types_name_the_key() {
    let cases = [
        (
            "tracing: { sampling: { rate: fast } }",
            "tracing.sampling.rate: ",
        ),
        ("tracing: { enabled: maybe }", "tracing.enabled: "),
        (
            "agent: { targets: { pids: [x] } }",
            "agent.targets.pids[0]: ",
        ),
        ("agent: { capture: { bytes: -1 } }", "agent.capture.bytes: "),
        (
            "tracing: { propagators: tracecontext }",
            "tracing.propagators: ",
        ),
        (
            "agent: { services: [ { match: { pid: 1 } } ] }",
            "agent.services[0]: missing key \"name\"",
        ),
    ];
    for (text, want) in cases {
        let got = problems(text);
        assert_eq!(got.len(), 1, "{text:?}: {got:?}");
        assert!(got[0].starts_with(want), "{text:?}: {got:?}");
    }
}

#[test]
fn syntax_errors_name_line_and_column() {
    let got = problems("tracing:\n  enabled: true\n   bad indent: [\n");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("(yaml): syntax error: "), "{got:?}");
    assert!(got[0].contains("(line 3, column"), "{got:?}");
}

#[test]
fn string_values_expand() {
    let env = |k: &str| match k {
        "TOKEN" => Some("s3cret".to_owned()),
        _ => None,
    };
    let text = "tracing:\n  service_name: \"${NAME:-shop}\"\n  exporter:\n    headers: { authorization: \"Bearer ${TOKEN}\" }\n  resource_attributes: { host: \"${HOSTNAME:-localhost}\", n: 3 }\n";
    let (raw, ps) = parse(text, &env).unwrap();
    assert_eq!(ps, []);
    assert_eq!(raw.tracing.service_name.as_deref(), Some("shop"));
    let h = raw.tracing.exporter.headers.unwrap();
    assert_eq!(h["authorization"], "Bearer s3cret");
    let r = raw.tracing.resource_attributes.unwrap();
    assert_eq!(r["host"].0, "localhost");
    assert_eq!(r["n"].0, "3");
    let got = problems("tracing: { service_name: \"${NAME\" }");
    assert_eq!(
        got,
        ["tracing.service_name: \"${NAME\" has \"${\" without a closing \"}\""]
    );
}

/// Every string value expands, wherever it is: a key added to the config
/// later needs no list kept in step (this one had none before).
#[test]
fn strings_anywhere_expand_and_keys_do_not() {
    let env = |k: &str| match k {
        "ADDR" => Some("127.0.0.1:9400".to_owned()),
        "EXE" => Some("/usr/sbin/nginx".to_owned()),
        _ => None,
    };
    let text = "agent:\n  metrics_addr: \"${ADDR}\"\n  services:\n    - name: web\n      match: { exe: \"${EXE}\" }\ntracing:\n  resource_attributes: { \"${ADDR}\": x }\n";
    let (raw, ps) = parse(text, &env).unwrap();
    assert_eq!(ps, []);
    assert_eq!(raw.agent.metrics_addr.as_deref(), Some("127.0.0.1:9400"));
    let services = raw.agent.services.unwrap();
    assert_eq!(services[0].matcher.exe.as_deref(), Some("/usr/sbin/nginx"));
    let r = raw.tracing.resource_attributes.unwrap();
    assert!(r.contains_key("${ADDR}"), "{r:?}");
    let got = problems("agent:\n  metrics_addr: \"${1X}\"\n");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("agent.metrics_addr: \"${1X}\": \"1X\" is not a variable name"),
        "{got:?}"
    );
}

#[test]
fn locate_follows_the_path() {
    let text = "# top\ntracing:\n  sampling: { type: x, rate: 2 }\n  exporter:\n    tls:\n      ca_file: a\n";
    let k = |s: &[&str]| {
        s.iter()
            .map(|k| Seg::Key(k.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(locate(text, &k(&["tracing", "sampling", "rate"])), Some(3));
    assert_eq!(
        locate(text, &k(&["tracing", "exporter", "tls", "ca_file"])),
        Some(6)
    );
    assert_eq!(locate(text, &k(&["tracing", "nothing"])), None);
}
