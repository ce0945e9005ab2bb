//! Children stopped on drop, so a failing command leaves nothing behind.
use std::{
    os::unix::process::CommandExt,
    process::{Child, Command},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

/// Stops the child with a signal (SIGTERM unless told), SIGKILL after 10 s.
/// A child started with [`Term::spawn_group`] leads its own process group
/// and the signal goes to the whole group: a shell script's children too,
/// and the terminal's Ctrl-C reaches only xtask, which stops it in order.
pub struct Term {
    pub child: Child,
    group: bool,
    signal: &'static str,
}

impl Term {
    pub fn spawn(cmd: &mut Command) -> Result<Term> {
        Self::start(cmd, false, "-TERM")
    }
    /// Starts the child in a new process group; drop sends it `signal`.
    pub fn spawn_group(cmd: &mut Command, signal: &'static str) -> Result<Term> {
        Self::start(cmd.process_group(0), true, signal)
    }
    fn start(cmd: &mut Command, group: bool, signal: &'static str) -> Result<Term> {
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {cmd:?}"))?;
        Ok(Term {
            child,
            group,
            signal,
        })
    }
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    pub fn signal(&self, sig: &str) {
        let target = match self.group {
            true => format!("-{}", self.pid()),
            false => self.pid().to_string(),
        };
        let _ = Command::new("kill").args([sig, "--", &target]).status();
    }
    /// Waits up to `timeout` for the child to exit.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::park_timeout(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        self.signal(self.signal);
        if !self.wait(Duration::from_secs(10)) {
            self.signal("-KILL");
            let _ = self.child.wait();
        }
    }
}
