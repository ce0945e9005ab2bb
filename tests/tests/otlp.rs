//! OpenTelemetry export end to end: the real agent sends OTLP (gRPC and
//! HTTP/protobuf) to receivers built on opentelemetry-proto's service
//! definitions and through a real third-party collector (rotel), configured
//! by a YAML file and the environment; traces link across three services;
//! a collector outage loses nothing within the bound and counts the rest.
use std::{
    process::Command,
    time::{Duration, Instant},
};

use swit_tests::{
    CLIENT, Client, ExportingAgent, Proc, SERVER, Service, SpanRec, agent_bin, of_kind,
    otlp_receiver::OtlpReceiver,
    rotel::{Forward, Rotel},
    summary_counter, wait_for, write_config,
};

const WAIT: Duration = Duration::from_secs(30);

fn pid_args(pids: &[u32]) -> Vec<String> {
    pids.iter()
        .flat_map(|p| ["--pid".to_string(), p.to_string()])
        .collect()
}

#[test]
fn a_config_file_sends_spans_over_otlp_grpc_with_its_headers_and_resource() {
    let rx = OtlpReceiver::start_grpc();
    let svc = Service::start(None);
    let mut client = Client::start(svc.port, &["GET:/hello", "GET:/status/500"]);
    let cfg = write_config(
        "grpc",
        &format!(
            r#"
tracing:
  enabled: true
  sampling: {{ type: always_on }}
  exporter:
    type: otlp
    endpoint: "{}"
    protocol: grpc
    headers: {{ authorization: "Bearer ${{SWIT_TEST_TOKEN}}" }}
    timeout: "5s"
  resource_attributes:
    environment: "${{SWIT_TEST_ENV:-ci}}"
agent:
  targets: {{ pids: [{}, {}] }}
  services:
    - {{ match: {{ pid: {} }}, name: "checkout" }}
"#,
            rx.endpoint(),
            svc.proc.pid(),
            client.proc.pid(),
            svc.proc.pid()
        ),
    );
    let agent = ExportingAgent::start(
        &["--config".into(), cfg.display().to_string()],
        &[("SWIT_TEST_TOKEN", "s3cret")],
    );
    client.go_and_wait();
    let spans = rx.wait_spans("four spans at the receiver", WAIT, |s| s.len() >= 4);
    let summary = agent.stop();
    assert_eq!(rx.spans().len(), 4, "{summary}");
    let servers = of_kind(&spans, svc.proc.pid(), SERVER);
    let clients = of_kind(&spans, client.proc.pid(), CLIENT);
    assert_eq!(servers.len(), 2);
    assert_eq!(clients.len(), 2);
    let svc_res = &servers[0].resource;
    assert_eq!(
        svc_res["service.name"], "checkout",
        "per-process mapping names the service"
    );
    assert_eq!(svc_res["environment"], "ci", "${{VAR:-default}} expanded");
    assert_eq!(svc_res["telemetry.distro.name"], "swit");
    assert_eq!(
        clients[0].resource["service.name"], "client",
        "script name for an interpreter"
    );
    assert_eq!(servers[1].status_code, 2, "500 is an error on the server");
    for (c, s) in clients.iter().zip(&servers) {
        assert_eq!(s.trace_id, c.trace_id);
        assert_eq!(s.parent_span_id, c.span_id);
    }
    let headers = rx.headers();
    assert!(
        headers.iter().all(|h| h
            .iter()
            .any(|(k, v)| k == "authorization" && v == "Bearer s3cret")),
        "{headers:?}"
    );
    assert_eq!(summary_counter(&summary, "delivered"), 4);
}

#[test]
fn env_variables_send_spans_over_otlp_http_protobuf() {
    let rx = OtlpReceiver::start_http();
    let svc = Service::start(None);
    let mut client = Client::start(svc.port, &["GET:/hello"]);
    // OTEL_* variables choose endpoint and protocol; the exporter type comes
    // from the command line.
    let base = rx.endpoint().trim_end_matches("/v1/traces").to_string();
    let mut args = pid_args(&[svc.proc.pid()]);
    args.extend(["--exporter".into(), "otlp".into()]);
    let agent = ExportingAgent::start(
        &args,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", base.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=blue"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=test",
            ),
        ],
    );
    client.go_and_wait();
    let spans = rx.wait_spans("the server span", WAIT, |s| !s.is_empty());
    agent.stop();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].attr_str("url.path"), Some("/hello"));
    assert_eq!(spans[0].resource["deployment.environment.name"], "test");
    let reqs = rx.requests();
    assert!(reqs.iter().all(|r| !r.gzip), "no compression by default");
    assert!(reqs.iter().all(|r| r.header("x-tenant") == Some("blue")));
}

