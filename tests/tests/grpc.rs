//! HTTP/2 and gRPC end to end: real grpcio (Python) and grpc-go servers
//! and clients, nginx with HTTP/2 driven by h2load, the real kernel and the
//! real agent. Needs root and `cargo xtask setup` (see tests/src/grpc.rs).
//!
//! gRPC spans follow the OpenTelemetry RPC conventions: named
//! `{rpc.service}/{rpc.method}`, with rpc.system=grpc, rpc.grpc.status_code
//! and error status by side (a client errs on every non-OK status, a server
//! only on UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE
//! and DATA_LOSS).
use std::{
    io::{Read, Write},
    process::{Child, Command, Stdio},
    time::Duration,
};

use swit_tests::{
    Agent, CLIENT, Nginx, Proc, SERVER, SpanRec, announced_port,
    grpc::{ClientOpts, GoGrpcServer, GrpcClient, PyGrpcServer, codes, go_build},
    h2load::H2loadStats,
    of_kind,
    pki::TestPki,
    require_tool, summary_counter, summary_line,
};

const WAIT: Duration = Duration::from_secs(60);

/// Name, status code, span status and message counts, per span: what a
/// failure shows and what the assertions compare.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rpc {
    name: String,
    code: Option<i64>,
    error: bool,
    sent: Option<i64>,
    received: Option<i64>,
}

fn rpc(s: &SpanRec) -> Rpc {
    Rpc {
        name: s.name.clone(),
        code: s.attr_int("rpc.grpc.status_code"),
        error: s.status_code == 2,
        sent: s.attr_int("swit.rpc.messages_sent"),
        received: s.attr_int("swit.rpc.messages_received"),
    }
}

fn r(name: &str, code: i64, error: bool, sent: i64, received: i64) -> Rpc {
    Rpc {
        name: name.into(),
        code: Some(code),
        error,
        sent: Some(sent),
        received: Some(received),
    }
}

/// The gRPC spans of `pid` of one kind, by start time.
fn rpcs(spans: &[SpanRec], pid: u32, kind: i64) -> Vec<SpanRec> {
    of_kind(spans, pid, kind)
        .into_iter()
        .filter(|s| s.attr_str("rpc.system") == Some("grpc"))
        .collect()
}

const PY_CALLS: &[&str] = &[
    "unary:alice",
    "unary:fail",
    "unary:boom",
    "unary:slow:0.3",
    "stream:3",
    "collect:4",
    "chat:2",
    // The same call again: its HEADERS are now dynamic-table references.
    "unary:alice",
];

#[test]
fn python_grpc_calls_become_client_and_server_spans() {
    let server = PyGrpcServer::start();
    let mut client = GrpcClient::start_python(
        server.port,
        PY_CALLS,
        &ClientOpts {
            wait_stdin: true,
            ..ClientOpts::default()
        },
    );
    let agent = Agent::start(&[server.proc.pid(), client.pid()], &[]);
    let out = client.go();
    assert_eq!(
        codes(&out),
        [
            "ok",
            "NOT_FOUND",
            "INTERNAL",
            "DEADLINE_EXCEEDED",
            "ok",
            "ok",
            "ok",
            "ok"
        ],
        "{out:?}"
    );
    let n = PY_CALLS.len();
    let (spid, cpid) = (server.proc.pid(), client.pid());
    let spans = agent.wait_spans("a client and a server span per call", WAIT, |s| {
        rpcs(s, spid, SERVER).len() >= n && rpcs(s, cpid, CLIENT).len() >= n
    });
    agent.stop();
    let servers = rpcs(&spans, spid, SERVER);
    let clients = rpcs(&spans, cpid, CLIENT);
    let say = "demo.Greeter/SayHello";
    // The deadline: the client's grpc-timeout ran out and it reset the
    // stream; the server never answered.
    let want_client = vec![
        r(say, 0, false, 1, 1),
        r(say, 5, true, 1, 0),
        r(say, 13, true, 1, 0),
        r(say, 4, true, 1, 0),
        r("demo.Greeter/ListGreetings", 0, false, 1, 3),
        r("demo.Greeter/CollectGreetings", 0, false, 4, 1),
        r("demo.Greeter/Chat", 0, false, 2, 2),
        r(say, 0, false, 1, 1),
    ];
    let got: Vec<Rpc> = clients.iter().map(rpc).collect();
    assert_eq!(got, want_client, "client spans");
    // A server errs on INTERNAL and DEADLINE_EXCEEDED, not on NOT_FOUND.
    let want_server: Vec<Rpc> = want_client
        .iter()
        .map(|c| Rpc {
            error: matches!(c.code, Some(13 | 4)),
            sent: c.received,
            received: c.sent,
            ..c.clone()
        })
        .collect();
    let got: Vec<Rpc> = servers.iter().map(rpc).collect();
    assert_eq!(got, want_server, "server spans");
    for (c, s) in clients.iter().zip(&servers) {
        assert_eq!(
            s.parent_span_id, c.span_id,
            "server span is the call's child"
        );
        assert_eq!(s.trace_id, c.trace_id);
        assert_eq!(c.attr_str("rpc.service"), Some("demo.Greeter"));
        assert_eq!(c.attr_int("server.port"), Some(server.port as i64));
        assert_eq!(s.attr_int("server.port"), Some(server.port as i64));
        assert_eq!(s.attr_str("client.address"), Some("127.0.0.1"));
        assert_eq!(c.attr_str("network.protocol.version"), Some("2"));
    }
    assert_eq!(clients[1].attr_str("error.type"), Some("NOT_FOUND"));
    assert_eq!(clients[3].attr_str("error.type"), Some("DEADLINE_EXCEEDED"));
}

