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
    pub fn held_traces(&self) -> usize {
        self.traces.len()
    }

    pub fn get_ref(&self) -> &W {
        &self.out
    }

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
    fn export(&mut self, batch: Vec<Span>) -> anyhow::Result<()> {
        for span in batch {
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
        (Some(AttrValue::Str(p)), _) => Some(p.as_str()),
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
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::trace::span::Resource;

    const MS: u64 = 1_000_000;
    const T0: u64 = 1_700_000_000_000_000_000;

    fn res(name: &str) -> Arc<Resource> {
        Arc::new(Resource {
            service_name: name.to_string(),
            attributes: vec![],
        })
    }

    fn tid(n: u8) -> TraceId {
        TraceId([n; 16])
    }

    #[allow(clippy::too_many_arguments)]
    fn span(
        trace: u8,
        id: u8,
        parent: Option<u8>,
        kind: SpanKind,
        service: &Arc<Resource>,
        name: &str,
        start_ms: u64,
        dur_ns: u64,
    ) -> Span {
        Span {
            trace_id: tid(trace),
            span_id: SpanId([id; 8]),
            parent_span_id: parent.map(|p| SpanId([p; 8])),
            flags: 1,
            trace_state: String::new(),
            name: name.to_string(),
            kind,
            start_unix_ns: T0 + start_ms * MS,
            end_unix_ns: T0 + start_ms * MS + dur_ns,
            attributes: vec![("http.response.status_code".to_string(), 200i64.into())],
            status: StatusCode::Unset,
            status_message: String::new(),
            resource: service.clone(),
        }
    }

    fn text<W: Write + Send + AsRef<[u8]>>(sink: &PrettySink<W>) -> String {
        String::from_utf8(sink.get_ref().as_ref().to_vec()).unwrap()
    }

    #[test]
    fn prints_three_level_trace_once_after_quiet_time() {
        let fe = res("frontend");
        let be = res("backend");
        let mut root = span(
            1,
            1,
            None,
            SpanKind::Server,
            &fe,
            "GET /checkout",
            0,
            12_400_000,
        );
        root.attributes.extend([
            ("server.address".to_string(), "127.0.0.1".into()),
            ("server.port".to_string(), 8080i64.into()),
            ("client.address".to_string(), "127.0.0.1".into()),
            ("client.port".to_string(), 51234i64.into()),
        ]);
        let client = span(
            1,
            2,
            Some(1),
            SpanKind::Client,
            &fe,
            "GET /price",
            2,
            3_100_000,
        );
        let mut server = span(1, 3, Some(2), SpanKind::Server, &be, "GET", 3, 900_000);
        server
            .attributes
            .push(("url.path".to_string(), "/price".into()));
        // A later sibling of the client call, delivered before it.
        let mut db = span(1, 4, Some(1), SpanKind::Client, &fe, "SELECT", 8, 450);
        db.status = StatusCode::Error;
        db.status_message = "timeout".to_string();

        let mut sink = PrettySink::new(Vec::new());
        sink.tick(T0).unwrap();
        sink.export(vec![server, db]).unwrap();
        sink.tick(T0 + 100 * MS).unwrap();
        sink.export(vec![client, root]).unwrap();
        sink.tick(T0 + 200 * MS).unwrap();
        // Quiet for 400 ms since the last span was received: not yet.
        sink.tick(T0 + 500 * MS).unwrap();
        assert_eq!(text(&sink), "");
        sink.tick(T0 + 600 * MS).unwrap();
        let expected = "\
trace 01010101010101010101010101010101  (4 spans, 12.4 ms)
  SERVER frontend  GET /checkout  200  12.4 ms  [127.0.0.1:8080 <- 127.0.0.1:51234]
    CLIENT frontend  GET /price  200  3.1 ms
      SERVER backend  GET  /price  200  900 µs
    CLIENT frontend  SELECT  200  450 ns  ERROR: timeout
";
        assert_eq!(text(&sink), expected);
        sink.tick(T0 + 2_000 * MS).unwrap();
        sink.flush().unwrap();
        assert_eq!(text(&sink), expected, "printed only once");
        assert_eq!(sink.held_traces(), 0);
    }

    #[test]
    fn spans_received_before_first_tick_wait_a_full_quiet_period() {
        let r = res("a");
        let mut sink = PrettySink::new(Vec::new());
        sink.export(vec![span(1, 1, None, SpanKind::Server, &r, "x", 0, MS)])
            .unwrap();
        sink.tick(T0).unwrap();
        assert_eq!(text(&sink), "");
        sink.tick(T0 + 500 * MS).unwrap();
        assert!(text(&sink).starts_with("trace 0101"));
    }

    #[test]
    fn remote_parent_is_shown_as_root_and_flush_prints_pending() {
        let r = res("svc");
        let mut sink = PrettySink::new(Vec::new());
        sink.tick(T0).unwrap();
        sink.export(vec![
            span(2, 5, Some(9), SpanKind::Server, &r, "GET /a", 0, 2 * MS),
            span(3, 6, None, SpanKind::Server, &r, "GET /b", 0, MS),
        ])
        .unwrap();
        sink.tick(T0 + 100 * MS).unwrap();
        assert_eq!(text(&sink), "");
        sink.flush().unwrap();
        assert_eq!(
            text(&sink),
            "\
trace 02020202020202020202020202020202  (1 span, 2.0 ms)
  SERVER svc  GET /a  200  2.0 ms
trace 03030303030303030303030303030303  (1 span, 1.0 ms)
  SERVER svc  GET /b  200  1.0 ms
"
        );
    }

    #[test]
    fn oldest_trace_printed_early_when_over_bounds() {
        let r = res("svc");
        let cfg = PrettyConfig {
            quiet_ns: 500 * MS,
            max_spans: 5,
            max_traces: 2,
        };
        let mut sink = PrettySink::with_config(Vec::new(), cfg);
        sink.tick(T0).unwrap();
        for t in 1..=3 {
            sink.export(vec![span(t, 1, None, SpanKind::Server, &r, "x", 0, MS)])
                .unwrap();
        }
        assert_eq!(sink.printed_early(), 1);
        assert_eq!(sink.held_traces(), 2);
        let out = text(&sink);
        assert!(out.starts_with("trace 0101"), "{out}");
        assert!(out.contains("printed early"));

        // Span bound: traces 2 and 3 hold 2 spans. Trace 4 brings 5 more:
        // trace 2 goes for the trace bound, trace 3 for the span bound.
        let many: Vec<Span> = (1..=5)
            .map(|i| span(4, i, None, SpanKind::Server, &r, "y", 0, MS))
            .collect();
        sink.export(many).unwrap();
        assert_eq!(sink.printed_early(), 3);
        assert_eq!(sink.held_traces(), 1);
        assert!(text(&sink).contains("trace 0303"));
    }

    #[test]
    fn hostile_data_does_not_panic_or_break_lines() {
        let r = res("svc\x1b[31m");
        let mut a = span(7, 1, Some(2), SpanKind::Internal, &r, "evil\nname", 5, 0);
        let b = span(7, 2, Some(1), SpanKind::Internal, &r, "cycle", 0, 0);
        let mut dup = span(7, 1, Some(1), SpanKind::Client, &r, "dup", 1, 0);
        a.end_unix_ns = 0; // ends before it starts
        dup.attributes.clear();
        let mut sink = PrettySink::new(Vec::new());
        sink.export(vec![a, b, dup]).unwrap();
        sink.flush().unwrap();
        let out = text(&sink);
        assert_eq!(out.lines().count(), 4, "{out}");

        // A pure parent cycle has no root; both spans are still printed.
        let mut sink = PrettySink::new(Vec::new());
        sink.export(vec![
            span(8, 1, Some(2), SpanKind::Internal, &r, "x", 0, 0),
            span(8, 2, Some(1), SpanKind::Internal, &r, "y", 1, 0),
        ])
        .unwrap();
        sink.flush().unwrap();
        let cycle = text(&sink);
        assert_eq!(cycle.lines().count(), 3, "{cycle}");
        assert!(cycle.contains("  INTERNAL svc\\u{1b}[31m  x"), "{cycle}");
        assert!(!out.contains('\x1b'));
        assert!(out.contains("evil\\nname"));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(12_400_000), "12.4 ms");
        assert_eq!(duration(1_000_000), "1.0 ms");
        assert_eq!(duration(999_999), "999 µs");
        assert_eq!(duration(999), "999 ns");
    }
}
