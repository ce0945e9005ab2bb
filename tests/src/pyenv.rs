//! Python venvs for the tests, under target/: the database client
//! libraries (psycopg2, PyMySQL, redis-py), grpcio (see [`crate::grpc`])
//! and the OpenTelemetry SDK (see [`crate::otel_python`]).
//!
//! Installed with pip once, pinned to versions verified on this kind of
//! machine. A marker file, written only after a successful install and
//! listing the pins, says the venv is complete; callers in this process and
//! in other test processes take a lock around the check and the install.
use std::{
    fs::{File, OpenOptions},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Mutex,
};

use crate::{require_tool, root};

/// One venv: its directory under target/, what to install, and what its
/// python must then import.
pub struct Venv {
    pub dir: &'static str,
    pub packages: &'static [&'static str],
    pub check: &'static str,
    /// Said when pip fails: what could not be installed.
    pub what: &'static str,
}

/// The database clients the database tests drive.
pub const DB: Venv = Venv {
    dir: "db-venv",
    packages: &[
        // Ships its own libpq (and libssl) in the wheel: no build, no system libpq.
        "psycopg2-binary==2.9.13",
        "PyMySQL==1.2.4",
        "redis==8.1.0",
    ],
    check: "import psycopg2, pymysql, redis",
    what: "the Python database clients",
};

/// The grpcio version of [`GRPC`].
pub const GRPCIO_VERSION: &str = "1.85.1";

/// grpcio for tests/fixtures/grpc_server.py and grpc_client.py, which use
/// no generated code (raw-bytes messages), so no protobuf package.
pub const GRPC: Venv = Venv {
    dir: "grpc-venv",
    packages: &[
        // A manylinux wheel for CPython 3.11 x86_64: no C++ build.
        "grpcio==1.85.1",
        "typing-extensions==4.16.0",
    ],
    check: "import grpc",
    what: "grpcio",
};

/// The grpcio venv's python (see [`Venv::python`]).
pub fn grpc() -> PathBuf {
    GRPC.python()
}

/// Serializes callers within this process (the file lock serializes
/// processes; two threads of one process may not both hold it).
static INSTALL: Mutex<()> = Mutex::new(());

/// The database venv's python (see [`Venv::python`]).
pub fn python() -> PathBuf {
    DB.python()
}

impl Venv {
    /// The venv's python, installing the packages into target/DIR first if
    /// needed. Needs python3 (with its venv module) and access to PyPI for
    /// the first install; panics naming what is missing otherwise.
    pub fn python(&self) -> PathBuf {
        let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
        let venv = root().join("target").join(self.dir);
        let python = venv.join("bin/python3");
        let marker = venv.join(".swit-installed");
        let want = self.packages.join("\n");
        std::fs::create_dir_all(root().join("target")).expect("create target/");
        let lock_path = root().join("target").join(format!("{}.lock", self.dir));
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
            && imports(&python, self.check).is_ok();
        if !done {
            self.install(&venv, &python, &want, &marker);
        }
        // Dropping `lock` closes the file, which releases the lock.
        python
    }

    fn install(&self, venv: &Path, python: &Path, want: &str, marker: &Path) {
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
            "python3's venv module is missing: run `cargo xtask setup` (installs python3-venv)",
        );
        run(
            Command::new(python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(self.packages),
            &format!("pip install {}", self.packages.join(" ")),
            &format!("{} could not be installed (is PyPI reachable?)", self.what),
        );
        if let Err(e) = imports(python, self.check) {
            panic!(
                "installed {} into {} but python cannot import them: {e}",
                self.packages.join(" "),
                venv.display()
            );
        }
        std::fs::write(marker, want)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", marker.display()));
    }
}

/// Whether the venv's python imports what the tests use.
fn imports(python: &Path, check: &str) -> Result<(), String> {
    let out = Command::new(python)
        .args(["-c", check])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn grpcio_is_pinned_to_its_version() {
        assert!(
            super::GRPC
                .packages
                .contains(&format!("grpcio=={}", super::GRPCIO_VERSION).as_str()),
            "{:?}",
            super::GRPC.packages
        );
    }
}
