//! The pretty console: one indented tree per trace, the first thing a
//! newcomer sees.
//!
//! Spans finish child-first and arrive in separate batches, so a trace is
//! held until it has been quiet for a while and printed whole. Quiet time is
//! measured on the tick clock (the time a span was *received*, not its own
//! timestamps), because span clocks may come from other hosts or be far in
//! the past for long requests.
use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write as _,
    io::Write,
};

use super::SpanSink;
use crate::trace::span::{AttrValue, Span, SpanId, SpanKind, StatusCode, TraceId};

/// Limits and timing for [`PrettySink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrettyConfig {
    /// A trace is printed once no span for it was received for this long.
    pub quiet_ns: u64,
    /// Most spans held across all traces before the oldest trace is printed
    /// early.
    pub max_spans: usize,
    /// Most traces held before the oldest is printed early.
    pub max_traces: usize,
}

impl Default for PrettyConfig {
    fn default() -> Self {
        Self {
            quiet_ns: 500_000_000,
            max_spans: 10_000,
            max_traces: 1_000,
        }
    }
}

struct HeldTrace {
    spans: Vec<Span>,
    /// Tick time of the last span received; `None` until the first tick
    /// after it, so spans received before any tick still get a full quiet
    /// period instead of looking infinitely old.
    last_rx_ns: Option<u64>,
    /// Key in `PrettySink::order`.
    seq: u64,
}

/// Prints finished spans as one readable tree per trace.
pub struct PrettySink<W: Write + Send> {
    out: W,
    cfg: PrettyConfig,
    traces: HashMap<TraceId, HeldTrace>,
    /// First-received order of held traces, oldest first.
    order: BTreeMap<u64, TraceId>,
    next_seq: u64,
    held_spans: usize,
    /// Last tick time seen; `None` before the first tick.
    now_ns: Option<u64>,
    printed_early: u64,
}

impl<W: Write + Send> PrettySink<W> {
    pub fn new(out: W) -> Self {
        Self::with_config(out, PrettyConfig::default())
    }

    pub fn with_config(out: W, cfg: PrettyConfig) -> Self {
        Self {
            out,
            cfg,
            traces: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            held_spans: 0,
            now_ns: None,
            printed_early: 0,
        }
    }

    /// Traces printed before they were quiet because a bound was reached.
    pub fn printed_early(&self) -> u64 {
        self.printed_early
    }

    /// Traces currently held, waiting to be printed.
    #[cfg(test)]
    pub fn held_traces(&self) -> usize {
        self.traces.len()
    }

    #[cfg(test)]
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.out
    }

    fn take(&mut self, id: &TraceId) -> Option<HeldTrace> {
        let t = self.traces.remove(id)?;
        self.order.remove(&t.seq);
        self.held_spans = self.held_spans.saturating_sub(t.spans.len());
        Some(t)
    }

    fn print(&mut self, id: TraceId, note: &str) -> std::io::Result<()> {
        if let Some(t) = self.take(&id) {
            let text = render_trace(&id, t.spans, note);
            self.out.write_all(text.as_bytes())?;
        }
        Ok(())
    }

    fn print_oldest_while_over_bounds(&mut self) -> std::io::Result<()> {
        while self.traces.len() > self.cfg.max_traces || self.held_spans > self.cfg.max_spans {
            let Some((_, id)) = self.order.pop_first() else {
                break;
            };
            self.printed_early += 1;
            self.print(
                id,
                "  (printed early: too many spans held, may be incomplete)",
            )?;
        }
        Ok(())
    }
}

impl<W: Write + Send> SpanSink for PrettySink<W> {
    fn export(&mut self, batch: &mut Vec<Span>) -> anyhow::Result<()> {
        for span in batch.drain(..) {
            let rx = self.now_ns;
            let held = self.traces.entry(span.trace_id).or_insert_with(|| {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.order.insert(seq, span.trace_id);
                HeldTrace {
                    spans: Vec::new(),
                    last_rx_ns: None,
                    seq,
                }
            });
            held.spans.push(span);
            held.last_rx_ns = rx;
            self.held_spans += 1;
        }
        self.print_oldest_while_over_bounds()?;
        self.out.flush()?;
        Ok(())
    }

    fn tick(&mut self, now_unix_ns: u64) -> anyhow::Result<()> {
        self.now_ns = Some(now_unix_ns);
        let mut quiet = Vec::new();
        for (seq, id) in &self.order {
            let Some(t) = self.traces.get_mut(id) else {
                continue;
            };
            match t.last_rx_ns {
                None => t.last_rx_ns = Some(now_unix_ns),
                Some(rx) if now_unix_ns.saturating_sub(rx) >= self.cfg.quiet_ns => {
                    quiet.push((*seq, *id))
                }
                Some(_) => {}
            }
        }
        for (_, id) in quiet {
            self.print(id, "")?;
        }
        self.out.flush()?;
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        while let Some((_, id)) = self.order.pop_first() {
            self.print(id, "")?;
        }
        self.out.flush()?;
        Ok(())
    }
}

