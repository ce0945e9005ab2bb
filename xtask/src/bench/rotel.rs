//! The OTLP receiver every traced mode exports to: rotel from the venv the
//! tests install (target/rotel/venv), receiving OTLP/gRPC (swit) and
//! OTLP/HTTP (the Python SDK) and dropping everything (blackhole exporter).
//!
//! Completeness counts what the receiver got, not what a sender claims:
//! with `--debug-log traces` rotel prints one line per accepted export
//! request, `Received traces. ... spans=N`, on its stdout, which goes to a
//! file this module sums.
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use super::agent::{field, free_port, wait_listen};
use crate::{root, term::Term};

pub struct Rotel {
    _proc: Term,
    out: PathBuf,
    pub grpc: u16,
    pub http: u16,
}

/// `s` without ANSI escape sequences (rotel colours its log).
fn plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ params final-byte (a letter).
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Rotel {
    pub fn start(dir: &Path) -> Result<Rotel> {
        let py = root().join("target/rotel/venv/bin/python3");
        let out = Command::new(&py)
            .args([
                "-c",
                "import rotel, os; print(os.path.dirname(rotel.__file__))",
            ])
            .output()
            .context("rotel is installed by the tests: run `cargo xtask test rotel` once")?;
        let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("rotel-agent");
        let (grpc, http) = (free_port()?, free_port()?);
        std::fs::create_dir_all(dir)?;
        let log = dir.join("rotel.out");
        let proc = Term::spawn(
            Command::new(bin)
                .arg("start")
                .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc}")])
                .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http}")])
                .args(["--exporter", "blackhole", "--debug-log", "traces"])
                .arg("--pid-file")
                .arg(dir.join("rotel.pid"))
                .arg("--log-file")
                .arg(dir.join("rotel.log"))
                .env("NO_COLOR", "1")
                .stdout(std::fs::File::create(&log)?)
                .stderr(Stdio::null()),
        )?;
        wait_listen("rotel", grpc)?;
        wait_listen("rotel", http)?;
        Ok(Rotel {
            _proc: proc,
            out: log,
            grpc,
            http,
        })
    }

    /// Spans received since rotel started.
    pub fn spans(&self) -> u64 {
        std::fs::read_to_string(&self.out)
            .map(|t| {
                t.lines()
                    .map(plain)
                    .filter(|l| l.contains("Received traces"))
                    .filter_map(|l| field(&l, "spans="))
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Spans received since rotel started, once the count has not moved for
    /// a second (senders have flushed before this is called; rotel may still
    /// be logging), or after 15 s.
    pub fn settled(&self) -> u64 {
        let end = Instant::now() + Duration::from_secs(15);
        let mut last = (self.spans(), Instant::now());
        while Instant::now() < end {
            std::thread::park_timeout(Duration::from_millis(200));
            let n = self.spans();
            if n != last.0 {
                last = (n, Instant::now());
            } else if last.1.elapsed() >= Duration::from_secs(1) {
                break;
            }
        }
        last.0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_spans_in_coloured_lines() {
        let l = "\x1b[2m2026-11-26T04:03:22Z\x1b[0m \x1b[32m INFO\x1b[0m Received traces. \
                 \x1b[3mdata_type\x1b[0m\x1b[2m=\x1b[0m\"traces\" \x1b[3mresource_spans\x1b[0m\
                 \x1b[2m=\x1b[0m1 \x1b[3mspans\x1b[0m\x1b[2m=\x1b[0m7";
        assert_eq!(super::field(&super::plain(l), "spans="), Some(7));
    }
}
