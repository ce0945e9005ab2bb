//! Decodes ring-buffer records into owned values.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use swit_ebpf_common::{
    AF_INET, AF_INET6, DataHeader, EventHeader, GoSpawnRecord, ProcRecord, SockTuple, data_flags,
    direction, kind, release, role,
};

/// A process lifecycle event from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcChange {
    /// A traced process forked `child` (already traced by the kernel).
    Fork { child: u32 },
    /// `pid` exec'd a new program.
    Exec { pid: u32 },
    /// Traced `pid` exited (already untraced by the kernel).
    Exit { pid: u32 },
    /// `pid` started listening on `port`.
    Listen { pid: u32, port: u16 },
}

/// Which way bytes went, seen from the traced process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Ingress,
    Egress,
}

/// How the traced process came to own a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Unknown,
    Server,
    Client,
}

/// A connection's endpoints as the traced process sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tuple {
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

impl Tuple {
    /// The same connection seen from the other end.
    pub fn mirror(&self) -> Tuple {
        Tuple {
            local: self.remote,
            remote: self.local,
        }
    }
}

/// Header fields every event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    /// Kernel `struct sock` address: the connection's identity while it lives.
    pub sock: u64,
    pub pid: u32,
    pub tid: u32,
    /// CLOCK_MONOTONIC ns at the syscall's exit.
    pub ts_ns: u64,
    pub tuple: Tuple,
}

