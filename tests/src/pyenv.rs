//! A Python venv with the database client libraries the database tests
//! drive (psycopg2, PyMySQL, redis-py), under target/db-venv.
//!
//! Installed with pip once, pinned to versions verified on this kind of
//! machine. A marker file, written only after a successful install and
//! listing the pins, says the venv is complete; callers in this process and
//! in other test processes take a lock around the check and the install (as
//! [`crate::otel_python`] does).
use std::{
    fs::{File, OpenOptions},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Mutex,
};

use crate::{require_tool, root};

/// The distributions installed, pinned.
pub const PACKAGES: &[&str] = &[
    // Ships its own libpq (and libssl) in the wheel: no build, no system libpq.
    "psycopg2-binary==2.9.13",
    "PyMySQL==1.2.4",
    "redis==8.1.0",
];

/// What the venv's python must import once installed.
const CHECK: &str = "import psycopg2, pymysql, redis";

/// Serializes callers within this process (the file lock serializes
/// processes; two threads of one process may not both hold it).
static INSTALL: Mutex<()> = Mutex::new(());

fn venv() -> PathBuf {
    root().join("target/db-venv")
}

/// The venv's python with the database client libraries, installing them
/// into target/db-venv first if needed. Needs python3 (with its venv module)
/// and access to PyPI for the first install; panics naming what is missing
/// otherwise.
pub fn python() -> PathBuf {
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let venv = venv();
    let python = venv.join("bin/python3");
    let marker = venv.join(".swit-installed");
    let want = PACKAGES.join("\n");
    std::fs::create_dir_all(root().join("target")).expect("create target/");
    let lock_path = root().join("target/db-venv.lock");
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
            .args(PACKAGES),
        &format!("pip install {}", PACKAGES.join(" ")),
        "the Python database clients could not be installed (is PyPI reachable?)",
    );
    if let Err(e) = imports(python) {
        panic!(
            "installed {} into {} but python cannot import them: {e}",
            PACKAGES.join(" "),
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
