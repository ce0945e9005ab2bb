//! docs/benchmarks.md and target/bench/results.json from the runs.
use std::{path::Path, process::Command};

use anyhow::Result;
use serde_json::{Value, json};

use super::{Mode, Results, Run, Scenario, profile};
use crate::root;

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Median and min–max of one figure across rounds, if every round has it.
fn stat(runs: &[Run], f: impl Fn(&Run) -> Option<f64>) -> Option<(f64, f64, f64)> {
    let v: Vec<f64> = runs.iter().map(&f).collect::<Option<_>>()?;
    let (lo, hi) = v
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
    (!v.is_empty()).then(|| (median(&v), lo, hi))
}

/// The median of one figure of one mode.
fn med(res: &Results, m: Mode, f: impl Fn(&Run) -> Option<f64>) -> Option<f64> {
    stat(res.get(&m)?, f).map(|s| s.0)
}

fn cell(s: Option<(f64, f64, f64)>, digits: usize) -> String {
    match s {
        Some((m, lo, hi)) => format!("{m:.digits$} ({lo:.digits$}–{hi:.digits$})"),
        None => "n/a".into(),
    }
}

fn per_req(c: Option<f64>, r: &Run) -> Option<f64> {
    c.map(|c| c / r.requests.max(1) as f64)
}

fn table(md: &mut String, s: &Scenario) {
    let base = med(&s.res, Mode::Untraced, |r| Some(r.rps)).unwrap_or(f64::NAN);
    let server = s.res.values().flatten().any(|r| r.server_cpu_us.is_some());
    md.push_str(
        "| mode | requests/s | ratio | p50 µs | p99 µs | agent CPU µs/req | agent peak RSS MiB |",
    );
    md.push_str(if server { " service CPU µs/req |" } else { "" });
    md.push_str(" completeness |\n|---|---|---|---|---|---|---|---|");
    md.push_str(if server { "---|\n" } else { "\n" });
    for (mode, runs) in &s.res {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            mode.name(),
            cell(stat(runs, |r| Some(r.rps)), 0),
            cell(stat(runs, |r| Some(r.rps / base)), 3),
            cell(stat(runs, |r| r.p50_us), 1),
            cell(stat(runs, |r| r.p99_us), 1),
            cell(stat(runs, |r| per_req(r.agent_cpu_us, r)), 2),
            cell(
                stat(runs, |r| r.agent_rss_kib.map(|k| k as f64 / 1024.0)),
                1
            ),
        ));
        if server {
            md.push_str(&format!(
                " {} |",
                cell(stat(runs, |r| per_req(r.server_cpu_us, r)), 1)
            ));
        }
        md.push_str(&format!(
            " {} |\n",
            cell(stat(runs, |r| r.completeness(s.per_request)), 4)
        ));
    }
}

fn goal(md: &mut String, what: &str, value: f64, ok: bool, stretch: bool, gap: String) {
    let verdict = match (ok, stretch) {
        (true, true) => "met (stretch goal too)".to_string(),
        (true, false) => "met (stretch goal missed)".to_string(),
        _ => format!("**missed** by {gap}"),
    };
    let shown = if value.abs() >= 10.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.4}")
    };
    md.push_str(&format!("- {what}: {shown} — {verdict}\n"));
}

/// The issue's goals for the `traced` mode of one scenario.
fn goals(md: &mut String, name: &str, s: &Scenario) {
    let res = &s.res;
    let ratio = med(res, Mode::Traced, |r| Some(r.rps)).unwrap_or(0.0)
        / med(res, Mode::Untraced, |r| Some(r.rps)).unwrap_or(f64::NAN);
    md.push_str(&format!("\n{name}, traced against untraced (medians):\n\n"));
    goal(
        md,
        "throughput ratio (goal ≥ 0.95, stretch ≥ 0.99)",
        ratio,
        ratio >= 0.95,
        ratio >= 0.99,
        format!("{:.3}", 0.95 - ratio),
    );
    if let (Some(b), Some(t)) = (
        med(res, Mode::Untraced, |r| r.p99_us),
        med(res, Mode::Traced, |r| r.p99_us),
    ) {
        let added = t - b;
        goal(
            md,
            "p99 added, µs (goal ≤ 1000, stretch ≤ 50)",
            added,
            added <= 1000.0,
            added <= 50.0,
            format!("{:.0} µs", added - 1000.0),
        );
        if b > 1000.0 {
            md.push_str(&format!(
                "  (untraced p99 is itself {b:.0} µs: the noise floor is above the goal, so \
                 this verdict is not conclusive)\n"
            ));
        }
    }
    let c = med(res, Mode::Traced, |r| r.completeness(s.per_request)).unwrap_or(0.0);
    goal(
        md,
        "completeness (goal ≥ 0.999, stretch ≥ 0.9999)",
        c,
        c >= 0.999,
        c >= 0.9999,
        format!("{:.4}", 0.999 - c),
    );
    let rss = med(res, Mode::Traced, |r| {
        r.agent_rss_kib.map(|k| k as f64 / 1024.0)
    })
    .unwrap_or(0.0);
    goal(
        md,
        "agent peak RSS, MiB (goal ≤ 64)",
        rss,
        rss <= 64.0,
        true,
        format!("{:.1} MiB", rss - 64.0),
    );
    if let Some(end) = med(res, Mode::Traced, |r| {
        r.agent_rss_end_kib.map(|k| k as f64 / 1024.0)
    }) {
        let mib = |k: Option<u64>| k.map(|k| k as f64 / 1024.0);
        let shown = |v: Option<f64>| v.map_or("not measured".into(), |m| format!("{m:.1} MiB"));
        md.push_str(&format!(
            "  (RSS when the load ended: {end:.1} MiB, of which BPF map mappings {}: the ring \
             buffer's data pages are mapped twice; hooks-only peak: {})\n",
            shown(med(res, Mode::Traced, |r| mib(r.agent_map_rss_kib))),
            shown(med(res, Mode::HooksOnly, |r| mib(r.agent_rss_kib))),
        ));
    }
}

