//! Tests of otlp/mod.rs: the sink against the in-process receivers of
//! the end-to-end test crate (gRPC and HTTP), on 127.0.0.1 free ports.
//! Time is driven through `tick(now)` with made-up clock values; no test
//! sleeps.
use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use swit_tests::otlp_receiver::{OtlpReceiver, Reply};

use super::*;
use crate::trace::span::{AttrValue, Resource, SpanId, SpanKind, StatusCode, TraceId};

const SEC: u64 = 1_000_000_000;
/// A clock value far from 0, like a real one.
const T0: u64 = 1_700_000_000 * SEC;

fn resource(name: &str, pid: i64) -> Arc<Resource> {
    Arc::new(Resource {
        service_name: name.to_string(),
        attributes: vec![
            ("service.name".into(), name.into()),
            ("process.pid".into(), AttrValue::Int(pid)),
        ],
    })
}

fn span(r: &Arc<Resource>, id: u16) -> Span {
    let [hi, lo] = id.to_be_bytes();
    Span {
        trace_id: TraceId([0xab; 16]),
        span_id: SpanId([0, 0, 0, 0, 0, 0, hi, lo]),
        parent_span_id: None,
        flags: 1,
        trace_state: String::new(),
        name: "GET /x".into(),
        kind: SpanKind::Server,
        start_unix_ns: T0,
        end_unix_ns: T0 + 1000,
        attributes: vec![
            ("http.request.method".into(), "GET".into()),
            ("http.response.status_code".into(), AttrValue::Int(200)),
        ],
        status: StatusCode::Unset,
        status_message: String::new(),
        resource: r.clone(),
    }
}

fn spans(ids: std::ops::Range<u16>) -> Vec<Span> {
    let r = resource("svc", 42);
    ids.map(|i| span(&r, i)).collect()
}

fn start(protocol: OtlpProtocol) -> OtlpReceiver {
    match protocol {
        OtlpProtocol::Grpc => OtlpReceiver::start_grpc(),
        OtlpProtocol::HttpProtobuf => OtlpReceiver::start_http(),
    }
}

fn options(rx: &OtlpReceiver, protocol: OtlpProtocol) -> OtlpOptions {
    OtlpOptions {
        endpoint: rx.endpoint(),
        protocol,
        headers: vec![("X-Tenant".into(), "team-a".to_string())],
        timeout: Duration::from_secs(5),
        ..OtlpOptions::default()
    }
}

fn sink(rx: &OtlpReceiver, protocol: OtlpProtocol) -> OtlpSink {
    let mut s = OtlpSink::new(options(rx, protocol)).expect("sink");
    s.tick(T0).unwrap();
    s
}

const BOTH: [OtlpProtocol; 2] = [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf];

