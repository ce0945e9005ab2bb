//! h2load (nghttp2-client), an HTTP/2 load generator: `-c` connections,
//! `-m` concurrent streams on each, `-n` requests in all. Run to the end,
//! its summary parsed into [`H2loadStats`].
use std::{
    process::{Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use crate::{Proc, collect_lines_until_eof, require_tool, wait_for};

/// What h2load's summary says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct H2loadStats {
    /// `requests: N total, N started, N done, N succeeded, N failed, N
    /// errored, N timeout`.
    pub total: u64,
    pub started: u64,
    pub done: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub errored: u64,
    pub timeout: u64,
    /// `status codes: N 2xx, N 3xx, N 4xx, N 5xx`.
    pub status_2xx: u64,
    pub status_3xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    /// `Application protocol: h2c` (or `h2`), when a connection was made.
    pub protocol: Option<String>,
}

impl H2loadStats {
    /// Parses h2load's output; None without a `requests:` line.
    pub fn parse(out: &str) -> Option<H2loadStats> {
        let mut s = H2loadStats::default();
        let mut requests = false;
        for line in out.lines() {
            if let Some(rest) = line.strip_prefix("requests:") {
                requests = true;
                for (n, word) in counts(rest) {
                    match word {
                        "total" => s.total = n,
                        "started" => s.started = n,
                        "done" => s.done = n,
                        "succeeded" => s.succeeded = n,
                        "failed" => s.failed = n,
                        "errored" => s.errored = n,
                        "timeout" => s.timeout = n,
                        _ => {}
                    }
                }
            } else if let Some(rest) = line.strip_prefix("status codes:") {
                for (n, word) in counts(rest) {
                    match word {
                        "2xx" => s.status_2xx = n,
                        "3xx" => s.status_3xx = n,
                        "4xx" => s.status_4xx = n,
                        "5xx" => s.status_5xx = n,
                        _ => {}
                    }
                }
            } else if let Some(p) = line.strip_prefix("Application protocol:") {
                s.protocol = Some(p.trim().to_string());
            }
        }
        requests.then_some(s)
    }
}

/// `N word` pairs of a comma-separated list.
fn counts(list: &str) -> impl Iterator<Item = (u64, &str)> {
    list.split(',').filter_map(|item| {
        let mut it = item.split_whitespace();
        Some((it.next()?.parse().ok()?, it.next()?))
    })
}

/// A running h2load, for tests that need its PID before it sends.
pub struct H2load {
    pub proc: Proc,
    lines: Arc<Mutex<Vec<String>>>,
    eof: Arc<AtomicBool>,
}

impl H2load {
    /// Runs `h2load ARGS` to the end and returns its summary; panics if it
    /// fails or prints none.
    pub fn run(args: &[&str]) -> H2loadStats {
        Self::spawn(args).wait()
    }

    /// Starts `h2load ARGS` (it begins at once: h2load has no way to wait).
    pub fn spawn(args: &[&str]) -> H2load {
        require_tool("h2load");
        let mut proc = Proc::spawn(
            "h2load",
            Command::new("h2load")
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped()),
        );
        let (lines, eof) = collect_lines_until_eof(proc.child.stdout.take().expect("stdout"));
        H2load { proc, lines, eof }
    }

    /// Waits for the end and returns the summary.
    pub fn wait(mut self) -> H2loadStats {
        let st = wait_for("h2load to finish", Duration::from_secs(120), || {
            self.proc.child.try_wait().ok().flatten()
        });
        wait_for("h2load's output to end", Duration::from_secs(10), || {
            self.eof.load(Ordering::SeqCst).then_some(())
        });
        let out = self.lines.lock().unwrap().join("\n");
        assert!(st.success(), "h2load exited with {st}:\n{out}");
        H2loadStats::parse(&out).unwrap_or_else(|| panic!("no summary in h2load's output:\n{out}"))
    }
}

#[cfg(test)]
mod tests {
    use super::H2loadStats;

    #[test]
    fn parses_a_summary_with_failures() {
        let out = "starting benchmark...
Application protocol: h2c
finished in 3.04ms, 32894.74 req/s, 3.12MB/s
requests: 100 total, 98 started, 97 done, 90 succeeded, 7 failed, 3 errored, 1 timeout
status codes: 90 2xx, 1 3xx, 6 4xx, 0 5xx
traffic: 9.72KB (9949) total";
        assert_eq!(
            H2loadStats::parse(out),
            Some(H2loadStats {
                total: 100,
                started: 98,
                done: 97,
                succeeded: 90,
                failed: 7,
                errored: 3,
                timeout: 1,
                status_2xx: 90,
                status_3xx: 1,
                status_4xx: 6,
                status_5xx: 0,
                protocol: Some("h2c".into()),
            })
        );
    }

    #[test]
    fn no_summary_is_none() {
        assert_eq!(H2loadStats::parse("starting benchmark...\n"), None);
    }
}
