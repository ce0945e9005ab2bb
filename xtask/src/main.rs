//! `cargo xtask`: swit's developer commands.
//!
//! - `setup`  installs what building and testing need, idempotently
//! - `build`  builds the agent (kernel programs included)
//! - `test`   setup, lint, unit tests, root end-to-end tests; with
//!   `--kernel VMLINUZ`, the end-to-end tests in a qemu guest booted on
//!   that kernel instead (e.g. Debian's 6.1: `/boot/vmlinuz-6.1.0-*-amd64`)
//! - `demo`   the five-service shop of examples/shop, traced live (`--minimal`: two services)
//! - `bench`  traced against untraced: docs/benchmarks.md, target/bench/results.json
//! - `fuzz`   every fuzz target for a while (docs/fuzzing.md)
mod bench;
mod demo;
mod fuzz;
mod guest;
mod term;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
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
    /// Install build and test prerequisites (apt packages, rust-src, bpf-linker,
    /// virtme-ng for `test --kernel`).
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
        /// Run the root end-to-end tests in a qemu guest booted on this
        /// kernel image (virtme-ng, TCG), not on the host's kernel; lint,
        /// unit tests and fuzzing are skipped (they do not depend on it).
        #[arg(long, value_name = "VMLINUZ")]
        kernel: Option<PathBuf>,
        /// With --kernel: only this end-to-end test file (tests/tests/NAME.rs);
        /// repeatable.
        #[arg(long = "test", value_name = "NAME", requires = "kernel")]
        tests: Vec<String>,
        /// Only run tests whose name contains one of these.
        filters: Vec<String>,
    },
    /// Trace the five uninstrumented services of examples/shop and print
    /// their traces (root: it loads eBPF programs).
    Demo {
        /// Seconds of load [default: 60, 10 with --minimal].
        #[arg(long)]
        seconds: Option<u64>,
        /// Two Python services (examples/http-demo) instead of the shop.
        #[arg(long)]
        minimal: bool,
        /// Send the spans to this OTLP/gRPC collector (Jaeger:
        /// http://localhost:4317) instead of printing them.
        #[arg(long, value_name = "URL")]
        otlp: Option<String>,
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
    /// Fuzz the protocol parsers and the reassembler (cargo-fuzz, nightly),
    /// seeded from the unit tests: see docs/fuzzing.md.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Only these targets (default: all).
        targets: Vec<String>,
    },
}

/// Seconds each fuzz target runs in `cargo xtask test` (CI).
const CI_FUZZ_SECONDS: u64 = 20;

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
    // The shop demo's Go services (examples/shop: user and inventory use
    // lib/pq); its node service needs npm too (see `setup`).
    "golang-github-lib-pq-dev",
    // The TLS tests' node https server (any node whose OpenSSL exports
    // SSL_read/SSL_write: Debian's links libssl, nodesource's its own).
    "nodejs",
    // `test --kernel`: a qemu guest (virtme-ng, see guest.rs) and its
    // second kernel, Debian 12's 6.1 (/boot/vmlinuz-6.1.0-*-amd64; the
    // CI machine boots its own kernel, not /boot's).
    "qemu-system-x86",
    "busybox-static",
    "linux-image-amd64",
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
    let mut missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| !succeeds(Command::new("dpkg").args(["-s", p])))
        .collect();
    // Debian's nodejs comes without npm, nodesource's with it (and conflicts
    // with Debian's npm package): ask for the command, not the package.
    if !succeeds(Command::new("npm").arg("--version")) {
        missing.push("npm");
    }
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
    setup_nightly()?;
    guest::setup()?;
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

/// Nightly with rust-src: the kernel programs (`-Z build-std`) and the
/// fuzz targets (coverage instrumentation) build with it.
fn setup_nightly() -> Result<()> {
    if !succeeds(Command::new("cargo").args(["+nightly", "--version"])) {
        eprintln!("xtask: installing the nightly toolchain");
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
        ]))?;
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
    Ok(())
}

fn build(release: bool, quiet: bool) -> Result<PathBuf> {
    let mut c = Command::new("cargo");
    c.current_dir(root()).args(["build", "-p", "swit-agent"]);
    if release {
        c.arg("--release");
    }
    if quiet {
        c.arg("--quiet");
    }
    run(&mut c)?;
    Ok(root()
        .join("target")
        .join(if release { "release" } else { "debug" })
        .join("swit-agent"))
}

fn test(
    no_lint: bool,
    filters: Vec<String>,
    kernel: Option<PathBuf>,
    tests: Vec<String>,
) -> Result<()> {
    setup()?;
    if let Some(kernel) = kernel {
        if !is_root() {
            bail!(
                "the guest's tests load eBPF programs: run as root (sudo cargo xtask test --kernel ..)"
            );
        }
        let bin = build(false, false)?;
        return guest::test(&kernel, &bin, &tests, &filters);
    }
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
    let bin = build(false, false)?;
    if !is_root() {
        eprintln!(
            "xtask: end-to-end tests load eBPF programs and need root; run `sudo cargo xtask test`"
        );
    }
    let fuzz_too = filters.is_empty();
    let _ = std::fs::remove_dir_all(fuzz::raw_seeds());
    let mut c = Command::new("cargo");
    c.current_dir(root())
        // Every test binary runs even after one fails: one run shows them all.
        .args([
            "test",
            "--no-fail-fast",
            "--workspace",
            "--exclude",
            "swit-ebpf",
        ])
        .env("SWIT_AGENT_BIN", &bin)
        // The protocol tests write the fuzz targets' seeds as they run.
        .env("SWIT_FUZZ_SEEDS", fuzz::raw_seeds());
    if !filters.is_empty() {
        c.arg("--").args(&filters);
    }
    run(&mut c)?;
    if fuzz_too {
        fuzz::fuzz(CI_FUZZ_SECONDS, &[], true)?;
    }
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Setup => setup(),
        Cmd::Build { release } => build(release, false).map(|_| ()),
        Cmd::Test {
            no_lint,
            filters,
            kernel,
            tests,
        } => test(no_lint, filters, kernel, tests),
        Cmd::Demo {
            seconds,
            minimal,
            otlp,
        } => {
            if !is_root() {
                eprintln!(
                    "xtask: the demo loads eBPF programs: run it as root (sudo cargo xtask demo)"
                );
                std::process::exit(2);
            }
            setup()?;
            let bin = build(false, true)?;
            match minimal {
                true => demo::minimal(&bin, seconds.unwrap_or(10), otlp.as_deref()),
                false => demo::shop(&bin, seconds.unwrap_or(60), otlp.as_deref()),
            }
        }
        Cmd::Fuzz { seconds, targets } => {
            setup_nightly()?;
            fuzz::fuzz(seconds, &targets, false)
        }
        Cmd::Bench { seconds, rounds } => {
            if !is_root() {
                bail!("the bench loads eBPF programs: run it as root");
            }
            bench::bench(&build(true, false)?, seconds, rounds)
        }
    }
}
