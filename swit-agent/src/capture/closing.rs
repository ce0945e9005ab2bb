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
use std::collections::VecDeque;

use super::{event::ConnInfo, hash::FxHashMap};

/// How long a closed connection still takes late records.
pub const GRACE_NS: u64 = 250_000_000;

#[derive(Default)]
pub struct Closing {
    /// Closes by socket, with when they take effect.
    held: FxHashMap<u64, (u64, ConnInfo)>,
    /// (when, socket), oldest first; entries no longer in `held` are stale.
    order: VecDeque<(u64, u64)>,
}

impl Closing {
    /// The connection closed at `info.ts_ns`.
    pub fn push(&mut self, info: ConnInfo) {
        let due = info.ts_ns.saturating_add(GRACE_NS);
        self.order.push_back((due, info.sock));
        self.held.insert(info.sock, (due, info));
    }

    /// A connection opens on `sock`: a close still held there is due now.
    pub fn reopened(&mut self, sock: u64) -> Option<ConnInfo> {
        self.held.remove(&sock).map(|(_, info)| info)
    }

    /// Closes due at `now_ns`, oldest first.
    pub fn due(&mut self, now_ns: u64, out: &mut impl FnMut(ConnInfo)) {
        while let Some(&(due, sock)) = self.order.front() {
            if due > now_ns {
                return;
            }
            self.order.pop_front();
            if self.held.get(&sock).is_some_and(|(d, _)| *d == due) {
                let (_, info) = self.held.remove(&sock).expect("checked");
                out(info);
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
