//! Choosing what to trace, end to end: a cgroup created by the test, a
//! child forked by a traced parent, an executable and a port matched when
//! the process starts, a reused PID, a configuration re-read on SIGHUP,
//! and 200 short-lived processes that leave nothing behind. Needs root.
use std::{
    io::Write,
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use swit_tests::{
    Agent, CLIENT, Client, Nginx, Proc, SERVER, Service, collect_lines, fixture, free_port,
    listening_port, of_kind, require_tool, wait_for,
};

const WAIT: Duration = Duration::from_secs(30);

/// The cgroup v2 hierarchy: /sys/fs/cgroup on a pure v2 host, or the
/// `unified` mount of a hybrid one.
fn cgroup2_root() -> PathBuf {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    mounts
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(f[1]))
        })
        .expect("no cgroup2 hierarchy mounted: the cgroup test needs cgroup v2")
}

/// A cgroup made for one test, removed (after its processes) on drop.
struct TestCgroup(PathBuf);

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// The PID of the only child of `parent`.
fn child_of(parent: u32) -> u32 {
    wait_for("the child process", WAIT, || {
        let s = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children")).ok()?;
        s.split_whitespace().next()?.parse().ok()
    })
}

fn hello(port: u16) {
    Client::start(port, &["GET:/hello"]).go_and_wait();
}

#[test]
fn a_cgroup_traces_a_server_started_after_the_agent() {
    let cg = TestCgroup(cgroup2_root().join(format!("swit-test-{}", std::process::id())));
    std::fs::create_dir_all(&cg.0).unwrap();
    let path = cg.0.display().to_string();
    let agent = Agent::start(&[], &["--cgroup", &path]);
    // The server joins the cgroup before exec'ing python: every byte it
    // handles is inside it.
    let procs = cg.0.join("cgroup.procs");
    let mut svc = Proc::spawn(
        "service in cgroup",
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "echo $$ > {} && exec python3 {}",
                procs.display(),
                fixture("service.py").display()
            ))
            .stdout(Stdio::piped()),
    );
    let port = listening_port(&mut svc, "service.py");
    hello(port);
    let spans = agent.wait_spans("the cgroup's server span", WAIT, |s| !s.is_empty());
    let stopped = agent.stop();
    assert_eq!(
        spans.len(),
        1,
        "only the server is in the cgroup: {spans:?}"
    );
    assert_eq!(spans[0].kind, SERVER);
    assert_eq!(spans[0].pid(), Some(svc.pid() as i64));
    assert_eq!(stopped.spans.len(), 1);
    drop(svc);
}

/// A cgroup v1 hierarchy (a controller mounted as `cgroup`), if the host
/// has one.
fn cgroup1_root() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(2) == Some(&"cgroup") && f.get(3).is_some_and(|o| o.contains("pids")))
            .then(|| PathBuf::from(f[1]))
    })
}

#[test]
fn a_v1_cgroup_is_matched_by_the_agent() {
    // Hosts with only cgroup v2 have no v1 layout to test; this machine
    // mounts v1 controllers beside the unified hierarchy.
    let Some(v1) = cgroup1_root() else {
        eprintln!("no cgroup v1 pids hierarchy on this host: nothing to test");
        return;
    };
    let cg = TestCgroup(v1.join(format!("swit-test-{}", std::process::id())));
    std::fs::create_dir_all(&cg.0).unwrap();
    let path = cg.0.display().to_string();
    let agent = Agent::start(&[], &["--cgroup", &path]);
    let procs = cg.0.join("cgroup.procs");
    let mut svc = Proc::spawn(
        "service in a v1 cgroup",
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "echo $$ > {} && exec python3 {}",
                procs.display(),
                fixture("service.py").display()
            ))
            .stdout(Stdio::piped()),
    );
    let port = listening_port(&mut svc, "service.py");
    hello(port);
    let spans = agent.wait_spans("the v1 cgroup's server span", WAIT, |s| !s.is_empty());
    agent.stop();
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert_eq!(spans[0].pid(), Some(svc.pid() as i64));
    drop(svc);
}

