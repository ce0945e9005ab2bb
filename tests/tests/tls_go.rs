//! Go crypto/tls end to end: plaintext from uprobes on
//! crypto/tls.(*Conn).Read/Write (entry and every RET) in Go 1.19 binaries
//! built here, parsed like plaintext traffic: net/http over TLS (HTTP/2 by
//! ALPN, and HTTP/1.1) and grpc-go over TLS. Needs root and `cargo xtask
//! setup` (golang-1.19-go, golang-google-grpc-dev).
//!
//! As in tls.rs, each test checks that no ciphertext was parsed: the kernel
//! held the sockets' ciphertext back, every TLS connection was parsed from
//! plaintext, and nothing failed to parse or to be detected.
use std::{
    io::Write,
    process::{Command, Stdio},
    time::Duration,
};

use swit_tests::{
    Agent, CLIENT, Proc, SERVER, SpanRec, assert_tls_plaintext_only, collect_lines,
    grpc::{GoGrpcServer, go_build, grpcdemo},
    of_kind,
    pki::TestPki,
    summary_line, wait_for,
};

const WAIT: Duration = Duration::from_secs(60);

/// httpsdemo's server on a free port, serving TLS with the test PKI.
fn https_server(pki: &TestPki) -> (Proc, u16) {
    let mut server = Proc::spawn(
        "httpsdemo server",
        Command::new(go_build("httpsdemo"))
            .args(["server", "--addr", "127.0.0.1:0", "--tls"])
            .arg(&pki.server_cert)
            .arg(&pki.server_key)
            .stdout(Stdio::piped()),
    );
    let lines = collect_lines(server.child.stdout.take().expect("stdout"));
    let port = wait_for("httpsdemo to listen", WAIT, || {
        lines
            .lock()
            .unwrap()
            .iter()
            .find_map(|l| l.strip_prefix("listening ")?.parse().ok())
    });
    (server, port)
}

