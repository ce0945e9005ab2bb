//! Pushes the board's latest snapshot to the OTLP collector every interval,
//! on a thread of its own, and once more at stop.
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use super::{board::Board, family::families, otlp};
use crate::export::otlp::metrics::MetricsClient;

/// Longest the last push at stop may take: a collector that is away must
/// not hold the agent's exit for the full exporter timeout.
const FINAL_PUSH_LIMIT: Duration = Duration::from_secs(2);
/// How often the thread looks at its stop flag while waiting.
const STEP: Duration = Duration::from_millis(100);

pub struct OtlpPush {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl OtlpPush {
    pub fn start(client: MetricsClient, board: Board, interval: Duration) -> OtlpPush {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("swit-otlp-metrics".into())
            .spawn(move || run(client, board, interval, flag));
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                log::warn!("cannot start the OTLP metrics thread: {e}; metrics are not pushed");
                None
            }
        };
        OtlpPush { stop, thread }
    }
}

impl Drop for OtlpPush {
    /// Pushes the last snapshot (publish it before dropping) and waits.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn run(mut client: MetricsClient, board: Board, interval: Duration, stop: Arc<AtomicBool>) {
    let start_ns = unix_ns();
    let host = hostname();
    let resource = otlp::resource(&host, std::process::id());
    let mut failing = false;
    let mut next = Instant::now() + interval;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        if !stopping && Instant::now() < next {
            std::thread::park_timeout(STEP.min(next.saturating_duration_since(Instant::now())));
            continue;
        }
        next = Instant::now() + interval;
        if let Some(snap) = board.latest() {
            let now = unix_ns();
            let mut req = otlp::request(&families(&snap), resource.clone(), start_ns, now);
            otlp::add_requests(&mut req, &snap.requests, &host, start_ns, now);
            let limit = if stopping { FINAL_PUSH_LIMIT } else { interval };
            match client.send(req, limit) {
                Ok(()) if failing => {
                    failing = false;
                    log::info!("OTLP metrics to {} delivered again", client.target);
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    log::warn!(
                        "OTLP metrics to {} failed: {}; trying again every {interval:?} (logged once until it works)",
                        client.target,
                        e.detail
                    );
                }
                Err(_) => {}
            }
        }
        if stopping {
            return;
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}