#[cfg(test)]
impl ConnInfo {
    /// A connection of process 1 on 127.0.0.1, for tests.
    pub fn loopback(sock: u64, ts_ns: u64) -> ConnInfo {
        ConnInfo {
            sock,
            pid: 1,
            tid: 1,
            ts_ns,
            tuple: Tuple {
                local: "127.0.0.1:1".parse().unwrap(),
                remote: "127.0.0.1:2".parse().unwrap(),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataChunk {
    pub conn: ConnInfo,
    pub enter_ns: u64,
    /// TCP sequence number of the chunk's first byte.
    pub seq: u32,
    /// Stream bytes the chunk stands for; `bytes.len() <= len`.
    pub len: u32,
    pub direction: Direction,
    pub bytes: Vec<u8>,
    /// TLS plaintext from the TLS library's hooks (`seq` counts plaintext
    /// bytes), not bytes of a syscall.
    pub tls: bool,
    /// The goroutine that moved the bytes, in a Go process whose goroutines
    /// are followed; else 0.
    pub g: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Data(DataChunk),
    Open {
        conn: ConnInfo,
        role: Role,
    },
    Close {
        conn: ConnInfo,
    },
    /// `conn.pid` closed a descriptor of the connection that other
    /// references still hold: the connection goes on.
    Release {
        conn: ConnInfo,
        /// The closer shares its descriptor table with other threads: the
        /// other references may be their syscalls in flight only, so the
        /// socket may be gone when they return.
        threads: bool,
    },
    /// A process started, exec'd, exited or began to listen.
    /// `comm` is the calling task's command name.
    Proc {
        change: ProcChange,
        ts_ns: u64,
        comm: String,
    },
    /// Goroutine `parent` of process `pid` started goroutine `child`.
    GoSpawn {
        pid: u32,
        parent: u64,
        child: u64,
        ts_ns: u64,
    },
    /// Goroutine `from` handed a request to goroutine `to`, which writes
    /// it (net/http's client).
    GoHandoff {
        pid: u32,
        from: u64,
        to: u64,
        ts_ns: u64,
    },
}

impl Event {
    /// CLOCK_MONOTONIC ns at the syscall's (or the hook's) exit.
    pub fn ts_ns(&self) -> u64 {
        match self {
            Event::Data(d) => d.conn.ts_ns,
            Event::Open { conn, .. } | Event::Close { conn } | Event::Release { conn, .. } => {
                conn.ts_ns
            }
            Event::Proc { ts_ns, .. }
            | Event::GoSpawn { ts_ns, .. }
            | Event::GoHandoff { ts_ns, .. } => *ts_ns,
        }
    }

    /// The moment that orders this event against events of other
    /// connections: a send is placed at its start (the peer cannot read the
    /// bytes earlier), everything else at its end.
    pub fn causal_ns(&self) -> u64 {
        match self {
            Event::Data(d) if d.direction == Direction::Egress => d.enter_ns,
            e => e.ts_ns(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {0} bytes is shorter than its header")]
    Short(usize),
    #[error("unknown record kind {0}")]
    Kind(u32),
    #[error("unknown address family {0}")]
    Family(u16),
}

/// Decodes one ring-buffer record.
pub fn decode(rec: &[u8]) -> Result<Event, DecodeError> {
    let k: u32 = read(rec)?;
    if matches!(
        k,
        kind::PROC_FORK | kind::PROC_EXEC | kind::PROC_EXIT | kind::LISTEN
    ) {
        let p: ProcRecord = read(rec)?;
        let pid = (p.pid_tgid >> 32) as u32;
        let change = match k {
            kind::PROC_FORK => ProcChange::Fork { child: p.aux },
            kind::PROC_EXEC => ProcChange::Exec { pid },
            kind::PROC_EXIT => ProcChange::Exit { pid: p.aux },
            _ => ProcChange::Listen {
                pid,
                port: p.aux as u16,
            },
        };
        let end = p.comm.iter().position(|&b| b == 0).unwrap_or(p.comm.len());
        return Ok(Event::Proc {
            change,
            ts_ns: p.ts_ns,
            comm: String::from_utf8_lossy(&p.comm[..end]).into_owned(),
        });
    }
    if k == kind::GO_SPAWN || k == kind::GO_HANDOFF {
        let s: GoSpawnRecord = read(rec)?;
        let pid = (s.pid_tgid >> 32) as u32;
        return Ok(if k == kind::GO_SPAWN {
            Event::GoSpawn {
                pid,
                parent: s.parent_g,
                child: s.child_g,
                ts_ns: s.ts_ns,
            }
        } else {
            Event::GoHandoff {
                pid,
                from: s.parent_g,
                to: s.child_g,
                ts_ns: s.ts_ns,
            }
        });
    }
    let hdr: EventHeader = read(rec)?;
    let conn = ConnInfo {
        sock: hdr.sock,
        pid: (hdr.pid_tgid >> 32) as u32,
        tid: hdr.pid_tgid as u32,
        ts_ns: hdr.ts_ns,
        tuple: tuple(&hdr.tuple)?,
    };
    match hdr.kind {
        kind::DATA => {
            let d: DataHeader = read(rec)?;
            let start = size_of::<DataHeader>();
            let end = start + d.captured as usize;
            let bytes = rec.get(start..end).ok_or(DecodeError::Short(rec.len()))?;
            Ok(Event::Data(DataChunk {
                conn,
                enter_ns: d.enter_ns,
                seq: d.seq,
                len: d.len,
                direction: if d.direction == direction::EGRESS {
                    Direction::Egress
                } else {
                    Direction::Ingress
                },
                bytes: bytes.to_vec(),
                tls: d.flags & data_flags::TLS != 0,
                g: d.g,
            }))
        }
        kind::OPEN => Ok(Event::Open {
            conn,
            role: match hdr.role {
                role::SERVER => Role::Server,
                role::CLIENT => Role::Client,
                _ => Role::Unknown,
            },
        }),
        kind::CLOSE => Ok(Event::Close { conn }),
        kind::RELEASE => Ok(Event::Release {
            conn,
            threads: hdr.role == release::THREADS,
        }),
        k => Err(DecodeError::Kind(k)),
    }
}

fn read<T: Copy>(rec: &[u8]) -> Result<T, DecodeError> {
    if rec.len() < size_of::<T>() {
        return Err(DecodeError::Short(rec.len()));
    }
    // SAFETY: length checked; T is a repr(C) integer-only type from
    // swit-ebpf-common, valid for any bit pattern; read_unaligned because
    // ring records are only 8-byte aligned by contract, not by type.
    Ok(unsafe { std::ptr::read_unaligned(rec.as_ptr().cast::<T>()) })
}

fn tuple(t: &SockTuple) -> Result<Tuple, DecodeError> {
    let addr = |b: &[u8; 16]| -> Result<IpAddr, DecodeError> {
        match t.family {
            AF_INET => Ok(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
            AF_INET6 => {
                let v6 = Ipv6Addr::from(*b);
                // A dual-stack socket talking IPv4 stores ::ffff:a.b.c.d.
                Ok(match v6.to_ipv4_mapped() {
                    Some(v4) => IpAddr::V4(v4),
                    None => IpAddr::V6(v6),
                })
            }
            f => Err(DecodeError::Family(f)),
        }
    };
    Ok(Tuple {
        local: SocketAddr::new(addr(&t.local_addr)?, t.local_port),
        remote: SocketAddr::new(addr(&t.remote_addr)?, t.remote_port),
    })
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
