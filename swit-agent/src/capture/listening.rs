//! Which side of a connection older than the agent a process is on, from
//! the kernel's socket table: an accepted connection's local port is one
//! its network namespace listens on.
//!
//! Used only when the bytes cannot tell (an HTTP/2 connection whose header
//! blocks refer to HPACK entries made before capture began looks the same
//! both ways).
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use super::event::{Role, Tuple};

/// TCP_LISTEN in /proc/net/tcp's `st` column.
const LISTEN: &str = "0A";
/// How long a process's listening ports are trusted before being read
/// again.
const FRESH: Duration = Duration::from_secs(2);
/// Processes whose ports are remembered; past it the cache starts over.
const MAX_PIDS: usize = 1024;

/// Local ports in state LISTEN in a /proc/net/tcp or tcp6 table.
pub fn listening_ports(table: &str) -> Vec<u16> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let local = cols.nth(1)?;
            let state = cols.nth(1)?;
            if state != LISTEN {
                return None;
            }
            let (_, port) = local.rsplit_once(':')?;
            u16::from_str_radix(port, 16).ok()
        })
        .collect()
}

/// Listening ports per process, read from /proc and kept briefly.
#[derive(Debug, Default)]
pub struct ListenCache {
    by_pid: HashMap<u32, (Instant, Vec<u16>)>,
}

impl ListenCache {
    /// Server if the connection's local port is one the process's
    /// namespace listens on, client if not; unknown if /proc cannot say
    /// (the process is gone).
    pub fn role_of(&mut self, pid: u32, tuple: &Tuple) -> Role {
        let now = Instant::now();
        let fresh = self
            .by_pid
            .get(&pid)
            .is_some_and(|(at, _)| now.duration_since(*at) < FRESH);
        if !fresh {
            let Some(ports) = read_ports(pid) else {
                return Role::Unknown;
            };
            if self.by_pid.len() >= MAX_PIDS {
                self.by_pid.clear();
            }
            self.by_pid.insert(pid, (now, ports));
        }
        let ports = &self.by_pid[&pid].1;
        if ports.contains(&tuple.local.port()) {
            Role::Server
        } else {
            Role::Client
        }
    }
}

fn read_ports(pid: u32) -> Option<Vec<u16>> {
    let mut ports = Vec::new();
    let mut any = false;
    for t in ["tcp", "tcp6"] {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{t}")) {
            any = true;
            ports.extend(listening_ports(&text));
        }
    }
    any.then_some(ports)
}

#[cfg(test)]
#[path = "listening_tests.rs"]
mod tests;
