//! `cargo xtask bench`: what tracing costs and whether spans are lost
//! (issue 8), traced against untraced, same binaries and same load.
//!
//! - Scenario 1 ([`nginx`]): nginx `/ok` over keep-alive, wrk; untraced,
//!   hooks-only (the hook floor), traced. Then perf profiles ([`profile`]).
//! - Scenario 2 ([`python`]): a Python service querying PostgreSQL, wrk;
//!   untraced, traced by swit, instrumented with the OpenTelemetry SDK.
//! - Scenario 3 ([`pg`]): pgbench select-only; untraced, traced.
//!
//! Every traced mode exports to one rotel collector ([`rotel`]), which
//! counts the spans it receives. [`report`] writes docs/benchmarks.md and
//! target/bench/results.json.
//!
//! Two cores: servers are pinned to cpu 0, load generators to cpu 1, the
//! agent and the collector are left unpinned (they compete with both,
//! which is part of what tracing costs on a small machine).
mod agent;
mod load;
mod nginx;
mod pg;
mod profile;
mod python;
mod report;
mod rotel;

use std::{collections::BTreeMap, path::Path};

use anyhow::Result;
use serde_json::{Value, json};

use crate::root;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Mode {
    Untraced,
    /// Every hook attached, programs returning at once: the kernel's own
    /// cost of running them.
    Floor,
    HooksOnly,
    /// Captured into the ring and read by the agent, then dropped.
    CaptureOnly,
    Traced,
    /// The OpenTelemetry Python SDK inside the service (scenario 2).
    Sdk,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Untraced => "untraced",
            Mode::Floor => "floor",
            Mode::HooksOnly => "hooks-only",
            Mode::CaptureOnly => "capture-only",
            Mode::Traced => "traced",
            Mode::Sdk => "otel-sdk",
        }
    }
}

/// One measured run.
#[derive(Default, Debug)]
struct Run {
    rps: f64,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    /// pgbench's own latency average (scenario 3).
    avg_us: Option<f64>,
    requests: u64,
    /// Agent CPU (user + system) while the load ran, µs.
    agent_cpu_us: Option<f64>,
    agent_rss_kib: Option<u64>,
    /// The agent's RSS when the load ended.
    agent_rss_end_kib: Option<u64>,
    /// Of that, the BPF map mappings (the ring buffer).
    agent_map_rss_kib: Option<u64>,
    /// The server's own CPU while the load ran, µs (scenario 2).
    server_cpu_us: Option<f64>,
    /// The agent's summary: spans made, spans the collector accepted.
    spans: Option<u64>,
    delivered: Option<u64>,
    /// Spans the collector logged as received during the run.
    received: Option<u64>,
}

impl Run {
    fn json(&self, per_request: u64) -> Value {
        let n = self.requests.max(1) as f64;
        json!({
            "requests_per_s": self.rps, "p50_us": self.p50_us, "p99_us": self.p99_us,
            "avg_us": self.avg_us, "requests": self.requests,
            "agent_cpu_us": self.agent_cpu_us,
            "agent_cpu_us_per_request": self.agent_cpu_us.map(|c| c / n),
            "agent_peak_rss_kib": self.agent_rss_kib, "agent_rss_at_end_kib": self.agent_rss_end_kib,
            "agent_bpf_map_rss_kib": self.agent_map_rss_kib,
            "server_cpu_us_per_request": self.server_cpu_us.map(|c| c / n),
            "agent_spans": self.spans, "agent_delivered": self.delivered,
            "received_spans": self.received, "completeness": self.completeness(per_request),
        })
    }

    /// Spans received / spans the completed requests should have made.
    fn completeness(&self, per_request: u64) -> Option<f64> {
        self.received
            .map(|r| r as f64 / (self.requests.max(1) * per_request) as f64)
    }
}

type Results = BTreeMap<Mode, Vec<Run>>;

/// One scenario's runs and how to read them.
struct Scenario {
    key: &'static str,
    res: Results,
    /// Spans a traced request should make (completeness' denominator).
    per_request: u64,
}

pub fn bench(bin: &Path, seconds: u64, rounds: u32) -> Result<()> {
    let machine = report::machine();
    let out = root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    let rotel = rotel::Rotel::start(&out.join("rotel"))?;

    let web = nginx::run(bin, &rotel, &out, seconds, rounds)?;
    let profiles = nginx::profiles(bin, &rotel, &out, seconds)?;
    let py = python::run(bin, &rotel, &out, seconds, rounds)?;
    let db = pg::run(bin, &rotel, seconds, rounds)?;

    let scenarios = [
        Scenario {
            key: "nginx_wrk",
            res: web,
            per_request: 1,
        },
        Scenario {
            key: "python_postgres",
            res: py,
            per_request: python::SPANS_PER_REQUEST,
        },
        Scenario {
            key: "pgbench_select_only",
            res: db,
            per_request: 1,
        },
    ];
    report::write(&out, machine, seconds, rounds, &scenarios, profiles)
}
