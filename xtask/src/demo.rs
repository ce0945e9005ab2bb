//! `cargo xtask demo`: the shop of examples/shop/ (five uninstrumented
//! services in Python, Go and node on PostgreSQL and Redis) traced live by
//! swit-agent, which follows them by cgroup. `--minimal`: two Python
//! services of examples/http-demo, followed by pid.
//!
//! examples/shop/run.sh owns the shop (ports, environment, PostgreSQL and
//! Redis, stopping it all); xtask puts its services in a cgroup, starts the
//! agent once they listen, and lets run.sh start the load after the agent
//! says it is tracing.
use std::{
    fs,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc::{Receiver, RecvTimeoutError, Sender, channel},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::{root, run, term::Term};

/// What the shop's and the agent's output say, read by two threads.
#[derive(PartialEq, Debug)]
enum Event {
    ShopReady,
    ShopEnded,
    AgentTracing,
    AgentEnded,
}

/// Waits for `want`; false on Ctrl-C, an error when a child ends first.
fn wait_for(rx: &Receiver<Event>, stop: &AtomicBool, want: Event) -> Result<bool> {
    loop {
        if stop.load(Ordering::Relaxed) {
            println!("demo: stopping");
            return Ok(false);
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(e) if e == want => return Ok(true),
            Ok(Event::ShopEnded) => bail!("examples/shop/run.sh stopped (its output is above)"),
            Ok(Event::AgentEnded) => bail!("swit-agent exited (its output is above)"),
            Ok(_) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => bail!("lost the children's output"),
        }
    }
}

/// Copies `out` line by line through `show` (which says whether to print a
/// line and which event it is), then sends `end`.
fn follow(
    out: impl std::io::Read + Send + 'static,
    tx: Sender<Event>,
    end: Event,
    show: impl Fn(&str) -> (bool, Option<Event>) + Send + 'static,
    to_stderr: bool,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let (print, event) = show(&line);
            match (print, to_stderr) {
                (true, true) => eprintln!("{line}"),
                (true, false) => println!("{line}"),
                (false, _) => {}
            }
            if let Some(e) = event {
                let _ = tx.send(e);
            }
        }
        let _ = tx.send(end);
    });
}

/// The cgroup v2 hierarchy: /sys/fs/cgroup, or `unified` on a hybrid host.
fn cgroup2_root() -> Result<PathBuf> {
    let mounts = fs::read_to_string("/proc/mounts")?;
    mounts
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(f[1]))
        })
        .context("no cgroup v2 hierarchy is mounted: the demo follows the shop by cgroup")
}

/// The demo's cgroup; on drop its remaining processes are killed and it is
/// removed.
struct Cgroup(PathBuf);

