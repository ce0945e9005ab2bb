//! Helpers for swit's end-to-end tests: start real services and the real
//! agent, read the spans it prints as OTLP/JSON, wait on conditions with
//! deadlines.
//!
//! These tests load kernel programs: they need root and the tools that
//! `cargo xtask test` installs, and say so when those are missing.
use std::{
    io::{BufRead, BufReader, Write},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// Fails the test with what is missing, unless running as root.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!("end-to-end tests load eBPF programs and need root: run `sudo cargo xtask test`");
    }
}

/// Fails the test naming the tool when `cmd` is not installed.
pub fn require_tool(cmd: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        .unwrap_or(false);
    if !found {
        panic!(
            "`{cmd}` is not installed: run `cargo xtask setup` (or `cargo xtask test`, which runs it)"
        );
    }
}

/// The agent binary: $SWIT_AGENT_BIN or target/debug/swit-agent.
pub fn agent_bin() -> PathBuf {
    let p = std::env::var_os("SWIT_AGENT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/debug/swit-agent"));
    if !p.is_file() {
        panic!(
            "{} not found: build it with `cargo build -p swit-agent` (cargo xtask test does)",
            p.display()
        );
    }
    p
}

/// Writes a YAML configuration for one test under target/e2e.
pub fn write_config(name: &str, text: &str) -> PathBuf {
    let dir = root().join("target/e2e");
    std::fs::create_dir_all(&dir).expect("create target/e2e");
    let p = dir.join(format!("{name}-{}.yaml", std::process::id()));
    std::fs::write(&p, text).expect("write the configuration");
    p
}

/// The number after `key=` in the agent's summary line.
pub fn summary_counter(summary: &str, key: &str) -> u64 {
    summary
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in {summary}"))
}

/// The agent's summary line among what it printed.
pub fn summary_line(stderr: &[String]) -> String {
    stderr
        .iter()
        .find(|l| l.contains("stopped;"))
        .cloned()
        .expect("summary line")
}

/// Asserts that `tls` connections were parsed from TLS plaintext and that
/// no ciphertext was: the kernel held ciphertext back, and nothing failed
/// to parse, to be detected, or to be tied to its socket. Fed ciphertext,
/// the parsers would fail and the spans would be missing.
pub fn assert_tls_plaintext_only(summary: &str, tls: u64) {
    assert!(
        summary_counter(summary, "ciphertext_syscalls") > 0,
        "the kernel held ciphertext back: {summary}"
    );
    for k in [
        "parse_errors",
        "undetected",
        "orphan_responses",
        "unbound_plaintext",
        "go_tls_no_socket",
    ] {
        assert_eq!(summary_counter(summary, k), 0, "{k}: {summary}");
    }
    let tls_part = summary.split("| tls:").nth(1).expect("tls counters");
    assert_eq!(
        summary_counter(tls_part, "connections"),
        tls,
        "every connection parsed from plaintext: {summary}"
    );
    assert!(summary_counter(tls_part, "libraries") >= 1, "{summary}");
}

pub fn unprivileged_agent(args: &[&str]) -> Command {
    require_tool("setpriv");
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
    ])
    .arg(agent_bin())
    .args(args);
    c
}

/// A port nobody listens on right now.
///
/// Picked below the kernel's ephemeral range, and never twice in one test
/// process. A port from `bind(:0)` is released before the server binds it,
/// and meanwhile any outgoing connection of a parallel test (curl, an
/// agent's exporter) or another `bind(:0)` may take it: the server then
/// fails to start, or a test talks to the wrong peer. Ports below the
/// range are never handed out by the kernel.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    let (first, span) = (10_000u32, low.saturating_sub(10_000).max(1_000));
    // Test processes run one after another, but a port a finished one
    // used may still have connections closing: start elsewhere.
    let start = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (first + (start + n) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {first}..{}", first + span)
}

/// `d` stretched by `SWIT_TEST_TIME_SCALE` (default 1): `cargo xtask test
/// --kernel` runs the tests in an emulated guest, many times slower. Every
/// deadline goes through this; deadlines bound waiting, they never decide
/// a pass.
pub fn scaled(d: Duration) -> Duration {
    let k = std::env::var("SWIT_TEST_TIME_SCALE")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|&k| k >= 1)
        .unwrap_or(1);
    d * k
}

