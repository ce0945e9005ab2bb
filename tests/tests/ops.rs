//! Operating the agent: its own metrics on a Prometheus endpoint and as
//! OTLP metrics, /healthz, the readiness line, and tracing switched off and
//! on at run time (SIGUSR1, SIGHUP with `tracing.enabled`) without leaking
//! kernel objects.
use std::{process::Command, time::Duration};

use opentelemetry_proto::tonic::{
    collector::metrics::v1::ExportMetricsServiceRequest,
    common::v1::any_value,
    metrics::v1::{metric, number_data_point},
};
use swit_tests::{
    Client, ExportingAgent, Service, agent_bin,
    faults::BpfObjects,
    free_port,
    otlp_receiver::OtlpReceiver,
    require_root,
    scrape::{get, metrics},
    wait_for, write_config,
};

const WAIT: Duration = Duration::from_secs(30);

/// `n` GET /hello requests on one connection; returns when answered.
fn requests(port: u16, n: usize) {
    let reqs = vec!["GET:/hello"; n];
    let mut c = Client::start(port, &reqs);
    c.go_and_wait();
}

/// Waits until the metric `key` reaches `want` and returns every metric.
fn wait_metric(port: u16, key: &str, want: u64) -> std::collections::HashMap<String, u64> {
    wait_for(&format!("{key} == {want}"), WAIT, || {
        let m = metrics(port);
        (m.get(key) == Some(&want)).then_some(m)
    })
}

/// The value of counter or gauge `name` (label `label` when given) in an
/// OTLP metrics request.
fn otlp_value(
    req: &ExportMetricsServiceRequest,
    name: &str,
    label: Option<(&str, &str)>,
) -> Option<i64> {
    let m = req
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .find(|m| m.name == name)?;
    let points = match m.data.as_ref()? {
        metric::Data::Sum(s) => &s.data_points,
        metric::Data::Gauge(g) => &g.data_points,
        _ => return None,
    };
    let p = points.iter().find(|p| match label {
        None => p.attributes.is_empty(),
        Some((k, v)) => p.attributes.iter().any(|a| {
            a.key == k
                && matches!(a.value.as_ref().and_then(|v| v.value.as_ref()),
                    Some(any_value::Value::StringValue(s)) if s == v)
        }),
    })?;
    match p.value {
        Some(number_data_point::Value::AsInt(i)) => Some(i),
        _ => None,
    }
}

