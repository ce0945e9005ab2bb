//! What the agent's middle costs per traced request: the decoded ring
//! records of keep-alive exchanges (one span each) pushed through the stage
//! (reorder -> connections -> protocol -> correlator) into a span queue
//! whose sink drops them. Two workloads, as the benchmark's: `nginx` (the
//! server side of `GET /ok`, the default) and `pgbench` (the client side of
//! `pgbench -S`'s simple-protocol SELECT).
//!
//! Deterministic under callgrind, which counts only `run` (the decode and
//! the stage, on this thread):
//!
//! ```text
//! cargo build --release --example pipeline_cost
//! valgrind --tool=callgrind --toggle-collect='*pipeline_cost*run*' \
//!     target/release/examples/pipeline_cost 20000 [nginx|pgbench] [metrics]
//! ```
//! `metrics` records the request metrics too, as with `--metrics-addr`.
//! Instructions per request: the callgrind total divided by the count.
use std::{
    net::Ipv4Addr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use swit_agent::{
    agent::stage::Stage,
    capture::event::{Event, decode},
    config::{Overrides, Settings},
    export::{
        SpanSink,
        pipeline::{ExportCounters, ExportPipeline, SpanSender},
    },
    trace::span::Span,
};
use swit_ebpf_common::{
    AF_INET, DataHeader, EventHeader, SockTuple, direction, kind, role, syscall,
};

const CONNS: usize = 10;
/// Records per batch, as the reader hands them on.
const BATCH: usize = 256;
/// One request every 50 us (20k requests/s).
const SPACING_NS: u64 = 50_000;
const T0: u64 = 1_000_000_000_000;

const REQUEST: &[u8] = b"GET /ok HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\n\
Date: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Type: text/plain\r\n\
Content-Length: 2\r\nConnection: keep-alive\r\n\r\nok";

/// `pgbench -S`: one simple-protocol query and its answer (RowDescription,
/// DataRow, CommandComplete, ReadyForQuery).
const PG_QUERY: &[u8] = b"Q\0\0\0\x3dSELECT abalance FROM pgbench_accounts WHERE aid = 51234;\0";
const PG_ANSWER: &[u8] =
    b"T\0\0\0\x21\0\x01abalance\0\0\0\x40\x12\0\x03\0\0\0\x17\0\x04\xff\xff\xff\xff\0\0\
D\0\0\0\x0b\0\x01\0\0\0\x010\
C\0\0\0\x0dSELECT 1\0\
Z\0\0\0\x05I";

/// One workload's exchange and which side the traced process is.
struct Workload {
    request: &'static [u8],
    response: &'static [u8],
    role: u32,
    local_port: u16,
    /// The peer's port for connection `c`.
    remote_port: fn(usize) -> u16,
}

const NGINX: Workload = Workload {
    request: REQUEST,
    response: RESPONSE,
    role: role::SERVER,
    local_port: 8080,
    remote_port: |c| 40_000 + c as u16,
};

const PGBENCH: Workload = Workload {
    request: PG_QUERY,
    response: PG_ANSWER,
    role: role::CLIENT,
    local_port: 40_000,
    remote_port: |_| 5432,
};

/// Counts the spans and drops them.
struct Count(Arc<AtomicU64>);

impl SpanSink for Count {
    fn export(&mut self, batch: &mut Vec<Span>) -> anyhow::Result<()> {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
    fn flush(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

fn tuple(w: &Workload, conn: usize) -> SockTuple {
    let lo = Ipv4Addr::LOCALHOST.octets();
    let mut addr = [0u8; 16];
    addr[..4].copy_from_slice(&lo);
    SockTuple {
        family: AF_INET,
        local_port: w.local_port
            + if w.role == role::CLIENT {
                conn as u16
            } else {
                0
            },
        remote_port: (w.remote_port)(conn),
        _pad: 0,
        local_addr: addr,
        remote_addr: addr,
    }
}

fn header(w: &Workload, kind: u32, role: u32, conn: usize, pid: u32, ts_ns: u64) -> EventHeader {
    EventHeader {
        kind,
        role,
        ts_ns,
        pid_tgid: ((pid as u64) << 32) | pid as u64,
        sock: 0xffff_8880_1000_0000 + 0x1000 * conn as u64,
        tuple: tuple(w, conn),
    }
}

fn bytes_of<T: Copy>(v: &T) -> &[u8] {
    // SAFETY: T is a repr(C) integer-only wire struct.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }
}

fn record<T: Copy>(v: &T) -> Vec<u8> {
    bytes_of(v).to_vec()
}

struct Conn {
    ingress: u32,
    egress: u32,
}

fn data(
    w: &Workload,
    conn: usize,
    pid: u32,
    (enter_ns, ts_ns): (u64, u64),
    seq: u32,
    dir: u32,
    payload: &[u8],
) -> Vec<u8> {
    let h = DataHeader {
        hdr: header(w, kind::DATA, 0, conn, pid, ts_ns),
        enter_ns,
        seq,
        len: payload.len() as u32,
        captured: payload.len() as u32,
        direction: dir,
        syscall: if dir == direction::INGRESS {
            syscall::RECVFROM
        } else {
            syscall::WRITEV
        },
        flags: 0,
        g: 0,
    };
    let mut r = record(&h);
    r.extend_from_slice(payload);
    // Ring records are 8-byte aligned.
    r.resize(r.len().next_multiple_of(8), 0);
    r
}

/// The raw ring records of `n` exchanges, in the ring's order (by the
/// end of their syscall).
fn records(w: &Workload, n: usize, pid: u32) -> Vec<Vec<u8>> {
    // The traced side reads requests as a server, writes them as a client.
    let (asks, answers) = if w.role == role::SERVER {
        (direction::INGRESS, direction::EGRESS)
    } else {
        (direction::EGRESS, direction::INGRESS)
    };
    let mut conns: Vec<Conn> = (0..CONNS)
        .map(|i| Conn {
            ingress: 0x1000_0000u32.wrapping_mul(i as u32 + 1),
            egress: 0x7000_0000u32.wrapping_add(0x0100_0000 * i as u32),
        })
        .collect();
    let mut timed: Vec<(u64, Vec<u8>)> = Vec::with_capacity(2 * n + 2 * CONNS);
    for c in 0..CONNS {
        let ts = T0 - 1_000_000 + c as u64 * 1000;
        timed.push((ts, record(&header(w, kind::OPEN, w.role, c, pid, ts))));
    }
    for k in 0..n {
        let c = k % CONNS;
        let t = T0 + k as u64 * SPACING_NS;
        let conn = &mut conns[c];
        let (seq_ask, seq_answer) = if asks == direction::INGRESS {
            (&mut conn.ingress, &mut conn.egress)
        } else {
            (&mut conn.egress, &mut conn.ingress)
        };
        timed.push((
            t,
            data(w, c, pid, (t - 4_000, t), *seq_ask, asks, w.request),
        ));
        *seq_ask = seq_ask.wrapping_add(w.request.len() as u32);
        let (enter, exit) = (t + 20_000, t + 27_000);
        timed.push((
            exit,
            data(w, c, pid, (enter, exit), *seq_answer, answers, w.response),
        ));
        *seq_answer = seq_answer.wrapping_add(w.response.len() as u32);
    }
    let end = T0 + n as u64 * SPACING_NS + 1_000_000;
    for c in 0..CONNS {
        let ts = end + c as u64 * 1000;
        timed.push((ts, record(&header(w, kind::CLOSE, 0, c, pid, ts))));
    }
    timed.sort_by_key(|(t, _)| *t);
    timed.into_iter().map(|(_, r)| r).collect()
}

/// Decodes the records in the reader's batches and feeds them to the
/// stage as the agent's loop does; the clock is the newest record's time.
#[inline(never)]
fn run(records: &[Vec<u8>], stage: &mut Stage, sender: &SpanSender) {
    let mut last_tick = 0;
    // The reader reuses the vectors the stage empties.
    let mut batch: Vec<Event> = Vec::with_capacity(BATCH);
    for chunk in records.chunks(BATCH) {
        let mut now = 0;
        for r in chunk {
            if let Ok(e) = decode(r) {
                now = e.ts_ns();
                batch.push(e);
            }
        }
        stage.push(&mut batch);
        stage.release(now, sender);
        if now.saturating_sub(last_tick) >= 100_000_000 {
            last_tick = now;
            stage.tick(now, sender);
        }
    }
    stage.finish(sender);
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("a request count"))
        .unwrap_or(20_000);
    let w = match std::env::args().nth(2).as_deref() {
        None | Some("nginx") => &NGINX,
        Some("pgbench") => &PGBENCH,
        Some(other) => panic!("{other}: the workloads are nginx and pgbench"),
    };
    let mut settings =
        Settings::load_with(None, &|_| None, &Overrides::default()).expect("default settings");
    if std::env::args().nth(3).as_deref() == Some("metrics") {
        // Only whether something reads them matters: nothing listens.
        settings.agent.metrics_addr = Some("127.0.0.1:9464".parse().expect("an address"));
    }
    let counters = Arc::new(ExportCounters::default());
    let spans = Arc::new(AtomicU64::new(0));
    let (sender, pipeline) = ExportPipeline::start(
        Box::new(Count(spans.clone())),
        n + 1024,
        usize::MAX / 2,
        counters.clone(),
    );
    let pid = std::process::id();
    let recs = records(w, n, pid);
    let mut stage = Stage::new(&settings);
    let started = Instant::now();
    run(&recs, &mut stage, &sender);
    let took = started.elapsed();
    drop(sender);
    pipeline.shutdown().expect("export shutdown");
    let exported = spans.load(Ordering::Relaxed);
    let dropped = counters.dropped.load(Ordering::Relaxed);
    println!(
        "{n} requests, {} records: {exported} spans exported, {dropped} dropped; {:.2} us/request (wall, this thread)",
        recs.len(),
        took.as_secs_f64() * 1e6 / n as f64
    );
    assert_eq!(exported as usize, n, "one span per request");
}
