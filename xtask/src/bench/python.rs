//! Scenario 2: a Python service (service.py: Flask on waitress, one
//! PostgreSQL query per request) under wrk; untraced, traced by swit, and
//! instrumented with the OpenTelemetry Python SDK (`opentelemetry-instrument`,
//! Flask and psycopg2 instrumentations, OTLP/HTTP to the same rotel).
//!
//! Every mode starts the same file with the same interpreter from the same
//! venv; a fresh service per run, so each run opens its own connections.
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{Context, Result, bail};

use super::{
    Mode, Results, Run,
    agent::{Agent, cpu_us, free_port, wait_listen},
    load::wrk,
    pg::Postgres,
    rotel::Rotel,
};
use crate::{root, term::Term};

/// Pins as tests/src/otel_python.rs pins the SDK (1.45.1) with the
/// contrib release made for it (0.66b1), and as tests/src/pyenv.rs pins
/// psycopg2-binary. Verified together here.
pub const PACKAGES: &[&str] = &[
    "psycopg2-binary==2.9.13",
    "flask==3.1.3",
    "waitress==3.0.2",
    "opentelemetry-api==1.45.1",
    "opentelemetry-sdk==1.45.1",
    "opentelemetry-exporter-otlp-proto-http==1.45.1",
    "opentelemetry-distro==0.66b1",
    "opentelemetry-instrumentation==0.66b1",
    "opentelemetry-instrumentation-flask==0.66b1",
    "opentelemetry-instrumentation-psycopg2==0.66b1",
];

/// Spans one request makes in the traced modes: the HTTP server span and
/// the query's client span (swit), or Flask's and psycopg2's (the SDK).
pub const SPANS_PER_REQUEST: u64 = 2;

const SERVICE: &str = include_str!("service.py");

/// target/bench-venv's python, installed once (a marker file lists the
/// pins of the last complete install). The tests' `pyenv::Venv` does the
/// same with a cross-process lock; xtask does not depend on the tests
/// crate (a developer command would build every test dependency), and one
/// bench runs at a time.
fn venv() -> Result<PathBuf> {
    let dir = root().join("target/bench-venv");
    let python = dir.join("bin/python3");
    let marker = dir.join(".swit-installed");
    let want = PACKAGES.join("\n");
    if python.is_file() && std::fs::read_to_string(&marker).is_ok_and(|m| m == want) {
        return Ok(python);
    }
    eprintln!(
        "xtask bench: installing {} into {}",
        want.replace('\n', " "),
        dir.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
    crate::run(Command::new("python3").args(["-m", "venv"]).arg(&dir))?;
    crate::run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PACKAGES),
    )
    .context("pip install (is PyPI reachable?)")?;
    std::fs::write(&marker, want)?;
    Ok(python)
}

/// The service on cpu 0 (beside PostgreSQL), listening.
fn service(
    python: &Path,
    file: &Path,
    pg: &Postgres,
    mode: Mode,
    otlp_http: u16,
) -> Result<(Term, u16)> {
    let port = free_port()?;
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0"]);
    if mode == Mode::Sdk {
        cmd.arg(python.with_file_name("opentelemetry-instrument"))
            .env("OTEL_SERVICE_NAME", "bench-service")
            .env("OTEL_TRACES_EXPORTER", "otlp")
            .env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")
            .env(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                format!("http://127.0.0.1:{otlp_http}/v1/traces"),
            )
            .env("OTEL_TRACES_SAMPLER", "always_on")
            .env("OTEL_METRICS_EXPORTER", "none")
            .env("OTEL_LOGS_EXPORTER", "none");
    }
    let t = Term::spawn(
        cmd.arg(python)
            .arg(file)
            .env("BENCH_PORT", port.to_string())
            .env("PG_DSN", pg.dsn())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    wait_listen("the Python service", port)?;
    Ok((t, port))
}

fn one(
    bin: &Path,
    python: &Path,
    file: &Path,
    pg: &Postgres,
    rotel: &Rotel,
    mode: Mode,
    seconds: u64,
) -> Result<Run> {
    let before = rotel.spans();
    let (mut svc, port) = service(python, file, pg, mode, rotel.http)?;
    let agent = match mode {
        Mode::Traced => Some(Agent::start(bin, svc.pid(), mode, rotel.grpc)?),
        _ => None,
    };
    let cpu0 = cpu_us(svc.pid())?;
    let mut run = wrk(port, "/account", 10, seconds)?;
    run.server_cpu_us = Some(cpu_us(svc.pid())? - cpu0);
    if let Some(a) = agent {
        a.finish(&mut run)?;
    }
    // SIGTERM: the service leaves serve() and, under the SDK, flushes.
    svc.signal("-TERM");
    if !svc.wait(Duration::from_secs(30)) {
        bail!("the Python service did not exit on SIGTERM");
    }
    if mode != Mode::Untraced {
        run.received = Some(rotel.settled() - before);
    }
    Ok(run)
}

pub fn run(bin: &Path, rotel: &Rotel, out: &Path, seconds: u64, rounds: u32) -> Result<Results> {
    let python = venv()?;
    let file = out.join("service.py");
    std::fs::write(&file, SERVICE)?;
    let pg = Postgres::start()?;
    let mut res = Results::new();
    // Warm-up: the first start compiles the service's imports.
    one(bin, &python, &file, &pg, rotel, Mode::Untraced, 1)?;
    for round in 1..=rounds {
        for mode in [Mode::Untraced, Mode::Traced, Mode::Sdk] {
            eprintln!(
                "xtask bench: python round {round}/{rounds}, {}",
                mode.name()
            );
            let run = one(bin, &python, &file, &pg, rotel, mode, seconds)?;
            eprintln!("  {run:?}");
            res.entry(mode).or_default().push(run);
        }
    }
    Ok(res)
}
