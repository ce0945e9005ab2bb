//! The redaction corpus: every kind of secret a traced process handles,
//! sent for real, must appear nowhere the agent writes: not in spans at a
//! real OTLP receiver, not on the console (OTLP/JSON and pretty), not in
//! the agent's own log at its most verbose (`RUST_LOG=trace`).
//!
//! One Python process (tests/fixtures/secrets_client.py) is traced: an
//! HTTP/1.1 server on a thread of its own and a client of it (Authorization
//! Bearer and Basic, Cookie, Set-Cookie, X-Api-Key, X-Auth-Token, tokens
//! and passwords in the query, a JWT in the path and in bodies), real
//! PostgreSQL 15 (cleartext-password and SCRAM logins, `ALTER ROLE ...
//! PASSWORD`), real MariaDB 10.11 (mysql_native_password login, `CREATE
//! USER ... IDENTIFIED BY "..."`, `SET PASSWORD`) and real Redis 7 (`AUTH`,
//! `ACL SETUSER`, `CONFIG SET masterauth`). Every secret is random per run.
//!
//! The same process also checks that `tracing.redaction` works end to end:
//! an extra pattern hides a custom token, a denied attribute is gone, and
//! captured headers show what was asked (sensitive ones as `REDACTED`).
//!
//! Needs root and `cargo xtask setup` (see tests/src/dbs.rs).
use std::{
    collections::BTreeMap,
    hash::{BuildHasher, RandomState},
    io::{BufRead, BufReader, Read, Write},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use swit_tests::{
    Proc, SpanRec, agent_bin, collect_lines_until_eof,
    dbs::{Mariadb, PASSWORD, Postgres, Redis},
    fixture,
    otlp_receiver::OtlpReceiver,
    parse_otlp_line, pyenv, require_root, require_tool, wait_for, write_config,
};

const WAIT: Duration = Duration::from_secs(60);

/// A random secret, recognisable by its tag.
fn secret(tag: &str) -> String {
    format!("{tag}{:016x}", RandomState::new().hash_one(tag))
}

/// The secrets handed to the client (`S_*`), and the strings that must
/// never be seen: each secret, and the random parts of the JWT.
struct Secrets {
    env: BTreeMap<&'static str, String>,
    forbidden: Vec<String>,
}

fn secrets() -> Secrets {
    let mut env = BTreeMap::new();
    for (k, tag) in [
        ("S_BEARER", "zbearer"),
        ("S_BASIC", "zbasic"),
        ("S_COOKIE", "zcookie"),
        ("S_SET_COOKIE", "zsetcookie"),
        ("S_API_KEY", "zapikey"),
        ("S_QUERY_TOKEN", "zqtoken"),
        ("S_QUERY_PW", "zqpw"),
        ("S_BODY_PW", "zbodypw"),
        ("S_CUSTOM", "zcustom"),
        ("S_PG_PW", "zpgpw"),
        ("S_PG_SCRAM_PW", "zpgscram"),
        ("S_PG_ROLE_PW", "zpgrole"),
        ("S_MY_PW", "zmypw"),
        ("S_MY_NEW_PW", "zmynew"),
        ("S_MY_SET_PW", "zmyset"),
        ("S_REDIS_PW", "zredispw"),
        ("S_REDIS_ACL_PW", "zredisacl"),
        ("S_REDIS_MASTER_PW", "zredismaster"),
        // The agent's own credential for the collector.
        ("S_EXPORT_TOKEN", "zexport"),
    ] {
        env.insert(k, secret(tag));
    }
    let (payload, signature) = (secret("zjwtpayload"), secret("zjwtsig"));
    env.insert(
        "S_JWT",
        format!("eyJhbGciOiJIUzI1NiJ9.eyJ{payload}.{signature}"),
    );
    let mut forbidden: Vec<String> = env
        .iter()
        .filter(|(k, _)| **k != "S_JWT")
        .map(|(_, v)| v.clone())
        .collect();
    forbidden.extend([payload, signature]);
    Secrets { env, forbidden }
}

struct Servers {
    pg: Postgres,
    my: Mariadb,
    redis: Redis,
}

impl Servers {
    /// The three servers, with the passwords of this run, set through
    /// their Unix sockets or by untraced processes.
    fn start(s: &Secrets) -> Servers {
        let pg = Postgres::start();
        pg.psql_socket(
            "postgres",
            &format!("ALTER ROLE app CREATEROLE PASSWORD '{}'", s.env["S_PG_PW"]),
        );
        let my = Mariadb::start();
        my.sql_socket(&format!(
            "ALTER USER 'app'@'%' IDENTIFIED BY '{}'",
            s.env["S_MY_PW"]
        ));
        let redis = Redis::start();
        require_tool("redis-cli");
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &redis.port.to_string()])
            .args(["--no-auth-warning", "-a", PASSWORD])
            .args(["CONFIG", "SET", "requirepass", &s.env["S_REDIS_PW"]])
            .output()
            .expect("run redis-cli");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("OK"),
            "{out:?}"
        );
        Servers { pg, my, redis }
    }

    /// Removes what a run created, so the next run can create it again.
    fn reset(&self) {
        self.pg
            .psql_socket("postgres", "DROP ROLE IF EXISTS tmp_role");
        self.my.sql_socket("DROP USER IF EXISTS 'tmp'@'%'");
    }
}

