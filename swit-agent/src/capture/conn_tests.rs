//! Tests of conn.rs: exchanges, role inference, TLS set aside, shedding and idle timeouts.
use super::*;
use crate::protocol::http1::Http1Event;

pub(super) fn info(ts: u64) -> ConnInfo {
    ConnInfo {
        sock: 0xabc,
        pid: 10,
        tid: 11,
        ts_ns: ts,
        tuple: Tuple {
            local: "127.0.0.1:8080".parse().unwrap(),
            remote: "127.0.0.1:40000".parse().unwrap(),
        },
    }
}

pub(super) fn chunk(ts: u64, dir: Direction, seq: u32, b: &[u8]) -> DataChunk {
    DataChunk {
        conn: info(ts),
        enter_ns: ts,
        seq,
        len: b.len() as u32,
        direction: dir,
        bytes: b.to_vec(),
        tls: false,
        g: 0,
    }
}

fn plain(ts: u64, dir: Direction, seq: u32, b: &[u8]) -> DataChunk {
    DataChunk {
        tls: true,
        ..chunk(ts, dir, seq, b)
    }
}

fn exchanges(out: &[ConnEvent]) -> Vec<(String, u16)> {
    out.iter()
        .filter_map(|e| match &e.event {
            ProtoEvent::Http1(Http1Event::Exchange { request, response }) => {
                Some((request.target.clone(), response.status))
            }
            _ => None,
        })
        .collect()
}

const REQ: &[u8] = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";

#[test]
fn an_exiting_process_closes_only_its_connections_silent_since() {
    let mut t = ConnTable::new();
    let other = ConnInfo {
        sock: 0xdef,
        pid: 12,
        ..info(1)
    };
    let later = ConnInfo {
        sock: 0x123,
        ts_ns: 50,
        ..info(1)
    };
    t.open(&info(1), Role::Server);
    t.open(&other, Role::Server);
    t.open(&later, Role::Server);
    let socks = |v: Vec<ConnInfo>| {
        let mut s: Vec<(u64, u64)> = v.iter().map(|c| (c.sock, c.ts_ns)).collect();
        s.sort();
        s
    };
    // PID 10's connection active at 50 is a new process's (PID reused).
    assert_eq!(socks(t.of_pid(10, 20)), [(0xabc, 20)]);
    assert_eq!(socks(t.of_pid(10, 60)), [(0x123, 60), (0xabc, 60)]);
    assert!(t.of_pid(99, 60).is_empty());
}

#[test]
fn a_server_exchange_in_two_response_writes() {
    let mut t = ConnTable::new();
    let mut out = vec![];
    t.open(&info(1), Role::Server);
    t.data(chunk(2, Direction::Ingress, 100, REQ), &mut out);
    t.data(chunk(3, Direction::Egress, 5000, HEAD), &mut out);
    t.data(
        chunk(4, Direction::Egress, 5000 + HEAD.len() as u32, b"hello"),
        &mut out,
    );
    assert_eq!(exchanges(&out), vec![("/hello".to_string(), 200)]);
}

#[test]
fn role_is_inferred_for_a_connection_older_than_the_agent() {
    let mut t = ConnTable::new();
    let mut out = vec![];
    t.data(chunk(2, Direction::Egress, 100, REQ), &mut out);
    t.data(chunk(3, Direction::Ingress, 7, HEAD), &mut out);
    t.data(
        chunk(4, Direction::Ingress, 7 + HEAD.len() as u32, b"hello"),
        &mut out,
    );
    assert_eq!(exchanges(&out), vec![("/hello".to_string(), 200)]);
    assert_eq!(out[0].role, Role::Client);
}

/// A ClientHello (the first bytes of a real one) and the server's answer.
const CLIENT_HELLO: &[u8] = &[
    0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x5a, 0x11, 0x2b, 0x90, 0x3c,
    0x47, 0x8e, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
];
const SERVER_HELLO: &[u8] = &[0x16, 0x03, 0x03, 0x00, 0x7a, 0x02, 0x00, 0x00, 0x76, 0x03];

