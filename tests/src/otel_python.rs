//! The OpenTelemetry Python SDK, for tests where an application
//! instrumented with a real OpenTelemetry SDK talks to processes swit
//! traces.
//!
//! Installed with pip into a venv under target/ once, pinned as verified
//! on this kind of machine (unpinned installs of the OpenTelemetry Python
//! packages mismatch). A marker file, written only after a successful
//! install and listing the pins, says the venv is complete; callers in this
//! process and in other test processes take a lock around the check and
//! the install.
use std::{
    fs::{File, OpenOptions},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Mutex,
};

use crate::{require_tool, root};

/// The version of every OpenTelemetry Python package installed.
pub const OTEL_PYTHON_VERSION: &str = "1.45.1";

/// The distributions installed, each pinned to [`OTEL_PYTHON_VERSION`].
const PACKAGES: &[&str] = &[
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-http",
];

/// What the venv's python must import once installed.
const CHECK: &str = "import opentelemetry.sdk.trace, opentelemetry.propagate, \
                     opentelemetry.exporter.otlp.proto.http.trace_exporter";

/// Serializes callers within this process (the file lock serializes
/// processes; two threads of one process may not both hold it).
static INSTALL: Mutex<()> = Mutex::new(());

fn venv() -> PathBuf {
    root().join("target/otel-venv")
}

fn requirements() -> Vec<String> {
    PACKAGES
        .iter()
        .map(|p| format!("{p}=={OTEL_PYTHON_VERSION}"))
        .collect()
}

/// The venv's python with the OpenTelemetry SDK and its OTLP/HTTP exporter,
/// installing them into target/otel-venv first if needed. Needs python3
/// (with its venv module) and access to PyPI for the first install; panics
/// naming what is missing otherwise.
pub fn python() -> PathBuf {
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let venv = venv();
    let python = venv.join("bin/python3");
    let marker = venv.join(".swit-installed");
    let want = requirements().join("\n");
    std::fs::create_dir_all(root().join("target")).expect("create target/");
    let lock_path = root().join("target/otel-venv.lock");
    let lock: File = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));
    let done = python.is_file()
        && std::fs::read_to_string(&marker).is_ok_and(|m| m == want)
        && imports(&python).is_ok();
    if !done {
        install(&venv, &python, &want, &marker);
    }
    // Dropping `lock` closes the file, which releases the lock.
    python
}

fn install(venv: &Path, python: &Path, want: &str, marker: &Path) {
    require_tool("python3");
    // A venv left half-made by an interrupted install is started over.
    if venv.exists() {
        std::fs::remove_dir_all(venv)
            .unwrap_or_else(|e| panic!("cannot remove {}: {e}", venv.display()));
    }
    let run = |cmd: &mut Command, what: &str, hint: &str| {
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
        if !out.status.success() {
            panic!(
                "{what} failed ({}): {hint}\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    run(
        Command::new("python3").arg("-m").arg("venv").arg(venv),
        "python3 -m venv",
        "python3's venv module is missing (Debian: apt-get install python3-venv)",
    );
    let reqs = requirements();
    run(
        Command::new(python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(&reqs),
        &format!("pip install {}", reqs.join(" ")),
        "the OpenTelemetry Python SDK could not be installed (is PyPI reachable?)",
    );
    if let Err(e) = imports(python) {
        panic!(
            "installed {} into {} but python cannot import the SDK: {e}",
            reqs.join(" "),
            venv.display()
        );
    }
    std::fs::write(marker, want)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", marker.display()));
}

/// Whether the venv's python imports what the tests use.
fn imports(python: &Path) -> Result<(), String> {
    let out = Command::new(python)
        .args(["-c", CHECK])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