/// Waits until `f` returns Some, or panics after `timeout` (scaled, see
/// [`scaled`]) saying `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let timeout = scaled(timeout);
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::park_timeout(Duration::from_millis(20));
    }
}

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            child,
            name: name.into(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal.
    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads lines of a child's stdout on a thread into a shared vector.
pub fn collect_lines(out: ChildStdout) -> Arc<Mutex<Vec<String>>> {
    collect_lines_until_eof(out).0
}

/// As [`collect_lines`], with a flag set once the pipe is closed.
pub fn collect_lines_until_eof(out: ChildStdout) -> (Arc<Mutex<Vec<String>>>, Arc<AtomicBool>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let eof = Arc::new(AtomicBool::new(false));
    let (l, e) = (lines.clone(), eof.clone());
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            l.lock().unwrap().push(line);
        }
        e.store(true, Ordering::SeqCst);
    });
    (lines, eof)
}

/// A child's stdout, read on a thread: its lines so far and whether it ended.
pub type Output = (Arc<Mutex<Vec<String>>>, Arc<AtomicBool>);

/// Waits for `proc` to exit and for its stdout to end, since the reading
/// thread can be behind the exit: the status and every line printed.
pub fn wait_exit(proc: &mut Proc, out: &Output, timeout: Duration) -> (ExitStatus, Vec<String>) {
    let what = format!("{} to finish", proc.name);
    let st = wait_for(&what, timeout, || proc.child.try_wait().ok().flatten());
    wait_for(&format!("{}'s output to end", proc.name), timeout, || {
        out.1.load(Ordering::SeqCst).then_some(())
    });
    (st, out.0.lock().unwrap().clone())
}

/// The Python test service (tests/fixtures/service.py) on a free port.
pub struct Service {
    pub proc: Proc,
    pub port: u16,
}

impl Service {
    pub fn start(upstream: Option<u16>) -> Service {
        Self::start_on("127.0.0.1", upstream)
    }

    /// Listens on `bind` (an IPv4 or IPv6 address).
    pub fn start_on(bind: &str, upstream: Option<u16>) -> Service {
        Self::start_with(bind, upstream, &[])
    }

    /// As [`Service::start_on`], with extra environment for the service.
    pub fn start_with(bind: &str, upstream: Option<u16>, env: &[(&str, &str)]) -> Service {
        require_tool("python3");
        let mut cmd = Command::new("python3");
        cmd.arg(fixture("service.py"))
            .args(["--bind", bind])
            .stdout(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(u) = upstream {
            cmd.arg("--upstream").arg(format!("127.0.0.1:{u}"));
        }
        let mut proc = Proc::spawn("service.py", &mut cmd);
        let port = listening_port(&mut proc, "service.py");
        Service { proc, port }
    }
}

/// The port a fixture server announces as its first line, `listening PORT`.
pub fn listening_port(proc: &mut Proc, name: &str) -> u16 {
    let mut line = String::new();
    BufReader::new(proc.child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the server's port");
    line.trim()
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{name} did not start: {line:?}"))
}

/// Collects a fixture server's stdout and waits for its `listening PORT`
/// line, failing at once if the server exits first: the port, and its
/// lines (those to come included).
pub fn announced_port(proc: &mut Proc, timeout: Duration) -> (u16, Arc<Mutex<Vec<String>>>) {
    let (lines, _) = collect_lines_until_eof(proc.child.stdout.take().expect("stdout"));
    let name = proc.name.clone();
    let port = wait_for(&format!("{name} to listen"), timeout, || {
        if let Some(st) = proc.child.try_wait().ok().flatten() {
            panic!("{name} exited with {st} before listening (its stderr is above)");
        }
        lines.lock().unwrap().iter().find_map(|l| {
            l.strip_prefix("listening ")
                .map(|p| p.trim().parse::<u16>().expect("a port"))
        })
    });
    (port, lines)
}

/// The first of `lines` satisfying `cond`, waited for.
fn first_line(
    lines: &Mutex<Vec<String>>,
    what: &str,
    timeout: Duration,
    cond: impl Fn(&str) -> bool,
) -> String {
    wait_for(what, timeout, || {
        lines.lock().unwrap().iter().find(|l| cond(l)).cloned()
    })
}

/// As [`wait_for`], but gives up quietly.
pub fn wait_for_opt<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + scaled(timeout);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::park_timeout(Duration::from_millis(20));
    }
}