#[test]
fn a_real_collector_accepts_the_agents_spans() {
    // swit -> rotel (a third-party OpenTelemetry collector from PyPI) -> receiver,
    // once per protocol.
    for (protocol, forward) in [("grpc", Forward::Http), ("http/protobuf", Forward::Grpc)] {
        let rx = match forward {
            Forward::Grpc => OtlpReceiver::start_grpc(),
            Forward::Http => OtlpReceiver::start_http(),
        };
        let rotel = Rotel::start(&format!("http://{}", rx.addr()), forward).expect("rotel");
        let endpoint = if protocol == "grpc" {
            rotel.grpc_endpoint()
        } else {
            rotel.http_endpoint()
        };
        let svc = Service::start(None);
        let mut client = Client::start(svc.port, &["GET:/hello", "POST:/echo:x"]);
        let mut args = pid_args(&[svc.proc.pid()]);
        args.extend(
            [
                "--exporter",
                "otlp",
                "--endpoint",
                &endpoint,
                "--protocol",
                protocol,
            ]
            .map(String::from),
        );
        let agent = ExportingAgent::start(&args, &[]);
        client.go_and_wait();
        let spans = rx.wait_spans("two spans through rotel", WAIT, |s| s.len() >= 2);
        let summary = agent.stop();
        assert_eq!(spans.len(), 2, "{protocol}: {summary}");
        assert_eq!(summary_counter(&summary, "rejected"), 0);
        let mut paths: Vec<&str> = spans
            .iter()
            .filter_map(|s| s.attr_str("url.path"))
            .collect();
        paths.sort();
        assert_eq!(paths, ["/echo", "/hello"], "{protocol}");
        assert!(
            spans
                .iter()
                .all(|s| s.resource["service.name"] == "service")
        );
        rotel.stop();
    }
}

#[test]
fn three_services_form_one_trace_per_request() {
    let c = Service::start(None);
    let b = Service::start(Some(c.port));
    let a = Service::start(Some(b.port));
    // A calls B's /call, which calls C's /hello.
    let mut client = Client::start(
        a.port,
        &[
            "GET:/call?path=/call%3Fpath%3D/hello",
            "GET:/call?path=/call%3Fpath%3D/status/404",
        ],
    );
    let rx = OtlpReceiver::start_grpc();
    let mut args = pid_args(&[a.proc.pid(), b.proc.pid(), c.proc.pid(), client.proc.pid()]);
    args.extend(["--exporter", "otlp", "--endpoint", &rx.endpoint()].map(String::from));
    let agent = ExportingAgent::start(&args, &[]);
    client.go_and_wait();
    let spans = rx.wait_spans("two traces of six spans", WAIT, |s| s.len() >= 12);
    agent.stop();
    assert_eq!(spans.len(), 12);
    let mut traces: Vec<&str> = spans.iter().map(|s| s.trace_id.as_str()).collect();
    traces.sort();
    traces.dedup();
    assert_eq!(traces.len(), 2, "one trace per client request");
    for t in traces {
        let tr: Vec<&SpanRec> = spans.iter().filter(|s| s.trace_id == t).collect();
        let find = |pid: u32, kind: i64| {
            *tr.iter()
                .find(|s| s.pid() == Some(pid as i64) && s.kind == kind)
                .unwrap_or_else(|| panic!("no kind {kind} of pid {pid} in {tr:?}"))
        };
        let chain = [
            find(client.proc.pid(), CLIENT),
            find(a.proc.pid(), SERVER),
            find(a.proc.pid(), CLIENT),
            find(b.proc.pid(), SERVER),
            find(b.proc.pid(), CLIENT),
            find(c.proc.pid(), SERVER),
        ];
        assert_eq!(chain[0].parent_span_id, "");
        // Within one process the order is the thread's own: the call ends
        // before the request it serves does.
        for (server, call) in [(chain[1], chain[2]), (chain[3], chain[4])] {
            assert!(call.end <= server.end, "{call:?} ends inside {server:?}");
        }
        for w in chain.windows(2) {
            assert_eq!(
                w[1].parent_span_id, w[0].span_id,
                "{} <- {}",
                w[1].name, w[0].name
            );
            // Causal: a server's read returns only after its client began
            // to write, and a call starts while its request is served.
            // (Ends are not compared across processes: a client's read may
            // return before the server's write syscall does.)
            assert!(
                w[0].start <= w[1].start,
                "{} starts before {}",
                w[0].name,
                w[1].name
            );
        }
    }
}

