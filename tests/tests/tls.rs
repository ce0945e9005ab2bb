//! TLS end to end: plaintext from OpenSSL's SSL_read/SSL_write(_ex) in the
//! library each traced process maps (the system libssl for nginx, curl and
//! Python; psycopg2-binary's own copy; node's statically linked OpenSSL),
//! parsed like plaintext traffic. Needs root (see tests/src/lib.rs).
//!
//! Every test also checks that ciphertext was never parsed: the kernel kept
//! the sockets' ciphertext back (`ciphertext_syscalls` > 0), every TLS
//! connection was parsed from plaintext, and nothing failed to parse or to
//! be detected. Fed ciphertext, the parsers would fail (parse_errors,
//! undetected) and the spans would be missing.
use std::{
    io::Write,
    process::{Command, Stdio},
    time::Duration,
};

use swit_tests::{
    Agent, CLIENT, Client, Nginx, Output, Proc, SERVER, Service, SpanRec,
    assert_tls_plaintext_only, collect_lines, collect_lines_until_eof,
    dbs::{PASSWORD, Postgres, Redis},
    fixture, listening_port, of_kind,
    pki::TestPki,
    pyenv, require_tool, summary_line, wait_exit, wait_for,
};

const WAIT: Duration = Duration::from_secs(60);

/// Method, path and status of each span (path from url.full for clients).
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

fn want(v: &[(&str, &str, i64)]) -> Vec<(String, String, i64)> {
    v.iter()
        .map(|(m, p, s)| (m.to_string(), p.to_string(), *s))
        .collect()
}

/// A command run by a traced `sh` once it reads `go`, with the same PID
/// (exec), so the agent traces it from its first instruction.
struct Deferred {
    proc: Proc,
    out: Output,
}

impl Deferred {
    fn start(script: &str) -> Deferred {
        Self::start_env(script, &[])
    }

