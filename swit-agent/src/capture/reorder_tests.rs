//! Tests of reorder.rs: time order, late events, and the final drain.
use super::*;
use crate::capture::event::ConnInfo;

fn close(ts: u64) -> Event {
    Event::Close {
        conn: ConnInfo::loopback(ts, ts),
    }
}

#[test]
fn releases_in_time_order_after_the_window() {
    let mut r = Reorder::new();
    r.push(close(5 * WINDOW_NS));
    r.push(close(4 * WINDOW_NS));
    let mut out = vec![];
    r.release(0, &mut |e| out.push(e.ts_ns()));
    assert_eq!(
        out,
        vec![4 * WINDOW_NS],
        "the newer one waits for its window"
    );
    r.release(7 * WINDOW_NS, &mut |e| out.push(e.ts_ns()));
    assert_eq!(out, vec![4 * WINDOW_NS, 5 * WINDOW_NS]);
}

#[test]
fn a_late_event_is_handed_on_counted_and_widens_the_window() {
    let mut r = Reorder::new();
    let mut out = vec![];
    r.push(close(10 * WINDOW_NS));
    r.release(12 * WINDOW_NS, &mut |e| out.push(e.ts_ns()));
    assert_eq!(out, vec![10 * WINDOW_NS]);
    // Three windows behind the clock when it comes, after a later
    // event went out: handed on all the same, and counted.
    r.push(close(9 * WINDOW_NS));
    assert_eq!(r.late, 1);
    assert_eq!(r.window_ns(), 9 * WINDOW_NS / 2);
    r.release(20 * WINDOW_NS, &mut |e| out.push(e.ts_ns()));
    assert_eq!(out, vec![10 * WINDOW_NS, 9 * WINDOW_NS]);
    // Held that long from now on: four windows late is in time.
    r.push(close(20 * WINDOW_NS));
    r.release(24 * WINDOW_NS, &mut |e| out.push(e.ts_ns()));
    assert_eq!(out.len(), 2, "the new window holds it");
    r.push(close(19 * WINDOW_NS));
    r.drain(&mut |e| out.push(e.ts_ns()));
    assert_eq!(out[2..], [19 * WINDOW_NS, 20 * WINDOW_NS]);
    assert_eq!(r.late, 1);
    // Never past the cap.
    r.push(close(0));
    assert_eq!(r.window_ns(), MAX_WINDOW_NS);
}

#[test]
fn drain_releases_everything_in_order() {
    let mut r = Reorder::new();
    for t in [3, 1, 2] {
        r.push(close(t));
    }
    let mut out = vec![];
    r.drain(&mut |e| out.push(e.ts_ns()));
    assert_eq!(out, vec![1, 2, 3]);
}

#[test]
fn any_arrival_order_is_released_sorted_and_equal_times_in_arrival_order() {
    // A fixed pseudo-random shuffle of 2,000 events over 500 distinct
    // times: every one comes out, by time, and among equal times in the
    // order they came (what the binary heap's (time, arrival) key gave).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut pushed = vec![];
    let mut r = Reorder::new();
    for i in 0..2_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let ts = 1 + x % 500;
        pushed.push((ts, i));
        r.push(Event::Close {
            conn: ConnInfo::loopback(i, ts),
        });
    }
    let mut out = vec![];
    r.drain(&mut |e| {
        let Event::Close { conn } = e else {
            unreachable!()
        };
        out.push((conn.ts_ns, conn.sock));
    });
    pushed.sort();
    assert_eq!(out, pushed);
}