#[test]
fn a_traceparent_in_grpc_metadata_continues_the_trace() {
    let server = PyGrpcServer::start();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut client = GrpcClient::start_python(
        server.port,
        &["unary:alice"],
        &ClientOpts {
            wait_stdin: true,
            traceparent: Some(format!("00-{trace}-00f067aa0ba902b7-01")),
            ..ClientOpts::default()
        },
    );
    let agent = Agent::start(&[server.proc.pid()], &[]);
    assert_eq!(codes(&client.go()), ["ok"]);
    let spid = server.proc.pid();
    let spans = agent.wait_spans("the server span", WAIT, |s| {
        !rpcs(s, spid, SERVER).is_empty()
    });
    agent.stop();
    let s = &rpcs(&spans, spid, SERVER)[0];
    assert_eq!(s.trace_id, trace);
    assert_eq!(s.parent_span_id, "00f067aa0ba902b7");
}

#[test]
fn go_grpc_calls_become_client_and_server_spans() {
    let server = GoGrpcServer::start();
    let calls = [
        "check:",
        "check:down",
        "check:unknownsvc",
        "check:slow:0.3",
        "watch:",
        "check:",
    ];
    let mut client = GrpcClient::start_go(
        server.port,
        &calls,
        &ClientOpts {
            wait_stdin: true,
            ..ClientOpts::default()
        },
    );
    let agent = Agent::start(&[server.proc.pid(), client.pid()], &[]);
    let out = client.go();
    assert_eq!(
        codes(&out),
        ["ok", "ok", "NOT_FOUND", "DEADLINE_EXCEEDED", "ok", "ok"],
        "{out:?}"
    );
    let n = calls.len();
    let (spid, cpid) = (server.proc.pid(), client.pid());
    let spans = agent.wait_spans("a client and a server span per call", WAIT, |s| {
        rpcs(s, spid, SERVER).len() >= n && rpcs(s, cpid, CLIENT).len() >= n
    });
    agent.stop();
    let check = "grpc.health.v1.Health/Check";
    let names = |v: &[SpanRec]| v.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    let want = [
        check,
        check,
        check,
        check,
        "grpc.health.v1.Health/Watch",
        check,
    ];
    let clients = rpcs(&spans, cpid, CLIENT);
    let servers = rpcs(&spans, spid, SERVER);
    assert_eq!(names(&clients), want);
    assert_eq!(names(&servers), want);
    let client_codes: Vec<Option<i64>> = clients
        .iter()
        .map(|s| s.attr_int("rpc.grpc.status_code"))
        .collect();
    // The Watch is cancelled by the client after its first message.
    assert_eq!(
        client_codes,
        [Some(0), Some(0), Some(5), Some(4), Some(1), Some(0)]
    );
    assert!(clients[2].status_code == 2 && servers[2].status_code != 2);
    assert_eq!(clients[4].attr_int("swit.rpc.messages_received"), Some(1));
    for (c, s) in clients.iter().zip(&servers) {
        assert_eq!(s.parent_span_id, c.span_id);
    }
}