#[test]
fn a_server_forked_by_a_traced_parent_is_traced() {
    require_tool("sh");
    // The shell is traced; the python it forks after the agent starts is
    // its child, traced from its first instruction.
    let mut sh = Proc::spawn(
        "sh",
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "read go; python3 {}",
                fixture("service.py").display()
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    );
    let agent = Agent::start(&[sh.pid()], &[]);
    writeln!(sh.child.stdin.as_mut().unwrap(), "go").unwrap();
    let port = listening_port(&mut sh, "service.py");
    let py = child_of(sh.pid());
    hello(port);
    let spans = agent.wait_spans("the child's server span", WAIT, |s| !s.is_empty());
    agent.stop();
    // Killing the shell (when `sh` drops) would orphan its child.
    // SAFETY: kill(2) of the python this test started.
    unsafe { libc::kill(py as i32, libc::SIGKILL) };
    assert_eq!(of_kind(&spans, py, SERVER).len(), 1, "{spans:?}");
}

#[test]
fn an_executable_is_matched_when_it_starts() {
    require_tool("curl");
    let agent = Agent::start(&[], &["--exe", "nginx"]);
    assert!(
        agent
            .stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("no running process matches --exe nginx")),
        "a warning, and the agent waits"
    );
    let nginx = Nginx::start();
    let url = format!("http://127.0.0.1:{}/ok", nginx.port);
    // The agent matches an executable after the process started: the line
    // says from when on its requests (its workers', forked by then or
    // later) are traced.
    let matched = format!(
        "tracing PID {} (nginx): matched when it started",
        nginx.proc.pid()
    );
    agent.wait_line("the agent to match nginx", WAIT, |l| l.contains(&matched));
    let st = Command::new("curl")
        .args(["-s", "-o", "/dev/null", &url])
        .status()
        .unwrap();
    assert!(st.success());
    let spans = agent.wait_spans("an nginx span", WAIT, |s| !s.is_empty());
    agent.stop();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].resource["service.name"], "nginx");
}

#[test]
fn a_port_is_matched_when_a_process_starts_listening_on_it() {
    let port = free_port();
    let agent = Agent::start(&[], &["--port", &port.to_string()]);
    assert!(
        agent
            .stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("nobody listens on port"))
    );
    let mut svc = Proc::spawn(
        "service on the port",
        Command::new("python3")
            .arg(fixture("service.py"))
            .args(["--port", &port.to_string()])
            .stdout(Stdio::piped()),
    );
    assert_eq!(listening_port(&mut svc, "service.py"), port);
    let matched = format!("tracing PID {} (", svc.pid());
    let line = agent.wait_line("the agent to match the listener", WAIT, |l| {
        l.contains(&matched)
    });
    assert!(
        line.ends_with(&format!("it listens on port {port}")),
        "{line}"
    );
    hello(port);
    let spans = agent.wait_spans("the listener's span", WAIT, |s| !s.is_empty());
    agent.stop();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].pid(), Some(svc.pid() as i64));
}

/// Starts `cmd` with exactly PID `pid` (root: via ns_last_pid), or None if
/// another process took it first every time.
fn spawn_with_pid(pid: u32, mut make: impl FnMut() -> Command) -> Option<Proc> {
    for _ in 0..50 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).ok()?;
        let child = make().spawn().ok()?;
        let p = Proc {
            child,
            name: "pid reuser".into(),
        };
        if p.pid() == pid {
            return Some(p);
        }
    }
    None
}