/// Reads a pipe's lines on a thread; the flag is set at its end.
fn lines_of(r: impl Read + Send + 'static) -> (Arc<Mutex<Vec<String>>>, Arc<Mutex<bool>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let eof = Arc::new(Mutex::new(false));
    let (l, e) = (lines.clone(), eof.clone());
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            l.lock().unwrap().push(line);
        }
        *e.lock().unwrap() = true;
    });
    (lines, eof)
}

/// What one agent run printed.
struct Output {
    stdout: Vec<String>,
    stderr: Vec<String>,
}

/// Where the run's spans go.
#[derive(Clone, Copy)]
enum Sink<'a> {
    Otlp(&'a OtlpReceiver),
    OtlpJson,
    Pretty,
}

fn config(pid: u32, endpoint: &str) -> String {
    format!(
        r#"
tracing:
  enabled: true
  sampling: {{ type: always_on }}
  exporter:
    type: otlp
    endpoint: "{endpoint}"
    protocol: grpc
    headers: {{ authorization: "Bearer ${{S_EXPORT_TOKEN}}" }}
  redaction:
    patterns: ["zcustom[0-9a-f]+"]
    attributes:
      traces: {{ deny: [user_agent.original] }}
    capture_headers:
      request: [x-request-id, authorization, x-api-key, cookie]
      response: [set-cookie, x-auth-token, content-type]
agent:
  targets: {{ pids: [{pid}] }}
"#
    )
}

