//! Tests of config/mod.rs: every validation message, as the user reads it.
use super::{Overrides, tests::problems};

/// File text, environment, flags, and the expected lines (prefixes).
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Overrides,
    &'static [&'static str],
);

#[test]
fn every_validation_message() {
    let none = Overrides::default;
    let cases: Vec<Case> = vec![
        (
            "agent:\n  routes:\n    patterns: [\"orders/{id}\", \"/a/{}\"]\n    services: { shop: [\"/x/id{y}\"] }\n    max_per_service: 0\n  limits: { metric_series: 0 }\n",
            &[],
            none(),
            &[
                "agent.limits.metric_series: must be at least 1 (e.g. 2000)",
                "agent.routes.patterns[0]: \"orders/{id}\" must start with / (e.g. \"/orders/{id}\")",
                "agent.routes.patterns[1]: \"/a/{}\": \"{}\" is not a placeholder; name it with letters, digits or _ (e.g. {id})",
                "agent.routes.services.shop[0]: \"/x/id{y}\": a placeholder must be a whole segment, as in /orders/{id}, not \"id{y}\"",
                "agent.routes.max_per_service: must be at least 1 (e.g. 1000)",
            ],
        ),
        (
            "agent: { metrics_addr: \"localhost\" }",
            &[],
            none(),
            &[
                "agent.metrics_addr: \"localhost\" is not ADDR:PORT (e.g. 127.0.0.1:9464 or [::1]:9464)",
            ],
        ),
        (
            "",
            &[],
            Overrides {
                metrics_addr: Some("9464".into()),
                ..Overrides::default()
            },
            &[
                "agent.metrics_addr: \"9464\" is not ADDR:PORT (e.g. 127.0.0.1:9464 or [::1]:9464) (from --metrics-addr)",
            ],
        ),
        (
            "",
            &[("OTEL_METRIC_EXPORT_INTERVAL", "soon")],
            none(),
            &["OTEL_METRIC_EXPORT_INTERVAL: \"soon\" is not a number of milliseconds"],
        ),
        (
            "",
            &[("OTEL_METRIC_EXPORT_INTERVAL", "50")],
            none(),
            &[
                "agent.metrics_export_interval: \"50ms\" is not a duration of at least 100ms (e.g. \"15s\") (from OTEL_METRIC_EXPORT_INTERVAL)",
            ],
        ),
        (
            "agent: { capture: { disable_kernel_features: [bpf_loop, kprobes] } }",
            &[],
            none(),
            &[
                "agent.capture.disable_kernel_features: unknown kernel feature \"kprobes\" (expected bpf_loop)",
            ],
        ),
        (
            "",
            &[],
            Overrides {
                disable_kernel_features: vec!["loop".into()],
                ..Overrides::default()
            },
            &[
                "agent.capture.disable_kernel_features: unknown kernel feature \"loop\" (expected bpf_loop) (from --disable-kernel-feature)",
            ],
        ),
        (
            "agent: { metrics_export_interval: \"0s\" }",
            &[],
            none(),
            &[
                "agent.metrics_export_interval: \"0s\" is not a duration of at least 100ms (e.g. \"15s\")",
            ],
        ),
        (
            "tracing: { sampling: { rate: 1.5 } }",
            &[],
            none(),
            &["tracing.sampling.rate: 1.5 is not between 0 and 1"],
        ),
        (
            "tracing: { sampling: { rate: -0.1 } }",
            &[],
            none(),
            &["tracing.sampling.rate: -0.1 is not between 0 and 1"],
        ),
        (
            "",
            &[("OTEL_TRACES_SAMPLER_ARG", "2")],
            none(),
            &["tracing.sampling.rate: 2 is not between 0 and 1 (from OTEL_TRACES_SAMPLER_ARG)"],
        ),
        (
            "",
            &[("OTEL_TRACES_SAMPLER_ARG", "half")],
            none(),
            &["OTEL_TRACES_SAMPLER_ARG: \"half\" is not a number between 0 and 1"],
        ),
        (
            "tracing: { exporter: { type: zipkin } }",
            &[],
            none(),
            &[
                "tracing.exporter.type: unknown exporter \"zipkin\" (expected otlp, jaeger or console)",
            ],
        ),
        (
            "",
            &[("OTEL_TRACES_EXPORTER", "none")],
            none(),
            &[
                "tracing.exporter.type: unknown exporter \"none\" (expected otlp, jaeger or console) (from OTEL_TRACES_EXPORTER)",
            ],
        ),
        (
            "",
            &[],
            Overrides {
                exporter: Some("zipkin".into()),
                ..none()
            },
            &[
                "tracing.exporter.type: unknown exporter \"zipkin\" (expected otlp, jaeger or console) (from --exporter)",
            ],
        ),
        (
            "tracing: { exporter: { protocol: http/json } }",
            &[],
            none(),
            &[
                "tracing.exporter.protocol: unknown protocol \"http/json\" (expected grpc or http/protobuf)",
            ],
        ),
        (
            "tracing: { sampling: { type: sometimes } }",
            &[],
            none(),
            &[
                "tracing.sampling.type: unknown sampler \"sometimes\" (expected always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio)",
            ],
        ),
        (
            "tracing: { propagators: [tracecontext, xray] }",
            &[],
            none(),
            &[
                "tracing.propagators[1]: unknown propagator \"xray\" (expected tracecontext, baggage, b3, b3multi or jaeger)",
            ],
        ),
        (
            "tracing: { exporter: { timeout: 10x } }",
            &[],
            none(),
            &["tracing.exporter.timeout: \"10x\" is not a duration (e.g. \"10s\", \"500ms\")"],
        ),
        (
            "tracing: { exporter: { timeout: -1s } }",
            &[],
            none(),
            &["tracing.exporter.timeout: \"-1s\" is not a duration (e.g. \"10s\", \"500ms\")"],
        ),
        (
            "tracing: { exporter: { timeout: 0s } }",
            &[],
            none(),
            &["tracing.exporter.timeout: \"0s\" must be more than 0"],
        ),
        (
            "tracing: { exporter: { endpoint: \"localhost:4317\" } }",
            &[],
            none(),
            &[
                "tracing.exporter.endpoint: \"localhost:4317\" is not a URL (expected http:// or https:// and a host, e.g. \"http://localhost:4317\")",
            ],
        ),
        (
            "",
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector")],
            none(),
            &[
                "tracing.exporter.endpoint: \"collector\" is not a URL (expected http:// or https:// and a host, e.g. \"http://localhost:4317\") (from OTEL_EXPORTER_OTLP_ENDPOINT)",
            ],
        ),
        (
            "tracing: { exporter: { type: jaeger, endpoint: \"http://jaeger:14268/api/traces\" } }",
            &[],
            none(),
            &[
                "tracing.exporter.endpoint: \"http://jaeger:14268/api/traces\" is Jaeger's old Thrift/model endpoint; Jaeger takes OTLP: use \"http://jaeger:4317\" (grpc) or \"http://jaeger:4318\" (http/protobuf)",
            ],
        ),
        (
            "tracing: { exporter: { endpoint: \"http://jaeger/api/traces\" } }",
            &[],
            none(),
            &["tracing.exporter.endpoint: \"http://jaeger/api/traces\" is Jaeger's old Thrift"],
        ),
        (
            "tracing: { exporter: { tls: { ca_file: /nonexistent/ca.pem, cert_file: \"\", key_file: \"\" } } }",
            &[],
            none(),
            &["tracing.exporter.tls.ca_file: cannot read \"/nonexistent/ca.pem\": "],
        ),
        (
            "tracing: { exporter: { tls: { cert_file: /nonexistent/c.pem, key_file: /nonexistent/k.pem } } }",
            &[],
            none(),
            &[
                "tracing.exporter.tls.cert_file: cannot read \"/nonexistent/c.pem\": ",
                "tracing.exporter.tls.key_file: cannot read \"/nonexistent/k.pem\": ",
            ],
        ),
        (
            "tracing: { service_name: \"\" }",
            &[],
            none(),
            &["tracing.service_name: must not be empty"],
        ),
        (
            "agent: { capture: { bytes: 20000 } }",
            &[],
            none(),
            &["agent.capture.bytes: 20000 is more than 16384"],
        ),
        (
            "",
            &[],
            Overrides {
                capture_bytes: Some(16385),
                ..none()
            },
            &["agent.capture.bytes: 16385 is more than 16384 (from --capture-bytes)"],
        ),
        (
            "agent: { capture: { ring_bytes: 100000 } }",
            &[],
            none(),
            &[
                "agent.capture.ring_bytes: 100000 is not a power of two between 65536 (64 KiB) and 1073741824 (1 GiB)",
            ],
        ),
        (
            "agent: { capture: { ring_bytes: 32768 } }",
            &[],
            none(),
            &["agent.capture.ring_bytes: 32768 is not a power of two"],
        ),
        (
            "agent: { capture: { ring_bytes: 2147483648 } }",
            &[],
            none(),
            &["agent.capture.ring_bytes: 2147483648 is not a power of two"],
        ),
        (
            "agent: { export: { queue_spans: 0 } }",
            &[],
            none(),
            &["agent.export.queue_spans: must be at least 1"],
        ),
        (
            "agent: { console: { format: json } }",
            &[],
            none(),
            &["agent.console.format: unknown format \"json\" (expected pretty or otlp-json)"],
        ),
        (
            "agent: { services: [ { match: { pid: 1, exe: x }, name: a }, { match: {}, name: b }, { match: { exe: y }, name: \"\" } ] }",
            &[],
            none(),
            &[
                "agent.services[0].match: give exactly one of pid, exe or script",
                "agent.services[1].match: give exactly one of pid, exe or script",
                "agent.services[2].name: must not be empty",
            ],
        ),
        (
            "",
            &[("OTEL_RESOURCE_ATTRIBUTES", "a=1,oops")],
            none(),
            &["OTEL_RESOURCE_ATTRIBUTES: \"oops\" is not key=value"],
        ),
        (
            "",
            &[("OTEL_EXPORTER_OTLP_HEADERS", "=x")],
            none(),
            &["OTEL_EXPORTER_OTLP_HEADERS: \"=x\" has an empty key"],
        ),
        (
            "tracing:\n  exporter:\n    bogus: 1\n",
            &[],
            none(),
            &["tracing.exporter.bogus: unknown key"],
        ),
        // All problems at once, in one pass.
        (
            "tracing:\n  sampling: { rate: 1.5 }\n  exporter: { type: zipkin, timeout: 10x, endpoint: nope }\nagent: { capture: { bytes: 99999 } }\n",
            &[],
            none(),
            &[
                "tracing.sampling.rate: ",
                "tracing.exporter.type: ",
                "tracing.exporter.endpoint: ",
                "tracing.exporter.timeout: ",
                "agent.capture.bytes: ",
            ],
        ),
    ];
    for (text, env, cli, want) in cases {
        let got = problems(Some(text), env, &cli);
        assert_eq!(got.len(), want.len(), "{text:?} {env:?}: {got:#?}");
        for (g, w) in got.iter().zip(want.iter()) {
            assert!(g.starts_with(w), "{text:?}:\n got {g:?}\nwant {w:?}…");
        }
    }
}
