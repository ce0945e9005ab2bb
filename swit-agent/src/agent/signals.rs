//! What the operator asks by signal: SIGINT and SIGTERM stop, SIGUSR1
//! switches tracing off or on, SIGHUP re-reads the configuration file.
//! The handlers only set flags; the main loop acts on them between batches.
use std::{
    io,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};

use super::session::TracingSession;
use crate::config::{ConfigError, Settings, Targets};

/// Re-reads the configuration (SIGHUP): the file's targets may change.
pub type Reload = Box<dyn Fn() -> Result<Settings, ConfigError>>;

#[derive(Default)]
pub struct Signals {
    stop: Arc<AtomicBool>,
    hup: Arc<AtomicBool>,
    usr1: Arc<AtomicBool>,
}

impl Signals {
    pub fn register() -> io::Result<Signals> {
        let s = Signals::default();
        for (sig, flag) in [
            (SIGINT, &s.stop),
            (SIGTERM, &s.stop),
            (SIGHUP, &s.hup),
            (SIGUSR1, &s.usr1),
        ] {
            signal_hook::flag::register(sig, flag.clone())?;
        }
        Ok(s)
    }

    /// SIGINT or SIGTERM came.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Whether tracing should now be on, when a signal since the last call
    /// asks for a change, and which signal. SIGHUP's other changes (the
    /// targets) are applied here.
    pub fn switch(
        &self,
        running: &Settings,
        reload: Option<&Reload>,
        session: Option<&mut TracingSession>,
        targets: &mut Targets,
    ) -> Option<(bool, &'static str)> {
        let mut want = None;
        if self.usr1.swap(false, Ordering::Relaxed) {
            want = Some((session.is_none(), "SIGUSR1"));
        }
        if self.hup.swap(false, Ordering::Relaxed)
            && let Some(on) = reread(running, reload, session, targets)
        {
            want = Some((on, "SIGHUP, tracing.enabled"));
        }
        want
    }
}

/// SIGHUP: re-reads the file, applies its targets (now, or at the next
/// switch-on), names the changed keys that wait for a restart, and
/// returns its `tracing.enabled` when that differs from
/// whether tracing is on.
fn reread(
    running: &Settings,
    reload: Option<&Reload>,
    session: Option<&mut TracingSession>,
    targets: &mut Targets,
) -> Option<bool> {
    let new = match reload.map(|r| r()) {
        None => {
            log::warn!("SIGHUP: no configuration file to re-read (start with --config FILE)");
            return None;
        }
        Some(Err(e)) => {
            log::warn!("SIGHUP: keeping the current targets: {e}");
            return None;
        }
        Some(Ok(new)) => new,
    };
    let waiting = crate::config::reload::needs_restart(running, &new);
    if !waiting.is_empty() {
        log::warn!(
            "SIGHUP: {} changed in the file; only {} apply now, the rest at the next restart",
            waiting.join(", "),
            crate::config::reload::live_keys()
        );
    }
    let on = new.tracing.enabled;
    let tracing = session.is_some();
    match session {
        Some(s) if on => match s.manager.reload(new.agent.targets.clone(), &mut s.probe) {
            Ok(warnings) => {
                warnings.iter().for_each(|w| log::warn!("{w}"));
                *targets = new.agent.targets;
                log::info!("SIGHUP: now tracing {}", s.describe(targets));
            }
            Err(e) => log::warn!("SIGHUP: keeping the current targets: {e}"),
        },
        // Checked when tracing is switched on.
        _ => *targets = new.agent.targets,
    }
    (on != tracing).then_some(on)
}