#[test]
fn capture_that_begins_mid_connection_never_reports_a_wrong_value() {
    let server = PyGrpcServer::start();
    let mut client = GrpcClient::start_python(
        server.port,
        &["unary:alice", "unary:fail"],
        &ClientOpts {
            wait_stdin: true,
            repeat_stdin: true,
            ..ClientOpts::default()
        },
    );
    // Round one fills both HPACK tables before the agent is there; round
    // two's header blocks are references into them.
    assert_eq!(codes(&client.go()), ["ok", "NOT_FOUND"]);
    let agent = Agent::start(&[server.proc.pid(), client.pid()], &[]);
    assert_eq!(codes(&client.go()), ["ok", "NOT_FOUND"]);
    let (spid, cpid) = (server.proc.pid(), client.pid());
    let spans = agent.wait_spans("two spans on each side", WAIT, |s| {
        of_kind(s, spid, SERVER).len() >= 2 && of_kind(s, cpid, CLIENT).len() >= 2
    });
    let stopped = agent.stop();
    let summary = summary_line(&stopped.stderr);
    let mut seen = of_kind(&spans, spid, SERVER);
    seen.extend(of_kind(&spans, cpid, CLIENT));
    assert_eq!(seen.len(), 4, "{seen:?}");
    let mut without_status = 0;
    for s in &seen {
        assert_eq!(s.attr_str("network.protocol.version"), Some("2"), "{s:?}");
        // The content type is a table reference, but the call's shape (a
        // POST whose request is whole length-prefixed messages, ended by
        // trailers) tells gRPC.
        assert_eq!(s.attr_str("rpc.system"), Some("grpc"), "{s:?}");
        assert_eq!(s.attr_str("http.request.method"), None, "{s:?}");
        // What needed the tables is left out, or right; never another
        // value.
        assert!(
            s.name == "demo.Greeter/SayHello" || s.name == "grpc",
            "{s:?}"
        );
        let code = s.attr_int("rpc.grpc.status_code");
        assert!(matches!(code, None | Some(0) | Some(5)), "{s:?}");
        without_status += usize::from(code.is_none());
    }
    // Each span left without a status is counted, and so is each side's
    // connection whose header state began before the agent.
    assert_eq!(
        summary_counter(&summary, "grpc_status_unknown"),
        without_status as u64,
        "{summary}"
    );
    assert_eq!(
        summary_counter(&summary, "h2_hidden_headers"),
        2,
        "{summary}"
    );
    // Both ends of each call are still linked: the streams pair by id.
    let servers = of_kind(&spans, spid, SERVER);
    let clients = of_kind(&spans, cpid, CLIENT);
    for (c, s) in clients.iter().zip(&servers) {
        assert_eq!(s.parent_span_id, c.span_id);
    }
}

#[test]
fn a_hundred_concurrent_streams_on_one_connection_give_a_hundred_spans() {
    require_tool("h2load");
    let nginx = Nginx::start_h2();
    let url = format!("http://127.0.0.1:{}/api", nginx.h2());
    let mut h2load = h2load_waiting(&format!("-n 100 -c 1 -m 100 {url}"));
    let agent = Agent::start(&[nginx.proc.pid(), h2load.pid()], &[]);
    writeln!(h2load.child.stdin.take().expect("stdin"), "go").expect("start h2load");
    let out = h2load.child.wait_with_output_ref();
    let stats = H2loadStats::parse(&out).unwrap_or_else(|| panic!("h2load said:\n{out}"));
    assert_eq!(stats.succeeded, 100, "{stats:?}");
    let spans = agent.wait_spans("100 server and 100 client spans", WAIT, |s| {
        s.iter().filter(|x| x.kind == SERVER).count() >= 100
            && s.iter().filter(|x| x.kind == CLIENT).count() >= 100
    });
    agent.stop();
    let servers: Vec<&SpanRec> = spans.iter().filter(|s| s.kind == SERVER).collect();
    let clients: Vec<&SpanRec> = spans.iter().filter(|s| s.kind == CLIENT).collect();
    assert_eq!((servers.len(), clients.len()), (100, 100));
    for s in &servers {
        assert_eq!(s.name, "GET /api");
        assert_eq!(s.attr_str("http.route"), Some("/api"));
        assert_eq!(s.attr_str("url.path"), Some("/api"));
        assert_eq!(s.attr_int("http.response.status_code"), Some(200));
        assert_eq!(s.attr_str("network.protocol.version"), Some("2"));
        assert_eq!(s.attr_int("server.port"), Some(nginx.h2() as i64));
        assert_eq!(
            s.attr_int("http.response.body.size"),
            Some(swit_tests::NGINX_H2_API_BODY.len() as i64)
        );
    }
    for c in &clients {
        assert_eq!(
            c.attr_str("url.full"),
            Some(format!("http://127.0.0.1:{}/api", nginx.h2()).as_str())
        );
        assert_eq!(c.attr_int("http.response.status_code"), Some(200));
    }
    // Each server span is the child of its own client span: streams were
    // paired by id, not by order.
    let mut parents: Vec<&str> = servers.iter().map(|s| s.parent_span_id.as_str()).collect();
    let mut ids: Vec<&str> = clients.iter().map(|c| c.span_id.as_str()).collect();
    parents.sort_unstable();
    ids.sort_unstable();
    assert_eq!(parents, ids);
}

