//! Tests of config/mod.rs: settings end to end: defaults, layer order, validation messages, a
//! complete file.
use std::{collections::BTreeMap, path::Path, time::Duration};

use super::*;

pub(super) fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

fn settings(text: Option<&str>, env: &[(&str, &str)], cli: &Overrides) -> Settings {
    Settings::from_parts(text, None, &env_of(env), cli)
        .unwrap_or_else(|e| panic!("{text:?} {env:?} {cli:?}:\n{e}"))
}

pub(super) fn problems(text: Option<&str>, env: &[(&str, &str)], cli: &Overrides) -> Vec<String> {
    match Settings::from_parts(text, None, &env_of(env), cli) {
        Ok(_) => Vec::new(),
        Err(ConfigError::Invalid { problems, .. }) => {
            problems.iter().map(|p| p.to_string()).collect()
        }
        Err(e) => vec![e.to_string()],
    }
}

#[test]
fn file_defaults_are_exactly_the_documented_ones() {
    let s = Settings::file_defaults();
    let t = &s.tracing;
    assert!(!t.enabled);
    assert_eq!(t.service_name, "swit-service");
    assert!(!t.service_name_configured);
    assert_eq!(t.sampler, Sampler::TraceIdRatio(0.1));
    assert_eq!(t.exporter.kind, ExporterKind::Console);
    assert_eq!(t.exporter.protocol, Protocol::Grpc);
    assert_eq!(t.exporter.endpoint, "http://localhost:4317");
    assert_eq!(t.exporter.timeout, Duration::from_secs(10));
    assert!(t.exporter.headers.is_empty());
    assert_eq!(t.exporter.tls, Tls::default());
    assert!(t.resource_attributes.is_empty());
    assert_eq!(
        t.propagators,
        [Propagator::TraceContext, Propagator::Baggage]
    );
    let a = &s.agent;
    assert!(a.targets.is_empty());
    assert!(a.services.is_empty());
    assert_eq!(a.capture_bytes, MAX_CAPTURE);
    assert_eq!(a.ring_bytes, 8 * 1024 * 1024);
    assert_eq!(a.console_format, ConsoleFormat::Pretty);
    assert_eq!(a.export_queue, 65536);
    // An empty file is the file defaults.
    assert_eq!(settings(Some(""), &[], &Overrides::default()), s);
    assert_eq!(
        settings(Some("tracing: {}\nagent: {}\n"), &[], &Overrides::default()),
        s
    );
}

#[test]
fn no_file_sees_everything_on_the_console() {
    let s = Settings::no_file();
    assert!(s.tracing.enabled);
    assert_eq!(s.tracing.sampler, Sampler::AlwaysOn);
    assert_eq!(s.tracing.exporter.kind, ExporterKind::Console);
    // Otherwise the file defaults.
    let f = Settings::file_defaults();
    assert_eq!(s.agent, f.agent);
    assert_eq!(s.tracing.service_name, f.tracing.service_name);
    assert_eq!(s.tracing.propagators, f.tracing.propagators);
    assert_eq!(settings(None, &[], &Overrides::default()), s);
    // Environment and flags still apply without a file.
    let s = settings(
        None,
        &[("OTEL_TRACES_SAMPLER", "traceidratio")],
        &Overrides {
            pids: vec![7],
            ..Default::default()
        },
    );
    assert_eq!(s.tracing.sampler, Sampler::TraceIdRatio(1.0));
    assert_eq!(s.agent.targets.pids, [7]);
    assert!(s.tracing.enabled);
}

#[test]
fn http_protobuf_default_endpoint() {
    for (text, want) in [
        (
            "tracing: { exporter: { protocol: http/protobuf } }",
            "http://localhost:4318/v1/traces",
        ),
        (
            "tracing: { exporter: { type: jaeger, protocol: http/protobuf } }",
            "http://localhost:4318/v1/traces",
        ),
        (
            "tracing: { exporter: { type: jaeger } }",
            "http://localhost:4317",
        ),
        (
            "tracing: { exporter: { protocol: http/protobuf, endpoint: \"http://c:4318/\" } }",
            "http://c:4318/v1/traces",
        ),
        (
            "tracing: { exporter: { protocol: http/protobuf, endpoint: \"http://c/otlp/traces\" } }",
            "http://c/otlp/traces",
        ),
    ] {
        let s = settings(Some(text), &[], &Overrides::default());
        assert_eq!(s.tracing.exporter.endpoint, want, "{text}");
    }
}

type Get = fn(&Settings) -> String;