fn load(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Span ids (low 16 bits) the receiver accepted, in arrival order.
fn received_ids(rx: &OtlpReceiver) -> Vec<u16> {
    rx.spans()
        .iter()
        .map(|s| u16::from_str_radix(&s.span_id[12..], 16).unwrap())
        .collect()
}

#[test]
fn delivers_spans_with_resources_attributes_headers_and_gzip() {
    for protocol in BOTH {
        let rx = start(protocol);
        let mut sink = OtlpSink::new(OtlpOptions {
            gzip: true,
            ..options(&rx, protocol)
        })
        .unwrap();
        sink.tick(T0).unwrap();
        let (a, b) = (resource("frontend", 10), resource("backend", 20));
        sink.export(&mut vec![span(&a, 1), span(&b, 2), span(&a, 3)])
            .unwrap();

        let reqs = rx.requests();
        assert_eq!(reqs.len(), 1, "{protocol:?}: one request for all services");
        let req = &reqs[0];
        assert_eq!(req.request.resource_spans.len(), 2, "{protocol:?}");
        assert!(req.gzip, "{protocol:?}: gzip when asked");
        assert_eq!(req.header("x-tenant"), Some("team-a"), "{protocol:?}");
        assert!(req.header("user-agent").unwrap().contains("swit-agent"));
        if protocol == OtlpProtocol::HttpProtobuf {
            assert_eq!(req.header("content-type"), Some("application/x-protobuf"));
            assert_eq!(req.header("content-encoding"), Some("gzip"));
        }

        let got = rx.spans();
        assert_eq!(got.len(), 3);
        let s = &got[0];
        assert_eq!(s.trace_id, "ab".repeat(16));
        assert_eq!(s.span_id, "0000000000000001");
        assert_eq!(s.parent_span_id, "");
        assert_eq!(s.kind, 2);
        assert_eq!((s.start, s.end), (T0, T0 + 1000));
        assert_eq!(s.attr_str("http.request.method"), Some("GET"));
        assert_eq!(s.attr_int("http.response.status_code"), Some(200));
        let by_service: Vec<(&str, i64)> = got
            .iter()
            .map(|s| {
                (
                    s.resource["service.name"].as_str().unwrap(),
                    s.pid().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            by_service,
            vec![("frontend", 10), ("frontend", 10), ("backend", 20)]
        );
        let c = sink.counters();
        assert_eq!(load(&c.delivered), 3);
        assert_eq!(load(&c.held), 0);
    }
}

#[test]
fn no_compression_by_default() {
    for protocol in BOTH {
        let rx = start(protocol);
        let mut sink = OtlpSink::new(options(&rx, protocol)).unwrap();
        sink.export(&mut spans(1..3)).unwrap();
        let req = &rx.requests()[0];
        assert!(!req.gzip, "{protocol:?}");
        assert_eq!(req.header("content-encoding"), None);
        assert_eq!(rx.spans().len(), 2);
    }
}

#[test]
fn spans_held_while_the_collector_is_down_arrive_when_it_is_back() {
    for protocol in BOTH {
        let mut rx = start(protocol);
        let mut sink = sink(&rx, protocol);
        let c = sink.counters();
        sink.export(&mut spans(1..3)).unwrap();
        rx.stop();

        sink.export(&mut spans(3..5)).unwrap();
        assert_eq!(sink.held(), 2, "{protocol:?}");
        // While spans wait, new batches queue behind them without a request.
        sink.export(&mut spans(5..6)).unwrap();
        assert_eq!(load(&c.held), 3);
        assert_eq!(load(&c.retries), 0);

        // The first retry is due 500 ms after the failure.
        sink.tick(T0 + SEC / 10).unwrap();
        assert_eq!(
            load(&c.retries),
            0,
            "{protocol:?}: retried before the backoff"
        );
        sink.tick(T0 + SEC).unwrap();
        assert_eq!(load(&c.retries), 1, "{protocol:?}");
        assert_eq!(sink.held(), 3);
        // Failed again: the next wait is 1 s.
        sink.tick(T0 + SEC + SEC / 2).unwrap();
        assert_eq!(load(&c.retries), 1);

        rx.restart();
        sink.tick(T0 + 3 * SEC).unwrap();
        assert_eq!(sink.held(), 0, "{protocol:?}");
        assert_eq!(received_ids(&rx), vec![1, 2, 3, 4, 5], "{protocol:?}");
        assert_eq!(load(&c.delivered), 5);
        assert_eq!(load(&c.retry_dropped), 0);

        // Back to direct sends.
        sink.export(&mut spans(6..7)).unwrap();
        assert_eq!(received_ids(&rx).last(), Some(&6));
        sink.flush().unwrap();
    }
}

#[test]
fn retry_buffer_bound_drops_the_oldest_and_counts() {
    for protocol in BOTH {
        let mut rx = start(protocol);
        rx.stop();
        let mut sink = OtlpSink::new(OtlpOptions {
            retry_buffer_spans: 5,
            ..options(&rx, protocol)
        })
        .unwrap();
        sink.tick(T0).unwrap();
        let c = sink.counters();
        sink.export(&mut spans(1..4)).unwrap();
        sink.export(&mut spans(4..8)).unwrap();
        assert_eq!(load(&c.retry_dropped), 2, "{protocol:?}");
        assert_eq!(load(&c.held), 5);

        rx.restart();
        sink.tick(T0 + 10 * SEC).unwrap();
        assert_eq!(received_ids(&rx), vec![3, 4, 5, 6, 7], "{protocol:?}");
        assert_eq!(load(&c.delivered), 5);
    }
}

#[test]
fn retryable_replies_are_retried() {
    for protocol in BOTH {
        let rx = start(protocol);
        rx.set_reply(Reply::unavailable());
        let mut sink = sink(&rx, protocol);
        sink.export(&mut spans(1..3)).unwrap();
        assert_eq!(sink.held(), 2, "{protocol:?}");
        rx.set_reply(Reply::Accept);
        sink.tick(T0 + 10 * SEC).unwrap();
        assert_eq!(rx.request_count(), 2);
        assert_eq!(received_ids(&rx), vec![1, 2], "{protocol:?}");
    }
}

#[test]
fn bad_request_fails_and_is_not_retried() {
    for protocol in BOTH {
        let rx = start(protocol);
        rx.set_reply(Reply::bad_request());
        let mut sink = sink(&rx, protocol);
        let err = sink.export(&mut spans(1..4)).unwrap_err();
        assert!(err.to_string().contains("refused 3 spans"), "{err:#}");
        let c = sink.counters();
        assert_eq!(load(&c.failed), 3, "{protocol:?}");
        assert_eq!(sink.held(), 0);
        sink.tick(T0 + 100 * SEC).unwrap();
        sink.flush().unwrap();
        assert_eq!(rx.request_count(), 1, "{protocol:?}: retried a 400");
        assert_eq!(load(&c.delivered), 0);
    }
}

#[test]
fn partial_success_is_counted() {
    for protocol in BOTH {
        let rx = start(protocol);
        rx.set_reply(Reply::Partial {
            rejected: 2,
            message: "span too large".into(),
        });
        let mut sink = sink(&rx, protocol);
        sink.export(&mut spans(1..4)).unwrap();
        let c = sink.counters();
        assert_eq!(load(&c.rejected), 2, "{protocol:?}");
        assert_eq!(load(&c.delivered), 3);
    }
}

#[test]
fn flush_sends_what_is_held() {
    for protocol in BOTH {
        let mut rx = start(protocol);
        rx.stop();
        let mut sink = sink(&rx, protocol);
        sink.export(&mut spans(1..4)).unwrap();
        assert_eq!(sink.held(), 3);
        rx.restart();
        // No tick: shutdown comes before the backoff ends.
        sink.flush().unwrap();
        assert_eq!(received_ids(&rx), vec![1, 2, 3], "{protocol:?}");
        assert_eq!(load(&sink.counters().held), 0);
    }
}

#[test]
fn flush_with_the_collector_down_is_bounded_and_reports_the_loss() {
    for protocol in BOTH {
        let mut rx = start(protocol);
        rx.stop();
        let mut sink = OtlpSink::new(OtlpOptions {
            timeout: Duration::from_secs(1),
            ..options(&rx, protocol)
        })
        .unwrap();
        sink.export(&mut spans(1..4)).unwrap();
        let t = Instant::now();
        let err = sink.flush().unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        assert!(err.to_string().contains("3 spans"), "{err:#}");
        let c = sink.counters();
        assert_eq!(load(&c.retry_dropped), 3, "{protocol:?}");
        assert_eq!(load(&c.held), 0);
    }
}

#[test]
fn a_collector_that_never_answers_costs_one_timeout() {
    // Accepts connections (the kernel's backlog) but never reads: the
    // request must end at the timeout and be held for retry.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    for protocol in BOTH {
        let endpoint = match protocol {
            OtlpProtocol::Grpc => format!("http://{}", silent.local_addr().unwrap()),
            OtlpProtocol::HttpProtobuf => {
                format!("http://{}/v1/traces", silent.local_addr().unwrap())
            }
        };
        let mut sink = OtlpSink::new(OtlpOptions {
            endpoint,
            protocol,
            timeout: Duration::from_millis(300),
            ..OtlpOptions::default()
        })
        .unwrap();
        let t = Instant::now();
        sink.export(&mut spans(1..3)).unwrap();
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert_eq!(sink.held(), 2, "{protocol:?}");
    }
}

#[test]
fn endpoints() {
    use OtlpProtocol::*;
    for (endpoint, protocol, insecure, want) in [
        (
            "http://localhost:4317",
            Grpc,
            false,
            Ok("http://localhost:4317/"),
        ),
        (
            "https://collector:4317",
            Grpc,
            true,
            Ok("https://collector:4317/"),
        ),
        ("collector:4317", Grpc, false, Ok("https://collector:4317/")),
        ("collector:4317", Grpc, true, Ok("http://collector:4317/")),
        (
            " http://h:4318/v1/traces ",
            HttpProtobuf,
            false,
            Ok("http://h:4318/v1/traces"),
        ),
        ("h:4318/v1/traces", HttpProtobuf, true, Err("needs http://")),
        ("ftp://h:21", Grpc, false, Err("scheme must be")),
        ("http://", Grpc, false, Err("not a URL")),
        ("", Grpc, false, Err("not a URL")),
        ("http://[::1:4317", Grpc, false, Err("not a URL")),
    ] {
        let got = resolve_endpoint(endpoint, protocol, insecure).map(|u| u.to_string());
        match (got, want) {
            (Ok(u), Ok(w)) => assert_eq!(u, w, "{endpoint:?}"),
            (Err(e), Err(w)) => assert!(e.contains(w), "{endpoint:?}: {e}"),
            (got, want) => panic!("{endpoint:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn bad_options_are_refused_at_construction() {
    let missing = Some(std::path::PathBuf::from("/nonexistent/ca.pem"));
    let cases: Vec<(OtlpOptions, &str)> = vec![
        (
            OtlpOptions {
                endpoint: "nope://x".into(),
                ..OtlpOptions::default()
            },
            "OTLP endpoint",
        ),
        (
            OtlpOptions {
                headers: vec![("bad key".into(), "v".into())],
                ..OtlpOptions::default()
            },
            "OTLP header \"bad key\"",
        ),
        (
            OtlpOptions {
                protocol: OtlpProtocol::HttpProtobuf,
                endpoint: "https://h/v1/traces".into(),
                headers: vec![("x".into(), "a\nb".into())],
                ..OtlpOptions::default()
            },
            "OTLP header",
        ),
        (
            OtlpOptions {
                endpoint: "https://h:4317".into(),
                tls: OtlpTls {
                    ca_file: missing.clone(),
                    ..OtlpTls::default()
                },
                ..OtlpOptions::default()
            },
            "/nonexistent/ca.pem",
        ),
        (
            OtlpOptions {
                endpoint: "https://h:4317".into(),
                tls: OtlpTls {
                    cert_file: missing.clone(),
                    ..OtlpTls::default()
                },
                ..OtlpOptions::default()
            },
            "together",
        ),
    ];
    for (opts, want) in cases {
        let err = OtlpSink::new(opts.clone()).err().map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains(want)),
            "{opts:?}: {err:?}"
        );
    }
    // TLS files are not read for a plaintext endpoint.
    let plain = OtlpOptions {
        tls: OtlpTls {
            ca_file: missing,
            ..OtlpTls::default()
        },
        ..OtlpOptions::default()
    };
    assert!(OtlpSink::new(plain).is_ok());
}
