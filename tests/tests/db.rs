//! Database spans end to end: real PostgreSQL 15, MariaDB 10.11 and Redis 7
//! from Debian on loopback, real clients (psql, pgbench, the mariadb
//! client, redis-cli, psycopg2, PyMySQL, redis-py), the real kernel and the
//! real agent, which traces the client processes only. Needs root and
//! `cargo xtask setup` (see tests/src/lib.rs and tests/src/dbs.rs).
//!
//! Spans follow the OpenTelemetry database conventions: CLIENT kind, named
//! `{db.operation.name} {db.collection.name}`, with db.system.name,
//! db.namespace, db.collection.name, db.operation.name, db.query.text (every
//! literal replaced by `?`), server.address, server.port,
//! db.response.status_code, error.type and db.response.returned_rows.
use std::{
    io::Write,
    process::{Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use swit_tests::{
    Agent, CLIENT, Proc, SpanRec, collect_lines, collect_lines_until_eof,
    dbs::{Mariadb, PASSWORD, Postgres, Redis},
    fixture, of_kind, pyenv, require_tool, wait_for,
};

const WAIT: Duration = Duration::from_secs(60);

/// The ids of appdb.users as the clients use them (db_client.py's ID1..3).
const ID1: &str = "910001";
const ID2: &str = "910002";
const ID3: &str = "910003";

/// The CLIENT spans of `pid` that carry `db.system.name`, by start time.
fn db_spans(spans: &[SpanRec], pid: u32) -> Vec<SpanRec> {
    of_kind(spans, pid, CLIENT)
        .into_iter()
        .filter(|s| s.attrs.contains_key("db.system.name"))
        .collect()
}

/// Name, operation, collection, query text, status code of each span: what
/// a failure shows.
fn summary(spans: &[SpanRec]) -> Vec<String> {
    spans
        .iter()
        .map(|s| {
            format!(
                "{:?} op={:?} coll={:?} ns={:?} text={:?} code={:?} rows={:?} status={}",
                s.name,
                s.attr_str("db.operation.name"),
                s.attr_str("db.collection.name"),
                s.attr_str("db.namespace"),
                s.attr_str("db.query.text"),
                s.attr_str("db.response.status_code"),
                s.attr_int("db.response.returned_rows"),
                s.status_code
            )
        })
        .collect()
}

fn count(spans: &[SpanRec], op: &str, coll: Option<&str>) -> usize {
    spans
        .iter()
        .filter(|s| {
            s.attr_str("db.operation.name") == Some(op) && s.attr_str("db.collection.name") == coll
        })
        .count()
}

/// Asserts what every span of one server shows about it.
fn assert_common(spans: &[SpanRec], system: &str, namespace: Option<&str>, port: u16) {
    for s in spans {
        assert_eq!(s.kind, CLIENT, "{s:?}");
        assert_eq!(s.attr_str("db.system.name"), Some(system), "{s:?}");
        assert_eq!(s.attr_str("server.address"), Some("127.0.0.1"), "{s:?}");
        assert_eq!(s.attr_int("server.port"), Some(port as i64), "{s:?}");
        if let Some(ns) = namespace {
            assert_eq!(s.attr_str("db.namespace"), Some(ns), "{s:?}");
        }
        assert!(s.start <= s.end, "span times ordered: {s:?}");
        // The span name: `{operation} {target}`, the target being the
        // collection, else the namespace, else server.address:server.port;
        // or the operation alone.
        if let Some(op) = s.attr_str("db.operation.name") {
            let want: Vec<String> = match s.attr_str("db.collection.name") {
                Some(c) => vec![format!("{op} {c}")],
                None => {
                    let mut v = vec![op.to_string(), format!("{op} 127.0.0.1:{port}")];
                    if let Some(ns) = s.attr_str("db.namespace") {
                        v.push(format!("{op} {ns}"));
                    }
                    v
                }
            };
            assert!(
                want.contains(&s.name),
                "span name of {s:?}: want one of {want:?}"
            );
        }
    }
}

/// Asserts a failed call: SQLSTATE / error number / Redis error prefix in
/// db.response.status_code and error.type, span status error.
fn assert_error(s: &SpanRec, code: &str) {
    assert_eq!(s.attr_str("db.response.status_code"), Some(code), "{s:?}");
    assert_eq!(s.attr_str("error.type"), Some(code), "{s:?}");
    assert_eq!(s.status_code, 2, "span status error: {s:?}");
}

/// Secrets that must never leave the agent: the password, auth bytes, and
/// the literal values the clients put in their queries.
fn assert_no_secrets(stdout: &[String], spans: &[SpanRec]) {
    let all = stdout.join("\n");
    let mut words: Vec<String> = vec![PASSWORD.into(), "s3cret".into()];
    // The names stored in appdb.users, read back by every SELECT.
    words.extend(swit_tests::dbs::USERS.iter().map(|(_, n)| n.to_string()));
    // Literal values written by the Redis clients.
    words.extend(["val-7-qz", "val-99-qz", "not-a-number-qz", "psql-cli-qz"].map(String::from));
    // SCRAM's client-first (gs2 header) and client-final messages.
    words.extend(["n,,n=", "c=biws"].map(String::from));
    for w in &words {
        assert!(
            !all.contains(w.as_str()),
            "{w:?} appears in the agent's output: {}",
            stdout
                .iter()
                .find(|l| l.contains(w.as_str()))
                .map(String::as_str)
                .unwrap_or("")
        );
    }
    // Numbers are checked as whole tokens of attribute values (timestamps
    // and ids elsewhere in the output are digits too). Redis keys are not
    // values: `SET swit:k7 ?` may name its key.
    for s in spans {
        for (k, v) in &s.attrs {
            let text = match v {
                serde_json::Value::String(t) => t.clone(),
                other => other.to_string(),
            };
            for tok in text.split(|c: char| !c.is_ascii_alphanumeric()) {
                assert!(
                    ![ID1, ID2, ID3].contains(&tok),
                    "literal {tok:?} in {k}={text:?} of {s:?}"
                );
            }
            if k.contains("password") || k.contains("auth") {
                panic!("an auth attribute {k}={text:?} in {s:?}");
            }
        }
        for tok in s.name.split(|c: char| !c.is_ascii_alphanumeric()) {
            assert!(![ID1, ID2, ID3].contains(&tok), "literal in name {s:?}");
        }
    }
}

/// A shell, traced by the agent, that runs `script` once it reads `go`
/// (forked after the agent attached: the agent follows forks). It prints
/// `pid N` (the child's PID) and `exit N`.
struct Shell {
    proc: Proc,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Shell {
    fn start(script: &str, env: &[(&str, &str)]) -> Shell {
        require_tool("sh");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "read go; ( {script} ) >/dev/null 2>&1 & echo pid $!; wait $!; echo exit $?"
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut proc = Proc::spawn("sh", &mut cmd);
        let lines = collect_lines(proc.child.stdout.take().expect("stdout"));
        Shell { proc, lines }
    }

    fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Lets the script run; returns (its PID, its exit code) once done.
    fn go_and_wait(&mut self) -> (u32, i32) {
        writeln!(self.proc.child.stdin.as_mut().unwrap(), "go").unwrap();
        let line = |p: &str| -> Option<i64> {
            self.lines
                .lock()
                .unwrap()
                .iter()
                .find_map(|l| l.strip_prefix(p).and_then(|n| n.trim().parse().ok()))
        };
        let exit = wait_for("the traced script to finish", WAIT, || line("exit "));
        (line("pid ").unwrap() as u32, exit as i32)
    }
}

/// tests/fixtures/db_client.py with the pinned drivers, waiting for `go`.
struct PyClient {
    proc: Proc,
    lines: Arc<Mutex<Vec<String>>>,
    eof: Arc<AtomicBool>,
}

impl PyClient {
    fn start(scenario: &str, port: u16) -> PyClient {
        let python = pyenv::python();
        let mut proc = Proc::spawn(
            "db_client.py",
            Command::new(python)
                .arg(fixture("db_client.py"))
                .args([scenario, "127.0.0.1", &port.to_string()])
                .env("DB_PASSWORD", PASSWORD)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped()),
        );
        let (lines, eof) = collect_lines_until_eof(proc.child.stdout.take().expect("stdout"));
        let c = PyClient { proc, lines, eof };
        wait_for("db_client.py ready", WAIT, || {
            c.lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l == "ready")
                .then_some(())
        });
        c
    }

    fn pid(&self) -> u32 {
        self.proc.pid()
    }

    fn go_and_wait(&mut self) -> Vec<String> {
        let mut stdin = self.proc.child.stdin.take().expect("go once");
        writeln!(stdin, "go").expect("write go");
        drop(stdin);
        wait_for("db_client.py done", WAIT, || {
            let l = self.lines.lock().unwrap().clone();
            if l.iter().any(|x| x == "done") {
                return Some(l);
            }
            // Its stdout closed without `done`: it failed.
            if self.eof.load(Ordering::SeqCst) {
                let st = self.proc.child.wait();
                panic!("db_client.py exited ({st:?}) before done: {l:?}");
            }
            None
        })
    }
}

/// Waits until `pid` has at least `n` database spans (or fails showing
/// what it has), stops the agent, checks nothing secret was printed, and
/// returns the spans of `pid`.
fn finish(agent: Agent, pid: u32, what: &str, n: usize) -> Vec<SpanRec> {
    let deadline = std::time::Instant::now() + WAIT;
    while db_spans(&agent.spans(), pid).len() < n && std::time::Instant::now() < deadline {
        std::thread::park_timeout(Duration::from_millis(50));
    }
    let out = agent.stdout.clone();
    let stopped = agent.stop();
    let spans = db_spans(&stopped.spans, pid);
    assert!(
        spans.len() >= n,
        "{what}: want at least {n} database spans of pid {pid}, got {}:\n{}\nall spans: {:#?}",
        spans.len(),
        summary(&spans).join("\n"),
        summary(&stopped.spans)
    );
    assert_no_secrets(&out.lock().unwrap(), &stopped.spans);
    spans
}

#[test]
fn psql_simple_query_and_error() {
    require_tool("psql");
    let pg = Postgres::start();
    let mut sh = Shell::start(
        &format!(
            "psql -h 127.0.0.1 -p {} -U app -d appdb -X -c 'SELECT name FROM users WHERE id = {ID1}' \
             -c 'SELECT * FROM missing_table'",
            pg.port
        ),
        &[("PGPASSWORD", PASSWORD)],
    );
    let agent = Agent::start(&[sh.pid()], &[]);
    let (pid, exit) = sh.go_and_wait();
    assert_eq!(exit, 1, "psql reports the failed statement");
    let spans = finish(agent, pid, "psql", 2);
    let text = summary(&spans).join("\n");
    assert_eq!(spans.len(), 2, "one span per statement:\n{text}");
    assert_common(&spans, "postgresql", Some("appdb"), pg.port);
    let (ok, err) = (&spans[0], &spans[1]);
    assert_eq!(ok.name, "SELECT users", "{text}");
    assert_eq!(ok.attr_str("db.operation.name"), Some("SELECT"));
    assert_eq!(ok.attr_str("db.collection.name"), Some("users"));
    assert_eq!(
        ok.attr_str("db.query.text"),
        Some("SELECT name FROM users WHERE id = ?")
    );
    assert_eq!(ok.attr_int("db.response.returned_rows"), Some(1), "{text}");
    assert_eq!(ok.status_code, 0, "{ok:?}");
    assert!(ok.attr_str("db.response.status_code").is_none(), "{ok:?}");
    assert_eq!(err.name, "SELECT missing_table", "{text}");
    assert_eq!(
        err.attr_str("db.query.text"),
        Some("SELECT * FROM missing_table")
    );
    assert_error(err, "42P01");
}

#[test]
fn psycopg_simple_prepared_100_times_and_error() {
    let pg = Postgres::start();
    let mut client = PyClient::start("pg-psycopg", pg.port);
    let agent = Agent::start(&[client.pid()], &[]);
    let out = client.go_and_wait();
    assert!(out.iter().any(|l| l == "prepared rows 100"), "{out:?}");
    assert!(out.iter().any(|l| l == "error 42P01"), "{out:?}");
    // 2 SELECTs, PREPARE, 100 EXECUTEs, DEALLOCATE, the error.
    let spans = finish(agent, client.pid(), "psycopg", 105);
    let text = summary(&spans).join("\n");
    assert_common(&spans, "postgresql", Some("appdb"), pg.port);
    let selects: Vec<&SpanRec> = spans
        .iter()
        .filter(|s| s.attr_str("db.collection.name") == Some("users"))
        .collect();
    assert_eq!(selects.len(), 2, "{text}");
    for s in &selects {
        assert_eq!(s.name, "SELECT users");
        assert_eq!(
            s.attr_str("db.query.text"),
            Some("SELECT name FROM users WHERE id = ?")
        );
        assert_eq!(s.attr_int("db.response.returned_rows"), Some(1), "{s:?}");
    }
    let prepare: Vec<&SpanRec> = spans
        .iter()
        .filter(|s| s.attr_str("db.operation.name") == Some("PREPARE"))
        .collect();
    assert_eq!(prepare.len(), 1, "{text}");
    assert_eq!(
        prepare[0].attr_str("db.query.text"),
        Some("PREPARE by_id(int) AS SELECT name FROM users WHERE id = $1")
    );
    let executes: Vec<&SpanRec> = spans
        .iter()
        .filter(|s| s.attr_str("db.operation.name") == Some("EXECUTE"))
        .collect();
    assert_eq!(executes.len(), 100, "one span per EXECUTE:\n{text}");
    for s in &executes {
        assert_eq!(
            s.attr_str("db.query.text"),
            Some("EXECUTE by_id(?)"),
            "{s:?}"
        );
        assert_eq!(s.attr_int("db.response.returned_rows"), Some(1), "{s:?}");
        assert_eq!(s.status_code, 0);
    }
    assert_eq!(count(&spans, "DEALLOCATE", None), 1, "{text}");
    let errors: Vec<&SpanRec> = spans
        .iter()
        .filter(|s| s.attr_str("db.response.status_code").is_some())
        .collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert_eq!(errors[0].name, "SELECT missing_table");
    assert_error(errors[0], "42P01");
    assert_eq!(
        spans.len(),
        105,
        "nothing but the scenario's statements:\n{text}"
    );
}

/// `pgbench -S -t N` runs N times `SELECT abalance FROM pgbench_accounts
/// WHERE aid = :aid`: one span each. The connection setup (the scale
/// query, -n skips the vacuums) adds spans on other tables only.
fn pgbench(mode: &str, transactions: usize) {
    require_tool("pgbench");
    let pg = Postgres::start();
    pg.pgbench_init();
    // app_scram logs in with SCRAM-SHA-256.
    let mut sh = Shell::start(
        &format!(
            "pgbench -h 127.0.0.1 -p {} -U app_scram -n -S -M {mode} -c 1 -t {transactions} appdb",
            pg.port
        ),
        &[("PGPASSWORD", PASSWORD)],
    );
    let agent = Agent::start(&[sh.pid()], &[]);
    let (pid, exit) = sh.go_and_wait();
    assert_eq!(exit, 0, "pgbench failed");
    let spans = finish(agent, pid, "pgbench", transactions);
    let text = summary(&spans);
    assert_common(&spans, "postgresql", Some("appdb"), pg.port);
    let accounts: Vec<&SpanRec> = spans
        .iter()
        .filter(|s| s.attr_str("db.collection.name") == Some("pgbench_accounts"))
        .collect();
    assert_eq!(
        accounts.len(),
        transactions,
        "one span per statement; first spans: {:#?}",
        &text[..text.len().min(20)]
    );
    for s in &accounts {
        assert_eq!(s.name, "SELECT pgbench_accounts");
        assert_eq!(s.attr_str("db.operation.name"), Some("SELECT"));
        // Simple mode substitutes aid into the text (a literal, replaced);
        // extended and prepared send `$1` and the value as a parameter.
        let want = if mode == "simple" {
            "SELECT abalance FROM pgbench_accounts WHERE aid = ?"
        } else {
            "SELECT abalance FROM pgbench_accounts WHERE aid = $1"
        };
        // pgbench's script ends the statement with `;`, sent as is.
        assert_eq!(
            s.attr_str("db.query.text").map(|t| t.trim_end_matches(';')),
            Some(want),
            "{s:?}"
        );
        assert_eq!(s.attr_int("db.response.returned_rows"), Some(1), "{s:?}");
        assert_eq!(s.status_code, 0, "{s:?}");
    }
    // Everything else is pgbench's setup on other tables.
    let others: Vec<String> = spans
        .iter()
        .filter(|s| s.attr_str("db.collection.name") != Some("pgbench_accounts"))
        .map(|s| s.name.clone())
        .collect();
    assert!(others.len() <= 3, "unexpected extra spans: {others:?}");
}

#[test]
fn pgbench_select_only_1000_transactions_give_1000_spans() {
    pgbench("simple", 1000);
}

/// The extended protocol with a named statement parsed once and executed
/// 1000 times: each Bind/Execute is one span carrying the Parse's text.
#[test]
fn pgbench_prepared_statement_reused_1000_times() {
    pgbench("prepared", 1000);
}

/// Unnamed statements: Parse/Bind/Execute/Sync each time.
#[test]
fn pgbench_extended_protocol() {
    pgbench("extended", 200);
}

#[test]
fn mariadb_client_text_queries_and_error() {
    require_tool("mariadb");
    let db = Mariadb::start();
    let mut sh = Shell::start(
        &format!(
            "mariadb --no-defaults -h127.0.0.1 -P{} -uapp appdb -e \
             'SELECT name FROM users WHERE id = {ID1}; SELECT * FROM missing_table'",
            db.port
        ),
        &[("MYSQL_PWD", PASSWORD)],
    );
    let agent = Agent::start(&[sh.pid()], &[]);
    let (pid, exit) = sh.go_and_wait();
    assert_eq!(exit, 1, "the mariadb client reports the error");
    let spans = finish(agent, pid, "mariadb client", 2);
    let text = summary(&spans).join("\n");
    assert_common(&spans, "mariadb", Some("appdb"), db.port);
    let users: Vec<&SpanRec> = spans
        .iter()
        .filter(|s| s.attr_str("db.collection.name") == Some("users"))
        .collect();
    assert_eq!(users.len(), 1, "{text}");
    assert_eq!(users[0].name, "SELECT users");
    assert_eq!(
        users[0].attr_str("db.query.text"),
        Some("SELECT name FROM users WHERE id = ?")
    );
    assert_eq!(users[0].attr_int("db.response.returned_rows"), Some(1));
    let err: Vec<&SpanRec> = spans
        .iter()
        .filter(|s| s.attr_str("db.collection.name") == Some("missing_table"))
        .collect();
    assert_eq!(err.len(), 1, "{text}");
    assert_error(err[0], "1146");
    // The client's own `select @@version_comment` is the only other call.
    assert!(spans.len() <= 3, "{text}");
}

#[test]
fn pymysql_text_prepared_100_times_and_error() {
    let db = Mariadb::start();
    let mut client = PyClient::start("mysql-pymysql", db.port);
    let agent = Agent::start(&[client.pid()], &[]);
    let out = client.go_and_wait();
    assert!(out.iter().any(|l| l == "error 1146"), "{out:?}");
    assert!(out.iter().any(|l| l == "prepared rows 100"), "{out:?}");
    // 2 SELECTs, the error, PREPARE, SET, 100 EXECUTEs, DEALLOCATE.
    let spans = finish(agent, client.pid(), "pymysql", 106);
    let text = summary(&spans).join("\n");
    assert_common(&spans, "mariadb", Some("appdb"), db.port);
    let selects: Vec<&SpanRec> = spans
        .iter()
        .filter(|s| s.attr_str("db.collection.name") == Some("users"))
        .collect();
    assert_eq!(selects.len(), 2, "{text}");
    for s in &selects {
        assert_eq!(s.name, "SELECT users");
        assert_eq!(
            s.attr_str("db.query.text"),
            Some("SELECT name FROM users WHERE id = ?")
        );
        assert_eq!(s.attr_int("db.response.returned_rows"), Some(1), "{s:?}");
    }
    let errors: Vec<&SpanRec> = spans
        .iter()
        .filter(|s| s.attr_str("db.response.status_code").is_some())
        .collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert_eq!(errors[0].name, "SELECT missing_table");
    assert_error(errors[0], "1146");
    assert_eq!(count(&spans, "PREPARE", None), 1, "{text}");
    let executes: Vec<&SpanRec> = spans
        .iter()
        .filter(|s| s.attr_str("db.operation.name") == Some("EXECUTE"))
        .collect();
    assert_eq!(executes.len(), 100, "one span per EXECUTE:\n{text}");
    for s in &executes {
        assert_eq!(
            s.attr_str("db.query.text"),
            Some("EXECUTE by_id USING @x"),
            "{s:?}"
        );
        assert_eq!(s.attr_int("db.response.returned_rows"), Some(1), "{s:?}");
    }
    // PyMySQL's connection setup (SET AUTOCOMMIT) may add one call.
    assert!(spans.len() <= 107, "{text}");
}

#[test]
fn redis_cli_set() {
    require_tool("redis-cli");
    let r = Redis::start();
    let mut sh = Shell::start(
        &format!(
            "redis-cli -h 127.0.0.1 -p {} SET swit:cli psql-cli-qz",
            r.port
        ),
        &[("REDISCLI_AUTH", PASSWORD)],
    );
    let agent = Agent::start(&[sh.pid()], &[]);
    let (pid, exit) = sh.go_and_wait();
    assert_eq!(exit, 0, "redis-cli failed");
    let spans = finish(agent, pid, "redis-cli", 1);
    let text = summary(&spans).join("\n");
    assert_common(&spans, "redis", None, r.port);
    let sets: Vec<&SpanRec> = spans
        .iter()
        .filter(|s| s.attr_str("db.operation.name") == Some("SET"))
        .collect();
    assert_eq!(sets.len(), 1, "{text}");
    assert_eq!(sets[0].status_code, 0);
    // AUTH is a call too, or is left out; either way without its argument.
    assert!(spans.len() <= 2, "{text}");
}

#[test]
fn redis_py_100_pipelined_sets_in_one_write_give_100_spans() {
    let r = Redis::start();
    let mut client = PyClient::start("redis-pipeline", r.port);
    let agent = Agent::start(&[client.pid()], &[]);
    let out = client.go_and_wait();
    assert!(out.iter().any(|l| l == "pipelined 100"), "{out:?}");
    assert!(
        out.iter().any(|l| l.starts_with("error ResponseError")),
        "{out:?}"
    );
    // 100 SETs, PING, GET, SET, INCRBY (and AUTH, CLIENT SETINFO x2: Redis
    // 7.0 answers ERR to SETINFO, new in 7.2).
    let spans = finish(agent, client.pid(), "redis-py", 104);
    let text = summary(&spans).join("\n");
    assert_common(&spans, "redis", None, r.port);
    // The 100 pipelined, plus the one SET of the string before INCR.
    assert_eq!(count(&spans, "SET", None), 101, "{text}");
    assert_eq!(count(&spans, "GET", None), 1, "{text}");
    let incr: Vec<&SpanRec> = spans
        .iter()
        // redis-py's incr() sends INCRBY key 1.
        .filter(|s| s.attr_str("db.operation.name") == Some("INCRBY"))
        .collect();
    assert_eq!(incr.len(), 1, "{text}");
    assert_error(incr[0], "ERR");
    let get = spans
        .iter()
        .find(|s| s.attr_str("db.operation.name") == Some("GET"))
        .unwrap();
    assert_eq!(get.status_code, 0);
    // Pipelined calls follow each other on one connection, in order.
    let sets: Vec<&SpanRec> = spans
        .iter()
        .filter(|s| s.attr_str("db.operation.name") == Some("SET"))
        .collect();
    for w in sets.windows(2) {
        assert!(w[0].start <= w[1].start, "{w:?}");
    }
}

/// Every client at once under one agent; the whole of its output is
/// searched for the password, auth exchanges and the literal values.
#[test]
fn no_password_auth_bytes_or_literal_in_any_span() {
    require_tool("psql");
    require_tool("mariadb");
    require_tool("redis-cli");
    let pg = Postgres::start();
    let my = Mariadb::start();
    let r = Redis::start();
    let mut py_pg = PyClient::start("pg-psycopg", pg.port);
    let mut py_my = PyClient::start("mysql-pymysql", my.port);
    let mut py_r = PyClient::start("redis-pipeline", r.port);
    let mut sh = Shell::start(
        &format!(
            "psql -h 127.0.0.1 -p {pg} -U app -d appdb -X -c 'SELECT name FROM users WHERE id = {ID1}'; \
             psql -h 127.0.0.1 -p {pg} -U app_scram -d appdb -X -c \"SELECT id FROM users WHERE name = 'alice-zq81'\"; \
             mariadb --no-defaults -h127.0.0.1 -P{my} -uapp appdb -e \"SELECT id FROM users WHERE name = 'bob-kx52'\"; \
             redis-cli -h 127.0.0.1 -p {rp} SET swit:cli psql-cli-qz",
            pg = pg.port,
            my = my.port,
            rp = r.port
        ),
        &[
            ("PGPASSWORD", PASSWORD),
            ("MYSQL_PWD", PASSWORD),
            ("REDISCLI_AUTH", PASSWORD),
        ],
    );
    let agent = Agent::start(&[py_pg.pid(), py_my.pid(), py_r.pid(), sh.pid()], &[]);
    py_pg.go_and_wait();
    py_my.go_and_wait();
    py_r.go_and_wait();
    let (_, exit) = sh.go_and_wait();
    assert_eq!(exit, 0, "the command-line clients failed");
    let want = 105 + 106 + 104;
    let deadline = std::time::Instant::now() + WAIT;
    while agent
        .spans()
        .iter()
        .filter(|s| s.attrs.contains_key("db.system.name"))
        .count()
        < want + 4
        && std::time::Instant::now() < deadline
    {
        std::thread::park_timeout(Duration::from_millis(50));
    }
    let out = agent.stdout.clone();
    let stopped = agent.stop();
    let n = stopped
        .spans
        .iter()
        .filter(|s| s.attrs.contains_key("db.system.name"))
        .count();
    assert!(
        n >= want + 4,
        "the clients' calls were traced (else this test proves nothing): {n} database spans"
    );
    let lines = out.lock().unwrap().clone();
    assert_no_secrets(&lines, &stopped.spans);
    // Names read back by the SELECTs and sent as literals.
    for name in ["alice-zq81", "bob-kx52"] {
        assert!(!lines.join("\n").contains(name));
    }
}

#[test]
fn a_database_call_made_while_serving_a_request_is_its_child() {
    let redis = swit_tests::dbs::Redis::start();
    let svc = swit_tests::Service::start_with(
        "127.0.0.1",
        None,
        &[("REDIS_PW", swit_tests::dbs::PASSWORD)],
    );
    let agent = swit_tests::Agent::start(&[svc.proc.pid()], &[]);
    swit_tests::Client::start(svc.port, &[&format!("GET:/redis?port={}", redis.port)])
        .go_and_wait();
    let spans = agent.wait_spans(
        "the request and its two Redis calls",
        std::time::Duration::from_secs(30),
        |s| s.len() >= 3,
    );
    agent.stop();
    assert_eq!(spans.len(), 3, "{spans:?}");
    let server = spans
        .iter()
        .find(|s| s.kind == swit_tests::SERVER)
        .expect("server span");
    let calls: Vec<_> = spans
        .iter()
        .filter(|s| s.kind == swit_tests::CLIENT)
        .collect();
    let ops: Vec<&str> = calls
        .iter()
        .filter_map(|s| s.attr_str("db.operation.name"))
        .collect();
    assert_eq!(ops, ["AUTH", "GET"]);
    for c in calls {
        assert_eq!(c.trace_id, server.trace_id, "same trace");
        assert_eq!(
            c.parent_span_id, server.span_id,
            "child of the request being served"
        );
        assert!(
            server.start <= c.start && c.end <= server.end,
            "inside its request"
        );
        assert_eq!(c.attr_str("db.system.name"), Some("redis"));
    }
}
