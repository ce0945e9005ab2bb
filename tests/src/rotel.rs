//! rotel, a third-party OpenTelemetry collector written in Rust, as a real
//! OTLP peer: it receives OTLP/gRPC and OTLP/HTTP and forwards everything to
//! an OTLP endpoint (one of our test receivers). A span that reaches the
//! receiver through rotel was accepted by a real collector.
//!
//! rotel comes from PyPI (the wheel carries the `rotel-agent` binary), so it
//! is installed with pip into a venv under target/, once.
//!
//! Verified command line (rotel-agent 0.0.1-alpha10 from the rotel
//! 0.0.1a15 wheel):
//! ```text
//! rotel-agent start --otlp-grpc-endpoint 127.0.0.1:P1 --otlp-http-endpoint 127.0.0.1:P2 \
//!   --exporter otlp --otlp-exporter-endpoint http://127.0.0.1:P3 --otlp-exporter-protocol grpc \
//!   --pid-file F --log-file F --batch-timeout 50ms
//! ```
//! It stays in the foreground without `--daemon` and logs to stdout.
use std::{
    net::TcpStream,
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use crate::{Proc, free_port, root, wait_for};

/// The wheel verified here; a newer one may change flags.
pub const ROTEL_VERSION: &str = "0.0.1a15";

/// How rotel forwards what it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// OTLP/gRPC to `http://host:port`.
    Grpc,
    /// OTLP/HTTP protobuf to `http://host:port` (rotel appends /v1/traces).
    Http,
}

/// Where rotel's venv and run files live.
fn dir() -> PathBuf {
    root().join("target/rotel")
}

/// Installs rotel into target/rotel/venv unless already there; returns the
/// binary's path. Needs python3 (with venv) and access to PyPI.
pub fn install() -> anyhow::Result<PathBuf> {
    let venv = dir().join("venv");
    let python = venv.join("bin/python3");
    if let Some(bin) = find_binary(&python) {
        return Ok(bin);
    }
    let run = |cmd: &mut Command, what: &str| -> anyhow::Result<()> {
        let out = cmd.output().map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
        anyhow::ensure!(
            out.status.success(),
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    };
    run(
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        "python3 -m venv",
    )?;
    run(
        Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            &format!("rotel=={ROTEL_VERSION}"),
        ]),
        "pip install rotel",
    )?;
    find_binary(&python).ok_or_else(|| anyhow::anyhow!("rotel installed but rotel-agent not found"))
}

/// The binary sits in the package directory: ask the venv's python where
/// that is instead of guessing the python version in the path.
fn find_binary(python: &std::path::Path) -> Option<PathBuf> {
    if !python.is_file() {
        return None;
    }
    let out = Command::new(python)
        .args([
            "-c",
            "import rotel, os; print(os.path.dirname(rotel.__file__))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let pkg = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let bin = pkg.join("rotel-agent");
    bin.is_file().then_some(bin)
}

/// A running rotel collector on 127.0.0.1, killed when dropped.
pub struct Rotel {
    pub proc: Proc,
    pub grpc_port: u16,
    pub http_port: u16,
}

impl Rotel {
    /// Installs (if needed) and starts rotel forwarding to `forward_to`
    /// (`http://127.0.0.1:PORT`), and waits until both receivers listen.
    pub fn start(forward_to: &str, protocol: Forward) -> anyhow::Result<Rotel> {
        let bin = install()?;
        let (grpc_port, http_port) = (free_port(), free_port());
        let run_dir = dir().join(format!("run-{grpc_port}"));
        std::fs::create_dir_all(&run_dir)?;
        let mut cmd = Command::new(bin);
        cmd.arg("start")
            .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc_port}")])
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http_port}")])
            .args(["--exporter", "otlp"])
            .args(["--otlp-exporter-endpoint", forward_to])
            .args([
                "--otlp-exporter-protocol",
                match protocol {
                    Forward::Grpc => "grpc",
                    Forward::Http => "http",
                },
            ])
            // Forward quickly so tests do not wait on rotel's batching.
            .args(["--batch-timeout", "50ms"])
            .arg("--pid-file")
            .arg(run_dir.join("rotel.pid"))
            .arg("--log-file")
            .arg(run_dir.join("rotel.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let proc = Proc::spawn("rotel-agent", &mut cmd);
        let r = Rotel {
            proc,
            grpc_port,
            http_port,
        };
        wait_for("rotel to listen", Duration::from_secs(20), || {
            let up = |p: u16| TcpStream::connect(("127.0.0.1", p)).is_ok();
            (up(grpc_port) && up(http_port)).then_some(())
        });
        Ok(r)
    }

    /// rotel's OTLP/gRPC endpoint.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// rotel's OTLP/HTTP traces URL.
    pub fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/v1/traces", self.http_port)
    }

    /// Kills rotel and waits for it.
    pub fn stop(self) {
        drop(self);
    }
}
