//! PostgreSQL for scenarios 2 and 3, and scenario 3: pgbench -S (select
//! only) over TCP, untraced and traced. p50 and p99 come from pgbench's
//! per-transaction log (`--log`: every transaction's latency in µs).
use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{Result, bail};

use super::{Mode, Results, Run, agent::Agent, agent::free_port, rotel::Rotel};
use crate::term::Term;

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn as_postgres(program: &str) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", "postgres", "--", &format!("{PG_BIN}/{program}")]);
    c
}

/// PostgreSQL on cpu 0 with pgbench's tables (scale 1: 100 000 accounts),
/// stopped (and its directory removed) when dropped.
pub struct Postgres {
    dir: PathBuf,
    pub port: u16,
}

impl Postgres {
    pub fn start() -> Result<Postgres> {
        let dir = PathBuf::from(format!("/tmp/swit-bench-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        crate::run(Command::new("chown").args(["postgres:postgres"]).arg(&dir))?;
        let pg = Postgres {
            dir,
            port: free_port()?,
        };
        let data = pg.dir.join("data");
        crate::run(
            as_postgres("initdb")
                .arg("-D")
                .arg(&data)
                .args(["-A", "trust", "-U", "postgres", "--no-sync"])
                .stdout(Stdio::null()),
        )?;
        crate::run(
            Command::new("taskset")
                .args(["-c", "0", "runuser", "-u", "postgres", "--"])
                .arg(format!("{PG_BIN}/pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-o")
                .arg(format!(
                    "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                     -c synchronous_commit=off",
                    pg.port,
                    pg.dir.display()
                ))
                .arg("-l")
                .arg(pg.dir.join("log"))
                .args(["-w", "-t", "60", "start"])
                .stdout(Stdio::null()),
        )?;
        crate::run(
            Command::new("pgbench")
                .args(["-h", "127.0.0.1", "-p", &pg.port.to_string()])
                .args(["-U", "postgres", "-i", "-q", "-s", "1", "postgres"])
                .stderr(Stdio::null()),
        )?;
        Ok(pg)
    }

    /// A libpq connection string (plaintext TCP).
    pub fn dsn(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=disable",
            self.port
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `q`-quantile (0..1) of sorted values, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    (n > 0).then(|| sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1])
}

/// Transaction latencies (µs, sorted) from every file pgbench's `--log`
/// wrote under `dir`: the third field of each line.
fn latencies(dir: &Path) -> Result<Vec<f64>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir)? {
        for l in std::fs::read_to_string(e?.path())?.lines() {
            if let Some(us) = l.split_whitespace().nth(2).and_then(|f| f.parse().ok()) {
                v.push(us);
            }
        }
    }
    v.sort_by(f64::total_cmp);
    Ok(v)
}

/// pgbench -S on cpu 1, under a shell that waits for a line on stdin so
/// the agent can attach to it first (it then follows pgbench).
fn pgbench(bin: &Path, pg: &Postgres, mode: Mode, seconds: u64, rotel: &Rotel) -> Result<Run> {
    let logs = std::env::temp_dir().join(format!("swit-bench-pgbench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs)?;
    let script = format!(
        "read _ && exec pgbench -h 127.0.0.1 -p {} -U postgres -n -S -T {seconds} -c 4 -j 2 \
         --log --log-prefix={}/tx postgres",
        pg.port,
        logs.display()
    );
    let mut sh = Term::spawn(
        Command::new("taskset")
            .args(["-c", "1", "sh", "-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )?;
    let before = rotel.spans();
    let agent = match mode {
        Mode::Untraced => None,
        m => Some(Agent::start(bin, sh.pid(), m, rotel.grpc)?),
    };
    sh.child.stdin.take().expect("stdin").write_all(b"go\n")?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut sh.child.stdout.take().expect("stdout"), &mut text)?;
    sh.wait(Duration::from_secs(30));
    let mut run = Run::default();
    for l in text.lines() {
        if let Some(v) = l.strip_prefix("number of transactions actually processed: ") {
            run.requests = v.split('/').next().unwrap_or("").trim().parse()?;
        } else if let Some(v) = l.strip_prefix("latency average = ") {
            run.avg_us = v
                .trim_end_matches(" ms")
                .parse::<f64>()
                .ok()
                .map(|ms| ms * 1e3);
        } else if let Some(v) = l.strip_prefix("tps = ") {
            run.rps = v.split_whitespace().next().unwrap_or("").parse()?;
        }
    }
    if run.requests == 0 {
        bail!("pgbench failed: {text}");
    }
    let lat = latencies(&logs)?;
    let _ = std::fs::remove_dir_all(&logs);
    if lat.len() as u64 != run.requests {
        eprintln!(
            "  pgbench logged {} transactions, reported {}",
            lat.len(),
            run.requests
        );
    }
    run.p50_us = quantile(&lat, 0.50);
    run.p99_us = quantile(&lat, 0.99);
    if let Some(a) = agent {
        a.finish(&mut run)?;
        run.received = Some(rotel.settled() - before);
    }
    Ok(run)
}

pub fn run(bin: &Path, rotel: &Rotel, seconds: u64, rounds: u32) -> Result<Results> {
    let mut db = Results::new();
    let pg = Postgres::start()?;
    for round in 1..=rounds {
        for mode in [Mode::Untraced, Mode::Traced] {
            eprintln!(
                "xtask bench: pgbench round {round}/{rounds}, {}",
                mode.name()
            );
            let run = pgbench(bin, &pg, mode, seconds, rotel)?;
            eprintln!("  {run:?}");
            db.entry(mode).or_default().push(run);
        }
    }
    Ok(db)
}

#[cfg(test)]
mod tests {
    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(super::quantile(&v, 0.5), Some(50.0));
        assert_eq!(super::quantile(&v, 0.99), Some(99.0));
        assert_eq!(super::quantile(&[7.0], 0.99), Some(7.0));
        assert_eq!(super::quantile(&[], 0.5), None);
    }
}