/// One key through the layers: [defaults, file, env over file, CLI over env].
struct Order {
    name: &'static str,
    file: &'static str,
    env: &'static [(&'static str, &'static str)],
    cli: Overrides,
    get: Get,
    want: [&'static str; 4],
}

#[test]
fn each_layer_overrides_the_one_below() {
    let cli = Overrides::default;
    let cases = [
        Order {
            name: "service name",
            file: "tracing: { service_name: file-svc }",
            env: &[("OTEL_SERVICE_NAME", "env-svc")],
            cli: Overrides {
                service_name: Some("cli-svc".into()),
                ..cli()
            },
            get: |s| s.tracing.service_name.clone(),
            want: ["swit-service", "file-svc", "env-svc", "cli-svc"],
        },
        Order {
            name: "service name from OTEL_RESOURCE_ATTRIBUTES",
            file: "tracing: { service_name: file-svc }",
            env: &[("OTEL_RESOURCE_ATTRIBUTES", "service.name=ra-svc")],
            cli: Overrides {
                service_name: Some("cli-svc".into()),
                ..cli()
            },
            get: |s| s.tracing.service_name.clone(),
            want: ["swit-service", "file-svc", "ra-svc", "cli-svc"],
        },
        Order {
            name: "OTEL_SERVICE_NAME over service.name in OTEL_RESOURCE_ATTRIBUTES",
            file: "tracing: { service_name: file-svc }",
            env: &[
                ("OTEL_RESOURCE_ATTRIBUTES", "service.name=ra-svc"),
                ("OTEL_SERVICE_NAME", "env-svc"),
            ],
            cli: cli(),
            get: |s| s.tracing.service_name.clone(),
            want: ["swit-service", "file-svc", "env-svc", "env-svc"],
        },
        Order {
            name: "exporter type",
            file: "tracing: { exporter: { type: otlp } }",
            env: &[("OTEL_TRACES_EXPORTER", "console")],
            cli: Overrides {
                exporter: Some("jaeger".into()),
                ..cli()
            },
            get: |s| format!("{:?}", s.tracing.exporter.kind),
            want: ["Console", "Otlp", "Console", "Jaeger"],
        },
        Order {
            name: "endpoint (grpc)",
            file: "tracing: { exporter: { endpoint: \"http://file:4317\" } }",
            env: &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4317")],
            cli: Overrides {
                endpoint: Some("http://cli:4317".into()),
                ..cli()
            },
            get: |s| s.tracing.exporter.endpoint.clone(),
            want: [
                "http://localhost:4317",
                "http://file:4317",
                "http://env:4317",
                "http://cli:4317",
            ],
        },
        Order {
            name: "traces endpoint wins over the generic one",
            file: "tracing: { exporter: { endpoint: \"http://file:4317\" } }",
            env: &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4317"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317"),
            ],
            cli: Overrides {
                endpoint: Some("http://cli:4317".into()),
                ..cli()
            },
            get: |s| s.tracing.exporter.endpoint.clone(),
            want: [
                "http://localhost:4317",
                "http://file:4317",
                "http://traces:4317",
                "http://cli:4317",
            ],
        },
        Order {
            name: "generic endpoint gets /v1/traces for http/protobuf",
            file: "tracing: { exporter: { protocol: http/protobuf, endpoint: \"http://file:4318/x\" } }",
            env: &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318/base/")],
            cli: Overrides {
                endpoint: Some("http://cli:4318".into()),
                ..cli()
            },
            get: |s| s.tracing.exporter.endpoint.clone(),
            want: [
                "http://localhost:4317",
                "http://file:4318/x",
                "http://env:4318/base/v1/traces",
                "http://cli:4318/v1/traces",
            ],
        },
        Order {
            name: "traces endpoint is used as is for http/protobuf",
            file: "tracing: { exporter: { protocol: http/protobuf } }",
            env: &[(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://env:4318/custom",
            )],
            cli: cli(),
            get: |s| s.tracing.exporter.endpoint.clone(),
            want: [
                "http://localhost:4317",
                "http://localhost:4318/v1/traces",
                "http://env:4318/custom",
                "http://env:4318/custom",
            ],
        },
        Order {
            name: "protocol",
            file: "tracing: { exporter: { protocol: http/protobuf } }",
            env: &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
            cli: Overrides {
                protocol: Some("http/protobuf".into()),
                ..cli()
            },
            get: |s| format!("{:?}", s.tracing.exporter.protocol),
            want: ["Grpc", "HttpProtobuf", "Grpc", "HttpProtobuf"],
        },
        Order {
            name: "headers (merged per key, values percent-decoded)",
            file: "tracing: { exporter: { headers: { a: file, b: keep } } }",
            env: &[("OTEL_EXPORTER_OTLP_HEADERS", "a=env%20a")],
            cli: cli(),
            get: |s| format!("{:?}", s.tracing.exporter.headers),
            want: [
                "{}",
                r#"{"a": "file", "b": "keep"}"#,
                r#"{"a": "env a", "b": "keep"}"#,
                r#"{"a": "env a", "b": "keep"}"#,
            ],
        },
        Order {
            name: "sampler",
            file: "tracing: { sampling: { type: always_off } }",
            env: &[("OTEL_TRACES_SAMPLER", "parentbased_always_on")],
            cli: Overrides {
                sampler: Some("always_on".into()),
                ..cli()
            },
            get: |s| format!("{:?}", s.tracing.sampler),
            want: [
                "TraceIdRatio(0.1)",
                "AlwaysOff",
                "ParentBasedAlwaysOn",
                "AlwaysOn",
            ],
        },
        Order {
            name: "sampler rate",
            file: "tracing: { sampling: { type: parentbased_traceidratio, rate: 0.5 } }",
            env: &[("OTEL_TRACES_SAMPLER_ARG", "0.25")],
            cli: Overrides {
                sample_rate: Some(0.75),
                ..cli()
            },
            get: |s| format!("{:?}", s.tracing.sampler),
            want: [
                "TraceIdRatio(0.1)",
                "ParentBasedTraceIdRatio(0.5)",
                "ParentBasedTraceIdRatio(0.25)",
                "ParentBasedTraceIdRatio(0.75)",
            ],
        },
        Order {
            name: "resource attributes (merged per key)",
            file: "tracing: { resource_attributes: { environment: dev, team: a } }",
            env: &[(
                "OTEL_RESOURCE_ATTRIBUTES",
                "environment=prod,region=eu%2Dwest",
            )],
            cli: cli(),
            get: |s| format!("{:?}", s.tracing.resource_attributes),
            want: [
                "{}",
                r#"{"environment": "dev", "team": "a"}"#,
                r#"{"environment": "prod", "region": "eu-west", "team": "a"}"#,
                r#"{"environment": "prod", "region": "eu-west", "team": "a"}"#,
            ],
        },
        Order {
            name: "propagators",
            file: "tracing: { propagators: [b3] }",
            env: &[("OTEL_PROPAGATORS", "jaeger, b3multi")],
            cli: cli(),
            get: |s| format!("{:?}", s.tracing.propagators),
            want: [
                "[TraceContext, Baggage]",
                "[B3]",
                "[Jaeger, B3Multi]",
                "[Jaeger, B3Multi]",
            ],
        },
        Order {
            name: "propagators none",
            file: "tracing: { propagators: [b3] }",
            env: &[("OTEL_PROPAGATORS", "none")],
            cli: cli(),
            get: |s| format!("{:?}", s.tracing.propagators),
            want: ["[TraceContext, Baggage]", "[B3]", "[]", "[]"],
        },
        Order {
            name: "pids",
            file: "agent: { targets: { pids: [1, 2] } }",
            env: &[],
            cli: Overrides {
                pids: vec![3],
                ..cli()
            },
            get: |s| format!("{:?}", s.agent.targets.pids),
            want: ["[]", "[1, 2]", "[1, 2]", "[3]"],
        },
        Order {
            name: "console format",
            file: "agent: { console: { format: otlp-json } }",
            env: &[],
            cli: Overrides {
                console_format: Some(ConsoleFormat::Pretty),
                ..cli()
            },
            get: |s| format!("{:?}", s.agent.console_format),
            want: ["Pretty", "OtlpJson", "OtlpJson", "Pretty"],
        },
        Order {
            name: "capture bytes",
            file: "agent: { capture: { bytes: 512 } }",
            env: &[],
            cli: Overrides {
                capture_bytes: Some(0),
                ..cli()
            },
            get: |s| s.agent.capture_bytes.to_string(),
            want: ["16384", "512", "512", "0"],
        },
        Order {
            name: "ring bytes",
            file: "agent: { capture: { ring_bytes: 65536 } }",
            env: &[],
            cli: Overrides {
                ring_bytes: Some(1 << 30),
                ..cli()
            },
            get: |s| s.agent.ring_bytes.to_string(),
            want: ["8388608", "65536", "65536", "1073741824"],
        },
    ];
    for c in cases {
        let none = Overrides::default();
        let got = [
            (c.get)(&settings(Some(""), &[], &none)),
            (c.get)(&settings(Some(c.file), &[], &none)),
            (c.get)(&settings(Some(c.file), c.env, &none)),
            (c.get)(&settings(Some(c.file), c.env, &c.cli)),
        ];
        assert_eq!(got, c.want, "{}", c.name);
    }
}

