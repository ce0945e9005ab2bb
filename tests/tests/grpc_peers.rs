//! The HTTP/2 and gRPC peers themselves, without the agent and without
//! root: what the end-to-end tests built on them take for granted. Needs
//! `cargo xtask setup` (Go 1.19, grpc-go, nghttp2-client, nginx) and PyPI
//! for the grpcio venv on first use.
use std::process::Command;

use swit_tests::{
    NGINX_H2_API_BODY, NGINX_H2_ROOT_BODY, Nginx,
    grpc::{ClientOpts, GoGrpcServer, GrpcClient, PyGrpcServer, codes, tcp_connections},
    h2load::H2load,
    pki::TestPki,
    require_tool,
};

const PY_CALLS: &[&str] = &[
    "unary:alice",
    "unary:fail",
    "unary:boom",
    "unary:slow:0.3",
    "stream:3",
    "collect:4",
    "chat:2",
];
const PY_CODES: &[&str] = &[
    "ok",
    "NOT_FOUND",
    "INTERNAL",
    "DEADLINE_EXCEEDED",
    "ok",
    "ok",
    "ok",
];

#[test]
fn python_client_outcomes_and_replies() {
    let server = PyGrpcServer::start();
    let out = GrpcClient::run_python(server.port, PY_CALLS);
    assert_eq!(codes(&out), PY_CODES, "{out:?}");
    let calls: Vec<&str> = out.iter().map(|o| o.call.as_str()).collect();
    assert_eq!(calls, PY_CALLS);
    let details: Vec<&str> = out.iter().map(|o| o.detail.as_str()).collect();
    assert_eq!(details[0], "hello alice");
    assert_eq!(details[1], "no such greeting");
    // Messages counted by each side: replies streamed, requests collected,
    // echoes.
    assert_eq!(&details[4..], ["3", "4", "2"]);
}

#[test]
fn python_client_waits_then_repeats_on_one_connection() {
    let server = PyGrpcServer::start();
    let calls = ["unary:alice", "unary:fail", "stream:2"];
    let mut client = GrpcClient::start_python(
        server.port,
        &calls,
        &ClientOpts {
            wait_stdin: true,
            repeat_stdin: true,
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
            ..Default::default()
        },
    );
    // Connected, and nothing called yet.
    assert_eq!(tcp_connections(client.pid(), server.port), 1);
    assert_eq!(*client.lines.lock().unwrap(), ["ready"]);
    for _ in 0..2 {
        let out = client.go();
        assert_eq!(codes(&out), ["ok", "NOT_FOUND", "ok"], "{out:?}");
        assert_eq!(tcp_connections(client.pid(), server.port), 1);
    }
    assert!(
        client.finish().is_empty(),
        "EOF on stdin ends the client without another round"
    );
}

#[test]
fn go_client_outcomes_on_one_connection() {
    let server = GoGrpcServer::start();
    let calls = [
        "check:",
        "check:down",
        "check:unknownsvc",
        "check:slow:0.3",
        "watch:",
        "watch:down",
    ];
    let mut client = GrpcClient::start_go(
        server.port,
        &calls,
        &ClientOpts {
            wait_stdin: true,
            repeat_stdin: true,
            ..Default::default()
        },
    );
    assert_eq!(tcp_connections(client.pid(), server.port), 1);
    for _ in 0..2 {
        let out = client.go();
        assert_eq!(
            codes(&out),
            ["ok", "ok", "NOT_FOUND", "DEADLINE_EXCEEDED", "ok", "ok"],
            "{out:?}"
        );
        let details: Vec<&str> = out.iter().map(|o| o.detail.as_str()).collect();
        assert_eq!(details[0], "SERVING");
        assert_eq!(details[1], "NOT_SERVING");
        assert_eq!(details[2], "unknown service");
        assert_eq!(details[4..], ["SERVING", "NOT_SERVING"]);
        assert_eq!(tcp_connections(client.pid(), server.port), 1);
    }
    client.finish();
}

#[test]
fn go_client_over_tls() {
    let pki = TestPki::generate();
    let server = GoGrpcServer::start_tls(&pki.server_cert, &pki.server_key);
    let out = GrpcClient::start_go(
        server.port,
        &["check:", "check:unknownsvc", "watch:"],
        &ClientOpts {
            tls_ca: Some(pki.ca_file.clone()),
            ..Default::default()
        },
    )
    .finish();
    assert_eq!(codes(&out), ["ok", "NOT_FOUND", "ok"], "{out:?}");
}

#[test]
fn nginx_h2c_serves_100_concurrent_streams_on_one_connection() {
    let nginx = Nginx::start_h2();
    let url = format!("http://127.0.0.1:{}/api", nginx.h2());
    let stats = H2load::run(&["-n", "100", "-c", "1", "-m", "100", &url]);
    assert_eq!(stats.protocol.as_deref(), Some("h2c"), "{stats:?}");
    assert_eq!(
        (stats.total, stats.done, stats.succeeded, stats.status_2xx),
        (100, 100, 100, 100),
        "{stats:?}"
    );
    assert_eq!(stats.failed + stats.errored + stats.timeout, 0, "{stats:?}");

    require_tool("nghttp");
    for (path, body) in [("/", NGINX_H2_ROOT_BODY), ("/api", NGINX_H2_API_BODY)] {
        let out = Command::new("nghttp")
            .arg(format!("http://127.0.0.1:{}{path}", nginx.h2()))
            .output()
            .expect("run nghttp");
        assert!(out.status.success(), "nghttp {path}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), body, "{path}");
    }
    // nginx allows at least 128 concurrent streams (h2load would quietly
    // hold back to a lower limit).
    let out = Command::new("nghttp")
        .args(["-nv", &format!("http://127.0.0.1:{}/", nginx.h2())])
        .output()
        .expect("run nghttp -v");
    let verbose = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        server_max_concurrent_streams(&verbose),
        Some(256),
        "{verbose}"
    );
    // The HTTP/1 listener is still there.
    let out = Command::new("curl")
        .arg("-fsS")
        .arg(format!("http://127.0.0.1:{}/ok", nginx.port))
        .output()
        .expect("run curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok", "{out:?}");
}

#[test]
fn nginx_h2_over_tls() {
    let pki = TestPki::generate();
    let nginx = Nginx::start_h2_tls(&pki.server_cert, &pki.server_key);
    let url = format!("https://127.0.0.1:{}/api", nginx.h2());
    let stats = H2load::run(&["-n", "20", "-c", "2", "-m", "10", &url]);
    assert_eq!(stats.protocol.as_deref(), Some("h2"), "{stats:?}");
    assert_eq!((stats.succeeded, stats.status_2xx), (20, 20), "{stats:?}");
}

#[test]
fn h2load_counts_failures() {
    // Nothing listens there: every request fails, and the stats say so.
    let port = swit_tests::free_port();
    let stats = H2load::run(&["-n", "5", "-c", "1", &format!("http://127.0.0.1:{port}/")]);
    assert_eq!((stats.total, stats.succeeded, stats.failed), (5, 0, 5));
}

/// SETTINGS_MAX_CONCURRENT_STREAMS of the server's first SETTINGS frame,
/// from `nghttp -v`'s trace.
fn server_max_concurrent_streams(trace: &str) -> Option<u64> {
    let (_, after) = trace.split_once("recv SETTINGS frame")?;
    let frame = after.split("] recv ").next()?.split("] send ").next()?;
    frame
        .split_once("SETTINGS_MAX_CONCURRENT_STREAMS(0x03):")?
        .1
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}
