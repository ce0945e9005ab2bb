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
    Agent, CLIENT, Proc, SERVER, SpanRec, announced_port, assert_tls_plaintext_only, collect_lines,
    collect_lines_until_eof,
    grpc::{GoGrpcServer, go_build, grpcdemo},
    of_kind,
    pki::TestPki,
    require_tool, summary_line, wait_exit, wait_for,
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
    let (port, _) = announced_port(&mut server, WAIT);
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
    let out = collect_lines_until_eof(client.child.stdout.take().expect("stdout"));
    let agent = Agent::start(&[server.pid(), client.pid()], &[]);
    writeln!(client.child.stdin.take().expect("stdin"), "go").expect("start the client");
    let (st, lines) = wait_exit(&mut client, &out, WAIT);
    let proto = if h1 { "HTTP/1.1" } else { "HTTP/2.0" };
    assert!(st.success(), "{st}");
    assert_eq!(
        lines,
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
    let out = collect_lines_until_eof(client.child.stdout.take().expect("stdout"));
    let agent = Agent::start(&[server.proc.pid(), client.pid()], &[]);
    writeln!(client.child.stdin.take().expect("stdin"), "go").expect("start the client");
    let (st, lines) = wait_exit(&mut client, &out, WAIT);
    assert!(st.success(), "{st}: {lines:?}");
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

/// A connection closed by one goroutine while another is inside a
/// crypto/tls Write on it (Go's HTTP/2 server flushes and closes from
/// different goroutines): the Write returns after the close, and the bytes
/// it sent still belong to the response.
#[test]
fn a_write_that_returns_after_its_connection_closed_still_counts() {
    require_tool("curl");
    let pki = TestPki::generate();
    let mut server = Proc::spawn(
        "httpsdemo stall",
        Command::new(go_build("httpsdemo"))
            .args(["stall", "--addr", "127.0.0.1:0"])
            .arg(&pki.server_cert)
            .arg(&pki.server_key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    );
    let (port, lines) = announced_port(&mut server, WAIT);
    let agent = Agent::start(&[server.pid()], &[]);
    // A slow reader: the 64 MiB answer fills the socket buffers, so the
    // server's one Write is still in progress when the connection closes.
    let mut curl = Proc::spawn(
        "curl",
        Command::new("curl")
            .args(["-s", "--limit-rate", "16K", "-o", "/dev/null", "-D", "-"])
            .arg("--cacert")
            .arg(&pki.ca_file)
            .arg(format!("https://127.0.0.1:{port}/big"))
            .stdout(Stdio::piped()),
    );
    let head = collect_lines(curl.child.stdout.take().expect("stdout"));
    wait_for("curl to read the response head", WAIT, || {
        let h = head.lock().unwrap();
        (h.len() > 1 && h.last()?.trim().is_empty()).then_some(())
    });
    assert!(
        head.lock().unwrap()[0].starts_with("HTTP/1.1 200"),
        "{:?}",
        head.lock().unwrap()
    );
    let mut stdin = server.child.stdin.take().expect("stdin");
    writeln!(stdin, "close").expect("ask the server to close");
    let wrote: u64 = wait_for("the server's Write to return", WAIT, || {
        lines.lock().unwrap().iter().find_map(|l| {
            let (n, _) = l.strip_prefix("wrote ")?.split_once(':')?;
            n.parse().ok()
        })
    });
    assert!(
        wrote > 0,
        "the Write returned no bytes: {:?}",
        lines.lock().unwrap()
    );
    let spid = server.pid();
    agent.wait_spans("the server span", WAIT, |s| {
        !of_kind(s, spid, SERVER).is_empty()
    });
    let stopped = agent.stop();
    let servers = of_kind(&stopped.spans, spid, SERVER);
    assert_eq!(servers.len(), 1, "{servers:?}");
    let s = &servers[0];
    assert_eq!(s.attr_str("url.path"), Some("/big"), "{s:?}");
    // The whole response came from the Write that returned after the
    // close: its head, and every byte it sent as the body.
    assert_eq!(s.attr_int("http.response.status_code"), Some(200), "{s:?}");
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n";
    assert_eq!(
        s.attr_int("http.response.body.size"),
        Some((wrote - head.len() as u64) as i64),
        "{s:?}"
    );
    assert_tls_plaintext_only(&summary_line(&stopped.stderr), 1);
    drop(stdin);
}
