//! Scenario 1: nginx `/ok` over keep-alive, wrk -t1 -c10; untraced,
//! hooks-only (the hook floor), traced. Then, unmeasured, the profiles:
//! nginx's worker under hooks-only, and the agent and the worker traced.
use std::{path::Path, process::Command};

use anyhow::{Context, Result};
use serde_json::Value;

use super::{
    Mode, Results,
    agent::{Agent, free_port, wait_listen},
    load::wrk,
    profile,
    rotel::Rotel,
};
use crate::term::Term;

fn nginx(dir: &Path) -> Result<(Term, u16)> {
    let _ = std::fs::remove_dir_all(dir);
    for d in ["logs", "html", "tmp"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    let port = free_port()?;
    let conf = format!(
        "daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/logs/error.log;
events {{ worker_connections 256; }}
http {{
  access_log off; keepalive_requests 1000000;
  client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
  server {{
    listen 127.0.0.1:{port};
    root {d}/html;
    location = /ok {{ return 200 'ok'; }}
  }}
}}",
        d = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf)?;
    let t = Term::spawn(
        Command::new("taskset")
            .args(["-c", "0", "/usr/sbin/nginx", "-c"])
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("logs/error.log")),
    )?;
    wait_listen("nginx", port)?;
    Ok((t, port))
}

/// nginx's one worker: the master's child.
fn worker(master: u32) -> Result<u32> {
    let children = std::fs::read_to_string(format!("/proc/{master}/task/{master}/children"))?;
    children
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .context("nginx has no worker")
}

pub fn run(bin: &Path, rotel: &Rotel, out: &Path, seconds: u64, rounds: u32) -> Result<Results> {
    let mut web = Results::new();
    let (nginx, port) = nginx(&out.join("nginx"))?;
    wrk(port, "/ok", 10, 1)?; // warm-up
    for round in 1..=rounds {
        for mode in [
            Mode::Untraced,
            Mode::Floor,
            Mode::HooksOnly,
            Mode::CaptureOnly,
            Mode::Traced,
        ] {
            eprintln!("xtask bench: nginx round {round}/{rounds}, {}", mode.name());
            let before = rotel.spans();
            let agent = match mode {
                Mode::Untraced => None,
                m => Some(Agent::start(bin, nginx.pid(), m, rotel.grpc)?),
            };
            let mut run = wrk(port, "/ok", 10, seconds)?;
            if let Some(a) = agent {
                a.finish(&mut run)?;
            }
            if mode == Mode::Traced {
                run.received = Some(rotel.settled() - before);
            }
            eprintln!("  {run:?}");
            web.entry(mode).or_default().push(run);
        }
    }
    Ok(web)
}

/// Extra runs, not measured: perf (system-wide) untraced, hooks-only and
/// traced; nginx's worker and wrk in each, the agent when traced. `None`
/// without perf.
pub fn profiles(bin: &Path, rotel: &Rotel, out: &Path, seconds: u64) -> Result<Option<Value>> {
    if !profile::available() {
        eprintln!("xtask bench: /usr/bin/perf not found, no profile");
        return Ok(None);
    }
    let (nginx, port) = nginx(&out.join("nginx"))?;
    let w = worker(nginx.pid())?.to_string();
    let dir = out.join("perf");
    std::fs::create_dir_all(&dir)?;
    let mut res = serde_json::Map::new();
    for mode in [Mode::Untraced, Mode::HooksOnly, Mode::Traced] {
        eprintln!("xtask bench: profiling, nginx {}", mode.name());
        let agent = match mode {
            Mode::Untraced => None,
            m => Some(Agent::start(bin, nginx.pid(), m, rotel.grpc)?),
        };
        let rec = profile::record(seconds, &dir.join(format!("{}.data", mode.name())))?;
        let mut run = wrk(port, "/ok", 10, seconds)?;
        let file = rec.done()?;
        let name = mode.name();
        let mut one = |key: String, what: String, filter: &[&str], n| -> Result<()> {
            res.insert(key, profile::summary(&file, &what, filter, n)?);
            Ok(())
        };
        one(
            format!("nginx_worker_{name}"),
            format!("nginx worker, {name} ({:.0} requests/s)", run.rps),
            &["--pid", &w],
            10,
        )?;
        one(
            format!("wrk_{name}"),
            format!("wrk, {name}"),
            &["--comms", "wrk"],
            6,
        )?;
        if let Some(a) = agent {
            let pid = a.pid().to_string();
            if mode == Mode::Traced {
                one(
                    "agent_traced".into(),
                    "swit-agent, traced".into(),
                    &["--pid", &pid],
                    15,
                )?;
            }
            a.finish(&mut run)?;
        }
    }
    Ok(Some(res.into()))
}
