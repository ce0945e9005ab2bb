//! What the agent spends per span from a finished HTTP exchange to the
//! bytes of an OTLP/gRPC request: builds nginx-like `GET /ok` 200 SERVER
//! spans the way the correlator does, and pushes them, in the export
//! pipeline's batches, through the export thread's work in the default
//! configuration (the redaction sink, then the OTLP/gRPC message with the
//! default compression), into memory. No network, no kernel.
//!
//! Meant for callgrind, whose instruction counts do not depend on the
//! machine's load:
//!
//! ```text
//! cargo build --release --example export_cost
//! valgrind --tool=callgrind --callgrind-out-file=cg.out \
//!     target/release/examples/export_cost 20000
//! callgrind_annotate --inclusive=yes cg.out | head -40
//! ```
//!
//! `build_spans` and `export_batch` are kept out of line so their inclusive
//! costs split the two halves. The argument is the number of spans
//! (20,000 by default); `SWIT_COMPRESSION` (`gzip`/`none`) overrides the
//! configured default, as `OTEL_EXPORTER_OTLP_COMPRESSION` would.
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use swit_agent::{
    config::{Overrides, Settings},
    export::{SpanSink, otlp::grpc_message, pipeline::MAX_BATCH, redact::RedactingSink},
    protocol::{
        Moment, Timing,
        headers::Headers,
        http1::{Request, Response},
    },
    trace::{
        http_span::{HttpExchange, captured_headers, http_span},
        span::{AttrValue, Resource, Span, SpanId, SpanKind, TraceId},
    },
};

/// The export thread's encoding, into memory: the sink the redaction sink
/// hands batches to.
struct EncodeSink {
    gzip: bool,
    buf: Vec<u8>,
    out: Arc<Mutex<(u64, u64)>>,
}

impl SpanSink for EncodeSink {
    fn export(&mut self, batch: &mut Vec<Span>) -> anyhow::Result<()> {
        self.buf.clear();
        grpc_message(batch, self.gzip, &mut self.buf);
        let mut o = self.out.lock().unwrap();
        o.0 += 1;
        o.1 += self.buf.len() as u64;
        Ok(())
    }
    fn flush(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

fn resource(pid: u32) -> Arc<Resource> {
    let s = |v: &str| AttrValue::from(v);
    Arc::new(Resource {
        service_name: "nginx".into(),
        attributes: vec![
            ("service.instance.id".into(), s(&format!("web-1-{pid}"))),
            ("service.name".into(), s("nginx")),
            ("process.pid".into(), AttrValue::Int(pid.into())),
            ("process.executable.name".into(), s("nginx")),
            ("process.executable.path".into(), s("/usr/sbin/nginx")),
            ("host.name".into(), s("web-1")),
            ("telemetry.distro.name".into(), s("swit")),
            (
                "telemetry.distro.version".into(),
                s(env!("CARGO_PKG_VERSION")),
            ),
        ],
    })
}

fn moment(ns: u64) -> Moment {
    Moment {
        enter_ns: ns,
        exit_ns: ns + 2_000,
        worker: 4242,
    }
}

/// What the HTTP/1 parser hands the correlator for one `GET /ok` of a
/// load generator.
/// A head's fields as the parser packs them: two allocations.
fn fields(f: &[(&str, &str)]) -> Headers {
    let bytes = f.iter().map(|(k, v)| k.len() + v.len()).sum();
    let mut h = Headers::with_capacity(f.len(), bytes);
    for (k, v) in f {
        h.push(k, v);
    }
    h
}

fn exchange(i: u64) -> (Request, Response) {
    let t = 1_000_000_000 + i * 50_000;
    let request = Request {
        id: i,
        method: "GET".into(),
        target: "/ok".into(),
        minor_version: 1,
        headers: fields(&[
            ("host", "127.0.0.1:8080"),
            ("user-agent", "wrk/4.2.0"),
            ("accept", "*/*"),
        ]),
        body_size: 0,
        timing: Timing {
            first: moment(t),
            last: moment(t),
        },
    };
    let response = Response {
        status: 200,
        minor_version: 1,
        headers: fields(&[
            ("server", "nginx/1.24.0"),
            ("date", "Mon, 07 Dec 2026 18:43:43 GMT"),
            ("content-type", "text/plain"),
            ("content-length", "3"),
            ("connection", "keep-alive"),
        ]),
        body_size: 3,
        timing: Timing {
            first: moment(t + 30_000),
            last: moment(t + 30_000),
        },
        ended_by_close: false,
    };
    (request, response)
}

/// One span as `Correlator::request_done` makes it for a server request.
#[inline(never)]
fn build_spans(
    settings: &Settings,
    resources: &[Arc<Resource>],
    from: u64,
    n: usize,
    out: &mut Vec<Span>,
) {
    let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let cap = &settings.tracing.redaction.capture_headers;
    for i in from..from + n as u64 {
        let (request, response) = exchange(i);
        let remote = SocketAddr::from(([127, 0, 0, 1], 40_000 + (i % 100) as u16));
        let x = HttpExchange::http1(&request, &response);
        let mut p = http_span(SpanKind::Server, &x, local, remote);
        captured_headers(cap, &request.headers, &response.headers, &mut p.attributes);
        let start = request.timing.first.exit_ns;
        let end = response.timing.last.exit_ns;
        out.push(Span {
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            parent_span_id: None,
            flags: 1,
            trace_state: String::new(),
            name: p.name,
            kind: SpanKind::Server,
            start_unix_ns: 1_765_000_000_000_000_000 + start,
            end_unix_ns: 1_765_000_000_000_000_000 + end.max(start),
            attributes: p.attributes,
            status: p.status,
            status_message: String::new(),
            resource: resources[(i % resources.len() as u64) as usize].clone(),
        });
    }
}

#[inline(never)]
fn export_batch(sink: &mut dyn SpanSink, batch: &mut Vec<Span>) {
    sink.export(batch).expect("export");
    // As the pipeline's worker: what the sink left is dropped, the vector
    // is filled again.
    batch.clear();
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("number of spans"))
        .unwrap_or(20_000);
    let settings = Settings::load(None, &Overrides::default()).expect("default settings");
    let gzip = match std::env::var("SWIT_COMPRESSION").as_deref() {
        Ok("gzip") => true,
        Ok("none") => false,
        _ => settings.tracing.exporter.gzip,
    };
    let totals = Arc::new(Mutex::new((0u64, 0u64)));
    let inner = EncodeSink {
        gzip,
        buf: Vec::new(),
        out: totals.clone(),
    };
    let mut sink = RedactingSink::new(&settings.tracing.redaction, Box::new(inner));
    // Two nginx workers.
    let resources = [resource(1001), resource(1002)];
    let mut done = 0;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while done < n {
        let len = MAX_BATCH.min(n - done);
        build_spans(&settings, &resources, done as u64, len, &mut batch);
        export_batch(&mut sink, &mut batch);
        done += len;
    }
    let (requests, bytes) = *totals.lock().unwrap();
    println!(
        "{n} spans, {requests} requests, compression {}, {bytes} bytes on the wire ({:.1} per span)",
        if gzip { "gzip" } else { "none" },
        bytes as f64 / n as f64
    );
}