#[test]
fn otlp_variables_do_not_change_a_console_exporter() {
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ];
    let s = settings(
        Some("tracing: { exporter: { type: console } }"),
        &env,
        &Overrides::default(),
    );
    assert_eq!(s.tracing.exporter.kind, ExporterKind::Console);
    assert_eq!(
        s.tracing.exporter.endpoint,
        "http://collector:4318/v1/traces"
    );
    // Empty variables count as unset.
    let s = settings(
        Some("tracing: { service_name: a }"),
        &[("OTEL_SERVICE_NAME", ""), ("OTEL_TRACES_SAMPLER", " ")],
        &Overrides::default(),
    );
    assert_eq!(s.tracing.service_name, "a");
    assert!(s.tracing.service_name_configured);
}

fn tmp_file(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("swit-config-test-{}-{name}", std::process::id()));
    std::fs::write(&p, "x").unwrap();
    p
}

#[test]
fn readable_tls_files_pass() {
    let ca = tmp_file("ca.pem");
    let text = format!(
        "tracing: {{ exporter: {{ tls: {{ ca_file: \"{}\", cert_file: \"\", insecure: true }} }} }}",
        ca.display()
    );
    let s = settings(Some(&text), &[], &Overrides::default());
    assert_eq!(
        s.tracing.exporter.tls.ca_file.as_deref(),
        Some(ca.as_path())
    );
    assert_eq!(s.tracing.exporter.tls.cert_file, None);
    assert!(s.tracing.exporter.tls.insecure);
    std::fs::remove_file(ca).ok();
}

