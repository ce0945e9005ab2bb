//! Puts events of different connections in causal order.
//!
//! The ring buffer orders records by when their syscall *finished*. On
//! loopback a server's read can finish before the client's write that fed
//! it, so a naive reader sees the server request before the client call
//! that caused it. Holding events for a short window and releasing them by
//! [`Event::causal_ns`] (a send at its start, a receive at its end) restores
//! cause before effect.
use std::{cmp::Reverse, collections::BinaryHeap};

use super::event::Event;

/// How long an event is held for earlier events to catch up.
pub const WINDOW_NS: u64 = 20_000_000;
/// Events held at most; past it the oldest are released early.
pub const MAX_HELD: usize = 100_000;

struct Held {
    key: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Held {
    fn eq(&self, o: &Self) -> bool {
        (self.key, self.seq) == (o.key, o.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Held {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.key, self.seq).cmp(&(o.key, o.seq))
    }
}

#[derive(Default)]
pub struct Reorder {
    heap: BinaryHeap<Reverse<Held>>,
    seq: u64,
    newest: u64,
}

impl Reorder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, event: Event) {
        let key = event.causal_ns();
        self.newest = self.newest.max(event.ts_ns());
        self.seq += 1;
        self.heap.push(Reverse(Held {
            key,
            seq: self.seq,
            event,
        }));
    }

    /// Releases, in causal order, every event older than the window (by the
    /// newest timestamp seen or by `now_ns`, whichever is later).
    pub fn release(&mut self, now_ns: u64, out: &mut impl FnMut(Event)) {
        let horizon = self.newest.max(now_ns).saturating_sub(WINDOW_NS);
        while let Some(Reverse(top)) = self.heap.peek() {
            if top.key > horizon && self.heap.len() <= MAX_HELD {
                break;
            }
            let Reverse(h) = self.heap.pop().expect("peeked");
            out(h.event);
        }
    }

    /// Releases everything (shutdown).
    pub fn drain(&mut self, out: &mut impl FnMut(Event)) {
        while let Some(Reverse(h)) = self.heap.pop() {
            out(h.event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::event::{ConnInfo, Tuple};

    fn close(ts: u64) -> Event {
        Event::Close {
            conn: ConnInfo {
                sock: ts,
                pid: 1,
                tid: 1,
                ts_ns: ts,
                tuple: Tuple {
                    local: "127.0.0.1:1".parse().unwrap(),
                    remote: "127.0.0.1:2".parse().unwrap(),
                },
            },
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
    fn drain_releases_everything_in_order() {
        let mut r = Reorder::new();
        for t in [3, 1, 2] {
            r.push(close(t));
        }
        let mut out = vec![];
        r.drain(&mut |e| out.push(e.ts_ns()));
        assert_eq!(out, vec![1, 2, 3]);
    }
}