fn service_name(req: &ExportMetricsServiceRequest) -> Option<String> {
    req.resource_metrics[0]
        .resource
        .as_ref()?
        .attributes
        .iter()
        .find(|a| a.key == "service.name")
        .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

/// The agent tracing `svc`, exporting to `rx` (its protocol), serving
/// metrics on `port`, pushing OTLP metrics every 300 ms.
fn agent_for(svc: &Service, rx: &OtlpReceiver, port: u16) -> ExportingAgent {
    let protocol = if rx.endpoint().ends_with("/v1/traces") {
        "http/protobuf"
    } else {
        "grpc"
    };
    ExportingAgent::start(
        &[
            "--pid".into(),
            svc.proc.pid().to_string(),
            "--exporter".into(),
            "otlp".into(),
            "--endpoint".into(),
            rx.endpoint(),
            "--protocol".into(),
            protocol.into(),
            "--metrics-addr".into(),
            format!("127.0.0.1:{port}"),
        ],
        &[("OTEL_METRIC_EXPORT_INTERVAL", "300")],
    )
}

fn metrics_test(rx: OtlpReceiver) {
    let svc = Service::start(None);
    let port = free_port();
    let agent = agent_for(&svc, &rx, port);
    agent.wait_line("the readiness line", WAIT, |l| l == "swit-agent ready");
    assert_eq!(get(port, "/healthz"), Some((200, "ok\n".into())));
    let before = metrics(port);
    assert_eq!(before["swit_tracing_enabled"], 1);
    assert!(before["swit_probes_attached"] > 0, "{before:?}");
    assert!(before["swit_memory_rss_bytes"] > 1 << 20, "{before:?}");
    assert_eq!(before["swit_spans_total"], 0);

    requests(svc.port, 7);
    rx.wait_spans("7 spans", WAIT, |s| s.len() >= 7);
    let m = wait_metric(port, "swit_otlp_spans_delivered_total", 7);
    assert_eq!(m["swit_spans_total"], 7, "{m:?}");
    assert_eq!(m["swit_spans_exported_total"], 7, "{m:?}");
    assert!(m["swit_connections_total"] >= 1, "{m:?}");
    assert!(
        m["swit_events_total"] > before["swit_events_total"],
        "{m:?}"
    );
    assert_eq!(m["swit_parse_errors_total{protocol=\"http1\"}"], 0, "{m:?}");
    assert_eq!(
        m["swit_dropped_spans_total{reason=\"export_queue_full\"}"],
        0
    );
    assert_eq!(m["swit_dropped_events_total{reason=\"ringbuf_full\"}"], 0);
    assert_eq!(m["swit_export_queue_spans"], 0);
    assert_eq!(m["swit_traced_processes"], 1);

    // The same counters as OTLP metrics, from the agent's own resource.
    let req = wait_for("OTLP metrics with 7 exported spans", WAIT, || {
        rx.metrics()
            .into_iter()
            .rev()
            .find(|r| otlp_value(r, "swit_spans_exported", None) == Some(7))
    });
    assert_eq!(service_name(&req).as_deref(), Some("swit-agent"));
    assert_eq!(otlp_value(&req, "swit_tracing_enabled", None), Some(1));
    assert_eq!(
        otlp_value(&req, "swit_parse_errors", Some(("protocol", "redis"))),
        Some(0)
    );
    // The metrics requests are not spans.
    assert_eq!(rx.spans().len(), 7);

    assert_eq!(get(port, "/nope").map(|r| r.0), Some(404));
    agent.stop();
    assert!(
        get(port, "/healthz").is_none(),
        "the endpoint closes at exit"
    );
}

#[test]
fn metrics_endpoint_and_otlp_grpc_metrics_count_a_traced_server() {
    require_root();
    metrics_test(OtlpReceiver::start_grpc());
}

#[test]
fn otlp_http_metrics_go_to_v1_metrics() {
    require_root();
    metrics_test(OtlpReceiver::start_http());
}

/// Switches tracing off and on `cycles` times with `toggle`, checking that
/// no span is made while off, spans come back when on, the agent's kernel
/// objects return to the same count, and the metrics and /healthz say so.
fn toggle_test(
    agent: &ExportingAgent,
    rx: &OtlpReceiver,
    svc: &Service,
    port: u16,
    toggle: &dyn Fn(bool),
    why: &str,
) {
    agent.wait_line("the readiness line", WAIT, |l| l == "swit-agent ready");
    let mut held = BpfObjects::held_by(agent.pid());
    assert!(!held.progs.is_empty() && !held.links.is_empty(), "{held:?}");
    let sizes = |o: &BpfObjects| (o.progs.len(), o.maps.len(), o.links.len());
    let attached = sizes(&held);
    requests(svc.port, 2);
    let mut spans = 2;
    rx.wait_spans("the first spans", WAIT, |s| s.len() == spans);
    for cycle in 1..=3 {
        toggle(false);
        wait_for("tracing off", WAIT, || {
            (agent.count_lines(|l| l.contains(&format!("tracing switched off ({why}"))) == cycle)
                .then_some(())
        });
        let now = BpfObjects::held_by(agent.pid());
        assert!(now.is_empty(), "cycle {cycle}: the agent holds {now:?}");
        // The kernel frees them a little after their last descriptor.
        wait_for("the session's BPF objects to be freed", WAIT, || {
            held.still_loaded().is_empty().then_some(())
        });
        wait_metric(port, "swit_tracing_enabled", 0);
        assert_eq!(get(port, "/healthz").map(|r| r.0), Some(503));
        // Served while off: never seen.
        requests(svc.port, 3);

        toggle(true);
        wait_for("tracing on", WAIT, || {
            (agent.count_lines(|l| l == "swit-agent ready") == cycle + 1).then_some(())
        });
        held = BpfObjects::held_by(agent.pid());
        assert_eq!(
            sizes(&held),
            attached,
            "cycle {cycle}: as many kernel objects"
        );
        wait_metric(port, "swit_tracing_enabled", 1);
        assert_eq!(get(port, "/healthz"), Some((200, "ok\n".into())));
        requests(svc.port, 2);
        spans += 2;
        rx.wait_spans("spans after switching on", WAIT, |s| s.len() >= spans);
        let m = wait_metric(port, "swit_spans_exported_total", spans as u64);
        assert_eq!(
            m["swit_spans_total"], spans as u64,
            "nothing made while off"
        );
    }
    assert_eq!(rx.spans().len(), spans, "nothing exported while off");
}

#[test]
fn sigusr1_switches_tracing_off_and_on_without_leaks() {
    require_root();
    let rx = OtlpReceiver::start_grpc();
    let svc = Service::start(None);
    let port = free_port();
    let agent = agent_for(&svc, &rx, port);
    toggle_test(
        &agent,
        &rx,
        &svc,
        port,
        &|_| agent.signal(libc::SIGUSR1),
        "SIGUSR1",
    );
    let summary = agent.stop();
    assert!(summary.contains("spans=8 exported=8"), "{summary}");
}

#[test]
fn sighup_honours_tracing_enabled() {
    require_root();
    let rx = OtlpReceiver::start_grpc();
    let svc = Service::start(None);
    let port = free_port();
    let text = |enabled: bool| {
        format!(
            "tracing:\n  enabled: {enabled}\n  sampling: {{ type: always_on }}\n  exporter: {{ type: otlp, endpoint: \"{}\" }}\nagent:\n  targets: {{ pids: [{}] }}\n  metrics_addr: \"127.0.0.1:{port}\"\n",
            rx.endpoint(),
            svc.proc.pid()
        )
    };
    let cfg = write_config("ops-hup", &text(true));
    let agent = ExportingAgent::start(&["--config".into(), cfg.display().to_string()], &[]);
    toggle_test(
        &agent,
        &rx,
        &svc,
        port,
        &|on| {
            std::fs::write(&cfg, text(on)).expect("rewrite the configuration");
            agent.signal(libc::SIGHUP);
        },
        "SIGHUP",
    );
    // A key SIGHUP does not apply is named, and keeps its running value:
    // with always_off in the file, spans still come.
    std::fs::write(&cfg, text(true).replace("always_on", "always_off")).expect("rewrite");
    agent.signal(libc::SIGHUP);
    agent.wait_line("the restart warning", WAIT, |l| {
        l.contains("SIGHUP: tracing.sampling changed in the file;")
    });
    requests(svc.port, 2);
    rx.wait_spans("spans under the running sampler", WAIT, |s| s.len() >= 10);
    agent.stop();
}

#[test]
fn a_bad_metrics_address_or_a_port_in_use_is_one_line_and_exit_2() {
    require_root();
    let svc = Service::start(None);
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = busy.local_addr().unwrap().to_string();
    for (addr, want) in [
        (
            "localhost",
            "agent.metrics_addr: \"localhost\" is not ADDR:PORT",
        ),
        (busy.as_str(), "cannot listen"),
    ] {
        let out = Command::new(agent_bin())
            .args([
                "run",
                "--pid",
                &svc.proc.pid().to_string(),
                "--metrics-addr",
                addr,
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{addr}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{addr}: {stderr}");
        assert!(
            stderr.starts_with("swit-agent: ") && stderr.contains(want),
            "{addr}: {stderr}"
        );
    }
}