/// Runs `n` requests from a fresh traced client against `svc`.
fn requests(svc: &Service, n: usize) -> Proc {
    let reqs: Vec<String> = (0..n).map(|_| "GET:/hello".to_string()).collect();
    let r: Vec<&str> = reqs.iter().map(String::as_str).collect();
    let mut c = Client::start(svc.port, &r);
    c.go_and_wait();
    c.proc
}

#[test]
fn spans_made_while_the_collector_is_down_arrive_when_it_returns() {
    let mut rx = OtlpReceiver::start_grpc();
    let svc = Service::start(None);
    let mut args = pid_args(&[svc.proc.pid()]);
    args.extend(
        [
            "--exporter",
            "otlp",
            "--endpoint",
            &rx.endpoint(),
            "--service-name",
            "outage",
        ]
        .map(String::from),
    );
    let agent = ExportingAgent::start(&args, &[]);
    let _ = requests(&svc, 3);
    rx.wait_spans("the first spans", WAIT, |s| s.len() >= 3);

    rx.stop();
    let down = Instant::now();
    let _ = requests(&svc, 20);
    // The collector stays away for 10 s, as the issue describes; the spans
    // wait in the agent meanwhile.
    wait_for("10 s of outage", Duration::from_secs(15), || {
        (down.elapsed() >= Duration::from_secs(10)).then_some(())
    });
    rx.restart();
    let spans = rx.wait_spans("every span made during the outage", WAIT, |s| s.len() >= 23);
    let summary = agent.stop();
    assert_eq!(spans.len(), 23, "{summary}");
    assert_eq!(summary_counter(&summary, "retry_dropped"), 0);
    assert_eq!(summary_counter(&summary, "export_dropped"), 0);
    assert_eq!(summary_counter(&summary, "delivered"), 23);
}

#[test]
fn beyond_the_queue_bound_an_outage_drops_and_counts() {
    let mut rx = OtlpReceiver::start_grpc();
    let svc = Service::start(None);
    let cfg = write_config(
        "bound",
        &format!(
            "tracing:\n  enabled: true\n  sampling: {{ type: always_on }}\n  exporter: {{ type: otlp, endpoint: \"{}\" }}\nagent:\n  export: {{ queue_spans: 8 }}\n",
            rx.endpoint()
        ),
    );
    let mut args = vec!["--config".to_string(), cfg.display().to_string()];
    args.extend(pid_args(&[svc.proc.pid()]));
    let agent = ExportingAgent::start(&args, &[]);
    rx.stop();
    let _ = requests(&svc, 60);
    rx.restart();
    // Whatever the agent kept arrives; the rest must be counted.
    wait_for("the held spans to be delivered", WAIT, || {
        let s = rx.spans();
        (!s.is_empty()).then_some(())
    });
    let summary = agent.stop();
    let received = rx.spans().len() as u64;
    let dropped =
        summary_counter(&summary, "retry_dropped") + summary_counter(&summary, "export_dropped");
    assert!(received <= 16, "at most the bound survives: {received}");
    assert!(dropped > 0, "{summary}");
    assert_eq!(
        received + dropped,
        60,
        "every span is delivered or counted: {summary}"
    );
    assert!(
        summary.contains("WARN"),
        "the summary is a warning when spans were lost: {summary}"
    );
}

#[test]
fn an_old_jaeger_thrift_endpoint_is_refused_with_the_otlp_port() {
    let out = Command::new(agent_bin())
        .args([
            "run",
            "--pid",
            "1",
            "--exporter",
            "jaeger",
            "--endpoint",
            "http://localhost:14268/api/traces",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("4317") || err.contains("4318"), "{err}");
}
