//! wrk, the HTTP load of scenarios 1 and 2: one thread on cpu 1, fixed
//! connections, fixed duration, keep-alive.
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::Run;

/// `123.45us`, `1.2ms`, `2s` → µs.
fn duration_us(s: &str) -> Option<f64> {
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "ns" => n / 1e3,
        "us" => n,
        "ms" => n * 1e3,
        "s" => n * 1e6,
        _ => return None,
    })
}

/// `wrk -t1 -c{connections} -d{seconds}s --latency http://127.0.0.1:{port}{path}`.
pub fn wrk(port: u16, path: &str, connections: u32, seconds: u64) -> Result<Run> {
    let out = Command::new("taskset")
        .args(["-c", "1", "wrk", "-t1", &format!("-c{connections}")])
        .args([&format!("-d{seconds}s"), "--latency"])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .context("wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut run = Run::default();
    for l in text.lines().map(str::trim) {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w.as_slice() {
            ["50%", v] => run.p50_us = duration_us(v),
            ["99%", v] => run.p99_us = duration_us(v),
            ["Requests/sec:", v] => run.rps = v.parse()?,
            [n, "requests", "in", ..] => run.requests = n.parse()?,
            ["Non-2xx", "or", "3xx", "responses:", n] => {
                bail!("wrk: {n} error responses: {text}")
            }
            _ => {}
        }
    }
    if run.requests == 0 {
        bail!("wrk failed: {text}");
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(super::duration_us("1.50ms"), Some(1500.0));
        assert_eq!(super::duration_us("80.00us"), Some(80.0));
        assert_eq!(super::duration_us("2s"), Some(2e6));
    }
}
