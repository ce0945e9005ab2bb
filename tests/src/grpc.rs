//! gRPC peers over real HTTP/2: a Python server and client (grpcio, raw
//! bytes, no generated code: tests/fixtures/grpc_server.py and
//! grpc_client.py) and a Go server and client (grpc-go 1.33's health
//! service: tests/fixtures/go/src/grpcdemo), each on 127.0.0.1.
//!
//! Both clients take calls as `KIND:ARG[:DEADLINE_SECONDS]`, make them all
//! over one connection in order, and print one line per call, read here as
//! an [`Outcome`]:
//!
//! | peer | calls | server behaviour |
//! | --- | --- | --- |
//! | Python `demo.Greeter` | `unary:NAME` (SayHello), `stream:N` (ListGreetings), `collect:N` (CollectGreetings), `chat:N` (Chat, bidi) | `fail` NOT_FOUND "no such greeting", `boom` INTERNAL, `slow*` answers after 2 s |
//! | Go `grpc.health.v1.Health` | `check:SERVICE` (Check), `watch:SERVICE` (Watch: first status, then cancel) | `""` SERVING, `down` NOT_SERVING, other names NOT_FOUND "unknown service" (Check), `slow*` answers after 2 s |
use std::{
    collections::HashSet,
    fs::{File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
    process::{ChildStdin, Command, ExitStatus, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use crate::{Proc, announced_port, collect_lines_until_eof, fixture, pyenv, root, wait_for};

/// How long a peer may take to start (a first Go build is done before).
const START: Duration = Duration::from_secs(30);
/// How long one round of calls may take: the slow handlers answer in 2 s.
const ROUND: Duration = Duration::from_secs(60);

/// Debian's Go 1.19 (golang-1.19-go).
pub const GO: &str = "/usr/lib/go-1.19/bin/go";
/// Where golang-google-grpc-dev puts grpc-go, as a GOPATH entry.
const GOCODE: &str = "/usr/share/gocode";

/// What one call of a client came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The call as given, e.g. `unary:slow:0.3`.
    pub call: String,
    /// `ok`, or the gRPC status code's name as the spec spells it
    /// (`NOT_FOUND`, `DEADLINE_EXCEEDED`, ...).
    pub code: String,
    /// The reply (`hello alice`, the number of messages, `SERVING`) or the
    /// status message.
    pub detail: String,
}

impl Outcome {
    fn parse(line: &str) -> Outcome {
        let mut it = line.splitn(3, ' ');
        let call = it.next().unwrap_or_default().to_string();
        let code = it
            .next()
            .unwrap_or_else(|| panic!("not a call outcome: {line:?}"))
            .to_string();
        Outcome {
            call,
            code,
            detail: it.next().unwrap_or_default().to_string(),
        }
    }
}

/// The codes of `outcomes`, in order: what most assertions compare.
pub fn codes(outcomes: &[Outcome]) -> Vec<&str> {
    outcomes.iter().map(|o| o.code.as_str()).collect()
}

/// Starts a server that prints `listening PORT` and waits for that line.
fn start_server(name: &str, cmd: &mut Command) -> (Proc, u16) {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut proc = Proc::spawn(name, cmd);
    let (port, _) = announced_port(&mut proc, START);
    (proc, port)
}

/// tests/fixtures/grpc_server.py (`demo.Greeter`) on a free 127.0.0.1 port.
pub struct PyGrpcServer {
    pub proc: Proc,
    pub port: u16,
}

impl PyGrpcServer {
    pub fn start() -> PyGrpcServer {
        let python = pyenv::grpc();
        let (proc, port) = start_server(
            "grpc_server.py",
            Command::new(python)
                .arg(fixture("grpc_server.py"))
                .args(["--port", "0"]),
        );
        PyGrpcServer { proc, port }
    }
}

/// The Go peer's binary, built on first use (see [`go_build`]).
pub fn grpcdemo() -> PathBuf {
    go_build("grpcdemo")
}

/// grpcdemo's server (grpc.health.v1.Health) on a free 127.0.0.1 port.
pub struct GoGrpcServer {
    pub proc: Proc,
    pub port: u16,
}

impl GoGrpcServer {
    pub fn start() -> GoGrpcServer {
        Self::start_with(None)
    }

    /// Serving TLS with `cert` and `key` (PEM), e.g. [`crate::pki::TestPki`]'s
    /// server pair.
    pub fn start_tls(cert: &Path, key: &Path) -> GoGrpcServer {
        Self::start_with(Some((cert, key)))
    }

    fn start_with(tls: Option<(&Path, &Path)>) -> GoGrpcServer {
        let mut cmd = Command::new(grpcdemo());
        cmd.args(["server", "--addr", "127.0.0.1:0"]);
        if let Some((cert, key)) = tls {
            cmd.arg("--tls").arg(cert).arg(key);
        }
        let (proc, port) = start_server("grpcdemo server", &mut cmd);
        GoGrpcServer { proc, port }
    }
}

/// How a client is started.
#[derive(Debug, Clone, Default)]
pub struct ClientOpts {
    /// Connect, print `ready`, and make the calls only on [`GrpcClient::go`]:
    /// the connection exists before the agent is started.
    pub wait_stdin: bool,
    /// After each round, wait for another [`GrpcClient::go`] and make the
    /// calls again on the same connection.
    pub repeat_stdin: bool,
    /// Sent as `traceparent` metadata with every call.
    pub traceparent: Option<String>,
    /// The CA to verify the server with: TLS (Go client only).
    pub tls_ca: Option<PathBuf>,
}

/// A running gRPC client (Python or Go), its output read on a thread.
pub struct GrpcClient {
    pub proc: Proc,
    stdin: Option<ChildStdin>,
    /// Every line printed so far: `ready`, one per call, `done` per round.
    pub lines: Arc<Mutex<Vec<String>>>,
    eof: Arc<AtomicBool>,
    /// Lines already returned by a round.
    seen: usize,
}

impl GrpcClient {
    /// tests/fixtures/grpc_client.py to the Python server on `port`.
    pub fn start_python(port: u16, calls: &[&str], opts: &ClientOpts) -> GrpcClient {
        assert!(opts.tls_ca.is_none(), "the Python client speaks h2c only");
        let mut cmd = Command::new(pyenv::grpc());
        cmd.arg(fixture("grpc_client.py"))
            .args(["--port", &port.to_string()]);
        if let Some(t) = &opts.traceparent {
            cmd.args(["--traceparent", t]);
        }
        Self::start("grpc_client.py", cmd, calls, opts)
    }

    /// grpcdemo's client to the Go server on `port`.
    pub fn start_go(port: u16, calls: &[&str], opts: &ClientOpts) -> GrpcClient {
        let mut cmd = Command::new(grpcdemo());
        cmd.args(["client", "--addr", &format!("127.0.0.1:{port}")]);
        if let Some(t) = &opts.traceparent {
            cmd.args(["--traceparent", t]);
        }
        if let Some(ca) = &opts.tls_ca {
            cmd.arg("--tls-ca").arg(ca);
        }
        Self::start("grpcdemo client", cmd, calls, opts)
    }

    fn start(name: &str, mut cmd: Command, calls: &[&str], opts: &ClientOpts) -> GrpcClient {
        if opts.wait_stdin {
            cmd.arg("--wait-stdin");
        }
        if opts.repeat_stdin {
            cmd.arg("--repeat-stdin");
        }
        cmd.args(calls).stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut proc = Proc::spawn(name, &mut cmd);
        let stdin = proc.child.stdin.take();
        let (lines, eof) = collect_lines_until_eof(proc.child.stdout.take().expect("stdout"));
        let mut c = GrpcClient {
            proc,
            stdin,
            lines,
            eof,
            seen: 0,
        };
        if opts.wait_stdin {
            wait_for(&format!("{name} to connect"), START, || {
                c.check_alive();
                c.lines
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|l| l == "ready")
                    .then_some(())
            });
            c.seen = c.lines.lock().unwrap().len();
        }
        c
    }

    /// Runs the Python client once without waiting on stdin and returns
    /// its outcomes, once it has exited with success.
    pub fn run_python(port: u16, calls: &[&str]) -> Vec<Outcome> {
        Self::start_python(port, calls, &ClientOpts::default()).finish()
    }

    /// As [`GrpcClient::run_python`], for the Go client.
    pub fn run_go(port: u16, calls: &[&str]) -> Vec<Outcome> {
        Self::start_go(port, calls, &ClientOpts::default()).finish()
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Lets a waiting client make its calls (with `wait_stdin`, or for the
    /// next round with `repeat_stdin`) and returns that round's outcomes.
    pub fn go(&mut self) -> Vec<Outcome> {
        self.send_go();
        self.next_round()
    }

    /// Lets a waiting client make its calls, without waiting for them.
    pub fn send_go(&mut self) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "go").expect("write to the client's stdin");
        stdin.flush().expect("flush the client's stdin");
    }

    /// Waits for the next round's `done` and returns its outcomes.
    pub fn next_round(&mut self) -> Vec<Outcome> {
        let name = self.proc.name.clone();
        let round = wait_for(&format!("{name} to finish its calls"), ROUND, || {
            let lines = self.lines.lock().unwrap();
            let fresh = &lines[self.seen..];
            if let Some(end) = fresh.iter().position(|l| l == "done") {
                return Some(fresh[..end].to_vec());
            }
            drop(lines);
            self.check_alive();
            None
        });
        self.seen += round.len() + 1;
        round.iter().map(|l| Outcome::parse(l)).collect()
    }

    /// Closes stdin (a waiting client exits), waits for the exit, and
    /// returns the outcomes of the rounds not read yet, all together.
    pub fn finish(mut self) -> Vec<Outcome> {
        drop(self.stdin.take());
        let st = self.wait_exit();
        assert!(st.success(), "{} exited with {st}", self.proc.name);
        let lines = self.lines.lock().unwrap()[self.seen..].to_vec();
        lines
            .iter()
            .filter(|l| *l != "done" && *l != "ready")
            .map(|l| Outcome::parse(l))
            .collect()
    }

    /// Closes stdin and waits for the client to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        drop(self.stdin.take());
        let name = self.proc.name.clone();
        let st = wait_for(&format!("{name} to exit"), ROUND, || {
            self.proc.child.try_wait().ok().flatten()
        });
        wait_for(&format!("{name}'s output to end"), START, || {
            self.eof.load(Ordering::SeqCst).then_some(())
        });
        st
    }

    fn check_alive(&mut self) {
        if let Some(st) = self.proc.child.try_wait().ok().flatten() {
            panic!(
                "{} exited with {st}; printed {:?} (its stderr is above)",
                self.proc.name,
                self.lines.lock().unwrap()
            );
        }
    }
}

