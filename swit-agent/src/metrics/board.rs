//! The latest snapshot, published by the main loop about once a second and
//! read by the HTTP thread and the OTLP metrics thread: they never touch
//! the stages' state, and a slow scrape never slows the stages.
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::Snapshot;

/// The main loop publishes at least this often while alive; older news
/// means it is stuck.
pub const STALE_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Probes attached, the pipeline running.
    Ok,
    /// Tracing is switched off (SIGUSR1 or `tracing.enabled: false`).
    Off,
    /// Nothing published yet (probes loading).
    Starting,
    /// Probes are being detached or loaded (a switch off or on); the main
    /// loop is busy with it, so its silence is not a stall.
    Switching,
    /// The main loop has not published for [`STALE_AFTER`].
    Stalled,
}

impl Health {
    /// The HTTP status and body of `/healthz`.
    pub fn answer(self) -> (u16, &'static str) {
        match self {
            Health::Ok => (200, "ok\n"),
            Health::Off => (503, "tracing switched off\n"),
            Health::Starting => (503, "starting\n"),
            Health::Switching => (503, "switching tracing off or on\n"),
            Health::Stalled => (503, "stalled\n"),
        }
    }
}

#[derive(Default)]
struct Latest {
    snapshot: Option<(Snapshot, Instant)>,
    switching: bool,
}

/// Cheap to clone; every clone sees the same board.
#[derive(Clone, Default)]
pub struct Board(Arc<Mutex<Latest>>);

impl Board {
    pub fn publish(&self, snapshot: Snapshot) {
        let mut l = self.0.lock().unwrap_or_else(|e| e.into_inner());
        l.snapshot = Some((snapshot, Instant::now()));
        l.switching = false;
    }

    /// Tracing is being switched off or on; the next `publish` ends it.
    pub fn switching(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).switching = true;
    }

    pub fn latest(&self) -> Option<Snapshot> {
        let l = self.0.lock().unwrap_or_else(|e| e.into_inner());
        l.snapshot.as_ref().map(|(s, _)| s.clone())
    }

    pub fn health(&self, now: Instant) -> Health {
        let l = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match &l.snapshot {
            None => Health::Starting,
            Some(_) if l.switching => Health::Switching,
            Some((_, at)) if now.saturating_duration_since(*at) > STALE_AFTER => Health::Stalled,
            Some((s, _)) if !s.tracing_enabled => Health::Off,
            Some(_) => Health::Ok,
        }
    }
}

#[cfg(test)]
#[path = "board_tests.rs"]
mod tests;