/// Renders one trace: a header, then each span indented under its parent.
/// Spans whose parent is not here (a remote parent, or one not captured)
/// are shown as roots; siblings are ordered by start time.
fn render_trace(id: &TraceId, mut spans: Vec<Span>, note: &str) -> String {
    spans.sort_by_key(|s| (s.start_unix_ns, s.end_unix_ns));
    let start = spans.iter().map(|s| s.start_unix_ns).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end_unix_ns).max().unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "trace {}  ({} span{}, {}){note}",
        id.to_hex(),
        spans.len(),
        if spans.len() == 1 { "" } else { "s" },
        duration(end.saturating_sub(start)),
    );

    // First index wins for a duplicated span id, so each id has one node.
    let mut index: HashMap<SpanId, usize> = HashMap::new();
    for (i, s) in spans.iter().enumerate() {
        index.entry(s.span_id).or_insert(i);
    }
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    let mut roots = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match s.parent_span_id.and_then(|p| index.get(&p)) {
            Some(&p) if p != i => children[p].push(i),
            _ => roots.push(i),
        }
    }

    // Iterative walk: a trace can be thousands of spans deep. `visited`
    // guards against parent cycles in bad data; spans only reachable
    // through a cycle are printed as roots afterwards.
    let mut visited = vec![false; spans.len()];
    let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|&i| (i, 0)).collect();
    let mut next_unvisited = 0;
    loop {
        let Some((i, depth)) = stack.pop() else {
            while next_unvisited < spans.len() && visited[next_unvisited] {
                next_unvisited += 1;
            }
            if next_unvisited == spans.len() {
                break;
            }
            stack.push((next_unvisited, 0));
            continue;
        };
        if visited[i] {
            continue;
        }
        visited[i] = true;
        render_span(&mut out, &spans[i], depth + 1);
        for &c in children[i].iter().rev() {
            stack.push((c, depth + 1));
        }
    }
    out
}

fn render_span(out: &mut String, s: &Span, depth: usize) {
    let kind = match s.kind {
        SpanKind::Server => "SERVER",
        SpanKind::Client => "CLIENT",
        SpanKind::Internal => "INTERNAL",
    };
    let _ = write!(
        out,
        "{:indent$}{kind} {}  {}",
        "",
        clean(&s.resource.service_name),
        clean(&s.name),
        indent = depth * 2,
    );
    // A client span carries url.full; its path is what a reader wants.
    let path = match (s.attr("url.path"), s.attr("url.full")) {
        (Some(AttrValue::Str(p)), _) => Some(&**p),
        (None, Some(AttrValue::Str(full))) => full
            .split_once("://")
            .map(|(_, rest)| rest.find('/').map_or("/", |i| &rest[i..])),
        _ => None,
    };
    if let Some(path) = path
        && !s.name.contains(path)
    {
        let _ = write!(out, "  {}", clean(path));
    }
    if let Some(code) = s.attr("http.response.status_code") {
        let _ = write!(out, "  {}", plain(code));
    }
    // gRPC: the status by name, as its libraries print it.
    if let Some(AttrValue::Int(code)) = s.attr("rpc.grpc.status_code") {
        let name = crate::protocol::http2::grpc::status_name(*code as u32);
        let _ = write!(out, "  {name}");
    }
    let _ = write!(
        out,
        "  {}",
        duration(s.end_unix_ns.saturating_sub(s.start_unix_ns))
    );
    if s.status == StatusCode::Error {
        out.push_str("  ERROR");
        if !s.status_message.is_empty() {
            let _ = write!(out, ": {}", clean(&s.status_message));
        }
    }
    if let Some(peers) = peers(s) {
        let _ = write!(out, "  [{peers}]");
    }
    out.push('\n');
}

/// `server <- client` for a server span, `-> server` for a client span,
/// from whichever address attributes are present.
fn peers(s: &Span) -> Option<String> {
    let server = endpoint(s, "server.address", "server.port");
    let client = endpoint(s, "client.address", "client.port");
    match (s.kind, server, client) {
        (_, Some(srv), Some(cli)) => Some(format!("{srv} <- {cli}")),
        (SpanKind::Client, Some(srv), None) => Some(format!("-> {srv}")),
        (_, Some(srv), None) => Some(srv),
        (_, None, Some(cli)) => Some(format!("<- {cli}")),
        (_, None, None) => None,
    }
}

fn endpoint(s: &Span, addr_key: &str, port_key: &str) -> Option<String> {
    let addr = s.attr(addr_key).map(plain)?;
    Some(match s.attr(port_key) {
        // IPv6 addresses need brackets before a port to stay readable.
        Some(port) if addr.contains(':') => format!("[{addr}]:{}", plain(port)),
        Some(port) => format!("{addr}:{}", plain(port)),
        None => addr,
    })
}

/// An attribute value without the quotes `Display` puts around strings.
fn plain(v: &AttrValue) -> String {
    match v {
        AttrValue::Str(s) => clean(s),
        other => other.to_string(),
    }
}

/// Makes captured text safe for a terminal: names and paths come from
/// traffic, so control characters (escape sequences, newlines) are escaped
/// and very long values cut.
fn clean(s: &str) -> String {
    const MAX_CHARS: usize = 120;
    let mut out = String::with_capacity(s.len().min(MAX_CHARS));
    for (n, c) in s.chars().enumerate() {
        if n == MAX_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Milliseconds with one decimal; below 1 ms, whole microseconds (or
/// nanoseconds below 1 µs) so short calls don't all read "0.0 ms".
fn duration(ns: u64) -> String {
    if ns >= 1_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else if ns >= 1_000 {
        format!("{} µs", ns / 1_000)
    } else {
        format!("{ns} ns")
    }
}

#[cfg(test)]
#[path = "console_tests.rs"]
mod tests;