impl Cgroup {
    fn create() -> Result<Cgroup> {
        let dir = cgroup2_root()?.join("swit-demo");
        if dir.exists() && fs::remove_dir(&dir).is_err() {
            bail!(
                "{} still has processes: is another demo running?",
                dir.display()
            );
        }
        fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Cgroup(dir))
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = fs::write(self.0.join("cgroup.kill"), "1");
        let end = Instant::now() + Duration::from_secs(5);
        while fs::remove_dir(&self.0).is_err() {
            if Instant::now() > end {
                eprintln!("demo: cannot remove {}", self.0.display());
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The shop, traced for `seconds` of load, printed on the console or sent
/// to an OTLP/gRPC collector at `otlp`.
pub fn shop(agent_bin: &Path, seconds: u64, otlp: Option<&str>) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let cgroup = Cgroup::create()?;
    // Returning stops the agent, then the shop; then the cgroup goes.
    let res = traced_shop(agent_bin, seconds, otlp, &cgroup, &stop);
    drop(cgroup);
    println!("demo: stopped; nothing left running");
    res
}

fn traced_shop(
    agent_bin: &Path,
    seconds: u64,
    otlp: Option<&str>,
    cgroup: &Cgroup,
    stop: &AtomicBool,
) -> Result<()> {
    let cg = cgroup.0.display().to_string();
    println!(
        "demo: PostgreSQL, Redis and the shop's five services (examples/shop/run.sh), \
         the services in cgroup {cg}, traced by swit-agent; Ctrl-C (or kill -INT {}) stops it all",
        std::process::id()
    );
    let (tx, rx) = channel();
    let mut shop = Term::spawn_group(
        Command::new(root().join("examples/shop/run.sh"))
            .args(["--wait", "--pause", "1", "--duration", &seconds.to_string()])
            .env("SHOP_CGROUP", &cgroup.0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
        "-TERM",
    )?;
    // run.sh's own lines and the load generator's summary and surprises;
    // not its line per request, which the traces show.
    let shown = |l: &str| {
        let ready = l.starts_with("shop: ready");
        let shown = !ready && (l.starts_with("shop:") || l.starts_with("loadgen:"));
        (
            shown || l.contains("UNEXPECTED"),
            ready.then_some(Event::ShopReady),
        )
    };
    let out = shop.child.stdout.take().expect("stdout");
    follow(out, tx.clone(), Event::ShopEnded, shown, false);
    if !wait_for(&rx, stop, Event::ShopReady)? {
        return Ok(());
    }

    let mut cmd = Command::new(agent_bin);
    cmd.args(["run", "--cgroup", &cg]).stderr(Stdio::piped());
    if let Some(url) = otlp {
        cmd.args(["--exporter", "otlp", "--endpoint", url]);
    }
    let mut agent = Term::spawn_group(&mut cmd, "-INT")?;
    println!("demo: swit-agent pid {} traces cgroup {cg}", agent.pid());
    let err = agent.child.stderr.take().expect("stderr");
    let tracing = |l: &str| (true, l.contains("tracing ").then_some(Event::AgentTracing));
    follow(err, tx, Event::AgentEnded, tracing, true);
    if !wait_for(&rx, stop, Event::AgentTracing)? {
        return Ok(());
    }

    let to = otlp.map_or("the traces follow".into(), |url| {
        format!("spans go to {url}")
    });
    println!("demo: {seconds} s of load (examples/shop/loadgen); {to}");
    let mut stdin = shop.child.stdin.take().expect("stdin");
    stdin.write_all(b"go\n")?;
    if !wait_for(&rx, stop, Event::ShopEnded)? {
        return Ok(());
    }
    // SIGINT: the agent prints what it still holds and its summary.
    agent.signal("-INT");
    agent.wait(Duration::from_secs(30));
    let status = shop.child.wait()?;
    if !status.success() {
        bail!("examples/shop/run.sh failed ({status}): see above");
    }
    Ok(())
}

fn start_service(script: &Path, args: &[String]) -> Result<(Term, u16)> {
    let mut child = Term::spawn(
        Command::new("python3")
            .arg(script)
            .args(args)
            .stdout(Stdio::piped()),
    )?;
    let mut line = String::new();
    BufReader::new(child.child.stdout.take().expect("stdout")).read_line(&mut line)?;
    let port = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("{} did not start: {line:?}", script.display()))?;
    Ok((child, port))
}

/// Two Python services of examples/http-demo and their client, traced by
/// pid for `seconds`.
pub fn minimal(agent_bin: &Path, seconds: u64, otlp: Option<&str>) -> Result<()> {
    let dir = root().join("examples/http-demo");
    let (backend, bport) = start_service(&dir.join("backend.py"), &[])?;
    let (frontend, fport) = start_service(
        &dir.join("frontend.py"),
        &["--backend".into(), format!("127.0.0.1:{bport}")],
    )?;
    eprintln!("xtask: frontend on :{fport} calls backend on :{bport}; attaching swit-agent");
    let mut cmd = Command::new(agent_bin);
    cmd.args(["run", "--pid", &frontend.pid().to_string()])
        .args(["--pid", &backend.pid().to_string()])
        .stderr(Stdio::piped());
    if let Some(url) = otlp {
        cmd.args(["--exporter", "otlp", "--endpoint", url]);
    }
    let mut agent = Term::spawn(&mut cmd)?;
    // Start the load only once the agent says it is tracing.
    let stderr = agent.child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line?;
        eprintln!("{line}");
        if line.contains("tracing ") {
            break;
        }
    }
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            eprintln!("{line}");
        }
    });
    let client = Term::spawn(
        Command::new("python3")
            .arg(dir.join("client.py"))
            .arg(format!("127.0.0.1:{fport}"))
            .stdout(Stdio::null()),
    )?;
    std::thread::sleep(Duration::from_secs(seconds));
    drop(client);
    // SIGINT lets the agent print what it still holds.
    run(Command::new("kill").args(["-INT", &agent.pid().to_string()]))?;
    let _ = agent.child.wait();
    Ok(())
}