/// (method, path, status, protocol version) of each span.
fn summary(spans: &[SpanRec]) -> Vec<(String, String, i64, String)> {
    spans
        .iter()
        .map(|s| {
            let path = s
                .attr_str("url.path")
                .map(str::to_string)
                .or_else(|| {
                    s.attr_str("url.full")
                        .and_then(|u| u.split_once("://"))
                        .map(|(_, r)| r[r.find('/').unwrap_or(r.len())..].to_string())
                })
                .unwrap_or_default();
            (
                s.attr_str("http.request.method").unwrap_or("").to_string(),
                path,
                s.attr_int("http.response.status_code").unwrap_or(0),
                s.attr_str("network.protocol.version")
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect()
}

/// A Go https client and server, both traced: spans on both sides with the
/// plaintext's attributes, linked across the connection.
fn go_https(h1: bool) {
    let pki = TestPki::generate();
    let (server, port) = https_server(&pki);
    let base = format!("https://127.0.0.1:{port}");
    let mut cmd = Command::new(go_build("httpsdemo"));
    cmd.arg("client").arg("--ca").arg(&pki.ca_file);
    if h1 {
        cmd.arg("--h1");
    }
    cmd.args([
        format!("{base}/hello"),
        format!("{base}/hello"),
        format!("{base}/missing"),
    ]);
    // The client connects only once it reads a line: traced from its
    // first byte, handshake included.
    let mut client = Proc::spawn(
        "httpsdemo client",
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()),
    );
    let out = collect_lines(client.child.stdout.take().expect("stdout"));
    let agent = Agent::start(&[server.pid(), client.pid()], &[]);
    writeln!(client.child.stdin.take().expect("stdin"), "go").expect("start the client");
    let st = wait_for("the client to finish", WAIT, || {
        client.child.try_wait().ok().flatten()
    });
    let proto = if h1 { "HTTP/1.1" } else { "HTTP/2.0" };
    assert!(st.success(), "{st}");
    assert_eq!(
        *out.lock().unwrap(),
        [
            format!("200 {proto}"),
            format!("200 {proto}"),
            format!("404 {proto}")
        ]
    );
    let (spid, cpid) = (server.pid(), client.pid());
    agent.wait_spans("three spans on each side", WAIT, |s| {
        of_kind(s, spid, SERVER).len() >= 3 && of_kind(s, cpid, CLIENT).len() >= 3
    });
    let stopped = agent.stop();
    let spans = stopped.spans;
    let servers = of_kind(&spans, spid, SERVER);
    let clients = of_kind(&spans, cpid, CLIENT);
    assert_eq!(spans.len(), 6, "nothing parsed from ciphertext: {spans:?}");
    let v = if h1 { "1.1" } else { "2" };
    let want: Vec<(String, String, i64, String)> =
        [("/hello", 200), ("/hello", 200), ("/missing", 404)]
            .iter()
            .map(|(p, s)| ("GET".to_string(), p.to_string(), *s, v.to_string()))
            .collect();
    assert_eq!(summary(&servers), want, "server spans");
    assert_eq!(summary(&clients), want, "client spans");
    for s in &servers {
        assert_eq!(s.attr_str("url.scheme"), Some("https"), "{s:?}");
        assert_eq!(s.attr_int("server.port"), Some(port as i64), "{s:?}");
    }
    assert_eq!(
        clients[0].attr_str("url.full"),
        Some(format!("{base}/hello").as_str())
    );
    for (c, s) in clients.iter().zip(&servers) {
        // The plaintext carries its socket's addresses: both ends link.
        assert_eq!(c.attr_int("network.peer.port"), Some(port as i64));
        assert_eq!(s.trace_id, c.trace_id, "{c:?} {s:?}");
        assert_eq!(s.parent_span_id, c.span_id);
    }
    assert_tls_plaintext_only(&summary_line(&stopped.stderr), 2);
}

#[test]
fn go_https_over_http2_is_traced_on_both_sides() {
    go_https(false);
}

#[test]
fn go_https_over_http1_is_traced_on_both_sides() {
    go_https(true);
}

#[test]
fn go_grpc_over_tls_gives_rpc_spans() {
    let pki = TestPki::generate();
    let server = GoGrpcServer::start_tls(&pki.server_cert, &pki.server_key);
    let calls = [
        "check:",
        "check:down",
        "check:unknownsvc",
        "watch:",
        "check:",
    ];
    // A traced sh that execs the client (same PID) once it reads a line:
    // the connection, handshake included, is made under the agent. The
    // binary is the server's, so its crypto/tls is hooked already.
    let mut client = Proc::spawn(
        "grpcdemo client",
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "read go; exec {} client --addr 127.0.0.1:{} --tls-ca {} {}",
                grpcdemo().display(),
                server.port,
                pki.ca_file.display(),
                calls.join(" ")
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    );
    let out = collect_lines(client.child.stdout.take().expect("stdout"));
    let agent = Agent::start(&[server.proc.pid(), client.pid()], &[]);
    writeln!(client.child.stdin.take().expect("stdin"), "go").expect("start the client");
    let st = wait_for("the client to finish", WAIT, || {
        client.child.try_wait().ok().flatten()
    });
    assert!(st.success(), "{st}: {:?}", out.lock().unwrap());
    let n = calls.len();
    let (spid, cpid) = (server.proc.pid(), client.pid());
    let grpc = |s: &[SpanRec], pid, kind| -> Vec<SpanRec> {
        of_kind(s, pid, kind)
            .into_iter()
            .filter(|s| s.attr_str("rpc.system") == Some("grpc"))
            .collect()
    };
    agent.wait_spans("a client and a server span per call", WAIT, |s| {
        grpc(s, spid, SERVER).len() >= n && grpc(s, cpid, CLIENT).len() >= n
    });
    let stopped = agent.stop();
    let spans = stopped.spans;
    let clients = grpc(&spans, cpid, CLIENT);
    let servers = grpc(&spans, spid, SERVER);
    let check = "grpc.health.v1.Health/Check";
    let want = [check, check, check, "grpc.health.v1.Health/Watch", check];
    let names = |v: &[SpanRec]| v.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&clients), want);
    assert_eq!(names(&servers), want);
    let codes = |v: &[SpanRec]| {
        v.iter()
            .map(|s| s.attr_int("rpc.grpc.status_code"))
            .collect::<Vec<_>>()
    };
    // The Watch is cancelled by the client after its first message.
    assert_eq!(
        codes(&clients),
        [Some(0), Some(0), Some(5), Some(1), Some(0)]
    );
    assert_eq!(codes(&servers)[..3], [Some(0), Some(0), Some(5)]);
    for (c, s) in clients.iter().zip(&servers) {
        assert_eq!(s.parent_span_id, c.span_id);
    }
    assert_tls_plaintext_only(&summary_line(&stopped.stderr), 2);
}
