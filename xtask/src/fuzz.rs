//! `cargo xtask fuzz`: every fuzz target of fuzz/ (cargo-fuzz, libFuzzer)
//! for a fixed time each, seeded from the protocol tests.
//!
//! Seeds: the unit tests write every session script they play when
//! `SWIT_FUZZ_SEEDS` is set (swit-agent/src/protocol/seeds.rs); this step
//! files them per target. The corpus each run grows is kept in
//! fuzz/corpus/TARGET (not checked in); a crash's input goes to
//! fuzz/artifacts/TARGET/ and the run fails.
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{Context, Result, bail};

use crate::{root, run};

/// The targets, as fuzz/Cargo.toml names them. `protocol` runs once per
/// protocol of the agent's registry, under the protocol's label.
pub const TARGETS: &[&str] = &["conn_table", "stream", "detect", "hpack", PROTOCOL];
/// The target that fuzzes one protocol's session at a time.
const PROTOCOL: &str = "protocol";
/// Pinned: CI installs it on a fresh machine.
const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// A script step that opens the connection as its server (see fuzz/src/lib.rs),
/// put before a protocol seed to make it a connection-table seed.
const OPEN_AS_SERVER: [u8; 2] = [0x42, 0x00];

/// Where the tests write their scripts.
pub fn raw_seeds() -> PathBuf {
    root().join("target/fuzz-seeds/raw")
}

fn fuzz_dir() -> PathBuf {
    root().join("fuzz")
}

/// Installs cargo-fuzz if it is missing (nightly comes with `setup`).
fn ensure_cargo_fuzz() -> Result<()> {
    let ok = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains(CARGO_FUZZ_VERSION)
        });
    if !ok {
        eprintln!("xtask: installing cargo-fuzz {CARGO_FUZZ_VERSION} (a few minutes)");
        run(Command::new("cargo").args([
            "install",
            "cargo-fuzz",
            "--locked",
            "--version",
            CARGO_FUZZ_VERSION,
        ]))?;
    }
    Ok(())
}

/// Runs swit-agent's unit tests with seed recording on.
pub fn record_seeds() -> Result<()> {
    let _ = fs::remove_dir_all(raw_seeds());
    run(Command::new("cargo")
        .current_dir(root())
        .args(["test", "-p", "swit-agent", "--lib", "--quiet"])
        .env("AYA_BUILD_SKIP", "1")
        .env("SWIT_FUZZ_SEEDS", raw_seeds()))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Files the recorded scripts per run: target/fuzz-seeds/RUN, where a
/// protocol's run is named by its label.
fn file_seeds(protocols: &[String]) -> Result<PathBuf> {
    let raw = raw_seeds();
    let out = root().join("target/fuzz-seeds");
    for p in protocols {
        if files(&raw.join(p)).is_empty() {
            bail!(
                "the protocol {p} recorded no seeds in {}: do its unit tests feed its Session?",
                raw.display()
            );
        }
    }
    let all: Vec<PathBuf> = protocols
        .iter()
        .map(String::as_str)
        .chain(["hpack"])
        .flat_map(|p| files(&raw.join(p)))
        .collect();
    let runs = TARGETS
        .iter()
        .filter(|t| **t != PROTOCOL)
        .map(|t| t.to_string())
        .chain(protocols.iter().cloned());
    for run in runs {
        let d = out.join(&run);
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d)?;
        let sources: Vec<PathBuf> = match run.as_str() {
            "conn_table" | "stream" | "detect" => all.clone(),
            p => files(&raw.join(p)),
        };
        for src in sources {
            let mut bytes = fs::read(&src)?;
            if run == "conn_table" {
                bytes.splice(0..0, OPEN_AS_SERVER);
            }
            let name = src.file_name().context("seed name")?;
            fs::write(d.join(name), bytes)?;
        }
    }
    Ok(out)
}

/// The protocols of the agent's registry, as the `protocol` target lists
/// them.
fn registered_protocols(bin_dir: &Path) -> Result<Vec<String>> {
    let o = Command::new(bin_dir.join(PROTOCOL))
        .arg("-runs=0")
        .env("SWIT_FUZZ_LIST", "1")
        .output()
        .context("cannot run the protocol fuzz target")?;
    let names: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    if !o.status.success() || names.is_empty() {
        bail!(
            "the protocol fuzz target listed no protocols ({})",
            o.status
        );
    }
    Ok(names)
}