    fn start_env(script: &str, env: &[(&str, &str)]) -> Deferred {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("read go; exec {script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut proc = Proc::spawn("sh", &mut cmd);
        let out = collect_lines_until_eof(proc.child.stdout.take().expect("stdout"));
        Deferred { proc, out }
    }

    fn go_and_wait(&mut self) -> Vec<String> {
        writeln!(self.proc.child.stdin.as_mut().unwrap(), "go").unwrap();
        let (st, lines) = wait_exit(&mut self.proc, &self.out, WAIT);
        assert!(st.success(), "{st}: {lines:?}");
        lines
    }
}

#[test]
fn nginx_over_tls_and_curl_both_traced() {
    require_tool("curl");
    let pki = TestPki::generate();
    let nginx = Nginx::start_tls(&pki);
    let base = format!("https://127.0.0.1:{}", nginx.port);
    let mut curl = Deferred::start(&format!(
        "curl -s --cacert {} -w '%{{http_code}}\\n' -o /dev/null {base}/ok -o /dev/null {base}/missing",
        pki.ca_file.display()
    ));
    let agent = Agent::start(&[nginx.proc.pid(), curl.proc.pid()], &[]);
    let codes = curl.go_and_wait();
    assert_eq!(codes, ["200", "404"], "curl over one connection");

    let is_server = |s: &SpanRec| s.kind == SERVER;
    agent.wait_spans("two server and two client spans", WAIT, |s| {
        s.iter().filter(|s| is_server(s)).count() >= 2
            && of_kind(s, curl.proc.pid(), CLIENT).len() >= 2
    });
    let stopped = agent.stop();
    let spans = stopped.spans;
    let mut servers: Vec<SpanRec> = spans.iter().filter(|s| is_server(s)).cloned().collect();
    servers.sort_by_key(|s| s.start);
    let clients = of_kind(&spans, curl.proc.pid(), CLIENT);
    assert_eq!(spans.len(), 4, "{:?}", summary(&spans));
    let expected = want(&[("GET", "/ok", 200), ("GET", "/missing", 404)]);
    assert_eq!(summary(&servers), expected, "server spans");
    assert_eq!(summary(&clients), expected, "client spans");
    for s in &servers {
        assert_eq!(s.attr_str("url.scheme"), Some("https"), "{s:?}");
        assert_eq!(s.attr_int("server.port"), Some(nginx.port as i64));
        assert_eq!(s.attr_str("client.address"), Some("127.0.0.1"));
        assert_eq!(
            s.resource.get("service.name").and_then(|v| v.as_str()),
            Some("nginx")
        );
    }
    assert_eq!(
        clients[0].attr_str("url.full"),
        Some(format!("{base}/ok").as_str())
    );
    assert_eq!(
        clients[1].attr_str("url.full"),
        Some(format!("{base}/missing").as_str())
    );
    for (c, s) in clients.iter().zip(&servers) {
        assert_eq!(c.attr_int("network.peer.port"), Some(nginx.port as i64));
        // The plaintext carries its socket's addresses: both ends link.
        assert_eq!(s.trace_id, c.trace_id, "{c:?} {s:?}");
        assert_eq!(s.parent_span_id, c.span_id);
    }
    assert_tls_plaintext_only(&summary_line(&stopped.stderr), 2);
}

#[test]
fn python_ssl_server_and_client_use_the_ex_calls() {
    let pki = TestPki::generate();
    let cert = pki.server_cert.to_string_lossy().into_owned();
    let key = pki.server_key.to_string_lossy().into_owned();
    let svc = Service::start_with(
        "127.0.0.1",
        None,
        &[("SWIT_TEST_TLS_CERT", &cert), ("SWIT_TEST_TLS_KEY", &key)],
    );
    let cafile = format!("--cafile={}", pki.ca_file.display());
    let mut client = Client::start(
        svc.port,
        &[
            &cafile,
            "GET:/hello",
            "POST:/echo:a body over tls",
            "GET:/status/404",
            "GET:/big?size=100000",
        ],
    );
    let agent = Agent::start(&[svc.proc.pid(), client.proc.pid()], &[]);
    let answers = client.go_and_wait();
    assert!(answers.iter().any(|l| l == "200 100000"), "{answers:?}");
    agent.wait_spans("four spans on each side", WAIT, |s| {
        of_kind(s, svc.proc.pid(), SERVER).len() >= 4
            && of_kind(s, client.proc.pid(), CLIENT).len() >= 4
    });
    let stopped = agent.stop();
    let servers = of_kind(&stopped.spans, svc.proc.pid(), SERVER);
    let clients = of_kind(&stopped.spans, client.proc.pid(), CLIENT);
    let expected = want(&[
        ("GET", "/hello", 200),
        ("POST", "/echo", 200),
        ("GET", "/status/404", 404),
        ("GET", "/big?size=REDACTED", 200),
    ]);
    assert_eq!(stopped.spans.len(), 8, "{:?}", summary(&stopped.spans));
    let mut server_want = expected.clone();
    server_want[3].1 = "/big".into();
    assert_eq!(summary(&servers), server_want, "server spans");
    assert_eq!(summary(&clients), expected, "client spans");
    assert_eq!(
        servers[1].attr_int("http.request.body.size"),
        Some("a body over tls".len() as i64)
    );
    assert_eq!(
        servers[3].attr_int("http.response.body.size"),
        Some(100_000),
        "a body of several TLS records counted whole"
    );
    for (c, s) in clients.iter().zip(&servers) {
        assert_eq!(s.attr_str("url.scheme"), Some("https"));
        assert_eq!(s.attr_int("server.port"), Some(svc.port as i64));
        assert!(
            c.attr_str("url.full")
                .is_some_and(|u| u.starts_with(&format!("https://127.0.0.1:{}/", svc.port))),
            "{c:?}"
        );
        assert_eq!(s.parent_span_id, c.span_id, "both ends linked");
    }
    assert_tls_plaintext_only(&summary_line(&stopped.stderr), 2);
}

#[test]
fn node_https_server_with_its_own_openssl() {
    require_tool("curl");
    if !std::path::Path::new("/usr/bin/node").is_file() {
        panic!("node is not installed (/usr/bin/node): run `cargo xtask setup` (installs nodejs)");
    }
    let pki = TestPki::generate();
    let mut cmd = Command::new("/usr/bin/node");
    cmd.arg(fixture("https_server.js"))
        .arg(&pki.server_key)
        .arg(&pki.server_cert)
        .stdout(Stdio::piped());
    let mut node = Proc::spawn("node", &mut cmd);
    let port = listening_port(&mut node, "https_server.js");
    let agent = Agent::start(&[node.pid()], &[]);
    let base = format!("https://127.0.0.1:{port}");
    let out = Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(&pki.ca_file)
        .args(["-w", "%{http_code}\\n", "-o", "/dev/null"])
        .arg(format!("{base}/hello"))
        .args(["-o", "/dev/null"])
        .arg(format!("{base}/status/503"))
        .output()
        .expect("run curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200\n503\n");
    agent.wait_spans("two node spans", WAIT, |s| s.len() >= 2);
    let stopped = agent.stop();
    let servers = of_kind(&stopped.spans, node.pid(), SERVER);
    assert_eq!(stopped.spans.len(), 2, "{:?}", summary(&stopped.spans));
    assert_eq!(
        summary(&servers),
        want(&[("GET", "/hello", 200), ("GET", "/status/503", 503)])
    );
    for s in &servers {
        assert_eq!(s.attr_str("url.scheme"), Some("https"));
        assert_eq!(s.attr_int("server.port"), Some(port as i64));
        assert_eq!(s.attr_str("client.address"), Some("127.0.0.1"));
    }
    assert_eq!(
        servers[0].attr_int("http.response.body.size"),
        Some("hello over tls\n".len() as i64)
    );
    assert_tls_plaintext_only(&summary_line(&stopped.stderr), 1);
}

#[test]
fn postgres_over_tls_with_psycopg2s_own_libssl() {
    let pki = TestPki::generate();
    let pg = Postgres::start_tls(&pki);
    let python = pyenv::python();
    let mut proc = Proc::spawn(
        "db_client.py",
        Command::new(python)
            .arg(fixture("db_client.py"))
            .args(["pg-psycopg", "127.0.0.1", &pg.port.to_string()])
            .env("DB_PASSWORD", PASSWORD)
            .env("DB_SSLMODE", "require")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    );
    let lines = collect_lines(proc.child.stdout.take().expect("stdout"));
    wait_for("db_client.py ready", WAIT, || {
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l == "ready")
            .then_some(())
    });
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", proc.pid())).unwrap();
    assert!(
        maps.contains("psycopg2_binary.libs/libssl-"),
        "psycopg2-binary maps its own libssl"
    );
    let agent = Agent::start(&[proc.pid()], &[]);
    let hooked = agent
        .stderr
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("TLS: hooked") && l.contains("psycopg2_binary.libs/libssl-"));
    assert!(hooked, "psycopg2's libssl hooked");
    writeln!(proc.child.stdin.as_mut().unwrap(), "go").unwrap();
    let out = wait_for("db_client.py done", WAIT, || {
        let l = lines.lock().unwrap();
        l.iter().any(|x| x == "done").then(|| l.clone())
    });
    assert!(out.iter().any(|l| l == "prepared rows 100"), "{out:?}");
    let pid = proc.pid();
    let db = |s: &[SpanRec]| -> Vec<SpanRec> {
        of_kind(s, pid, CLIENT)
            .into_iter()
            .filter(|s| s.attrs.contains_key("db.system.name"))
            .collect()
    };
    // 2 SELECTs, PREPARE, 100 EXECUTEs, DEALLOCATE, the error.
    agent.wait_spans("105 database spans", WAIT, |s| db(s).len() >= 105);
    let stopped = agent.stop();
    let spans = db(&stopped.spans);
    assert_eq!(spans.len(), 105);
    for s in &spans {
        assert_eq!(s.attr_str("db.system.name"), Some("postgresql"));
        assert_eq!(s.attr_str("db.namespace"), Some("appdb"));
        assert_eq!(s.attr_int("server.port"), Some(pg.port as i64));
    }
    assert_eq!(
        spans[0].attr_str("db.query.text"),
        Some("SELECT name FROM users WHERE id = ?")
    );
    let executes = spans
        .iter()
        .filter(|s| s.attr_str("db.query.text") == Some("EXECUTE by_id(?)"))
        .count();
    assert_eq!(executes, 100);
    let last = spans.last().unwrap();
    assert_eq!(
        last.attr_str("db.query.text"),
        Some("SELECT * FROM missing_table")
    );
    assert_eq!(last.attr_str("db.response.status_code"), Some("42P01"));
    let all = stopped.stderr.join("\n");
    assert!(!all.contains(PASSWORD));
    assert_tls_plaintext_only(&summary_line(&stopped.stderr), 1);
}

