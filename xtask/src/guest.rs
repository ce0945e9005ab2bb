//! `cargo xtask test --kernel VMLINUZ`: the root end-to-end tests in a qemu
//! guest booted on another kernel (virtme-ng; TCG, since nested KVM is not
//! available on the CI machine), so that what breaks on another kernel's
//! verifier, BTF or hooks fails here.
//!
//! The guest shares the host's root file system read-only: the test
//! binaries, built here, run there unchanged, and `target/` is shared
//! writable for what they write (target/e2e, venvs) and for the results:
//! each test binary's output and exit code under target/guest/, which this
//! side prints and judges. Nothing compiles in the guest.
use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::{root, run, succeeds, term::Term};

/// virtme-ng, from PyPI into a venv under target/ (Debian has no package).
const VIRTME_NG: &str = "virtme-ng==1.42";
/// Guest memory: the tests' peers (nginx, Python, rotel) and the agent's
/// ring (8 MiB by default) fit with room.
const GUEST_MEMORY: &str = "3G";
/// The guest is several times slower than the host (TCG emulates every
/// instruction): the tests' deadlines are stretched by this much. They are
/// bounds on waiting, never pass/fail timing.
const TIME_SCALE: u32 = 10;
/// Past this the guest run is stopped and fails.
const GUEST_TIMEOUT: Duration = Duration::from_secs(45 * 60);

fn venv() -> PathBuf {
    root().join("target/vng")
}

/// virtme-ng in target/vng (qemu and busybox come with the apt packages).
pub fn setup() -> Result<()> {
    let vng = venv().join("bin/vng");
    if succeeds(Command::new(&vng).arg("--version")) {
        return Ok(());
    }
    eprintln!("xtask: installing {VIRTME_NG} into {}", venv().display());
    run(Command::new("python3").args(["-m", "venv"]).arg(venv()))?;
    run(Command::new(venv().join("bin/pip")).args(["install", "--quiet", VIRTME_NG]))
}

/// One integration test binary of the tests package.
struct TestBin {
    name: String,
    exe: PathBuf,
}

/// Builds the end-to-end test binaries (all, or the `--test` ones) and
/// returns them, from cargo's JSON messages.
fn build_tests(tests: &[String]) -> Result<Vec<TestBin>> {
    let mut c = Command::new("cargo");
    c.current_dir(root())
        .args([
            "test",
            "-p",
            "swit-tests",
            "--no-run",
            "--message-format",
            "json",
        ])
        .stderr(Stdio::inherit());
    for t in tests {
        c.args(["--test", t]);
    }
    let out = c.output().context("cargo test --no-run")?;
    if !out.status.success() {
        bail!("building the end-to-end tests failed");
    }
    let mut bins = Vec::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(m) = serde_json::from_str::<serde_json::Value>(l) else {
            continue;
        };
        let is_test = m["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == "test"));
        if m["reason"] == "compiler-artifact"
            && is_test
            && let (Some(name), Some(exe)) =
                (m["target"]["name"].as_str(), m["executable"].as_str())
        {
            bins.push(TestBin {
                name: name.to_string(),
                exe: exe.into(),
            });
        }
    }
    if bins.is_empty() {
        bail!("no end-to-end test binary matched {tests:?}");
    }
    bins.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(bins)
}

/// The script the guest runs: each test binary in turn, one test at a
/// time (two emulated CPUs), output to the console and to a file, exit
/// code to a file; `finished` last, so a guest that died is told apart.
fn script(bins: &[TestBin], out: &Path, agent: &Path, filters: &[String]) -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    let mut s = String::from("#!/bin/bash\n# Written by cargo xtask test --kernel.\n");
    let _ = writeln!(s, "export PATH='{path}' HOME=/tmp");
    let _ = writeln!(s, "export SWIT_AGENT_BIN='{}'", agent.display());
    let _ = writeln!(s, "export SWIT_TEST_TIME_SCALE={TIME_SCALE}");
    let _ = writeln!(s, "export RUST_BACKTRACE=0");
    // Integration tests run from their package's directory under cargo.
    let _ = writeln!(s, "cd '{}'", root().join("tests").display());
    let _ = writeln!(s, "echo \"guest: kernel $(uname -r), $(nproc) CPUs\"");
    let filter: String = filters.iter().map(|f| format!(" '{f}'")).collect();
    for b in bins {
        let _ = writeln!(
            s,
            "echo '== {n}'; {{ '{exe}'{filter} --test-threads=1; echo $? > '{o}/{n}.rc'; }} 2>&1 | tee '{o}/{n}.log'",
            n = b.name,
            exe = b.exe.display(),
            o = out.display(),
        );
    }
    let _ = writeln!(s, "uname -r > '{}/finished'", out.display());
    s
}

/// Runs the end-to-end tests in a guest booted on `kernel`; fails unless
/// every test binary finished and passed there.
pub fn test(kernel: &Path, agent: &Path, tests: &[String], filters: &[String]) -> Result<()> {
    if !kernel.is_file() {
        bail!(
            "--kernel {}: no such kernel image (Debian's 6.1: /boot/vmlinuz-6.1.0-*-amd64, from linux-image-amd64)",
            kernel.display()
        );
    }
    setup()?;
    let bins = build_tests(tests)?;
    let out = root().join("target/guest");
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).context("create target/guest")?;
    let script_path = out.join("run.sh");
    fs::write(&script_path, script(&bins, &out, agent, filters)).context("write run.sh")?;

    let names: Vec<&str> = bins.iter().map(|b| b.name.as_str()).collect();
    eprintln!(
        "xtask: booting {} in a guest (TCG, slow) for {names:?}",
        kernel.display()
    );
    let path = format!(
        "{}:{}",
        venv().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let t0 = Instant::now();
    let mut guest = Term::spawn_group(
        Command::new(venv().join("bin/vng"))
            .env("PATH", path)
            .args(["--disable-kvm", "--cpus", "2", "--memory", GUEST_MEMORY])
            // The tests' files and the results.
            .arg("--rwdir")
            .arg(root().join("target"))
            .arg("--run")
            .arg(kernel)
            .arg("--exec")
            .arg(format!("bash {}", script_path.display()))
            .stdin(Stdio::null()),
        "-TERM",
    )?;
    let status = loop {
        if let Some(st) = guest.child.try_wait()? {
            break Some(st);
        }
        if t0.elapsed() > GUEST_TIMEOUT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    drop(guest);
    eprintln!("xtask: guest run took {:.0?}", t0.elapsed());
    judge(&out, &names, status.is_none())
}

/// Fails naming each test binary that failed or never finished.
fn judge(out: &Path, names: &[&str], timed_out: bool) -> Result<()> {
    let release = fs::read_to_string(out.join("finished")).ok();
    let mut failed = Vec::new();
    for n in names {
        match fs::read_to_string(out.join(format!("{n}.rc"))) {
            Ok(rc) if rc.trim() == "0" => {}
            Ok(rc) => failed.push(format!("{n} (exit {})", rc.trim())),
            Err(_) => failed.push(format!("{n} (did not finish)")),
        }
    }
    let kernel = release.as_deref().map(str::trim).unwrap_or("the guest");
    if timed_out {
        bail!("the guest run was stopped after {GUEST_TIMEOUT:?}; failed: {failed:?}");
    }
    if release.is_none() || !failed.is_empty() {
        bail!(
            "end-to-end tests on {kernel} failed: {failed:?} (outputs in {})",
            out.display()
        );
    }
    eprintln!("xtask: end-to-end tests passed on {kernel}: {names:?}");
    Ok(())
}
