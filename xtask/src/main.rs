//! `cargo xtask`: swit's developer commands.
//!
//! - `setup`  installs what building and testing need, idempotently
//! - `build`  builds the agent (kernel programs included)
//! - `test`   setup, lint, unit tests, root end-to-end tests
//! - `demo`   two uninstrumented Python services and a client, traced live
//! - `bench`  traced against untraced: docs/benchmarks.md, target/bench/results.json
mod bench;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install build and test prerequisites (apt packages, rust-src, bpf-linker).
    Setup,
    /// Build swit-agent with its kernel programs.
    Build {
        #[arg(long)]
        release: bool,
    },
    /// Install prerequisites and run every test: lint, unit, end-to-end (root).
    Test {
        /// Skip rustfmt and clippy.
        #[arg(long)]
        no_lint: bool,
        /// Only run tests whose name contains this.
        filter: Option<String>,
    },
    /// Trace two uninstrumented Python services and print their traces.
    Demo {
        /// How long to run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Measure tracing's cost and completeness (writes docs/benchmarks.md).
    Bench {
        /// Seconds of load per mode and round.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Rounds (modes interleaved in each).
        #[arg(long, default_value_t = 3)]
        rounds: u32,
    },
}

/// Debian packages for building (LLVM for bpf-linker) and for the tests'
/// real peers.
const APT_PACKAGES: &[&str] = &[
    "llvm-22-dev",
    "libpolly-22-dev",
    "libzstd-dev",
    "zlib1g-dev",
    "nginx",
    "curl",
    "wrk",
    "python3",
    "python3-venv",
    // Database peers of tests/tests/db.rs and their clients (psql, pgbench,
    // mariadb, redis-cli).
    "postgresql",
    "postgresql-contrib",
    "mariadb-server",
    "mariadb-client",
    "redis-server",
    "redis-tools",
    // HTTP/2 and gRPC peers of tests/tests/grpc_peers.rs: h2load and nghttp
    // (HTTP/2 clients), Go 1.19 and grpc-go 1.33 in GOPATH form (the Go gRPC
    // peer is built from tests/fixtures/go without module downloads).
    "nghttp2-client",
    "golang-1.19-go",
    "golang-google-grpc-dev",
    // The TLS tests' node https server (any node whose OpenSSL exports
    // SSL_read/SSL_write: Debian's links libssl, nodesource's its own).
    "nodejs",
];
/// bpf-linker links the kernel programs; this version builds against LLVM 22.
const BPF_LINKER_VERSION: &str = "0.13.0";
const LLVM_PREFIX: &str = "/usr/lib/llvm-22";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let st = cmd
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    if !st.success() {
        bail!("{shown} failed: {st}");
    }
    Ok(())
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn setup() -> Result<()> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| !succeeds(Command::new("dpkg").args(["-s", p])))
        .collect();
    if !missing.is_empty() {
        if !is_root() {
            bail!("missing packages {missing:?}: run as root (sudo cargo xtask setup)");
        }
        eprintln!("xtask: installing {missing:?}");
        run(Command::new("apt-get").arg("update").arg("-q"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    let has_src = Command::new("rustup")
        .args(["component", "list", "--toolchain", "nightly", "--installed"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("rust-src"));
    if !has_src {
        eprintln!("xtask: adding rust-src to the nightly toolchain");
        run(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            "nightly",
        ]))?;
    }
    let linker_ok = Command::new("bpf-linker")
        .arg("--version")
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains(BPF_LINKER_VERSION)
        });
    if !linker_ok {
        eprintln!("xtask: installing bpf-linker {BPF_LINKER_VERSION} (about a minute)");
        run(Command::new("cargo")
            .args(["install", "bpf-linker", "--version", BPF_LINKER_VERSION])
            .args(["--no-default-features", "--features", "llvm-22", "--force"])
            .env("LLVM_PREFIX", LLVM_PREFIX))?;
    }
    Ok(())
}

fn build(release: bool) -> Result<PathBuf> {
    let mut c = Command::new("cargo");
    c.current_dir(root()).args(["build", "-p", "swit-agent"]);
    if release {
        c.arg("--release");
    }
    run(&mut c)?;
    Ok(root()
        .join("target")
        .join(if release { "release" } else { "debug" })
        .join("swit-agent"))
}

fn test(no_lint: bool, filter: Option<String>) -> Result<()> {
    setup()?;
    if !no_lint {
        run(Command::new("cargo")
            .current_dir(root())
            .args(["fmt", "--all", "--check"]))?;
        run(Command::new("cargo").current_dir(root()).args([
            "clippy",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
    }
    let bin = build(false)?;
    if !is_root() {
        eprintln!(
            "xtask: end-to-end tests load eBPF programs and need root; run `sudo cargo xtask test`"
        );
    }
    let mut c = Command::new("cargo");
    c.current_dir(root())
        .args(["test", "--workspace", "--exclude", "swit-ebpf"])
        .env("SWIT_AGENT_BIN", &bin);
    if let Some(f) = filter {
        c.arg("--").arg(f);
    }
    run(&mut c)
}

/// Kills the child when dropped, so a failing demo leaves nothing behind.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_service(script: &Path, args: &[String]) -> Result<(Guard, u16)> {
    let mut child = Command::new("python3")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", script.display()))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line)?;
    let port = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("{} did not start: {line:?}", script.display()))?;
    Ok((Guard(child), port))
}

fn demo(seconds: u64) -> Result<()> {
    if !is_root() {
        bail!("the demo loads eBPF programs: run it as root (sudo cargo xtask demo)");
    }
    setup()?;
    let bin = build(false)?;
    let dir = root().join("examples/http-demo");
    let (backend, bport) = start_service(&dir.join("backend.py"), &[])?;
    let (frontend, fport) = start_service(
        &dir.join("frontend.py"),
        &["--backend".into(), format!("127.0.0.1:{bport}")],
    )?;
    eprintln!("xtask: frontend on :{fport} calls backend on :{bport}; attaching swit-agent");
    let mut agent = Guard(
        Command::new(&bin)
            .args([
                "run",
                "--pid",
                &frontend.0.id().to_string(),
                "--pid",
                &backend.0.id().to_string(),
            ])
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start swit-agent")?,
    );
    // Start the load only once the agent says it is tracing.
    let stderr = agent.0.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line?;
        eprintln!("{line}");
        if line.contains("tracing ") {
            break;
        }
    }
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            eprintln!("{line}");
        }
    });
    let client = Guard(
        Command::new("python3")
            .arg(dir.join("client.py"))
            .arg(format!("127.0.0.1:{fport}"))
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start the demo client")?,
    );
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        std::thread::park_timeout(end - Instant::now());
    }
    drop(client);
    // SIGINT lets the agent print what it still holds.
    run(Command::new("kill").args(["-INT", &agent.0.id().to_string()]))?;
    let _ = agent.0.wait();
    drop(frontend);
    drop(backend);
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Setup => setup(),
        Cmd::Build { release } => build(release).map(|_| ()),
        Cmd::Test { no_lint, filter } => test(no_lint, filter),
        Cmd::Demo { seconds } => demo(seconds),
        Cmd::Bench { seconds, rounds } => {
            if !is_root() {
                bail!("the bench loads eBPF programs: run it as root");
            }
            bench::bench(&build(true)?, seconds, rounds)
        }
    }
}
