//! The agent under measurement, and what the bench reads from /proc.
use std::{
    io::{BufRead, BufReader},
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use super::{Mode, Run};
use crate::term::Term;

pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn wait_listen(what: &str, port: u16) -> Result<()> {
    let end = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > end {
            bail!("{what} does not listen on {port}");
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
    Ok(())
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of `pid` (all its threads), in µs.
pub fn cpu_us(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .context("stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    Ok(ticks / clock_ticks() * 1e6)
}

/// A `kB` line of /proc/PID/status: `VmHWM` (peak RSS), `VmRSS`.
fn status_kib(pid: u32, key: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// RSS of `pid`'s BPF map mappings (the ring buffer: the kernel maps its
/// data pages twice, so an 8 MiB ring counts 16 MiB), from /proc/PID/smaps.
fn bpf_map_rss_kib(pid: u32) -> Option<u64> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
    let (mut in_map, mut sum) = (false, 0);
    for l in smaps.lines() {
        let head = l.split_whitespace().next().unwrap_or("");
        if head.contains('-') && head.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            in_map = l.ends_with("anon_inode:bpf-map");
        } else if in_map && let Some(kb) = l.strip_prefix("Rss:") {
            sum += kb
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()?;
        }
    }
    Some(sum)
}

/// The number after ` key=` (or at the start of the line).
pub fn field(line: &str, key: &str) -> Option<u64> {
    let at = line
        .match_indices(key)
        .find(|(i, _)| *i == 0 || line.as_bytes()[i - 1] == b' ')?
        .0;
    let rest = &line[at + key.len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// A running agent, with what it printed on stderr.
pub struct Agent {
    proc: Term,
    lines: Arc<Mutex<Vec<String>>>,
    cpu0: f64,
}

impl Agent {
    pub fn start(bin: &Path, pid: u32, mode: Mode, otlp_port: u16) -> Result<Agent> {
        let mut cmd = Command::new(bin);
        cmd.args(["run", "--pid", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match mode {
            Mode::Floor => {
                cmd.arg("--floor");
            }
            Mode::HooksOnly => {
                cmd.arg("--hooks-only");
            }
            Mode::CaptureOnly => {
                cmd.arg("--capture-only");
            }
            Mode::Traced => {
                cmd.args(["--exporter", "otlp", "--protocol", "grpc"])
                    .args(["--endpoint", &format!("http://127.0.0.1:{otlp_port}")])
                    .args(["--sampler", "always_on"]);
            }
            Mode::Untraced | Mode::Sdk => unreachable!("no agent in {}", mode.name()),
        }
        let mut proc = Term::spawn(&mut cmd)?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let (out, sink) = (proc.child.stderr.take().expect("stderr"), lines.clone());
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if l.contains("hooks attached") {
                    let _ = tx.send(());
                }
                sink.lock().unwrap().push(l);
            }
        });
        if rx.recv_timeout(Duration::from_secs(120)).is_err() {
            bail!("swit-agent did not attach: {:?}", lines.lock().unwrap());
        }
        let cpu0 = cpu_us(proc.pid())?;
        Ok(Agent { proc, lines, cpu0 })
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Reads CPU and peak RSS, stops the agent (SIGINT) and reads its
    /// final summary line.
    pub fn finish(mut self, run: &mut Run) -> Result<()> {
        let pid = self.proc.pid();
        run.agent_cpu_us = Some(cpu_us(pid)? - self.cpu0);
        run.agent_rss_kib = status_kib(pid, "VmHWM");
        run.agent_rss_end_kib = status_kib(pid, "VmRSS");
        run.agent_map_rss_kib = bpf_map_rss_kib(pid);
        self.proc.signal("-INT");
        if !self.proc.wait(Duration::from_secs(60)) {
            bail!("swit-agent did not exit on SIGINT");
        }
        // The stderr reader thread may still be behind the exit: wait (with a
        // deadline) for the summary line, the agent's last words.
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end
            && !self
                .lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains("stopped;"))
        {
            std::thread::park_timeout(Duration::from_millis(20));
        }
        let lines = self.lines.lock().unwrap();
        let last = lines
            .iter()
            .rev()
            .find(|l| field(l, "spans=").is_some())
            .with_context(|| format!("no summary from swit-agent: {lines:?}"))?;
        run.spans = field(last, "spans=");
        run.delivered = field(last, "delivered=");
        Ok(())
    }
}