#[test]
fn invalid_renders_file_and_line() {
    let e = Settings::from_parts(
        Some("tracing:\n  sampling:\n    rate: 1.5\n"),
        Some(Path::new("swit.yaml")),
        &env_of(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "udp")]),
        &Overrides::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "swit.yaml:3: tracing.sampling.rate: 1.5 is not between 0 and 1\n\
         tracing.exporter.protocol: unknown protocol \"udp\" (expected grpc or http/protobuf) (from OTEL_EXPORTER_OTLP_PROTOCOL)"
    );
}

#[test]
fn load_reports_a_missing_file_and_validate_file_exit_codes() {
    let none = Overrides::default();
    let e = Settings::load_with(
        Some(Path::new("/nonexistent/swit.yaml")),
        &env_of(&[]),
        &none,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/swit.yaml: cannot read: "),
        "{e}"
    );
    let (lines, code) = validate_file(Path::new("/nonexistent/swit.yaml"));
    assert_eq!((lines.len(), code), (1, 2));
    let good = tmp_file("good.yaml");
    std::fs::write(&good, "tracing: { enabled: true }\n").unwrap();
    let (lines, code) = validate_file(&good);
    assert_eq!(code, 0, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!("{}: ok", good.display())),
        "{lines:?}"
    );
    std::fs::write(&good, "tracing: { bogus: 1, sampling: { rate: 3 } }\n").unwrap();
    let (lines, code) = validate_file(&good);
    assert_eq!(code, 2);
    assert_eq!(lines.len(), 2, "{lines:?}");
    std::fs::remove_file(good).ok();
}

#[test]
fn runnable_needs_targets() {
    assert_eq!(
        Settings::no_file().check_runnable(),
        Err(ConfigError::NoTargets)
    );
    let s = settings(
        None,
        &[],
        &Overrides {
            pids: vec![1],
            ..Default::default()
        },
    );
    assert_eq!(s.check_runnable(), Ok(()));
}

#[test]
fn service_rules_match_pid_exe_and_script() {
    let s = settings(
        Some(
            "agent:\n  services:\n    - { match: { pid: 42 }, name: checkout }\n    - { match: { exe: \"python3*\" }, name: py }\n    - { match: { script: \"pay?.py\" }, name: payments }\n",
        ),
        &[],
        &Overrides::default(),
    );
    let a = &s.agent;
    assert_eq!(a.service_for(42, "python3.12", None), Some("checkout"));
    assert_eq!(a.service_for(1, "python3.12", Some("pay1.py")), Some("py"));
    assert_eq!(a.service_for(1, "node", Some("pay1.py")), Some("payments"));
    assert_eq!(a.service_for(1, "node", Some("pay10.py")), None);
    assert_eq!(a.service_for(1, "python", None), None);
}

