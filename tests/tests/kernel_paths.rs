//! The portable paths the agent takes where a kernel lacks a feature
//! (docs/supported-kernels.md), exercised on a kernel that has them by
//! turning the features off (`--disable-kernel-feature`): without them no
//! test would ever load or run those programs. Real servers (nginx, and a
//! Python server that reads and writes through many iovecs), the real
//! kernel and agent. Needs root.
use std::{
    process::{Command, Stdio},
    time::Duration,
};

use swit_tests::{
    Agent, Client, Nginx, Proc, SERVER, SpanRec, fixture, listening_port, of_kind, require_tool,
    summary_counter, summary_line,
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
