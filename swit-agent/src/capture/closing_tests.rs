//! Tests of closing.rs: the close grace, and a socket reused while it runs.
use super::*;

fn info(sock: u64, ts: u64) -> ConnInfo {
    ConnInfo::loopback(sock, ts)
}

fn due(c: &mut Closing, now: u64) -> Vec<u64> {
    let mut v = vec![];
    c.due(now, &mut |i| v.push(i.sock));
    v
}

#[test]
fn a_close_takes_effect_after_the_grace() {
    let mut c = Closing::default();
    c.push(info(7, 1_000));
    c.push(info(8, 2_000));
    assert!(due(&mut c, 1_000 + GRACE_NS - 1).is_empty());
    assert_eq!(due(&mut c, 1_000 + GRACE_NS), [7]);
    assert_eq!(c.held(), 1);
    let mut rest = vec![];
    c.drain(&mut |i| rest.push(i.sock));
    assert_eq!(rest, [8]);
    assert_eq!(c.held(), 0);
}

#[test]
fn a_socket_reused_ends_the_wait_once() {
    let mut c = Closing::default();
    c.push(info(7, 1_000));
    assert_eq!(c.reopened(7).map(|i| i.ts_ns), Some(1_000));
    assert_eq!(c.reopened(7), None);
    // The new connection closes too: only its own close comes due.
    c.push(info(7, 5_000));
    assert!(
        due(&mut c, 1_000 + GRACE_NS).is_empty(),
        "the old entry is stale"
    );
    assert_eq!(due(&mut c, 5_000 + GRACE_NS), [7]);
}