const COMPLETE: &str = r#"
# The issue's example, plus an agent section.
tracing:
  enabled: true
  service_name: "swit-serve"
  sampling: { type: traceidratio, rate: 1.0 }
  exporter:
    type: otlp
    endpoint: "http://localhost:4317"
    protocol: grpc
    headers: { authorization: "Bearer ${TOKEN}" }
    timeout: "10s"
    compression: none
    tls: { ca_file: "", cert_file: "", key_file: "", insecure: false }
  resource_attributes:
    environment: development
    service.instance.id: "${HOSTNAME:-localhost}"
  propagators: [tracecontext, baggage]
agent:
  targets: { pids: [1234] }
  services:
    - { match: { pid: 1234 }, name: "checkout" }
    - { match: { exe: "python3*" }, name: "py" }
  capture: { bytes: 4096, ring_bytes: 1048576, disable_kernel_features: [bpf_loop] }
  console: { format: otlp-json }
  export: { queue_spans: 1000 }
  metrics_addr: "127.0.0.1:9464"
  metrics_export_interval: "30s"
  limits: { memory: 512MiB, idle_timeout: 90s, metric_series: 500 }
  routes:
    patterns: ["/orders/{id}"]
    services: { checkout: ["/cart/{cart}/items"] }
    max_per_service: 200
"#;

use super::routes::Pattern;

#[test]
fn a_complete_file_parses_to_the_expected_settings() {
    let s = settings(Some(COMPLETE), &[("TOKEN", "t0k")], &Overrides::default());
    let want = Settings {
        tracing: TracingSettings {
            enabled: true,
            service_name: "swit-serve".into(),
            service_name_configured: true,
            sampler: Sampler::TraceIdRatio(1.0),
            exporter: Exporter {
                kind: ExporterKind::Otlp,
                endpoint: "http://localhost:4317".into(),
                protocol: Protocol::Grpc,
                headers: [("authorization".to_owned(), "Bearer t0k".to_owned())].into(),
                timeout: Duration::from_secs(10),
                gzip: false,
                tls: Tls::default(),
            },
            resource_attributes: [
                ("environment".to_owned(), "development".to_owned()),
                ("service.instance.id".to_owned(), "localhost".to_owned()),
            ]
            .into(),
            propagators: vec![Propagator::TraceContext, Propagator::Baggage],
            redaction: Default::default(),
        },
        agent: AgentSettings {
            hooks_only: false,
            floor: false,
            capture_only: false,
            targets: Targets {
                pids: vec![1234],
                ..Default::default()
            },
            services: vec![
                ServiceRule {
                    matcher: ProcessMatch::Pid(1234),
                    name: "checkout".into(),
                },
                ServiceRule {
                    matcher: ProcessMatch::Exe("python3*".into()),
                    name: "py".into(),
                },
            ],
            capture_bytes: 4096,
            ring_bytes: 1 << 20,
            console_format: ConsoleFormat::OtlpJson,
            export_queue: 1000,
            metrics_addr: Some("127.0.0.1:9464".parse().unwrap()),
            metrics_export_interval: Duration::from_secs(30),
            memory_limit: 512 << 20,
            idle_timeout: Duration::from_secs(90),
            disabled_kernel_features: vec![KernelFeature::BpfLoop],
            routes: super::routes::RouteSettings {
                patterns: vec![Pattern::parse("/orders/{id}").unwrap()],
                services: vec![(
                    "checkout".into(),
                    vec![Pattern::parse("/cart/{cart}/items").unwrap()],
                )],
                max_per_service: 200,
            },
            metric_series: 500,
        },
    };
    assert_eq!(s, want);
    // The docs' example file stays valid.
    let docs = include_str!("../../../docs/configuration.md");
    let example = docs
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a yaml example in docs/configuration.md");
    settings(Some(example), &[], &Overrides::default());
}

#[test]
fn compression_from_file_and_variables() {
    let gzip = |file: &str, env: &[(&str, &str)]| {
        settings(Some(file), env, &Overrides::default())
            .tracing
            .exporter
            .gzip
    };
    assert!(!gzip("tracing: {}", &[]), "no compression by default");
    assert!(gzip("tracing: { exporter: { compression: gzip } }", &[]));
    assert!(!gzip("tracing: { exporter: { compression: none } }", &[]));
    assert!(!gzip(
        "tracing: {}",
        &[("OTEL_EXPORTER_OTLP_COMPRESSION", "none")]
    ));
    // The traces variable wins over the general one.
    assert!(gzip(
        "tracing: { exporter: { compression: none } }",
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
        ]
    ));
    let p = problems(
        None,
        &[("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")],
        &Overrides::default(),
    );
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("OTEL_EXPORTER_OTLP_COMPRESSION") && p[0].contains("gzip or none"),
        "{p:?}"
    );
}
