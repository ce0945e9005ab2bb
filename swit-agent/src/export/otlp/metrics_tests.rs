//! Tests of metrics.rs: metrics reach a collector, and their URL.
use super::*;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use swit_tests::otlp_receiver::OtlpReceiver;

#[test]
fn metrics_reach_the_collector_and_a_stopped_one_is_an_outage() {
    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
        let mut rx = match protocol {
            OtlpProtocol::Grpc => OtlpReceiver::start_grpc(),
            OtlpProtocol::HttpProtobuf => OtlpReceiver::start_http(),
        };
        let opts = OtlpOptions {
            endpoint: rx.endpoint(),
            protocol,
            timeout: Duration::from_secs(5),
            ..OtlpOptions::default()
        };
        let mut client = MetricsClient::new(&opts).expect("client");
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics::default()],
        };
        client.send(req.clone(), Duration::from_secs(5)).unwrap();
        assert_eq!(rx.metrics(), vec![req.clone()], "{protocol:?}");
        assert_eq!(rx.request_count(), 0, "no trace request");
        rx.stop();
        let e = client.send(req, Duration::from_secs(5)).unwrap_err();
        assert!(e.retryable, "{protocol:?}: {}", e.detail);
    }
}

#[test]
fn metrics_url_beside_the_traces_url() {
    for (traces, want) in [
        ("http://c:4318/v1/traces", "http://c:4318/v1/metrics"),
        ("https://c/otlp/v1/traces", "https://c/otlp/v1/metrics"),
        ("http://c:4318/custom", "http://c:4318/v1/metrics"),
        ("http://c:4318", "http://c:4318/v1/metrics"),
    ] {
        let got = metrics_uri(&traces.parse().unwrap());
        assert_eq!(got.to_string(), want, "{traces}");
    }
}