/// Established TCP connections (IPv4 or IPv6) of process `pid` to or from
/// `port` on the other end: how a test checks that calls shared one
/// connection.
pub fn tcp_connections(pid: u32, remote_port: u16) -> usize {
    let inodes: HashSet<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("cannot list /proc/{pid}/fd: {e}"))
        .flatten()
        .filter_map(|e| {
            let target = std::fs::read_link(e.path()).ok()?;
            target
                .to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect();
    ["tcp", "tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(format!("/proc/{pid}/net/{f}")).ok())
        .flat_map(|t| t.lines().skip(1).map(str::to_string).collect::<Vec<_>>())
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            f.len() > 9
                && f[3] == "01"
                && f[2]
                    .rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
                    == Some(remote_port)
                && f[9].parse().is_ok_and(|i: u64| inodes.contains(&i))
        })
        .count()
}

/// Packages already built by this process.
static BUILT: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Builds tests/fixtures/go/src/PKG with Debian's Go 1.19 in GOPATH mode
/// (GO111MODULE=off, GOPATH=tests/fixtures/go:/usr/share/gocode: nothing
/// is downloaded) into target/go/bin/PKG and returns that path. Built once
/// per test process (Go's cache under target/go/cache makes later builds
/// quick), under a file lock shared with other test processes.
pub fn go_build(pkg: &str) -> PathBuf {
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let dir = root().join("target/go");
    let bin = dir.join("bin").join(pkg);
    if built.get_or_insert_with(HashSet::new).contains(pkg) {
        return bin;
    }
    if !Path::new(GO).is_file() {
        panic!(
            "Go 1.19 is not installed ({GO}): run `cargo xtask setup` (installs golang-1.19-go)"
        );
    }
    if !Path::new(GOCODE)
        .join("src/google.golang.org/grpc")
        .is_dir()
    {
        panic!(
            "grpc-go is not installed ({GOCODE}/src/google.golang.org/grpc): run `cargo xtask \
             setup` (installs golang-google-grpc-dev)"
        );
    }
    std::fs::create_dir_all(dir.join("bin")).expect("create target/go/bin");
    let lock_path = dir.join("build.lock");
    let lock: File = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));
    // Built beside and renamed over: another test process may be running
    // the old binary, which a build writing in place would fail on (ETXTBSY).
    let tmp = dir
        .join("bin")
        .join(format!(".{pkg}.{}.tmp", std::process::id()));
    let gopath = std::env::join_paths([root().join("tests/fixtures/go"), PathBuf::from(GOCODE)])
        .expect("GOPATH");
    let out = Command::new(GO)
        .args(["build", "-o"])
        .arg(&tmp)
        .arg(pkg)
        .env("GO111MODULE", "off")
        .env("GOPATH", gopath)
        .env("GOCACHE", dir.join("cache"))
        .env("GOFLAGS", "")
        .env("GOTMPDIR", &dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {GO}: {e}"));
    if !out.status.success() {
        let _ = std::fs::remove_file(&tmp);
        panic!(
            "go build {pkg} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::rename(&tmp, &bin)
        .unwrap_or_else(|e| panic!("rename {} to {}: {e}", tmp.display(), bin.display()));
    built.as_mut().expect("set above").insert(pkg.to_string());
    bin
}
