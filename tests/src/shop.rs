//! The shop of examples/shop/, started by its own run.sh on free ports, and
//! traces rendered as trees for exact comparison.
use std::{
    collections::HashMap,
    path::PathBuf,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::{Proc, SpanRec, collect_lines, free_port, require_tool, root, wait_for};

/// run.sh's first start builds the services (Go, pip, npm).
const START: Duration = Duration::from_secs(900);

/// PostgreSQL, Redis and the five services, until dropped.
pub struct Shop {
    run: Proc,
    lines: Arc<Mutex<Vec<String>>>,
    /// Service name -> PID, as run.sh printed them.
    pub pids: HashMap<String, u32>,
    pub auth_url: String,
    pub order_url: String,
    pub user_url: String,
}

impl Shop {
    pub fn start() -> Shop {
        for tool in ["node", "npm", "redis-server", "psql"] {
            require_tool(tool);
        }
        let addr = |_| format!("127.0.0.1:{}", free_port());
        let addrs: Vec<String> = (0..5).map(addr).collect();
        let work = root()
            .join("target/e2e")
            .join(format!("shop-{}", std::process::id()));
        let mut cmd = Command::new("bash");
        cmd.arg(root().join("examples/shop/run.sh"))
            .arg("--serve")
            .env("AUTH_ADDR", &addrs[0])
            .env("USER_ADDR", &addrs[1])
            .env("ORDER_ADDR", &addrs[2])
            .env("PAYMENT_ADDR", &addrs[3])
            .env("INVENTORY_ADDR", &addrs[4])
            .env("PG_PORT", free_port().to_string())
            .env("REDIS_PORT", free_port().to_string())
            .env("SHOP_WORK", &work)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let mut run = Proc::spawn("examples/shop/run.sh", &mut cmd);
        let lines = collect_lines(run.child.stdout.take().expect("stdout"));
        wait_for("the shop to serve (shop: serving)", START, || {
            if let Ok(Some(status)) = run.child.try_wait() {
                panic!(
                    "run.sh exited ({status}) before serving; logs in {}",
                    work.display()
                );
            }
            lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.starts_with("shop: serving"))
                .then_some(())
        });
        let pids = lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| {
                let mut w = l.strip_prefix("shop: ")?.split_whitespace();
                let (name, pid_word, pid) = (w.next()?, w.next()?, w.next()?);
                (pid_word == "pid").then(|| Some((name.to_string(), pid.parse().ok()?)))?
            })
            .collect::<HashMap<String, u32>>();
        assert_eq!(pids.len(), 5, "run.sh printed five services: {pids:?}");
        Shop {
            run,
            lines,
            pids,
            auth_url: format!("http://{}", addrs[0]),
            order_url: format!("http://{}", addrs[2]),
            user_url: format!("http://{}", addrs[1]),
        }
    }

    pub fn pid(&self, service: &str) -> u32 {
        self.pids[service]
    }

    /// Where run.sh keeps the logs.
    pub fn work(&self) -> PathBuf {
        root()
            .join("target/e2e")
            .join(format!("shop-{}", std::process::id()))
    }
}

impl Drop for Shop {
    /// run.sh stops what it started on SIGTERM (its EXIT trap).
    fn drop(&mut self) {
        self.run.signal(libc::SIGTERM);
        let stopped = (0..600).any(|_| {
            std::thread::park_timeout(Duration::from_millis(100));
            matches!(self.run.child.try_wait(), Ok(Some(_)))
        });
        if !stopped {
            eprintln!(
                "run.sh did not stop in 60 s: {:?}",
                self.lines.lock().unwrap()
            );
        }
    }
}

/// An HTTP span's path: `url.path` on a server, from `url.full` on a client.
pub fn http_path(s: &SpanRec) -> Option<&str> {
    s.attr_str("url.path").or_else(|| {
        let full = s.attr_str("url.full")?;
        let after_scheme = &full[full.find("://")? + 3..];
        let path = &after_scheme[after_scheme.find('/')?..];
        Some(path.split('?').next().unwrap_or(path))
    })
}

/// The span's name, with the HTTP path when the name has no route.
fn label(s: &SpanRec) -> String {
    match http_path(s) {
        Some(path) if !s.name.contains('/') => format!("{} {path}", s.name),
        _ => s.name.clone(),
    }
}

fn kind(k: i64) -> &'static str {
    match k {
        2 => "SERVER",
        3 => "CLIENT",
        _ => "OTHER",
    }
}

/// The trace of `root` as an indented tree, one span a line: kind, service
/// name, name (with the path for HTTP), children in start order. A span
/// whose parent is not in `spans` shows at the top level after the root,
/// so a broken link is visible in the comparison.
pub fn tree(spans: &[SpanRec], root: &SpanRec) -> String {
    let mut in_trace: Vec<&SpanRec> = spans
        .iter()
        .filter(|s| s.trace_id == root.trace_id)
        .collect();
    in_trace.sort_by_key(|s| s.start);
    let ids: Vec<&str> = in_trace.iter().map(|s| s.span_id.as_str()).collect();
    let mut out = String::new();
    fn walk(all: &[&SpanRec], s: &SpanRec, depth: usize, out: &mut String) {
        let service = s
            .resource
            .get("service.name")
            .and_then(|v| v.as_str())
            .unwrap_or("?");
        out.push_str(&format!(
            "{}{} {service} {}\n",
            "  ".repeat(depth),
            kind(s.kind),
            label(s)
        ));
        for c in all.iter().filter(|c| c.parent_span_id == s.span_id) {
            walk(all, c, depth + 1, out);
        }
    }
    walk(&in_trace, root, 0, &mut out);
    for s in &in_trace {
        if s.span_id != root.span_id && !ids.contains(&s.parent_span_id.as_str()) {
            out.push_str("(unlinked)\n");
            walk(&in_trace, s, 1, &mut out);
        }
    }
    out
}

/// Every trace in `spans`, each from its root (or from a span whose parent
/// is missing), for a failing test's output.
pub fn all_trees(spans: &[SpanRec]) -> String {
    let ids: Vec<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut roots: Vec<&SpanRec> = spans
        .iter()
        .filter(|s| !ids.contains(&s.parent_span_id.as_str()))
        .collect();
    roots.sort_by_key(|s| s.start);
    let mut out = String::new();
    for r in roots {
        out.push_str(&format!("trace {}\n", r.trace_id));
        out.push_str(&tree(spans, r));
    }
    out
}