/// The keep-alive test client (tests/fixtures/client.py), started and
/// waiting for `go()` so the agent can attach first.
pub struct Client {
    pub proc: Proc,
    stdin: Option<ChildStdin>,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Client {
    pub fn start(port: u16, requests: &[&str]) -> Client {
        Self::start_to("127.0.0.1", port, requests)
    }

    /// A client of `host` (an IPv4 or IPv6 address).
    pub fn start_to(host: &str, port: u16, requests: &[&str]) -> Client {
        let mut cmd = Command::new("python3");
        cmd.arg(fixture("client.py"))
            .arg(format!("{host}:{port}"))
            .args(requests)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut proc = Proc::spawn("client.py", &mut cmd);
        let stdin = proc.child.stdin.take();
        let lines = collect_lines(proc.child.stdout.take().expect("stdout"));
        let c = Client { proc, stdin, lines };
        wait_for("client ready", Duration::from_secs(10), || {
            c.lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l == "ready")
                .then_some(())
        });
        c
    }

    /// Lets the client send its requests and waits until it is done.
    pub fn go_and_wait(&mut self) -> Vec<String> {
        let mut stdin = self.stdin.take().expect("go once");
        writeln!(stdin, "go").expect("write go");
        drop(stdin);
        wait_for("client done", Duration::from_secs(30), || {
            let l = self.lines.lock().unwrap();
            l.iter().any(|x| x == "done").then(|| l.clone())
        })
    }
}

/// OTLP span kinds.
pub const SERVER: i64 = 2;
pub const CLIENT: i64 = 3;

/// The spans of one process and kind, by start time.
pub fn of_kind(spans: &[SpanRec], pid: u32, kind: i64) -> Vec<SpanRec> {
    let mut v: Vec<SpanRec> = spans
        .iter()
        .filter(|s| s.pid() == Some(pid as i64) && s.kind == kind)
        .cloned()
        .collect();
    v.sort_by_key(|s| s.start);
    v
}

/// swit-agent run with any exporter (its stdout is not read); its stderr is
/// kept for the summary line.
pub struct ExportingAgent {
    proc: Proc,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl ExportingAgent {
    /// Starts `swit-agent run ARGS` with extra environment and waits until it
    /// says it is tracing.
    pub fn start(args: &[String], env: &[(&str, &str)]) -> ExportingAgent {
        require_root();
        let mut cmd = Command::new(agent_bin());
        cmd.arg("run")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut proc = Proc::spawn("swit-agent", &mut cmd);
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let e = stderr.clone();
        let err = proc.child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[agent] {line}");
                e.lock().unwrap().push(line);
            }
        });
        let a = ExportingAgent { proc, stderr };
        wait_for("the agent to attach", Duration::from_secs(60), || {
            let l = a.stderr.lock().unwrap();
            if let Some(bad) = l.iter().find(|l| l.starts_with("swit-agent:")) {
                panic!("agent failed: {bad}");
            }
            l.iter().any(|l| l.contains("tracing ")).then_some(())
        });
        a
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Sends a signal to the agent.
    pub fn signal(&self, sig: i32) {
        self.proc.signal(sig);
    }

    /// How many stderr lines satisfy `cond` so far.
    pub fn count_lines(&self, cond: impl Fn(&str) -> bool) -> usize {
        self.stderr
            .lock()
            .unwrap()
            .iter()
            .filter(|l| cond(l))
            .count()
    }

    /// The first stderr line satisfying `cond`, waited for.
    pub fn wait_line(&self, what: &str, timeout: Duration, cond: impl Fn(&str) -> bool) -> String {
        first_line(&self.stderr, what, timeout, cond)
    }

    /// SIGINT; waits for the exit and returns the summary line.
    pub fn stop(mut self) -> String {
        self.proc.signal(libc::SIGINT);
        let st = wait_for("the agent to exit", Duration::from_secs(30), || {
            self.proc.child.try_wait().ok().flatten()
        });
        assert!(
            st.success(),
            "agent exit {st}: {:?}",
            self.stderr.lock().unwrap()
        );
        wait_for("the summary line", Duration::from_secs(10), || {
            self.stderr
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains("stopped;"))
                .cloned()
        })
    }
}