/// One traced run of the client with the agent at `RUST_LOG=trace`.
fn run(servers: &Servers, s: &Secrets, sink: Sink) -> Output {
    servers.reset();
    let mut client = Command::new(pyenv::python());
    client
        .arg(fixture("secrets_client.py"))
        .args([servers.pg.port, servers.my.port, servers.redis.port].map(|p| p.to_string()))
        .envs(&s.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut client = Proc::spawn("secrets_client.py", &mut client);
    let (said, said_eof) = collect_lines_until_eof(client.child.stdout.take().expect("stdout"));
    let said_line = |what: &str| {
        let w = what.to_owned();
        let said = said.clone();
        let eof = said_eof.clone();
        move || {
            let l = said.lock().unwrap();
            if l.contains(&w) {
                return Some(());
            }
            if eof.load(std::sync::atomic::Ordering::SeqCst) {
                panic!("secrets_client.py ended before {w:?}: {l:?}");
            }
            None
        }
    };
    wait_for("secrets_client.py ready", WAIT, said_line("ready"));

    let endpoint = match sink {
        Sink::Otlp(rx) => rx.endpoint(),
        _ => "http://127.0.0.1:9".into(),
    };
    let cfg = write_config("redaction", &config(client.pid(), &endpoint));
    let mut cmd = Command::new(agent_bin());
    cmd.arg("run").arg("--config").arg(&cfg);
    match sink {
        Sink::Otlp(_) => {}
        Sink::OtlpJson => {
            cmd.args(["--exporter", "console", "--console-format", "otlp-json"]);
        }
        Sink::Pretty => {
            cmd.args(["--exporter", "console", "--console-format", "pretty"]);
        }
    }
    cmd.env("RUST_LOG", "trace")
        .env("S_EXPORT_TOKEN", &s.env["S_EXPORT_TOKEN"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    require_root();
    let mut agent = Proc::spawn("swit-agent", &mut cmd);
    let (stdout, out_eof) = lines_of(agent.child.stdout.take().expect("stdout"));
    let (stderr, err_eof) = lines_of(agent.child.stderr.take().expect("stderr"));
    wait_for("the agent to attach", WAIT, || {
        let l = stderr.lock().unwrap();
        if *err_eof.lock().unwrap() {
            panic!("the agent exited before attaching: {l:?}");
        }
        l.iter().any(|l| l.contains(" tracing ")).then_some(())
    });

    let mut go = client.child.stdin.take().expect("stdin");
    writeln!(go, "go").expect("write go");
    drop(go);
    wait_for("secrets_client.py done", WAIT, said_line("done"));

    // The last request's server span says every earlier span was made.
    let is_done = |s: &SpanRec| s.attr_str("url.path") == Some("/done");
    match sink {
        Sink::Otlp(rx) => {
            rx.wait_spans("/done at the receiver", WAIT, |spans| {
                spans.iter().any(is_done)
            });
        }
        Sink::OtlpJson => wait_for("/done on the console", WAIT, || {
            let l = stdout.lock().unwrap();
            l.iter()
                .any(|l| parse_otlp_line(l).iter().any(is_done))
                .then_some(())
        }),
        Sink::Pretty => wait_for("/done on the console", WAIT, || {
            let l = stdout.lock().unwrap();
            l.iter().any(|l| l.contains("/done")).then_some(())
        }),
    }
    agent.signal(libc::SIGINT);
    let st = wait_for("the agent to exit", WAIT, || {
        agent.child.try_wait().ok().flatten()
    });
    assert!(st.success(), "agent exit {st}");
    wait_for("the agent's output to end", WAIT, || {
        (*out_eof.lock().unwrap() && *err_eof.lock().unwrap()).then_some(())
    });
    let out = Output {
        stdout: stdout.lock().unwrap().clone(),
        stderr: stderr.lock().unwrap().clone(),
    };
    assert!(
        out.stderr.iter().any(|l| l.contains("data sock=")),
        "the agent logged every data event (trace level)"
    );
    out
}

/// Fails naming each secret found and the first place it was found.
fn assert_nowhere(s: &Secrets, what: &str, lines: &[String]) {
    let mut leaks = Vec::new();
    for secret in &s.forbidden {
        if let Some(l) = lines.iter().find(|l| l.contains(secret.as_str())) {
            leaks.push(format!("{secret} in: {l}"));
        }
    }
    assert!(
        leaks.is_empty(),
        "{what}: {} secrets leaked:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

/// What the agent did show, so the test is not passing on empty output.
fn assert_shown(spans: &[SpanRec]) {
    let any = |f: &dyn Fn(&SpanRec) -> bool| spans.iter().any(f);
    let summary = || {
        spans
            .iter()
            .map(|s| format!("{} {:?}", s.name, s.attrs))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for system in ["postgresql", "redis"] {
        assert!(
            any(&|s| s.attr_str("db.system.name") == Some(system)),
            "{system} spans: {}",
            summary()
        );
    }
    assert!(
        any(&|s| matches!(s.attr_str("db.system.name"), Some("mysql" | "mariadb"))),
        "MariaDB spans: {}",
        summary()
    );
    let has = |k: &str, v: &str| any(&|s| s.attr_str(k) == Some(v));
    let checks = [
        ("db.query.text", "ALTER ROLE app_scram PASSWORD ?"),
        ("db.query.text", "CREATE USER ?@? IDENTIFIED BY ?"),
        ("db.query.text", "AUTH ?"),
        ("db.query.text", "HELLO ? ? ? ?"),
        ("db.query.text", "CONFIG SET masterauth ?"),
        ("db.query.text", "SET PASSWORD FOR ?@? = PASSWORD(?)"),
        ("http.request.header.x-request-id", "req-visible-42"),
        ("http.request.header.authorization", "REDACTED"),
        ("http.request.header.x-api-key", "REDACTED"),
        ("http.response.header.set-cookie", "REDACTED"),
        ("url.path", "/jwt/REDACTED"),
        ("url.path", "/acct/REDACTED"),
        ("url.query", "token=REDACTED&password=REDACTED&q=REDACTED"),
    ];
    for (k, v) in checks {
        assert!(has(k, v), "no span with {k}={v:?}:\n{}", summary());
    }
    assert!(
        !any(&|s| s.attrs.contains_key("user_agent.original")),
        "user_agent.original is denied"
    );
}

#[test]
fn no_secret_reaches_spans_console_or_logs() {
    let s = secrets();
    let servers = Servers::start(&s);

    let rx = OtlpReceiver::start_grpc();
    let out = run(&servers, &s, Sink::Otlp(&rx));
    let received: Vec<String> = rx
        .requests()
        .iter()
        .map(|r| format!("{:?}", r.request))
        .collect();
    assert_nowhere(&s, "OTLP requests", &received);
    assert_nowhere(&s, "agent stderr (otlp run)", &out.stderr);
    assert_nowhere(&s, "agent stdout (otlp run)", &out.stdout);
    assert_shown(&rx.spans());
    let token = format!("Bearer {}", s.env["S_EXPORT_TOKEN"]);
    assert!(
        rx.requests()
            .iter()
            .all(|r| r.header("authorization") == Some(token.as_str())),
        "the collector got the exporter's credential"
    );

    let out = run(&servers, &s, Sink::OtlpJson);
    assert_nowhere(&s, "console otlp-json", &out.stdout);
    assert_nowhere(&s, "agent stderr (otlp-json run)", &out.stderr);
    let spans: Vec<SpanRec> = out.stdout.iter().flat_map(|l| parse_otlp_line(l)).collect();
    assert_shown(&spans);

    let out = run(&servers, &s, Sink::Pretty);
    assert_nowhere(&s, "console pretty", &out.stdout);
    assert_nowhere(&s, "agent stderr (pretty run)", &out.stderr);
    assert!(
        out.stdout.iter().any(|l| l.contains("REDACTED")),
        "the pretty console shows redacted values"
    );
}