/// Python loads a library when a module needs it: psycopg2 (and its own
/// libssl) imported after the agent started is hooked by the agent's
/// rescan of its targets' maps.
#[test]
fn a_libssl_loaded_after_the_agent_started_is_hooked() {
    let pki = TestPki::generate();
    let pg = Postgres::start_tls(&pki);
    let python = pyenv::python();
    let script = "import os, sys
print('ready', flush=True)
sys.stdin.readline()
import psycopg2
print('imported', flush=True)
sys.stdin.readline()
conn = psycopg2.connect(host='127.0.0.1', port=int(sys.argv[1]), user='app',
    password=os.environ['DB_PASSWORD'], dbname='appdb', sslmode='require')
conn.autocommit = True
cur = conn.cursor()
cur.execute('SELECT count(*) FROM users')
print('rows', cur.fetchone()[0], flush=True)
conn.close()
";
    let mut proc = Proc::spawn(
        "python",
        Command::new(python)
            .args(["-c", script, &pg.port.to_string()])
            .env("DB_PASSWORD", PASSWORD)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    );
    let lines = collect_lines(proc.child.stdout.take().expect("stdout"));
    let has = |what: &str| {
        let l = lines.clone();
        let what = what.to_string();
        move || l.lock().unwrap().contains(&what).then_some(())
    };
    wait_for("the script ready", WAIT, has("ready"));
    let pid = proc.pid();
    let agent = Agent::start(&[pid], &[]);
    let private = |l: &str| l.contains("TLS: hooked") && l.contains("psycopg2_binary.libs/libssl-");
    assert!(
        !agent.stderr.lock().unwrap().iter().any(|l| private(l)),
        "psycopg2 not imported yet"
    );
    writeln!(proc.child.stdin.as_mut().unwrap(), "go").unwrap();
    wait_for("psycopg2 imported", WAIT, has("imported"));
    wait_for("the agent to hook psycopg2's libssl", WAIT, || {
        agent
            .stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| private(l) && l.contains(&format!("(PID {pid})")))
            .then_some(())
    });
    writeln!(proc.child.stdin.as_mut().unwrap(), "go").unwrap();
    wait_for(
        "the query",
        WAIT,
        has(&format!("rows {}", swit_tests::dbs::USERS.len())),
    );
    agent.wait_spans("the SELECT span", WAIT, |s| !s.is_empty());
    let stopped = agent.stop();
    let spans = of_kind(&stopped.spans, pid, CLIENT);
    assert_eq!(stopped.spans.len(), 1, "{spans:?}");
    assert_eq!(spans[0].attr_str("db.system.name"), Some("postgresql"));
    assert_eq!(
        spans[0].attr_str("db.query.text"),
        Some("SELECT count(*) FROM users")
    );
    assert_eq!(spans[0].attr_int("server.port"), Some(pg.port as i64));
    assert_tls_plaintext_only(&summary_line(&stopped.stderr), 1);
}