/// h2load in a shell that waits for a line before exec'ing it: traced
/// from its first connect, since it is done in milliseconds.
fn h2load_waiting(args: &str) -> Proc {
    Proc::spawn(
        "h2load",
        Command::new("sh")
            .args(["-c", &format!("read _ && exec h2load {args}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    )
}

#[test]
fn http2_over_tls_gives_the_same_spans_as_in_plaintext() {
    require_tool("h2load");
    let pki = TestPki::generate();
    let nginx = Nginx::start_h2_tls(&pki.server_cert, &pki.server_key);
    let url = format!("https://127.0.0.1:{}/api", nginx.h2());
    // ALPN picks h2; the plaintext after the handshake starts with the
    // client preface, as h2c's does.
    let mut h2load = h2load_waiting(&format!("-n 20 -c 1 -m 10 {url}"));
    let agent = Agent::start(&[nginx.proc.pid(), h2load.pid()], &[]);
    writeln!(h2load.child.stdin.take().expect("stdin"), "go").expect("start h2load");
    let out = h2load.child.wait_with_output_ref();
    let stats = H2loadStats::parse(&out).unwrap_or_else(|| panic!("h2load said:\n{out}"));
    assert_eq!(stats.succeeded, 20, "{stats:?}");
    assert_eq!(stats.protocol.as_deref(), Some("h2"), "{stats:?}");
    let spans = agent.wait_spans("20 server and 20 client spans", WAIT, |s| {
        s.iter().filter(|x| x.kind == SERVER).count() >= 20
            && s.iter().filter(|x| x.kind == CLIENT).count() >= 20
    });
    agent.stop();
    for s in spans.iter().filter(|s| s.kind == SERVER) {
        assert_eq!(s.attr_str("url.scheme"), Some("https"), "{s:?}");
        assert_eq!(s.attr_str("url.path"), Some("/api"));
        assert_eq!(s.attr_str("network.protocol.version"), Some("2"));
        assert_eq!(s.attr_int("http.response.status_code"), Some(200));
    }
    for c in spans.iter().filter(|s| s.kind == CLIENT) {
        assert_eq!(c.attr_str("url.full"), Some(url.as_str()), "{c:?}");
    }
    assert_eq!(spans.len(), 40, "nothing parsed from ciphertext");
}

/// tests/fixtures/go h2cdemo on a free port.
fn h2cdemo() -> (Proc, u16) {
    let mut server = Proc::spawn(
        "h2cdemo",
        Command::new(go_build("h2cdemo"))
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped()),
    );
    let (port, _) = announced_port(&mut server, WAIT);
    (server, port)
}

/// `curl -s ARGS` run by a shell that execs it (same PID) once it reads a
/// line: traced from its first byte.
fn traced_curl(args: &str) -> Proc {
    Proc::spawn(
        "curl",
        Command::new("sh")
            .args(["-c", &format!("read _ && exec curl -s {args}")])
            .stdin(Stdio::piped()),
    )
}

/// A client that gives up on a slow HTTP/2 answer and closes the
/// connection: the stream it left open is an error span on both sides.
#[test]
fn a_stream_open_when_its_connection_closes_is_an_error_span() {
    require_tool("curl");
    let (server, port) = h2cdemo();
    let mut curl = traced_curl(&format!(
        "--http2-prior-knowledge --max-time 1 -o /dev/null http://127.0.0.1:{port}/slow"
    ));
    let agent = Agent::start(&[server.pid(), curl.pid()], &[]);
    writeln!(curl.child.stdin.take().expect("stdin"), "go").expect("start curl");
    let st = curl.child.wait().expect("curl");
    assert_eq!(st.code(), Some(28), "curl timed out: {st}");
    let (spid, cpid) = (server.pid(), curl.pid());
    let spans = agent.wait_spans("a span on each side", WAIT, |s| {
        !of_kind(s, spid, SERVER).is_empty() && !of_kind(s, cpid, CLIENT).is_empty()
    });
    agent.stop();
    let (server, client) = (of_kind(&spans, spid, SERVER), of_kind(&spans, cpid, CLIENT));
    assert_eq!((server.len(), client.len()), (1, 1), "{spans:?}");
    for s in [&server[0], &client[0]] {
        assert_eq!(s.status_code, 2, "an error: {s:?}");
        assert_eq!(s.attr_str("error.type"), Some("connection_closed"), "{s:?}");
        assert_eq!(s.attr_int("http.response.status_code"), None, "{s:?}");
        assert_eq!(s.attr_str("network.protocol.version"), Some("2"), "{s:?}");
    }
    assert_eq!(server[0].attr_str("url.path"), Some("/slow"));
    assert_eq!(server[0].parent_span_id, client[0].span_id);
}

#[test]
fn an_h2c_upgrade_is_followed_into_http2() {
    require_tool("curl");
    // Go's h2c handler: nginx offers no upgrade.
    let (server, port) = h2cdemo();
    let base = format!("http://127.0.0.1:{port}");
    // One connection: the first request asks for the upgrade and is
    // answered on stream 1, the others are HTTP/2 streams 3 and 5.
    let mut curl = traced_curl(&format!(
        "--http2 -o /dev/null -o /dev/null -o /dev/null {base}/hello {base}/hello {base}/missing"
    ));
    let agent = Agent::start(&[server.pid(), curl.pid()], &[]);
    writeln!(curl.child.stdin.take().expect("stdin"), "go").expect("start curl");
    let st = curl.child.wait().expect("curl");
    assert!(st.success(), "curl: {st}");
    let (spid, cpid) = (server.pid(), curl.pid());
    let spans = agent.wait_spans("three spans on each side", WAIT, |s| {
        of_kind(s, spid, SERVER).len() >= 3 && of_kind(s, cpid, CLIENT).len() >= 3
    });
    agent.stop();
    let summary = |v: Vec<SpanRec>| {
        v.iter()
            .map(|s| {
                (
                    s.name.clone(),
                    s.attr_int("http.response.status_code"),
                    s.attr_str("network.protocol.version").map(str::to_string),
                )
            })
            .collect::<Vec<_>>()
    };
    let want = |hello: &str, missing: &str| {
        vec![
            (hello.to_string(), Some(200), Some("2".to_string())),
            (hello.to_string(), Some(200), Some("2".to_string())),
            (missing.to_string(), Some(404), Some("2".to_string())),
        ]
    };
    let servers = of_kind(&spans, spid, SERVER);
    let clients = of_kind(&spans, cpid, CLIENT);
    // Server spans are named by their route, client spans by the method.
    assert_eq!(
        summary(servers.clone()),
        want("GET /hello", "GET /missing"),
        "server spans"
    );
    assert_eq!(summary(clients.clone()), want("GET", "GET"), "client spans");
    assert_eq!(servers[0].attr_str("url.path"), Some("/hello"));
    assert_eq!(servers[2].attr_str("url.path"), Some("/missing"));
    assert_eq!(
        clients[0].attr_str("url.full"),
        Some(format!("{base}/hello").as_str())
    );
    for (c, s) in clients.iter().zip(&servers) {
        assert_eq!(s.parent_span_id, c.span_id, "linked across the upgrade");
    }
}

/// Reads a child's stdout to the end and reaps it.
trait WaitOutput {
    fn wait_with_output_ref(&mut self) -> String;
}

impl WaitOutput for Child {
    fn wait_with_output_ref(&mut self) -> String {
        let mut out = String::new();
        if let Some(mut o) = self.stdout.take() {
            o.read_to_string(&mut out).expect("read h2load's output");
        }
        let st = self.wait().expect("wait for h2load");
        assert!(st.success(), "h2load exited with {st}:\n{out}");
        out
    }
}
