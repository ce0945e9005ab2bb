//! Request metrics (RED) and `http.route`, end to end: a real server and
//! client traced by the real agent with a sampler that keeps nothing; the
//! duration histograms on /metrics and at the OTLP receiver count every
//! request sent, by service, route and status.
use std::{collections::HashMap, time::Duration};

use opentelemetry_proto::tonic::{
    collector::metrics::v1::ExportMetricsServiceRequest,
    common::v1::{KeyValue, any_value},
    metrics::v1::metric,
};
use swit_tests::{
    Client, ExportingAgent, Service, free_port,
    otlp_receiver::OtlpReceiver,
    require_root,
    scrape::{get, metrics},
    wait_for, write_config,
};

const WAIT: Duration = Duration::from_secs(30);

/// What the client sends, and the route and status each must be counted
/// under: words kept, ids folded by the heuristic, `/status/{code}` from
/// the configuration.
const SENT: &[(&str, &str, &str, u16)] = &[
    ("GET:/hello", "GET", "/hello", 200),
    ("GET:/hello", "GET", "/hello", 200),
    ("GET:/hello", "GET", "/hello", 200),
    ("POST:/echo", "POST", "/echo", 200),
    ("POST:/echo", "POST", "/echo", 200),
    ("GET:/orders/7", "GET", "/orders/{id}", 404),
    ("GET:/orders/8", "GET", "/orders/{id}", 404),
    (
        "GET:/orders/7ee4a646-1b2c-4d5e-8f90-0123456789ab",
        "GET",
        "/orders/{id}",
        404,
    ),
    ("GET:/status/404", "GET", "/status/{code}", 404),
    ("GET:/status/503", "GET", "/status/{code}", 503),
];

/// The Prometheus key of a server series' `_count`.
fn server_count_key(method: &str, route: &str, status: u16) -> String {
    let error = if status >= 500 {
        format!(",error_type=\"{status}\"")
    } else {
        String::new()
    };
    format!(
        "http_server_request_duration_seconds_count{{service_name=\"web\",http_request_method=\"{method}\",http_route=\"{route}\",http_response_status_code=\"{status}\"{error}}}"
    )
}

/// Expected counts per (method, route, status).
fn expected() -> HashMap<(String, String, u16), u64> {
    let mut want = HashMap::new();
    for (_, m, r, s) in SENT {
        *want.entry((m.to_string(), r.to_string(), *s)).or_default() += 1;
    }
    want
}

fn text<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
}

fn int(attrs: &[KeyValue], key: &str) -> Option<i64> {
    attrs
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
            any_value::Value::IntValue(i) => Some(*i),
            _ => None,
        })
}

/// `(method, route, status) -> count` of `metric` of `service` in one
/// OTLP request.
fn otlp_counts(
    req: &ExportMetricsServiceRequest,
    service: &str,
    metric_name: &str,
) -> HashMap<(String, String, u16), u64> {
    let mut out = HashMap::new();
    for rm in &req.resource_metrics {
        let attrs = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        if text(attrs, "service.name") != Some(service) {
            continue;
        }
        for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            let Some(metric::Data::Histogram(h)) = &m.data else {
                continue;
            };
            if m.name != metric_name {
                continue;
            }
            for p in &h.data_points {
                let a = &p.attributes;
                let key = (
                    text(a, "http.request.method").unwrap_or("").to_string(),
                    text(a, "http.route").unwrap_or("").to_string(),
                    int(a, "http.response.status_code").unwrap_or(0) as u16,
                );
                *out.entry(key).or_default() += p.count;
            }
        }
    }
    out
}

#[test]
fn every_request_is_counted_by_route_and_status_whatever_the_sampler_kept() {
    require_root();
    let rx = OtlpReceiver::start_grpc();
    let svc = Service::start(None);
    let reqs: Vec<&str> = SENT.iter().map(|(r, ..)| *r).collect();
    let mut client = Client::start(svc.port, &reqs);
    let (spid, cpid) = (svc.proc.pid(), client.proc.pid());
    let config = write_config(
        "request_metrics",
        &format!(
            "tracing:\n  enabled: true\n  sampling: {{ type: always_off }}\nagent:\n  targets: {{ pids: [{spid}, {cpid}] }}\n  services:\n    - {{ match: {{ pid: {spid} }}, name: web }}\n    - {{ match: {{ pid: {cpid} }}, name: loadgen }}\n  routes:\n    services: {{ web: [\"/status/{{code}}\"] }}\n"
        ),
    );
    let port = free_port();
    let agent = ExportingAgent::start(
        &[
            "--config".into(),
            config.display().to_string(),
            "--exporter".into(),
            "otlp".into(),
            "--endpoint".into(),
            rx.endpoint(),
            "--metrics-addr".into(),
            format!("127.0.0.1:{port}"),
        ],
        &[("OTEL_METRIC_EXPORT_INTERVAL", "300")],
    );
    agent.wait_line("the readiness line", WAIT, |l| l == "swit-agent ready");
    let answers = client.go_and_wait();
    assert!(answers.iter().any(|l| l.starts_with("503")), "{answers:?}");
    let n = SENT.len() as u64;

    // Both sides of every exchange were seen and dropped by the sampler.
    let m = wait_for("every exchange counted", WAIT, || {
        let m = metrics(port);
        (m.get("swit_unsampled_exchanges_total") == Some(&(2 * n))).then_some(m)
    });
    assert_eq!(m["swit_spans_total"], 0, "the sampler kept nothing");
    for ((method, route, status), count) in expected() {
        let key = server_count_key(&method, &route, status);
        assert_eq!(m.get(&key), Some(&count), "{key} in {m:#?}");
        let labels = key
            .strip_suffix('}')
            .unwrap()
            .replace("_count{", "_bucket{");
        let inf = format!("{labels},le=\"+Inf\"}}");
        assert_eq!(m.get(&inf), Some(&count), "{inf}");
    }
    let sum = |prefix: &str| -> u64 {
        m.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(
        sum("http_server_request_duration_seconds_count{"),
        n,
        "no other server series: {m:#?}"
    );
    assert_eq!(
        sum("http_client_request_duration_seconds_count{service_name=\"loadgen\""),
        n,
        "the client's side: {m:#?}"
    );
    assert_eq!(
        sum(
            "http_client_request_duration_seconds_count{service_name=\"loadgen\",http_request_method=\"GET\",http_response_status_code=\"404\",error_type=\"404\""
        ),
        4,
        "4xx are client errors: {m:#?}"
    );
    assert_eq!(m["swit_routes_folded_total"], 0);
    assert_eq!(m["swit_routes_tracked"], 4);
    let body = get(port, "/metrics").unwrap().1;
    assert!(body.contains("# TYPE http_server_request_duration_seconds histogram\n"));

    // The same figures at the collector, under the services' resources.
    let want = expected();
    let req = wait_for("OTLP histograms with every request", WAIT, || {
        rx.metrics().into_iter().rev().find(|r| {
            otlp_counts(r, "web", "http.server.request.duration")
                .values()
                .sum::<u64>()
                == n
        })
    });
    assert_eq!(
        otlp_counts(&req, "web", "http.server.request.duration"),
        want
    );
    let client_side = otlp_counts(&req, "loadgen", "http.client.request.duration");
    assert_eq!(client_side.values().sum::<u64>(), n, "{client_side:?}");
    assert!(rx.spans().is_empty(), "no span was sampled");
    agent.stop();
}