/// A running swit-agent printing OTLP/JSON.
pub struct Agent {
    pub proc: Proc,
    pub stdout: Arc<Mutex<Vec<String>>>,
    stdout_eof: Arc<AtomicBool>,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    /// Starts the agent on `pids` and waits until it says it is tracing.
    pub fn start(pids: &[u32], extra: &[&str]) -> Agent {
        require_root();
        let mut cmd = Command::new(agent_bin());
        cmd.arg("run").args(["--console-format", "otlp-json"]);
        for p in pids {
            cmd.arg("--pid").arg(p.to_string());
        }
        // SWIT_TEST_AGENT_LOG=trace shows every event when a test must be
        // understood after the fact.
        let log = std::env::var("SWIT_TEST_AGENT_LOG").unwrap_or_else(|_| "info".into());
        cmd.args(extra)
            .env("RUST_LOG", log)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut proc = Proc::spawn("swit-agent", &mut cmd);
        let (stdout, stdout_eof) =
            collect_lines_until_eof(proc.child.stdout.take().expect("stdout"));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let e = stderr.clone();
        let err = proc.child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { return };
                eprintln!("[agent] {line}");
                e.lock().unwrap().push(line);
            }
        });
        let a = Agent {
            proc,
            stdout,
            stdout_eof,
            stderr,
        };
        wait_for("the agent to attach", Duration::from_secs(60), || {
            if let Ok(Some(st)) = a.proc.child.try_wait_ref() {
                panic!(
                    "swit-agent exited with {st} before attaching: {:?}",
                    a.stderr.lock().unwrap()
                );
            }
            a.stderr
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains("tracing "))
                .then_some(())
        });
        a
    }

    /// The first stderr line satisfying `cond`, waited for.
    pub fn wait_line(&self, what: &str, timeout: Duration, cond: impl Fn(&str) -> bool) -> String {
        first_line(&self.stderr, what, timeout, cond)
    }

    /// Every span printed so far.
    pub fn spans(&self) -> Vec<SpanRec> {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .flat_map(|l| parse_otlp_line(l))
            .collect()
    }

    /// Waits until the printed spans satisfy `cond`. On timeout the agent
    /// is stopped first, so the failure shows its summary line (where
    /// anything was lost) and how many spans came.
    pub fn wait_spans(
        &self,
        what: &str,
        timeout: Duration,
        cond: impl Fn(&[SpanRec]) -> bool,
    ) -> Vec<SpanRec> {
        let timeout = scaled(timeout);
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.spans();
            if cond(&s) {
                return s;
            }
            if Instant::now() > deadline {
                self.proc.signal(libc::SIGINT);
                let summary = wait_for_opt(Duration::from_secs(20), || {
                    self.stderr
                        .lock()
                        .unwrap()
                        .iter()
                        .find(|l| l.contains("stopped;"))
                        .cloned()
                })
                .unwrap_or_else(|| "no summary line".into());
                panic!(
                    "timed out after {timeout:?} waiting for {what}: {} spans came; agent: {summary}",
                    s.len()
                );
            }
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }

    /// SIGINT, then waits for a clean exit; returns what it printed.
    pub fn stop(mut self) -> Stopped {
        self.proc.signal(libc::SIGINT);
        let st = wait_for("the agent to exit", Duration::from_secs(30), || {
            self.proc.child.try_wait().ok().flatten()
        });
        assert!(
            st.success(),
            "agent exit status {st}; stderr: {:?}",
            self.stderr.lock().unwrap()
        );
        // The output threads end at EOF; wait for stdout's end and for the
        // summary line, the agent's last words.
        wait_for("the agent's output to end", Duration::from_secs(10), || {
            let summary = self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains("stopped;"));
            (summary && self.stdout_eof.load(Ordering::SeqCst)).then_some(())
        });
        Stopped {
            stderr: self.stderr.lock().unwrap().clone(),
            spans: self.spans(),
        }
    }
}

/// What a stopped agent printed.
pub struct Stopped {
    pub stderr: Vec<String>,
    pub spans: Vec<SpanRec>,
}

trait TryWaitRef {
    fn try_wait_ref(&self) -> std::io::Result<Option<std::process::ExitStatus>>;
}

impl TryWaitRef for Child {
    fn try_wait_ref(&self) -> std::io::Result<Option<std::process::ExitStatus>> {
        // `try_wait` needs &mut; peek through /proc instead of racing the owner.
        let pid = self.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.is_empty()
            || stat
                .rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        {
            return Ok(Some(std::process::ExitStatus::default()));
        }
        Ok(None)
    }
}

pub mod dbs;
pub mod deploy;
pub mod faults;
pub mod grpc;
pub mod h2load;
pub mod load;
mod nginx;
pub mod otel_python;
pub mod otlp_receiver;
pub mod pki;
pub mod pyenv;
pub mod rotel;
pub mod scrape;
pub mod shop;
mod spans;

pub use nginx::{NGINX_H2_API_BODY, NGINX_H2_ROOT_BODY, Nginx};
pub use spans::{SpanRec, parse_otlp_line};
