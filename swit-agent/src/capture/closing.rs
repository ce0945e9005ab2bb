//! Connections whose close was seen, held a little before they are
//! forgotten.
//!
//! A send is ordered by when its syscall began, but its record is written
//! when the syscall ends. A thread preempted in between (a loaded host) can
//! deliver its record after the peer read the bytes, answered, and the
//! connection closed. Finishing the connection at its close would drop that
//! record's bytes, and with them an exchange. So a close takes effect
//! [`GRACE_NS`] later; a new connection on the same socket ends the wait
//! at once.
//!
//! A release by a process whose threads share its descriptors may have
//! been the last close in all but name (the other reference was a
//! syscall in flight on another thread): it is held as a close on
//! probation, [`UNCLAIMED_NS`], which a syscall begun after it cancels.
use std::collections::VecDeque;

use super::{event::ConnInfo, hash::FxHashMap};

/// How long a closed connection still takes late records.
pub const GRACE_NS: u64 = 250_000_000;

/// How long a socket released by a process with threads waits for a
/// syscall that shows another holder before it counts as closed at its
/// release. A forked child or a descriptor's receiver starts using it
/// within microseconds; its first syscall after this still finds its
/// bytes, on a connection started afresh.
pub const UNCLAIMED_NS: u64 = 1_000_000_000;

#[derive(Debug)]
struct Held {
    due: u64,
    info: ConnInfo,
    /// A release on probation, not a close.
    probation: bool,
}

#[derive(Default)]
pub struct Closing {
    /// Closes by socket, with when they take effect.
    held: FxHashMap<u64, Held>,
    /// (when, socket), oldest first, of closes and of releases on
    /// probation (each in the order they came, so each sorted by when,
    /// but not the two together); entries no longer in `held` are stale.
    order: [VecDeque<(u64, u64)>; 2],
    /// Entries of `held` on probation: while none is, data costs no lookup.
    probation: usize,
}

impl Closing {
    /// The connection closed at `info.ts_ns`.
    pub fn push(&mut self, info: ConnInfo) {
        self.hold(info, GRACE_NS, false);
    }

    /// The connection was released at `info.ts_ns` by a process whose
    /// threads share its descriptors: it closed then, unless a syscall
    /// begun later uses it ([`Closing::claimed`]).
    pub fn push_probation(&mut self, info: ConnInfo) {
        if self.held.get(&info.sock).is_some_and(|h| !h.probation) {
            return;
        }
        self.hold(info, UNCLAIMED_NS, true);
    }

    fn hold(&mut self, info: ConnInfo, wait: u64, probation: bool) {
        let due = info.ts_ns.saturating_add(wait);
        self.order[probation as usize].push_back((due, info.sock));
        let held = Held {
            due,
            info,
            probation,
        };
        if let Some(old) = self.held.insert(info.sock, held) {
            self.probation -= old.probation as usize;
        }
        self.probation += probation as usize;
    }

    fn take(&mut self, sock: u64) -> Option<ConnInfo> {
        let h = self.held.remove(&sock)?;
        self.probation -= h.probation as usize;
        Some(h.info)
    }

    /// A syscall that began at `enter_ns` moved bytes on `sock`: a release
    /// on probation before it was not the last close.
    #[inline]
    pub fn claimed(&mut self, sock: u64, enter_ns: u64) {
        if self.probation == 0 {
            return;
        }
        if self
            .held
            .get(&sock)
            .is_some_and(|h| h.probation && h.info.ts_ns < enter_ns)
        {
            self.take(sock);
        }
    }

    /// A connection opens on `sock`: a close still held there is due now.
    pub fn reopened(&mut self, sock: u64) -> Option<ConnInfo> {
        self.take(sock)
    }

    /// Closes due at `now_ns`, oldest first.
    pub fn due(&mut self, now_ns: u64, out: &mut impl FnMut(ConnInfo)) {
        loop {
            let next = |q: &VecDeque<(u64, u64)>| q.front().copied().filter(|&(d, _)| d <= now_ns);
            let (queue, (due, sock)) = match (next(&self.order[0]), next(&self.order[1])) {
                (Some(a), Some(b)) if b.0 < a.0 => (1, b),
                (Some(a), _) => (0, a),
                (None, Some(b)) => (1, b),
                (None, None) => return,
            };
            self.order[queue].pop_front();
            if self
                .held
                .get(&sock)
                .is_some_and(|h| h.due == due && h.probation as usize == queue)
            {
                out(self.take(sock).expect("checked"));
            }
        }
    }

    /// Every held close (shutdown).
    pub fn drain(&mut self, out: &mut impl FnMut(ConnInfo)) {
        self.due(u64::MAX, out);
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
#[path = "closing_tests.rs"]
mod tests;
