//! Puts events of different connections in causal order.
//!
//! The ring buffer orders records by when their syscall *finished*. On
//! loopback a server's read can finish before the client's write that fed
//! it, so a naive reader sees the server request before the client call
//! that caused it. Holding events for a short window and releasing them by
//! [`Event::causal_ns`] (a send at its start, a receive at its end) restores
//! cause before effect.
//!
//! The window widens by itself when events arrive later than it allows (a
//! thread preempted between its syscall and the hook's record, on a loaded
//! host): such an event is still handed on, counted as late, and the window
//! becomes half again as long as it was late by, up to [`MAX_WINDOW_NS`].
use std::collections::VecDeque;

use super::event::Event;

/// How long an event is held for earlier events to catch up, at first.
pub const WINDOW_NS: u64 = 20_000_000;
/// The longest the window grows to.
pub const MAX_WINDOW_NS: u64 = 500_000_000;
/// Events held at most; past it the oldest are released early.
pub const MAX_HELD: usize = 100_000;

/// A held event's place in the order: (causal time, arrival), and its
/// slot. The queue moves these 24 bytes, not the events.
type Key = (u64, u64, u32);

pub struct Reorder {
    /// Keys in order. Events arrive nearly in order (a send's record can
    /// follow the receive it fed by microseconds): almost every key goes
    /// at the back, and the few others a short way in, where a binary
    /// heap paid a sift at every release (about 240 instructions).
    queue: VecDeque<Key>,
    /// The held events, where their keys point; `None` is free.
    slots: Vec<Option<Event>>,
    /// Free slots.
    free: Vec<u32>,
    seq: u64,
    newest: u64,
    /// The latest key released so far: an event pushed behind it is late.
    released: u64,
    window: u64,
    /// Events that came after a later one was released.
    pub late: u64,
}

impl Default for Reorder {
    fn default() -> Self {
        Reorder {
            queue: VecDeque::new(),
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
            newest: 0,
            released: 0,
            window: WINDOW_NS,
            late: 0,
        }
    }
}

impl Reorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// How long events are held now.
    pub fn window_ns(&self) -> u64 {
        self.window
    }

    pub fn push(&mut self, event: Event) {
        let key = event.causal_ns();
        self.newest = self.newest.max(event.ts_ns());
        if key < self.released {
            self.late += 1;
            let behind = self.newest.saturating_sub(key);
            let wanted = (behind + behind / 2).min(MAX_WINDOW_NS);
            if wanted > self.window {
                log::info!(
                    "an event came {} ms behind newer ones (a loaded host): events are held {} ms for order from now on",
                    behind / 1_000_000,
                    wanted / 1_000_000
                );
                self.window = wanted;
            }
        }
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(event);
                i
            }
            None => {
                self.slots.push(Some(event));
                (self.slots.len() - 1) as u32
            }
        };
        let k = (key, self.seq, slot);
        match self.queue.back() {
            Some(last) if *last > k => {
                let at = self.queue.partition_point(|x| *x < k);
                self.queue.insert(at, k);
            }
            _ => self.queue.push_back(k),
        }
    }

    fn take(&mut self, slot: u32) -> Event {
        self.free.push(slot);
        self.slots[slot as usize].take().expect("a held slot")
    }

    /// Releases, in causal order, every event older than the window (by the
    /// newest timestamp seen or by `now_ns`, whichever is later).
    pub fn release(&mut self, now_ns: u64, out: &mut impl FnMut(Event)) {
        self.newest = self.newest.max(now_ns);
        let horizon = self.newest.saturating_sub(self.window);
        while let Some(&(key, _, slot)) = self.queue.front() {
            if key > horizon && self.queue.len() <= MAX_HELD {
                break;
            }
            self.queue.pop_front();
            self.released = self.released.max(key);
            out(self.take(slot));
        }
    }

    /// Releases everything (shutdown).
    pub fn drain(&mut self, out: &mut impl FnMut(Event)) {
        while let Some((_, _, slot)) = self.queue.pop_front() {
            out(self.take(slot));
        }
    }
}

#[cfg(test)]
#[path = "reorder_tests.rs"]
mod tests;
