//! HTTP/1 end to end: real Python services and clients, nginx and curl, the
//! real kernel, the real agent binary. Needs root (see tests/src/lib.rs).
use std::{process::Command, time::Duration};

use swit_tests::{Agent, CLIENT, Client, Nginx, SERVER, Service, SpanRec, of_kind, require_tool};

const WAIT: Duration = Duration::from_secs(30);

/// Method, path (or url.full's path) and status of each span, in order.
fn summary(spans: &[SpanRec]) -> Vec<(String, String, i64)> {
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
                        .map(|p| p.split('?').next().unwrap_or_default().to_string())
                })
                .unwrap_or_default();
            (
                s.attr_str("http.request.method").unwrap_or("").to_string(),
                path,
                s.attr_int("http.response.status_code").unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn python_server_and_keepalive_client_give_one_span_per_request_on_each_side() {
    let svc = Service::start(None);
    let requests = [
        "GET:/hello",
        "POST:/echo:some request body",
        "GET:/status/404",
        "GET:/chunked",
        "HEAD:/hello",
        "GET:/big?size=1048576",
        "GET:/status/503",
    ];
    let mut client = Client::start(svc.port, &requests);
    let agent = Agent::start(&[svc.proc.pid(), client.proc.pid()], &[]);
    let answers = client.go_and_wait();
    assert!(
        answers.iter().any(|l| l == "200 1048576"),
        "client saw {answers:?}"
    );

    let n = requests.len();
    let spans = agent.wait_spans("a server and a client span per request", WAIT, |s| {
        of_kind(s, svc.proc.pid(), SERVER).len() >= n
            && of_kind(s, client.proc.pid(), CLIENT).len() >= n
    });
    let servers = of_kind(&spans, svc.proc.pid(), SERVER);
    let clients = of_kind(&spans, client.proc.pid(), CLIENT);
    let stopped = agent.stop();

    let want: Vec<(String, String, i64)> = [
        ("GET", "/hello", 200),
        ("POST", "/echo", 200),
        ("GET", "/status/404", 404),
        ("GET", "/chunked", 200),
        ("HEAD", "/hello", 200),
        ("GET", "/big", 200),
        ("GET", "/status/503", 503),
    ]
    .iter()
    .map(|(m, p, s)| (m.to_string(), p.to_string(), *s))
    .collect();
    assert_eq!(summary(&servers), want, "server spans");
    assert_eq!(summary(&clients), want, "client spans");
    assert_eq!(spans.len(), 2 * n, "no other spans: {:?}", summary(&spans));

    for s in &servers {
        assert_eq!(s.attr_int("server.port"), Some(svc.port as i64));
        assert_eq!(s.attr_str("client.address"), Some("127.0.0.1"));
        assert!(s.start <= s.end, "span times ordered");
        // `{method} {http.route}`, the route guessed from the path.
        let route = s.attr_str("http.route").unwrap();
        assert_eq!(
            s.name,
            format!("{} {route}", s.attr_str("http.request.method").unwrap())
        );
        assert_eq!(s.attr_str("swit.route.source"), Some("heuristic"));
        assert_eq!(
            route,
            match s.attr_str("url.path").unwrap() {
                "/status/404" | "/status/503" => "/status/{id}",
                p => p,
            }
        );
    }
    for c in &clients {
        assert_eq!(c.attr_int("server.port"), Some(svc.port as i64));
        assert_eq!(c.attr_int("network.peer.port"), Some(svc.port as i64));
        assert_eq!(c.attr_str("user_agent.original"), Some("swit-test-client"));
    }
    // One keep-alive connection: requests follow each other.
    for w in clients.windows(2) {
        assert!(w[0].end <= w[1].start, "client spans overlap: {w:?}");
    }
    // Each client call and the server handling of it.
    for (c, s) in clients.iter().zip(&servers) {
        // Causal: the server's read returns only after the client began to
        // write. (Ends are not compared: the client's read may return before
        // the server's write syscall does.)
        assert!(c.start <= s.start, "client {c:?} starts after server {s:?}");
    }
    let big = &servers[5];
    assert_eq!(
        big.attr_int("http.response.body.size"),
        Some(1_048_576),
        "1 MiB body counted past the capture limit"
    );
    assert_eq!(
        clients[5].attr_int("http.response.body.size"),
        Some(1_048_576)
    );
    assert_eq!(
        servers[1].attr_int("http.request.body.size"),
        Some("some request body".len() as i64)
    );
    assert_eq!(
        servers[3].attr_int("http.response.body.size"),
        Some("one two three\n".len() as i64)
    );
    assert_eq!(
        servers[4].attr_int("http.response.body.size"),
        Some(0),
        "HEAD has no body"
    );
    // Error status: 5xx on the server, 4xx and 5xx on the client.
    let errors = |v: &[SpanRec]| v.iter().map(|s| s.status_code == 2).collect::<Vec<_>>();
    assert_eq!(
        errors(&servers),
        [false, false, false, false, false, false, true]
    );
    assert_eq!(
        errors(&clients),
        [false, false, true, false, false, false, true]
    );
    // Both sides link: the server span is the client span's child.
    for (c, s) in clients.iter().zip(&servers) {
        assert_eq!(s.trace_id, c.trace_id);
        assert_eq!(s.parent_span_id, c.span_id);
    }
    assert!(
        stopped.stderr.iter().any(|l| l.contains("stopped;")),
        "{:?}",
        stopped.stderr
    );
    assert_eq!(
        stopped.spans.len(),
        2 * n,
        "nothing more printed at shutdown"
    );
}

#[test]
fn a_connection_opened_before_the_agent_is_traced_with_the_right_roles() {
    let svc = Service::start(None);
    // The connection is made, and used once, before the agent starts: no
    // accept or connect is seen, so roles come from the first message.
    let mut client = Client::start(
        svc.port,
        &[
            "--warmup=1",
            "GET:/status/201",
            "GET:/hello",
            "GET:/status/202",
        ],
    );
    let agent = Agent::start(&[svc.proc.pid(), client.proc.pid()], &[]);
    client.go_and_wait();
    agent.wait_spans("three client and two server spans", WAIT, |s| s.len() >= 5);
    let spans = agent.stop().spans;
    let servers = of_kind(&spans, svc.proc.pid(), SERVER);
    let clients = of_kind(&spans, client.proc.pid(), CLIENT);
    let want = |v: &[(&str, i64)]| -> Vec<(String, String, i64)> {
        v.iter()
            .map(|(p, s)| ("GET".to_string(), p.to_string(), *s))
            .collect()
    };
    assert_eq!(
        summary(&clients),
        want(&[("/status/201", 201), ("/hello", 200), ("/status/202", 202)])
    );
    // The server's handler thread was already blocked in read() on this
    // connection when the agent attached: that read's entry was never seen,
    // so its request is missed (its response is counted as an orphan). Every
    // later request is traced.
    assert_eq!(
        summary(&servers),
        want(&[("/hello", 200), ("/status/202", 202)])
    );
    assert_eq!(spans.len(), 5, "{:?}", summary(&spans));
}

#[test]
fn ipv6_connections_are_traced() {
    let svc = Service::start_on("::1", None);
    let mut client = Client::start_to("::1", svc.port, &["GET:/hello"]);
    let agent = Agent::start(&[svc.proc.pid(), client.proc.pid()], &[]);
    client.go_and_wait();
    agent.wait_spans("a span on each side", WAIT, |s| s.len() >= 2);
    let spans = agent.stop().spans;
    let server = &of_kind(&spans, svc.proc.pid(), SERVER)[0];
    let cl = &of_kind(&spans, client.proc.pid(), CLIENT)[0];
    assert_eq!(server.attr_str("client.address"), Some("::1"));
    assert_eq!(server.attr_str("network.peer.address"), Some("::1"));
    assert_eq!(cl.attr_str("network.peer.address"), Some("::1"));
    assert_eq!(cl.attr_int("network.peer.port"), Some(svc.port as i64));
    assert_eq!(
        server.parent_span_id, cl.span_id,
        "both ends linked over IPv6"
    );
}

#[test]
fn an_untraced_process_produces_no_span() {
    let traced = Service::start(None);
    let other = Service::start(None);
    let agent = Agent::start(&[traced.proc.pid()], &[]);
    let mut c1 = Client::start(other.port, &["GET:/hello", "GET:/hello"]);
    c1.go_and_wait();
    let mut c2 = Client::start(traced.port, &["GET:/hello"]);
    c2.go_and_wait();
    agent.wait_spans("the traced service's span", WAIT, |s| !s.is_empty());
    // Stopping flushes everything the agent holds, so a span from `other`
    // would be printed by then.
    let spans = agent.stop().spans;
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert_eq!(spans[0].pid(), Some(traced.proc.pid() as i64));
    assert_eq!(spans[0].attr_int("server.port"), Some(traced.port as i64));
    let _ = (c1, c2);
}

#[test]
fn a_chain_of_services_forms_one_trace() {
    let backend = Service::start(None);
    let frontend = Service::start(Some(backend.port));
    let mut client = Client::start(
        frontend.port,
        &["GET:/call?path=/hello", "GET:/call?path=/status/500"],
    );
    let agent = Agent::start(
        &[backend.proc.pid(), frontend.proc.pid(), client.proc.pid()],
        &[],
    );
    client.go_and_wait();
    let spans = agent.wait_spans("two traces of four spans", WAIT, |s| s.len() >= 8);
    agent.stop();
    assert_eq!(spans.len(), 8, "{:?}", summary(&spans));
    let mut traces: Vec<&str> = spans.iter().map(|s| s.trace_id.as_str()).collect();
    traces.sort();
    traces.dedup();
    assert_eq!(traces.len(), 2, "one trace per client request");
    for t in traces {
        let in_trace: Vec<&SpanRec> = spans.iter().filter(|s| s.trace_id == t).collect();
        let find = |pid: u32, kind: i64| {
            *in_trace
                .iter()
                .find(|s| s.pid() == Some(pid as i64) && s.kind == kind)
                .unwrap_or_else(|| panic!("no kind {kind} span of pid {pid} in {in_trace:?}"))
        };
        let c = find(client.proc.pid(), CLIENT);
        let fs = find(frontend.proc.pid(), SERVER);
        let fc = find(frontend.proc.pid(), CLIENT);
        let bs = find(backend.proc.pid(), SERVER);
        assert_eq!(c.parent_span_id, "", "the client's call is the root");
        assert_eq!(fs.parent_span_id, c.span_id, "frontend server <- client");
        assert_eq!(
            fc.parent_span_id, fs.span_id,
            "frontend's call <- its request"
        );
        assert_eq!(
            bs.parent_span_id, fc.span_id,
            "backend server <- frontend's call"
        );
    }
}

/// A backend that closes the connection without answering: the frontend's
/// call fails and its handler with it, so the frontend closes its client's
/// connection unanswered too. Every exchange the closes cut short is an
/// error span, linked as usual.
#[test]
fn requests_their_connection_closes_unanswered_are_error_spans() {
    require_tool("curl");
    let backend = Service::start(None);
    let frontend = Service::start(Some(backend.port));
    let agent = Agent::start(&[backend.proc.pid(), frontend.proc.pid()], &[]);
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!(
            "http://127.0.0.1:{}/call?path=/drop",
            frontend.port
        ))
        .output()
        .expect("run curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "000", "no answer");
    let spans = agent.wait_spans("three spans", WAIT, |s| s.len() >= 3);
    agent.stop();
    assert_eq!(spans.len(), 3, "{spans:?}");
    let find = |pid: u32, kind: i64| {
        spans
            .iter()
            .find(|s| s.pid() == Some(pid as i64) && s.kind == kind)
            .unwrap_or_else(|| panic!("no kind {kind} span of pid {pid} in {spans:?}"))
    };
    let fs = find(frontend.proc.pid(), SERVER);
    let fc = find(frontend.proc.pid(), CLIENT);
    let bs = find(backend.proc.pid(), SERVER);
    for s in [fs, fc, bs] {
        assert_eq!(s.status_code, 2, "an error: {s:?}");
        assert_eq!(s.attr_str("error.type"), Some("connection_closed"), "{s:?}");
        assert_eq!(s.attr_int("http.response.status_code"), None, "{s:?}");
    }
    assert_eq!(fs.attr_str("url.path"), Some("/call"));
    assert_eq!(bs.attr_str("url.path"), Some("/drop"));
    assert_eq!(
        fc.parent_span_id, fs.span_id,
        "frontend's call <- its request"
    );
    assert_eq!(bs.parent_span_id, fc.span_id, "backend <- frontend's call");
}

#[test]
fn nginx_gives_one_span_per_request() {
    require_tool("curl");
    let nginx = Nginx::start();
    let port = nginx.port;
    let agent = Agent::start(&[nginx.proc.pid()], &[]);

    let mut urls = Vec::new();
    for i in 0..20 {
        let path = match i % 3 {
            0 => "/ok",
            1 => "/file.bin",
            _ => "/missing",
        };
        urls.push(format!("http://127.0.0.1:{port}{path}"));
    }
    // One curl: every request on one kept-alive connection.
    let mut curl = Command::new("curl");
    curl.arg("-s");
    for u in &urls {
        curl.args(["-o", "/dev/null", u]);
    }
    let st = curl.status().unwrap();
    assert!(st.success());
    let spans = agent.wait_spans("20 nginx spans", WAIT, |s| s.len() >= 20);
    agent.stop();
    assert_eq!(spans.len(), 20);
    let mut got = summary(&spans);
    got.sort();
    let mut want: Vec<(String, String, i64)> = (0..20)
        .map(|i| match i % 3 {
            0 => ("GET".into(), "/ok".into(), 200),
            1 => ("GET".into(), "/file.bin".into(), 200),
            _ => ("GET".into(), "/missing".into(), 404),
        })
        .collect();
    want.sort();
    assert_eq!(got, want);
    for s in spans
        .iter()
        .filter(|s| s.attr_str("url.path") == Some("/file.bin"))
    {
        assert_eq!(s.attr_int("http.response.body.size"), Some(300_000));
    }
    assert!(spans.iter().all(|s| s.kind == SERVER
        && s.resource.get("service.name").and_then(|v| v.as_str()) == Some("nginx")));
}
