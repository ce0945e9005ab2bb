//! The portable paths the agent takes where a kernel lacks a feature
//! (docs/supported-kernels.md), exercised on a kernel that has them by
//! turning the features off (`--disable-kernel-feature`): without them no
//! test would ever load or run those programs. Real servers (nginx, and a
//! Python server that reads and writes through many iovecs), the real
//! kernel and agent. Also what the kernel side decides from a file's
//! reference count: a close(2) that is not a socket's last reference (a
//! fork, dup2, SCM_RIGHTS) does not end its connection. Needs root.
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use swit_tests::{
    Agent, Client, Nginx, Proc, SERVER, SpanRec, announced_port, fixture, listening_port, of_kind,
    require_tool, summary_counter, summary_line, wait_for,
};

const WAIT: Duration = Duration::from_secs(30);

/// tests/fixtures/vectored_server.py: every read one recvmsg into `iovecs`
/// buffers of `size` bytes, every response one sendmsg of `iovecs` pieces.
struct VectoredServer {
    proc: Proc,
    port: u16,
}

impl VectoredServer {
    fn start(iovecs: u32, size: u32) -> VectoredServer {
        require_tool("python3");
        let mut cmd = Command::new("python3");
        cmd.arg(fixture("vectored_server.py"))
            .args([iovecs.to_string(), size.to_string()])
            .stdout(Stdio::piped());
        let mut proc = Proc::spawn("vectored_server.py", &mut cmd);
        let port = listening_port(&mut proc, "vectored_server.py");
        VectoredServer { proc, port }
    }
}

/// Path and status of each span.
fn paths_and_statuses(spans: &[SpanRec]) -> Vec<(String, i64)> {
    spans
        .iter()
        .map(|s| {
            (
                s.attr_str("url.path").unwrap_or("").to_string(),
                s.attr_int("http.response.status_code").unwrap_or(0),
            )
        })
        .collect()
}

/// nginx's server spans (its workers', not the master's pid), by start.
fn nginx_spans(spans: &[SpanRec]) -> Vec<SpanRec> {
    let mut v: Vec<SpanRec> = spans
        .iter()
        .filter(|s| {
            s.kind == SERVER
                && s.resource.get("service.name").and_then(|v| v.as_str()) == Some("nginx")
        })
        .cloned()
        .collect();
    v.sort_by_key(|s| s.start);
    v
}

/// The agent's "kernel: ..." startup line.
fn kernel_line(agent: &Agent) -> String {
    agent
        .stderr
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.contains("kernel: "))
        .cloned()
        .expect("the agent logs the paths it took")
}

const REQUESTS: [&str; 4] = ["GET:/alpha", "GET:/missing", "GET:/gamma", "GET:/delta"];

fn want() -> Vec<(String, i64)> {
    vec![
        ("/alpha".into(), 200),
        ("/missing".into(), 404),
        ("/gamma".into(), 200),
        ("/delta".into(), 200),
    ]
}

#[test]
fn without_bpf_loop_eight_iovecs_are_captured_and_more_are_counted() {
    require_tool("curl");
    // Eight 16-byte buffers: each request and response fills all eight.
    let within = VectoredServer::start(8, 16);
    // Twenty-four 8-byte ones: past what the unrolled walk reaches.
    let beyond = VectoredServer::start(24, 8);
    let nginx = Nginx::start();
    let agent = Agent::start(
        &[within.proc.pid(), beyond.proc.pid(), nginx.proc.pid()],
        &["--disable-kernel-feature", "bpf_loop"],
    );
    let line = kernel_line(&agent);
    assert!(
        line.contains(
            "iovecs unrolled (8 per syscall): bpf_loop turned off by agent.capture.disable_kernel_features"
        ),
        "{line}"
    );

    let mut c = Client::start(within.port, &REQUESTS);
    c.go_and_wait();
    let spans = agent.wait_spans("the within-bound server's 4 spans", WAIT, |s| {
        of_kind(s, within.proc.pid(), SERVER).len() >= 4
    });
    let got = paths_and_statuses(&of_kind(&spans, within.proc.pid(), SERVER));
    assert_eq!(got, want(), "every iovec of 8 was captured");

    // nginx writes a header and a body with writev, files with sendfile.
    let port = nginx.port;
    let st = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            &format!("http://127.0.0.1:{port}/ok"),
        ])
        .args([
            "-o",
            "/dev/null",
            &format!("http://127.0.0.1:{port}/file.bin"),
        ])
        .args([
            "-o",
            "/dev/null",
            &format!("http://127.0.0.1:{port}/missing"),
        ])
        .status()
        .expect("curl");
    assert!(st.success());
    let spans = agent.wait_spans("nginx's 3 spans", WAIT, |s| nginx_spans(s).len() >= 3);
    let got = paths_and_statuses(&nginx_spans(&spans));
    assert_eq!(
        got,
        vec![
            ("/ok".into(), 200),
            ("/file.bin".into(), 200),
            ("/missing".into(), 404)
        ]
    );

    let mut c = Client::start(beyond.port, &REQUESTS);
    c.go_and_wait();
    let stopped = agent.stop();
    let summary = summary_line(&stopped.stderr);
    assert!(
        summary_counter(&summary, "iov_overflow") > 0,
        "24 iovecs are past the unrolled walk, and counted: {summary}"
    );
    assert_eq!(summary_counter(&summary, "ringbuf_full"), 0, "{summary}");
}