#[test]
fn redis_cli_over_tls() {
    require_tool("redis-cli");
    let pki = TestPki::generate();
    let r = Redis::start_tls(&pki);
    let mut cli = Deferred::start_env(
        &format!(
            "redis-cli --tls --cacert {} -h 127.0.0.1 -p {} SET swit:tls tls-value-qz",
            pki.ca_file.display(),
            r.port
        ),
        &[("REDISCLI_AUTH", PASSWORD)],
    );
    let agent = Agent::start(&[cli.proc.pid()], &[]);
    assert_eq!(cli.go_and_wait(), ["OK"]);
    let pid = cli.proc.pid();
    agent.wait_spans("the SET span", WAIT, |s| {
        s.iter()
            .any(|s| s.attr_str("db.operation.name") == Some("SET"))
    });
    let stopped = agent.stop();
    let spans = of_kind(&stopped.spans, pid, CLIENT);
    let set: Vec<&SpanRec> = spans
        .iter()
        .filter(|s| s.attr_str("db.operation.name") == Some("SET"))
        .collect();
    assert_eq!(set.len(), 1, "{spans:?}");
    assert_eq!(set[0].attr_str("db.system.name"), Some("redis"));
    assert_eq!(set[0].attr_int("server.port"), Some(r.port as i64));
    assert_eq!(set[0].status_code, 0);
    // AUTH is a call too, or is left out; either way without its argument.
    assert!(spans.len() <= 2, "{spans:?}");
    let out = format!("{:?}{:?}", stopped.spans, stopped.stderr);
    assert!(!out.contains(PASSWORD) && !out.contains("tls-value-qz"));
    assert_tls_plaintext_only(&summary_line(&stopped.stderr), 1);
}