/// What one run did.
struct Ran {
    target: String,
    execs: u64,
    seconds: f64,
    corpus: usize,
}

/// Builds the targets, records seeds unless the caller did, and runs each
/// target (or those named: a target, or a protocol's label) for `seconds`;
/// the `protocol` target runs once per registered protocol.
pub fn fuzz(seconds: u64, only: &[String], seeds_recorded: bool) -> Result<()> {
    ensure_cargo_fuzz()?;
    if !seeds_recorded {
        record_seeds()?;
    }
    // No sanitizer: the parsers are safe Rust, and panics, overflows (debug
    // assertions on) and timeouts are what is looked for; twice as fast.
    run(Command::new("cargo")
        .current_dir(fuzz_dir())
        .args(["+nightly", "fuzz", "build", "-s", "none", "-a"])
        .env("AYA_BUILD_SKIP", "1"))?;
    let bin_dir = fuzz_dir().join("target/x86_64-unknown-linux-gnu/release");
    let protocols = registered_protocols(&bin_dir)?;
    // (run name, target binary, protocol)
    let mut runs: Vec<(String, &str, Option<&str>)> = Vec::new();
    for &t in TARGETS {
        if t == PROTOCOL {
            runs.extend(protocols.iter().map(|p| (p.clone(), t, Some(p.as_str()))));
        } else {
            runs.push((t.to_string(), t, None));
        }
    }
    for o in only {
        if !runs.iter().any(|(name, bin, _)| name == o || bin == o) {
            let names: Vec<&str> = runs.iter().map(|r| r.0.as_str()).collect();
            bail!("no fuzz target {o:?}; there are {names:?} (and {PROTOCOL:?}: every protocol)");
        }
    }
    runs.retain(|(name, bin, _)| only.is_empty() || only.iter().any(|o| o == name || o == bin));
    let seeds = file_seeds(&protocols)?;
    let mut ran = Vec::new();
    for (t, bin, protocol) in runs {
        let corpus = fuzz_dir().join("corpus").join(&t);
        let artifacts = fuzz_dir().join("artifacts").join(&t);
        fs::create_dir_all(&corpus)?;
        fs::create_dir_all(&artifacts)?;
        eprintln!("xtask: fuzzing {t} for {seconds} s");
        let start = Instant::now();
        let mut cmd = Command::new(bin_dir.join(bin));
        if let Some(p) = protocol {
            cmd.env("SWIT_FUZZ_PROTOCOL", p);
        }
        let o = cmd
            .arg(&corpus)
            .arg(seeds.join(&t))
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            // A script longer than this is cut; the seeds are shorter.
            .arg("-max_len=16384")
            // Slow inputs and big memory are findings too.
            .arg("-timeout=10")
            .arg("-rss_limit_mb=1024")
            .arg("-print_final_stats=1")
            .output()
            .with_context(|| format!("cannot run the fuzz target {t}"))?;
        let log = String::from_utf8_lossy(&o.stderr);
        if !o.status.success() {
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
            let env = protocol.map_or(String::new(), |p| format!("SWIT_FUZZ_PROTOCOL={p} "));
            bail!(
                "fuzz target {t} failed ({}); its input is in {}/ \
                 (replay: {env}{} FILE)",
                o.status,
                artifacts.display(),
                bin_dir.join(bin).display()
            );
        }
        let execs = log
            .lines()
            .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        ran.push(Ran {
            target: t,
            execs,
            seconds: start.elapsed().as_secs_f64(),
            corpus: files(&corpus).len(),
        });
    }
    println!(
        "{:<12} {:>12} {:>10} {:>8}",
        "target", "executions", "per s", "corpus"
    );
    for r in &ran {
        println!(
            "{:<12} {:>12} {:>10.0} {:>8}",
            r.target,
            r.execs,
            r.execs as f64 / r.seconds.max(0.001),
            r.corpus
        );
    }
    println!("fuzz: {} targets ran {seconds} s each, no crash", ran.len());
    Ok(())
}