/// Scenario 2's goal: swit's overhead ≤ 1/5 of the SDK's, on throughput
/// (the goal's measure), with latency and CPU beside it.
fn against_sdk(md: &mut String, res: &Results) {
    let rps = |m| med(res, m, |r| Some(r.rps)).unwrap_or(f64::NAN);
    let (base, swit, sdk) = (rps(Mode::Untraced), rps(Mode::Traced), rps(Mode::Sdk));
    let (swit_loss, sdk_loss) = (1.0 - swit / base, 1.0 - sdk / base);
    let share = swit_loss / sdk_loss;
    md.push_str("\nScenario 2, swit against the OpenTelemetry SDK (medians):\n\n");
    md.push_str(&format!(
        "- throughput lost: swit {:.1} %, SDK {:.1} %\n",
        swit_loss * 100.0,
        sdk_loss * 100.0
    ));
    goal(
        md,
        "swit's throughput loss / the SDK's (goal ≤ 0.2)",
        share,
        share <= 0.2,
        true,
        format!(
            "{:.3}: swit would have to lose at most {:.1} % of the untraced throughput",
            share - 0.2,
            sdk_loss * 20.0
        ),
    );
    for (what, f) in [
        (
            "p50 added, µs",
            (|r: &Run| r.p50_us) as fn(&Run) -> Option<f64>,
        ),
        ("p99 added, µs", |r: &Run| r.p99_us),
        ("CPU per request added (service + agent), µs", |r: &Run| {
            Some(per_req(r.server_cpu_us, r)? + per_req(r.agent_cpu_us, r).unwrap_or(0.0))
        }),
    ] {
        let base = med(res, Mode::Untraced, f);
        let added = |m| Some(med(res, m, f)? - base?);
        if let (Some(a), Some(b)) = (added(Mode::Traced), added(Mode::Sdk)) {
            md.push_str(&format!(
                "- {what}: swit {a:.0}, SDK {b:.0} (swit/SDK {:.2})\n",
                a / b
            ));
        }
    }
}