#[test]
fn ciphertext_is_set_aside_then_plaintext_is_parsed_as_tls() {
    let mut t = ConnTable::new();
    let mut out = vec![];
    t.open(&info(1), Role::Server);
    // The handshake reaches the agent before the kernel knew.
    t.data(chunk(2, Direction::Ingress, 100, CLIENT_HELLO), &mut out);
    t.data(chunk(3, Direction::Egress, 900, SERVER_HELLO), &mut out);
    assert_eq!(t.stats.ciphertext, 1);
    // Plaintext at its own positions, from 0.
    t.data(plain(4, Direction::Ingress, 0, REQ), &mut out);
    // Late ciphertext of the same socket: ignored.
    t.data(
        chunk(
            5,
            Direction::Ingress,
            100 + CLIENT_HELLO.len() as u32,
            b"\x17\x03\x03\x00\x20",
        ),
        &mut out,
    );
    t.data(plain(6, Direction::Egress, 0, HEAD), &mut out);
    t.data(
        plain(7, Direction::Egress, HEAD.len() as u32, b"hello"),
        &mut out,
    );
    assert_eq!(exchanges(&out), vec![("/hello".to_string(), 200)]);
    assert!(out.iter().all(|e| e.tls), "marked TLS for the span");
    assert_eq!((t.stats.tls, t.stats.undetected), (1, 0));
}

/// Connection `sock` (its own port) opened at `ts`, with a request head
/// still waiting for its end.
fn half_request(t: &mut ConnTable, sock: u64, ts: u64) {
    // Connections are told apart by socket; the tuple may repeat.
    let conn = ConnInfo { sock, ..info(ts) };
    t.open(&conn, Role::Server);
    t.data(
        DataChunk {
            conn,
            ..chunk(
                ts,
                Direction::Ingress,
                0,
                b"GET /slow HTTP/1.1\r\nHost: x\r\n",
            )
        },
        &mut vec![],
    );
}

#[test]
fn shedding_forgets_the_least_recently_active_and_says_which() {
    let mut t = ConnTable::new();
    for sock in 1..=10 {
        // Socket 7 was the first to go quiet, then 3, then the rest.
        let ts = match sock {
            7 => 1,
            3 => 2,
            s => 100 + s,
        };
        half_request(&mut t, sock, ts);
    }
    assert_eq!(t.shed(2), 2);
    let mut gone = t.take_forgotten();
    gone.sort();
    assert_eq!(gone, vec![3, 7]);
    assert_eq!((t.len(), t.stats.shed, t.stats.evicted), (8, 2, 0));
    assert!(t.take_forgotten().is_empty(), "said once");
    assert_eq!(t.shed(100), 8);
    assert_eq!(t.shed(1), 0);
    assert!(t.is_empty());
}

#[test]
fn idle_connections_go_after_the_configured_timeout() {
    let mut t = ConnTable::new();
    t.set_idle_ns(1_000);
    half_request(&mut t, 1, 100);
    half_request(&mut t, 2, 600);
    let mut out = vec![];
    t.tick(1_099, &mut out);
    assert_eq!(t.len(), 2);
    t.tick(1_100, &mut out);
    assert_eq!((t.len(), t.take_forgotten()), (1, vec![1]));
    t.tick(1_600, &mut out);
    assert_eq!((t.len(), t.take_forgotten()), (0, vec![2]));
    assert_eq!((t.stats.evicted, t.stats.shed), (2, 0));
}

#[test]
fn a_full_table_makes_room_by_a_sixteenth() {
    let mut t = ConnTable::new();
    for sock in 0..MAX_CONNECTIONS as u64 {
        half_request(&mut t, sock + 1, sock + 1);
    }
    assert_eq!(t.len(), MAX_CONNECTIONS);
    half_request(&mut t, u64::MAX, u64::MAX);
    let gone = t.take_forgotten();
    assert_eq!(gone.len(), MAX_CONNECTIONS / 16);
    assert!(
        gone.iter().all(|&s| s <= (MAX_CONNECTIONS / 16) as u64),
        "the oldest"
    );
    assert_eq!(t.len(), MAX_CONNECTIONS - MAX_CONNECTIONS / 16 + 1);
    assert_eq!(
        (t.stats.evicted, t.stats.shed),
        ((MAX_CONNECTIONS / 16) as u64, 0)
    );
}

