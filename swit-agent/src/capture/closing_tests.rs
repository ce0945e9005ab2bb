//! Tests of closing.rs: the close grace, a socket reused while it runs, and releases on probation.
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

#[test]
fn a_release_on_probation_closes_unless_a_later_syscall_claims_it() {
    let mut c = Closing::default();
    c.push_probation(info(7, 1_000));
    c.push_probation(info(8, 1_000));
    // A syscall begun before the release (the one that held the other
    // reference) is no claim; one begun after is.
    c.claimed(7, 999);
    c.claimed(8, 1_001);
    assert!(due(&mut c, 1_000 + UNCLAIMED_NS - 1).is_empty());
    assert_eq!(due(&mut c, 1_000 + UNCLAIMED_NS), [7]);
    assert_eq!(c.held(), 0);
    assert_eq!(c.probation, 0);
}

#[test]
fn a_close_outranks_a_release_on_probation() {
    let mut c = Closing::default();
    c.push(info(7, 1_000));
    c.push_probation(info(7, 2_000));
    c.claimed(7, 3_000);
    assert_eq!(due(&mut c, 1_000 + GRACE_NS), [7], "still the close");
    // A close after a release replaces it, and no claim cancels it.
    c.push_probation(info(8, 1_000));
    c.push(info(8, 2_000));
    c.claimed(8, 3_000);
    assert_eq!(c.probation, 0);
    assert_eq!(due(&mut c, 2_000 + GRACE_NS), [8]);
    // Reopened: a release's socket reused is due at once too.
    c.push_probation(info(9, 1_000));
    assert_eq!(c.reopened(9).map(|i| i.ts_ns), Some(1_000));
    assert_eq!(c.probation, 0);
}