pub fn machine() -> Value {
    let sh = |c: &str| {
        Command::new("sh")
            .args(["-c", c])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    json!({
        "nproc": sh("nproc"),
        "kernel": sh("uname -r"),
        "cpu": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'"),
        // Other work on the machine widens the spread: recorded, not controlled.
        "loadavg_at_start": sh("cut -d' ' -f1-3 /proc/loadavg"),
        "loadavg_at_end": Value::Null,
    })
}

fn to_json(s: &Scenario) -> Value {
    s.res
        .iter()
        .map(|(m, runs)| {
            let v: Vec<Value> = runs.iter().map(|r| r.json(s.per_request)).collect();
            (m.name().to_string(), Value::from(v))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn profiles_md(md: &mut String, profiles: &Option<Value>) {
    md.push_str("\n## Where the time goes: profiles (scenario 1)\n\n");
    let Some(p) = profiles else {
        md.push_str("Not recorded: /usr/bin/perf was not found (the profile step is optional).\n");
        return;
    };
    md.push_str(PROFILE_METHOD);
    for key in [
        "nginx_worker_untraced",
        "nginx_worker_hooks-only",
        "nginx_worker_traced",
        "wrk_untraced",
        "wrk_hooks-only",
        "wrk_traced",
        "agent_traced",
    ] {
        if let Some(v) = p.get(key) {
            md.push_str(&profile::markdown(v));
        }
    }
}

/// Where docs/benchmarks.md's hand-kept part begins.
const KEPT_SECTION: &str = "## Hardening";

pub fn write(
    out: &Path,
    mut mach: Value,
    seconds: u64,
    rounds: u32,
    scenarios: &[Scenario],
    profiles: Option<Value>,
) -> Result<()> {
    mach["loadavg_at_end"] = machine()["loadavg_at_start"].clone();
    let mut results = json!({
        "machine": mach, "seconds": seconds, "rounds": rounds,
        "pinning": "nginx master+worker, the Python service and postgres on cpu 0; wrk and pgbench on cpu 1; agent and rotel unpinned",
        "python_service_packages": super::python::PACKAGES,
        "profiles": profiles,
    });
    for s in scenarios {
        results[s.key] = to_json(s);
    }
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )?;

    let m = &mach;
    let mut md = String::from(
        "# Benchmarks\n\nGenerated by `cargo xtask bench`; every figure is in target/bench/results.json.\n\n",
    );
    md.push_str(&format!(
        "## Machine\n\n- nproc: {}\n- kernel: {}\n- CPU: {}\n- load average when the run started: {}, when it ended: {} (other work on the machine is not stopped: it widens the spread)\n- run: {seconds} s per mode, {rounds} rounds, modes interleaved within each round\n\n",
        m["nproc"].as_str().unwrap_or(""),
        m["kernel"].as_str().unwrap_or(""),
        m["cpu"].as_str().unwrap_or(""),
        m["loadavg_at_start"].as_str().unwrap_or(""),
        m["loadavg_at_end"].as_str().unwrap_or("")
    ));
    md.push_str(METHOD);
    let [web, py, db] = scenarios else {
        anyhow::bail!("three scenarios expected");
    };
    md.push_str("\n## Scenario 1: nginx `/ok`, wrk -t1 -c10 keep-alive\n\nMedian (min–max) across rounds.\n\n");
    table(&mut md, web);
    let rps = |m| med(&web.res, m, |r| Some(r.rps)).unwrap_or(f64::NAN);
    let (u, f, h, c, t) = (
        rps(Mode::Untraced),
        rps(Mode::Floor),
        rps(Mode::HooksOnly),
        rps(Mode::CaptureOnly),
        rps(Mode::Traced),
    );
    md.push_str(&format!(
        "\nWhere the throughput goes (of untraced, medians): floor {:.1} % (untraced to \
         floor: the kernel running a program on every hooked syscall, programs that return \
         at once), hooks {:.1} % (floor to hooks-only: the programs' filtering and \
         bookkeeping), capture {:.1} % (hooks-only to capture-only: the kernel copying each \
         chunk into the ring, and the agent reading and decoding it), agent {:.1} % \
         (capture-only to traced: parsing, linking and exporting, on the agent's CPU time \
         that nginx and wrk then lack). The profiles below show where inside each.\n",
        (u - f) / u * 100.0,
        (f - h) / u * 100.0,
        (h - c) / u * 100.0,
        (c - t) / u * 100.0
    ));
    md.push_str(&format!(
        "\nAgainst the floor (ratios of untraced, medians): hooks-only {:.3} is {:.1} points \
         below floor {:.3}, capture-only {:.3} is {:.1} points below.\n",
        h / u,
        (f - h) / u * 100.0,
        f / u,
        c / u,
        (f - c) / u * 100.0
    ));
    if [u - f, f - h, h - c, c - t].iter().any(|d| *d < 0.0) {
        md.push_str(
            "A negative share means a later mode ran faster than an earlier one: the \
             difference is inside the run-to-run spread (see the min–max in the table), \
             not a cost.\n",
        );
    }
    md.push_str(SCENARIO_2);
    table(&mut md, py);
    md.push_str(SCENARIO_3);
    table(&mut md, db);
    md.push_str("\n## Goals (issue 8)\n");
    goals(&mut md, "Scenario 1 (nginx)", web);
    goals(&mut md, "Scenario 2 (Python service)", py);
    against_sdk(&mut md, &py.res);
    goals(&mut md, "Scenario 3 (pgbench)", db);
    profiles_md(&mut md, &profiles);
    // The hardening figures come from the end-to-end tests, not from this
    // run: they are kept as written.
    let path = root().join("docs/benchmarks.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    if let Some(at) = old.find(KEPT_SECTION) {
        md.push('\n');
        md.push_str(&old[at..]);
    }
    std::fs::write(&path, &md)?;
    eprintln!("xtask bench: wrote docs/benchmarks.md and target/bench/results.json");
    Ok(())
}

const METHOD: &str = "## Method\n
- Same binaries and same load in every mode. Modes run one after the other within a round, rounds repeat, so drift shows as spread.
- untraced: no agent. floor (scenario 1): `swit-agent run --pid PID --floor` (the same hooks attached, every syscall program returning before it reads anything: what the kernel's own dispatch of the hooks costs). hooks-only: `swit-agent run --pid PID --hooks-only` (every hook attached, nothing captured: the hook floor). capture-only (scenario 1): `swit-agent run --pid PID --capture-only` (every record captured, read and decoded by the agent, then dropped: no parsing, linking or export). traced: `swit-agent run --pid PID --exporter otlp --protocol grpc --sampler always_on` to a local rotel collector (OTLP/gRPC and OTLP/HTTP receivers, blackhole exporter). The load starts once the agent reports its hooks attached.
- Pinning (2 cores): nginx (master and its one worker), the Python service and postgres on cpu 0 with `taskset -c 0`; wrk (one thread) and pgbench on cpu 1 with `taskset -c 1`; the agent and rotel unpinned, so they take CPU from both.
- requests/s, p50, p99: wrk `--latency`; for pgbench, its tps, and p50/p99 from its per-transaction log (`--log`, every transaction's latency).
- Agent CPU per request: utime+stime from /proc/PID/stat at attach and again when the load ends, divided by the requests completed (start-up and the final flush are not counted). Peak RSS: VmHWM from /proc/PID/status before the agent exits. Service CPU (scenario 2): the same for the Python service over the load.
- Completeness: spans the collector received during the run (rotel's `--debug-log traces` line per accepted export, summed) / (requests the load generator counted × spans a request makes: 1 for nginx and pgbench, 2 for the Python service). Senders flush first: the agent at SIGINT, the SDK at the service's exit (SIGTERM). wrk stops at the deadline and does not count requests still in flight, whose spans may still arrive, so the figure can pass 1; pgbench's few connection-setup queries count too.
";

const SCENARIO_2: &str = "\n## Scenario 2: Python service + PostgreSQL, wrk -t1 -c10 keep-alive\n
xtask/src/bench/service.py: Flask 3.1 on waitress 3.0 (8 worker threads, HTTP/1.1 keep-alive), one psycopg2 query (`SELECT abalance FROM pgbench_accounts WHERE aid = %s`, random aid, one connection per worker thread) per request. A fresh service per run. untraced: `python service.py`. traced: the same, with `swit-agent run --pid SERVICE` (server spans and PostgreSQL client spans). otel-sdk: the same file under `opentelemetry-instrument` (SDK 1.45.1, Flask and psycopg2 instrumentations 0.66b1, default batch span processor, OTLP/HTTP protobuf to the same rotel, metrics and logs exporters off). Service CPU is the Python process's own CPU per request: the SDK's cost shows there, swit's in the agent column.\n\n";

const SCENARIO_3: &str = "\n## Scenario 3: PostgreSQL, pgbench -S -c4 -j2 over TCP\n\nThe agent follows the pgbench client (started under a shell the agent traces): client-side spans, as the end-to-end tests check them. p50 and p99 from pgbench's per-transaction log.\n\n";

const PROFILE_METHOD: &str = "Extra runs of scenario 1 after the measured rounds (untraced, hooks-only, traced), not measured themselves: `perf record -a -F 999 -g -- sleep SECONDS` (system-wide: per-task counters would add a switch cost of their own to every context switch), then `perf report --stdio --no-children --percentage relative --sort sym` (self time), filtered to nginx's worker (`--pid`), to wrk (`--comms wrk`: the syscall tracepoints fire for every process, the load generator included, and filtering happens inside the eBPF program) and to the agent. Shares are of that process's own samples. Time in the hooks shows as kernel symbols: the eBPF programs (`bpf_prog_*`), the helpers and maps they call, and the tracepoint glue that runs them (summed as \"hook path\"). Waking another CPU's task shows as `_raw_spin_unlock_irqrestore` (the wake-up's lock) and `native_write_msr` (the x2APIC write sending the inter-processor interrupt), summed as \"waking other CPUs' tasks\". Until this report's run, every ring-buffer record woke the agent (42 % of the traced worker's samples); records are now queued with `BPF_RB_NO_WAKEUP` and the agent looks every 40 ms, woken early only when an eighth of the ring waits. The agent's OTLP export does not compress by default (`tracing.exporter.compression: gzip` turns it on; it was the default before issue 16, and cost more CPU than the whole rest of the export: docs/configuration.md); the SDK's exporter does not compress by default either. The syscall in flight between a hook's enter and exit is kept in the thread's task storage (it was a hash map whose bucket lock, taken with interrupts off, showed as `_raw_spin_unlock_irqrestore` and `htab_map_update_elem` in the hooks-only worker before issue 16's second slice).\n\n";