#[test]
fn with_bpf_loop_twenty_four_iovecs_are_captured() {
    let beyond = VectoredServer::start(24, 8);
    let agent = Agent::start(&[beyond.proc.pid()], &[]);
    let line = kernel_line(&agent);
    assert!(
        line.contains("iovecs walked by bpf_loop (64 per syscall)"),
        "this kernel has bpf_loop (5.17+): {line}"
    );
    let mut c = Client::start(beyond.port, &REQUESTS);
    c.go_and_wait();
    let spans = agent.wait_spans("4 spans", WAIT, |s| {
        of_kind(s, beyond.proc.pid(), SERVER).len() >= 4
    });
    let stopped = agent.stop();
    let summary = summary_line(&stopped.stderr);
    let got = paths_and_statuses(&of_kind(&spans, beyond.proc.pid(), SERVER));
    assert_eq!(got, want(), "{summary}");
    assert_eq!(summary_counter(&summary, "iov_overflow"), 0, "{summary}");
    assert_eq!(summary_counter(&summary, "truncated"), 0, "{summary}");
}

/// The number in the start line's "N hooks attached".
fn hooks_attached(agent: &Agent) -> u64 {
    let line = agent.wait_line("the start line", WAIT, |l| l.contains("hooks attached"));
    line.split(" hooks attached")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no hook count in {line:?}"))
}

/// The benchmark's floor (`--floor`): the same hooks attached as when
/// tracing, every syscall program returning before it reads anything, so
/// requests leave no record at all. On 6.1 too: the verifier sees the
/// programs with their early return taken.
#[test]
fn the_floor_attaches_every_hook_and_captures_nothing() {
    require_tool("curl");
    let nginx = Nginx::start();
    let traced = Agent::start(&[nginx.proc.pid()], &[]);
    let want = hooks_attached(&traced);
    drop(traced.stop());
    let agent = Agent::start(&[nginx.proc.pid()], &["--floor"]);
    assert_eq!(hooks_attached(&agent), want, "the same hooks as tracing");
    let url = format!("http://127.0.0.1:{}/ok", nginx.port);
    for _ in 0..5 {
        let st = Command::new("curl")
            .args(["-s", "-o", "/dev/null", &url])
            .status()
            .expect("curl");
        assert!(st.success());
    }
    let stopped = agent.stop();
    let summary = summary_line(&stopped.stderr);
    for key in ["records", "connections", "spans"] {
        assert_eq!(summary_counter(&summary, key), 0, "{key}: {summary}");
    }
}

/// tests/fixtures/shared_server.py in `mode`: the connection is served by
/// a descriptor other than the one accept() returned, which is closed.
fn shared_server(mode: &str) -> (Proc, u16, Arc<Mutex<Vec<String>>>) {
    require_tool("python3");
    let mut cmd = Command::new("python3");
    cmd.arg(fixture("shared_server.py"))
        .arg(mode)
        .stdout(Stdio::piped());
    let mut proc = Proc::spawn("shared_server.py", &mut cmd);
    let (port, lines) = announced_port(&mut proc, WAIT);
    (proc, port, lines)
}

/// One keep-alive request: the status and the serving process (X-Pid),
/// or None when the server closed the connection instead of answering.
fn get(conn: &mut BufReader<TcpStream>, path: &str) -> Option<(i64, u32)> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: swit\r\nUser-Agent: swit-test\r\n\r\n");
    conn.get_mut().write_all(req.as_bytes()).expect("send");
    let mut status = String::new();
    if conn.read_line(&mut status).expect("read") == 0 {
        return None;
    }
    let code = status.split(' ').nth(1).and_then(|c| c.parse().ok());
    let (mut len, mut pid) = (0usize, 0u32);
    loop {
        let mut line = String::new();
        conn.read_line(&mut line).expect("read");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(": ").unwrap_or((line, ""));
        match name.to_ascii_lowercase().as_str() {
            "content-length" => len = value.parse().expect("a length"),
            "x-pid" => pid = value.parse().expect("a pid"),
            _ => {}
        }
    }
    let mut body = vec![0; len];
    conn.read_exact(&mut body).expect("body");
    Some((code.expect("a status"), pid))
}

