//! OTLP export over TLS end to end: the real agent sends spans to in-process
//! receivers that terminate TLS with certificates from a throwaway CA
//! (`tracing.exporter.tls` in a YAML file): gRPC trusting the private CA,
//! HTTP/protobuf with a client certificate (mutual TLS), and a server whose
//! CA the agent does not trust, which must get nothing.
use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use swit_tests::{
    CLIENT, Client, ExportingAgent, SERVER, Service, of_kind, otlp_receiver::OtlpReceiver,
    pki::TestPki, summary_counter, wait_for, write_config,
};

const WAIT: Duration = Duration::from_secs(30);

/// A config tracing `pids`, exporting to `endpoint` with `tls` (a YAML flow
/// mapping).
fn tls_config(name: &str, endpoint: &str, protocol: &str, tls: &str, pids: &[u32]) -> PathBuf {
    let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
    write_config(
        name,
        &format!(
            r#"
tracing:
  enabled: true
  sampling: {{ type: always_on }}
  exporter:
    type: otlp
    endpoint: "{endpoint}"
    protocol: {protocol}
    timeout: "5s"
    tls: {tls}
agent:
  targets: {{ pids: [{}] }}
"#,
            pids.join(", ")
        ),
    )
}

fn config_args(cfg: &Path) -> Vec<String> {
    vec!["--config".into(), cfg.display().to_string()]
}

/// One request from a traced client to a traced service, exported to `rx`
/// with `tls` (a YAML flow mapping); checks both spans arrive, linked, and
/// are counted delivered.
fn one_request_through(cfg_name: &str, rx: &OtlpReceiver, protocol: &str, tls: &str) {
    let svc = Service::start(None);
    let mut client = Client::start(svc.port, &["GET:/hello"]);
    let cfg = tls_config(
        cfg_name,
        &rx.endpoint(),
        protocol,
        tls,
        &[svc.proc.pid(), client.proc.pid()],
    );
    let agent = ExportingAgent::start(&config_args(&cfg), &[]);
    client.go_and_wait();
    let spans = rx.wait_spans("the server and client spans", WAIT, |s| s.len() >= 2);
    let summary = agent.stop();
    assert_eq!(rx.spans().len(), 2, "{summary}");
    let servers = of_kind(&spans, svc.proc.pid(), SERVER);
    let clients = of_kind(&spans, client.proc.pid(), CLIENT);
    assert_eq!(servers.len(), 1, "{spans:?}");
    assert_eq!(clients.len(), 1, "{spans:?}");
    assert_eq!(servers[0].attr_str("url.path"), Some("/hello"));
    assert_eq!(servers[0].trace_id, clients[0].trace_id);
    assert_eq!(servers[0].parent_span_id, clients[0].span_id);
    assert_eq!(summary_counter(&summary, "delivered"), 2, "{summary}");
    assert_eq!(summary_counter(&summary, "held"), 0, "{summary}");
    assert!(
        rx.handshake_errors().is_empty(),
        "{:?}",
        rx.handshake_errors()
    );
}

#[test]
fn otlp_grpc_over_tls_with_a_private_ca() {
    let pki = TestPki::generate();
    let rx = OtlpReceiver::start_grpc_tls(&pki, false);
    assert!(rx.endpoint().starts_with("https://"), "{}", rx.endpoint());
    one_request_through(
        "tls-grpc",
        &rx,
        "grpc",
        &format!("{{ ca_file: \"{}\" }}", pki.ca_file.display()),
    );
}

#[test]
fn otlp_http_over_mutual_tls() {
    let pki = TestPki::generate();
    let rx = OtlpReceiver::start_http_tls(&pki, true);
    assert!(rx.endpoint().starts_with("https://"), "{}", rx.endpoint());
    one_request_through(
        "tls-http-mtls",
        &rx,
        "http/protobuf",
        &format!(
            "{{ ca_file: \"{}\", cert_file: \"{}\", key_file: \"{}\" }}",
            pki.ca_file.display(),
            pki.client_cert.display(),
            pki.client_key.display()
        ),
    );
}

#[test]
fn a_server_certificate_from_an_unknown_ca_is_refused() {
    let pki = TestPki::generate();
    let rx = OtlpReceiver::start_grpc_tls(&pki, false);
    let svc = Service::start(None);
    let mut client = Client::start(svc.port, &["GET:/hello"]);
    // No ca_file: the system store, which does not hold the test CA.
    let cfg = tls_config(
        "tls-unknown-ca",
        &rx.endpoint(),
        "grpc",
        "{ ca_file: \"\" }",
        &[svc.proc.pid(), client.proc.pid()],
    );
    let agent = ExportingAgent::start(&config_args(&cfg), &[]);
    client.go_and_wait();
    let warning = agent.wait_line("the agent to log the refused certificate", WAIT, |l| {
        l.contains("invalid peer certificate")
    });
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains(&rx.endpoint()), "{warning}");
    assert!(warning.contains("UnknownIssuer"), "{warning}");
    // The receiver saw the handshake fail on the agent's alert.
    let errors = wait_for("the failed handshake at the receiver", WAIT, || {
        let e = rx.handshake_errors();
        (!e.is_empty()).then_some(e)
    });
    assert!(errors.iter().all(|e| e.contains("UnknownCA")), "{errors:?}");

    // The stop is still clean (exit 0): what could not be delivered is
    // counted, not fatal.
    let summary = agent.stop();
    assert_eq!(rx.request_count(), 0, "nothing got through");
    assert!(rx.spans().is_empty());
    assert_eq!(summary_counter(&summary, "delivered"), 0, "{summary}");
    let lost = summary_counter(&summary, "failed")
        + summary_counter(&summary, "retry_dropped")
        + summary_counter(&summary, "export_dropped")
        + summary_counter(&summary, "held");
    assert_eq!(lost, 2, "both spans are accounted as lost: {summary}");
    assert!(
        summary.contains("WARN"),
        "losses make the summary a warning: {summary}"
    );
}
