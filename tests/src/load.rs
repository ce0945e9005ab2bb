//! Load for the memory-bound tests: wrk runs with their summary parsed,
//! connections whose request heads never end, and the file-descriptor limit
//! that 10,000 connections need.
use std::{
    io::{BufRead, BufReader, Write},
    process::{ChildStdin, Command, Stdio},
    time::Duration,
};

use crate::{Proc, fixture, require_tool, wait_for};

/// What wrk's summary says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WrkStats {
    /// `N requests in 10.00s`
    pub requests: u64,
    pub seconds: f64,
    /// `Socket errors: connect N, read N, write N, timeout N`
    pub connect_errors: u64,
    pub read_errors: u64,
    pub write_errors: u64,
    pub timeouts: u64,
    /// `Non-2xx or 3xx responses: N`
    pub non_2xx: u64,
}

impl WrkStats {
    /// Parses wrk's output; None without its `requests in` line.
    pub fn parse(out: &str) -> Option<WrkStats> {
        let mut s = WrkStats::default();
        let mut seen = false;
        for line in out.lines().map(str::trim) {
            if let Some((n, rest)) = line.split_once(" requests in ") {
                s.requests = n.trim().parse().ok()?;
                s.seconds = rest.split_once("s,")?.0.parse().ok()?;
                seen = true;
            } else if let Some(rest) = line.strip_prefix("Socket errors:") {
                for part in rest.split(',') {
                    let (k, v) = part.trim().split_once(' ')?;
                    let v: u64 = v.trim().parse().ok()?;
                    match k {
                        "connect" => s.connect_errors = v,
                        "read" => s.read_errors = v,
                        "write" => s.write_errors = v,
                        "timeout" => s.timeouts = v,
                        _ => {}
                    }
                }
            } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
                s.non_2xx = rest.trim().parse().ok()?;
            }
        }
        seen.then_some(s)
    }

    /// Requests that did not get a 2xx or 3xx answer.
    pub fn failures(&self) -> u64 {
        self.connect_errors + self.read_errors + self.write_errors + self.timeouts + self.non_2xx
    }
}

/// Runs wrk (2 threads) to its end: `connections` at once for `seconds`;
/// with `close`, every request on a new connection.
pub fn wrk(url: &str, connections: u32, seconds: u32, close: bool) -> WrkStats {
    require_tool("wrk");
    let mut c = Command::new("wrk");
    c.args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s")]);
    if close {
        c.args(["-H", "Connection: close"]);
    }
    let out = c.arg(url).output().expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    WrkStats::parse(&text).unwrap_or_else(|| panic!("no wrk summary in {text}"))
}

/// Raises this process's open-file limit (inherited by what it starts) to
/// at least `want`, or says why the test cannot run.
pub fn raise_nofile(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid resource and out pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if lim.rlim_cur >= want {
        return;
    }
    let raised = libc::rlimit {
        rlim_cur: want.max(lim.rlim_cur),
        rlim_max: want.max(lim.rlim_max),
    };
    // SAFETY: valid resource and pointer.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        panic!(
            "this test needs {want} open files and the hard limit is {}: run it where `ulimit -Hn` allows {want}",
            lim.rlim_max
        );
    }
}

/// tests/fixtures/half_open.py: `n` connections holding request heads of
/// `lines` lines of `pad` bytes that never end.
pub struct HalfOpen {
    pub proc: Proc,
    stdin: Option<ChildStdin>,
}

impl HalfOpen {
    /// Opens them all and returns once every byte is sent, at about
    /// `mb_per_s` megabytes a second when given.
    pub fn start(port: u16, n: u32, pad: u32, lines: u32, mb_per_s: Option<u32>) -> HalfOpen {
        require_tool("python3");
        let mut proc = Proc::spawn(
            "half_open.py",
            Command::new("python3")
                .arg(fixture("half_open.py"))
                .args([
                    port.to_string(),
                    n.to_string(),
                    pad.to_string(),
                    lines.to_string(),
                ])
                .args(mb_per_s.map(|r| r.to_string()))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped()),
        );
        let stdin = proc.child.stdin.take();
        let mut out = BufReader::new(proc.child.stdout.take().expect("stdout"));
        let mut line = String::new();
        wait_for(
            "the half-open connections",
            Duration::from_secs(120),
            || {
                line.clear();
                match out.read_line(&mut line) {
                    Ok(0) => panic!("half_open.py exited before it was ready"),
                    _ => line.starts_with("ready").then_some(()),
                }
            },
        );
        HalfOpen { proc, stdin }
    }

    /// Closes every connection.
    pub fn close(mut self) {
        if let Some(mut s) = self.stdin.take() {
            let _ = s.write_all(b"go\n");
        }
        wait_for("half_open.py to close", Duration::from_secs(60), || {
            self.proc.child.try_wait().ok().flatten()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "Running 10s test @ http://127.0.0.1:8080/ok
  2 threads and 10000 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   544.66ms  255.21ms   1.76s    75.15%
    Req/Sec     8.50k     4.02k   28.27k    73.09%
  301593 requests in 20.10s, 42.86MB read
  Socket errors: connect 0, read 3, write 0, timeout 12
  Non-2xx or 3xx responses: 5
Requests/sec:  15007.14
Transfer/sec:      2.13MB
";

    #[test]
    fn wrk_summary() {
        let s = WrkStats::parse(OUT).unwrap();
        assert_eq!(
            s,
            WrkStats {
                requests: 301593,
                seconds: 20.10,
                connect_errors: 0,
                read_errors: 3,
                write_errors: 0,
                timeouts: 12,
                non_2xx: 5,
            }
        );
        assert_eq!(s.failures(), 20);
        let clean: String = OUT
            .lines()
            .filter(|l| !l.contains("errors") && !l.contains("Non-2xx"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(WrkStats::parse(&clean).unwrap().failures(), 0);
        assert_eq!(WrkStats::parse("Running 1s test\n"), None);
        assert_eq!(WrkStats::parse("  x requests in 1.00s, 1MB read\n"), None);
    }
}