#[test]
fn ciphertext_never_reaches_a_parser() {
    let mut t = ConnTable::new();
    let mut out = vec![];
    t.open(&info(1), Role::Client);
    let mut seq = 0;
    for i in 0..20u64 {
        let rec: &[u8] = if i == 0 {
            CLIENT_HELLO
        } else {
            // Application data that happens to contain a request line.
            b"\x17\x03\x03\x00\x30GET /x HTTP/1.1\r\n\r\n"
        };
        t.data(chunk(2 + i, Direction::Egress, seq, rec), &mut out);
        seq += rec.len() as u32;
    }
    assert!(out.is_empty(), "{out:?}");
    assert_eq!((t.stats.ciphertext, t.stats.undetected), (1, 0));
}

#[test]
fn an_exit_looks_only_at_its_process_connections() {
    let mut t = ConnTable::new();
    let mut out = vec![];
    let conn = |sock: u64, pid: u32| ConnInfo {
        sock,
        pid,
        tuple: Tuple {
            local: "127.0.0.1:8080".parse().unwrap(),
            remote: format!("127.0.0.1:{}", 1000 + sock).parse().unwrap(),
        },
        ..info(1)
    };
    for sock in 0..2000 {
        t.open(&conn(sock, 10), Role::Server);
    }
    t.open(&conn(5000, 99), Role::Server);
    t.data(
        DataChunk {
            conn: conn(5001, 99),
            ..chunk(2, Direction::Ingress, 0, REQ)
        },
        &mut out,
    );
    t.check_index();
    t.visited.set(0);
    let gone: Vec<u64> = t.of_pid(99, 10).iter().map(|c| c.sock).collect();
    assert_eq!(gone, vec![5000, 5001]);
    assert_eq!(t.visited.get(), 2, "among 2002 connections");
    // Every way out keeps the index whole.
    t.close(&conn(5000, 99), &mut out);
    t.open(&conn(7, 11), Role::Client);
    t.data(
        DataChunk {
            conn: ConnInfo {
                tuple: conn(9000, 10).tuple,
                ..conn(8, 10)
            },
            ..chunk(3, Direction::Ingress, 0, REQ)
        },
        &mut out,
    );
    t.check_index();
    assert_eq!(t.shed(100), 100);
    t.check_index();
    t.tick(IDLE_NS + 2, &mut out);
    t.check_index();
    assert!(t.is_empty());
    assert!(t.of_pid(10, u64::MAX).is_empty());
}

/// A pre-fork server: the parent accepts, lets go of its descriptor, a
/// child serves. The parent's exit does not close the connection; the
/// child's does, and the child's spans name it.
#[test]
fn a_connection_belongs_to_the_process_that_uses_it() {
    let mut t = ConnTable::new();
    let mut out = vec![];
    let child = |ts| ConnInfo {
        pid: 20,
        tid: 21,
        ..info(ts)
    };
    t.open(&info(1), Role::Server);
    t.release(&info(2));
    t.check_index();
    assert!(t.of_pid(10, 100).is_empty(), "the parent let go");
    assert!(t.holds(0xabc), "the connection goes on");
    t.data(
        DataChunk {
            conn: child(3),
            ..chunk(3, Direction::Ingress, 100, REQ)
        },
        &mut out,
    );
    let answer = DataChunk {
        conn: child(4),
        ..chunk(4, Direction::Egress, 5000, HEAD)
    };
    t.data(answer, &mut out);
    let body = chunk(5, Direction::Egress, 5000 + HEAD.len() as u32, b"hello");
    t.data(
        DataChunk {
            conn: child(5),
            ..body
        },
        &mut out,
    );
    assert_eq!(exchanges(&out), vec![("/hello".to_string(), 200)]);
    assert!(out.iter().all(|e| e.pid == 20), "{out:?}");
    t.check_index();
    assert!(t.of_pid(10, 100).is_empty());
    assert_eq!(t.of_pid(20, 100).len(), 1);
    // A release by a process that no longer owns it changes nothing.
    t.release(&info(6));
    assert_eq!(t.of_pid(20, 100).len(), 1);
    // The owner's own release, then its use again (a dup): owned again.
    t.release(&child(7));
    assert!(t.of_pid(20, 100).is_empty());
    let more = chunk(8, Direction::Ingress, 100 + REQ.len() as u32, REQ);
    t.data(
        DataChunk {
            conn: child(8),
            ..more
        },
        &mut out,
    );
    assert_eq!(t.of_pid(20, 100).len(), 1);
    t.check_index();
}
