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
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
   2: 00000000:C351 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:C5E9 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn only_listening_sockets_count() {
        assert_eq!(listening_ports(TCP), vec![8080, 50001]);
        assert_eq!(listening_ports(TCP6), vec![50665]);
        assert_eq!(listening_ports(""), Vec::<u16>::new());
        assert_eq!(
            listening_ports("header\ngarbage line\n  0: x\n"),
            Vec::<u16>::new()
        );
    }

    #[test]
    fn this_process_listening_socket_makes_it_the_server() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let mut c = ListenCache::default();
        let t = |local: u16| Tuple {
            local: format!("127.0.0.1:{local}").parse().unwrap(),
            remote: "127.0.0.1:40000".parse().unwrap(),
        };
        let pid = std::process::id();
        assert_eq!(c.role_of(pid, &t(port)), Role::Server);
        // An ephemeral port nobody listens on: the process dialled out.
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let free = other.local_addr().unwrap().port();
        drop(other);
        c.by_pid.clear();
        assert_eq!(c.role_of(pid, &t(free)), Role::Client);
        assert_eq!(c.role_of(u32::MAX, &t(port)), Role::Unknown);
    }
}