#[test]
fn a_reused_pid_of_an_exited_target_is_not_traced() {
    let mut first = Proc::spawn("sleep", Command::new("sleep").arg("60"));
    let pid = first.pid();
    let agent = Agent::start(&[pid], &[]);
    first.signal(libc::SIGKILL);
    let _ = first.child.wait();
    let port = free_port();
    let reuser = spawn_with_pid(pid, || {
        let mut c = Command::new("python3");
        c.arg(fixture("service.py"))
            .args(["--port", &port.to_string()])
            .stdout(Stdio::piped());
        c
    })
    .expect("could not start a process with the exited target's PID");
    let mut reuser = reuser;
    assert_eq!(listening_port(&mut reuser, "service.py"), port);
    hello(port);
    let stopped = agent.stop();
    assert!(
        stopped.spans.iter().all(|s| s.pid() != Some(pid as i64)),
        "the new process with PID {pid} is not a target: {:?}",
        stopped.spans
    );
    assert!(
        stopped.stderr.iter().any(|l| l.contains("targets=0")),
        "{:?}",
        stopped.stderr
    );
}

#[test]
fn two_hundred_short_lived_processes_leave_no_state_behind() {
    require_tool("curl");
    let svc = Service::start(None);
    // A traced shell runs 200 curls, one after the other: each is a child
    // traced from birth, makes one request and exits.
    let mut sh = Proc::spawn(
        "sh",
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "read go; i=0; while [ $i -lt 200 ]; do curl -s -o /dev/null http://127.0.0.1:{}/hello; i=$((i+1)); done; echo done",
                svc.port
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    );
    let agent = Agent::start(&[sh.pid()], &[]);
    writeln!(sh.child.stdin.as_mut().unwrap(), "go").unwrap();
    let out = collect_lines(sh.child.stdout.take().unwrap());
    wait_for("the 200 curls", Duration::from_secs(120), || {
        out.lock()
            .unwrap()
            .iter()
            .any(|l| l == "done")
            .then_some(())
    });
    let spans = agent.wait_spans("200 client spans", WAIT, |s| s.len() >= 200);
    let clients = spans.iter().filter(|s| s.kind == CLIENT).count();
    assert_eq!(clients, 200, "every short-lived child traced");
    drop(sh);
    let stopped = agent.stop();
    let summary_line = stopped
        .stderr
        .iter()
        .find(|l| l.contains("stopped;"))
        .unwrap()
        .clone();
    // Only the `held:` part: the rest holds cumulative counts.
    let summary = summary_line
        .split("held:")
        .nth(1)
        .unwrap_or_else(|| panic!("no held: part in {summary_line}"));
    // The shell itself may still be listed if its exit raced the stop.
    for (key, max) in [
        ("targets", 1),
        ("connections", 0),
        ("open_requests", 0),
        ("resources", 1),
    ] {
        let v = swit_tests::summary_counter(summary, key);
        assert!(v <= max, "{key}={v} left behind: {summary_line}");
    }
}

#[test]
fn sighup_rereads_the_targets_of_the_configuration_file() {
    let a = Service::start(None);
    let b = Service::start(None);
    let write = |pid: u32| {
        swit_tests::write_config(
            "hup",
            &format!(
                "tracing:\n  enabled: true\n  sampling: {{ type: always_on }}\nagent:\n  targets: {{ pids: [{pid}] }}\n"
            ),
        )
    };
    let cfg = write(a.proc.pid());
    let cfg_s = cfg.display().to_string();
    let agent = Agent::start(&[], &["--config", &cfg_s]);
    hello(a.port);
    agent.wait_spans("a's span", WAIT, |s| s.len() == 1);
    write(b.proc.pid());
    agent.proc.signal(libc::SIGHUP);
    wait_for("the reload", WAIT, || {
        agent
            .stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("SIGHUP: now tracing"))
            .then_some(())
    });
    hello(a.port);
    hello(b.port);
    agent.wait_spans("b's span", WAIT, |s| {
        s.iter().any(|x| x.pid() == Some(b.proc.pid() as i64))
    });
    let spans = agent.stop().spans;
    let from_a = spans
        .iter()
        .filter(|s| s.pid() == Some(a.proc.pid() as i64))
        .count();
    assert_eq!(from_a, 1, "a is no longer traced after the reload");
    assert_eq!(spans.len(), 2);
}