/// The requests of every shared-socket test, and their statuses. /slow,
/// first, is answered 600 ms after it is read, past the 250 ms a close
/// waits before it takes effect: an early close (the acceptor's) would
/// cut it. The pauses between requests outlast that wait too.
const SHARED: [(&str, i64); 4] = [
    ("/slow", 200),
    ("/one", 200),
    ("/missing", 404),
    ("/two", 200),
];

/// Sends [`SHARED`] then /hangup (the server closes without answering, as
/// the last holder) over one connection; returns the serving process.
fn drive_shared(port: u16) -> u32 {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut conn = BufReader::new(stream);
    let mut pids = Vec::new();
    for (path, want) in SHARED {
        let (status, pid) = get(&mut conn, path).unwrap_or_else(|| panic!("{path}: no answer"));
        assert_eq!(status, want, "{path}");
        pids.push(pid);
        std::thread::sleep(Duration::from_millis(400));
    }
    assert_eq!(get(&mut conn, "/hangup"), None, "the server hangs up");
    pids.dedup();
    assert_eq!(pids.len(), 1, "one process served the connection: {pids:?}");
    pids[0]
}

/// Every request of [`drive_shared`] is one server span of the process
/// that served it, with its status, /hangup cut short by the close (which
/// only the last holder's close makes); nothing lost or misread, and one
/// connection.
fn assert_shared_spans(agent: Agent, server: u32) {
    let spans = agent.wait_spans("the 5 spans of the served connection", WAIT, |s| {
        of_kind(s, server, SERVER).len() >= 5
    });
    let stopped = agent.stop();
    let summary = summary_line(&stopped.stderr);
    let got = of_kind(&spans, server, SERVER);
    let mut want: Vec<(String, i64)> = SHARED.iter().map(|(p, s)| (p.to_string(), *s)).collect();
    want.push(("/hangup".into(), 0));
    assert_eq!(paths_and_statuses(&got), want, "{summary}");
    let cut = &got[4];
    assert_eq!(cut.status_code, 2, "an error: {cut:?}");
    assert_eq!(
        cut.attr_str("error.type"),
        Some("connection_closed"),
        "{cut:?}"
    );
    assert_eq!(
        stopped.spans.iter().filter(|s| s.kind == SERVER).count(),
        5,
        "no span of another process: {summary}"
    );
    for key in [
        "parse_errors",
        "uncaptured_bytes",
        "orphan_responses",
        "dropped_requests",
        "stale_chunks",
    ] {
        assert_eq!(summary_counter(&summary, key), 0, "{key}: {summary}");
    }
    assert_eq!(summary_counter(&summary, "connections"), 1, "{summary}");
}

/// A pre-fork server: the parent closes its copy of each connection right
/// after fork, the child serves it. The parent's close is not the socket's
/// release.
#[test]
fn shared_socket_fork_parent_closes_child_serves() {
    let (server, port, _lines) = shared_server("fork");
    let agent = Agent::start(&[server.pid()], &[]);
    let child = drive_shared(port);
    assert_ne!(child, server.pid(), "a child served");
    assert_shared_spans(agent, child);
}

/// The parent closes its copy and exits before the child first touches
/// the connection: the parent's exit does not end it either.
#[test]
fn shared_socket_fork_parent_exits_child_serves() {
    let (mut server, port, _lines) = shared_server("fork-exit");
    let agent = Agent::start(&[server.pid()], &[]);
    let child = drive_shared(port);
    let st = server.child.wait().expect("the parent's status");
    assert!(st.success(), "the parent exited after the fork: {st}");
    assert_shared_spans(agent, child);
}

/// dup2() of the accepted socket, close of the original, served on the
/// copy: one process, one connection, two descriptors in turn.
#[test]
fn shared_socket_dup2_then_close_the_original() {
    let (server, port, _lines) = shared_server("dup2");
    let agent = Agent::start(&[server.pid()], &[]);
    let pid = drive_shared(port);
    assert_eq!(pid, server.pid());
    assert_shared_spans(agent, pid);
}

/// The acceptor passes each connection to a worker process over a unix
/// socket (SCM_RIGHTS) and closes its copy; the worker serves it.
#[test]
fn shared_socket_passed_over_scm_rights() {
    let (server, port, lines) = shared_server("scm");
    let worker: u32 = wait_for("the worker's pid", WAIT, || {
        lines
            .lock()
            .unwrap()
            .iter()
            .find_map(|l| l.strip_prefix("worker ")?.parse().ok())
    });
    let agent = Agent::start(&[server.pid(), worker], &[]);
    let pid = drive_shared(port);
    assert_eq!(pid, worker, "the worker served");
    assert_shared_spans(agent, pid);
    // SAFETY: kill(2) of the fixture's worker, which outlives no test.
    unsafe { libc::kill(worker as i32, libc::SIGKILL) };
}
