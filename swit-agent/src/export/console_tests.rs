//! Tests of console.rs: when traces print, and how hostile data is shown.
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
        name: name.to_string().into(),
        kind,
        start_unix_ns: T0 + start_ms * MS,
        end_unix_ns: T0 + start_ms * MS + dur_ns,
        attributes: vec![("http.response.status_code".into(), 200i64.into())],
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
        ("server.address".into(), "127.0.0.1".into()),
        ("server.port".into(), 8080i64.into()),
        ("client.address".into(), "127.0.0.1".into()),
        ("client.port".into(), 51234i64.into()),
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
    server.attributes.push(("url.path".into(), "/price".into()));
    // A later sibling of the client call, delivered before it.
    let mut db = span(1, 4, Some(1), SpanKind::Client, &fe, "SELECT", 8, 450);
    db.status = StatusCode::Error;
    db.status_message = "timeout".to_string();

    let mut sink = PrettySink::new(Vec::new());
    sink.tick(T0).unwrap();
    sink.export(&mut vec![server, db]).unwrap();
    sink.tick(T0 + 100 * MS).unwrap();
    sink.export(&mut vec![client, root]).unwrap();
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
    sink.export(&mut vec![span(
        1,
        1,
        None,
        SpanKind::Server,
        &r,
        "x",
        0,
        MS,
    )])
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
    sink.export(&mut vec![
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
        sink.export(&mut vec![span(
            t,
            1,
            None,
            SpanKind::Server,
            &r,
            "x",
            0,
            MS,
        )])
        .unwrap();
    }
    assert_eq!(sink.printed_early(), 1);
    assert_eq!(sink.held_traces(), 2);
    let out = text(&sink);
    assert!(out.starts_with("trace 0101"), "{out}");
    assert!(out.contains("printed early"));

    // Span bound: traces 2 and 3 hold 2 spans. Trace 4 brings 5 more:
    // trace 2 goes for the trace bound, trace 3 for the span bound.
    let mut many: Vec<Span> = (1..=5)
        .map(|i| span(4, i, None, SpanKind::Server, &r, "y", 0, MS))
        .collect();
    sink.export(&mut many).unwrap();
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
    sink.export(&mut vec![a, b, dup]).unwrap();
    sink.flush().unwrap();
    let out = text(&sink);
    assert_eq!(out.lines().count(), 4, "{out}");

    // A pure parent cycle has no root; both spans are still printed.
    let mut sink = PrettySink::new(Vec::new());
    sink.export(&mut vec![
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
