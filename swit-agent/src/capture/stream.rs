//! One direction of one connection, put back in order by TCP sequence
//! number. Chunks may arrive out of order (different CPUs reserve ring
//! space in a different order than their syscalls finished), may be cut to
//! the capture limit, or may be missing (ring buffer full, sendfile): what is
//! missing is handed on as an explicit gap, never glued over.
use std::collections::BTreeMap;

use crate::protocol::{Input, Moment};

/// Out-of-order chunks held while waiting for the hole before them.
pub const MAX_PENDING_CHUNKS: usize = 8;
/// Bytes held in out-of-order chunks, at most.
pub const MAX_PENDING_BYTES: usize = 256 * 1024;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StreamStats {
    /// Stream bytes skipped as gaps (not captured).
    pub gap_bytes: u64,
    /// Chunks that arrived again or entirely behind the stream's position.
    pub stale_chunks: u64,
}

#[derive(Debug)]
struct Held {
    len: u32,
    bytes: Vec<u8>,
    at: Moment,
}

#[derive(Debug, Default)]
pub struct Stream {
    /// Position of the next expected byte, on a 64-bit line that starts at
    /// the first chunk seen (TCP's 32-bit numbers wrap; this does not).
    next: Option<u64>,
    pending: BTreeMap<u64, Held>,
    pending_bytes: usize,
    /// When the last delivered chunk moved: a gap is dated by it, since the
    /// missing bytes went after it and the next chunk may come much later
    /// (an idle keep-alive connection).
    last_at: Option<Moment>,
    pub stats: StreamStats,
}

/// Where the 64-bit line starts: far from zero so that chunks a little
/// before the first one still have a position, and a multiple of 2^32 so
/// that a position's low half is its TCP sequence number.
const ORIGIN: u64 = 1 << 40;

impl Stream {
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps a 32-bit sequence number to the 64-bit line, choosing the
    /// position nearest to the stream's current one.
    fn extend(&self, seq: u32) -> u64 {
        match self.next {
            None => ORIGIN + seq as u64,
            Some(next) => {
                let delta = seq.wrapping_sub(next as u32) as i32 as i64;
                next.wrapping_add_signed(delta)
            }
        }
    }

    /// Takes one chunk; hands every input that became deliverable to `out`.
    pub fn push(
        &mut self,
        seq: u32,
        len: u32,
        bytes: Vec<u8>,
        at: Moment,
        out: &mut impl FnMut(Input<'_>),
    ) {
        if len == 0 {
            return;
        }
        let pos = self.extend(seq);
        let next = *self.next.get_or_insert(pos);
        if pos + len as u64 <= next {
            self.stats.stale_chunks += 1;
            return;
        }
        if pos > next {
            self.pending_bytes += bytes.len();
            if let Some(old) = self.pending.insert(pos, Held { len, bytes, at }) {
                self.pending_bytes -= old.bytes.len();
            }
            if self.pending.len() > MAX_PENDING_CHUNKS || self.pending_bytes > MAX_PENDING_BYTES {
                self.flush_one_gap(out);
            }
            return;
        }
        self.deliver(pos, Held { len, bytes, at }, out);
        self.drain(out);
    }

    /// Gives up waiting for the hole before the oldest held chunk: it
    /// becomes a gap. Called when holding more would exceed the bounds, and
    /// by the owner when the stream has been quiet (see [`Stream::has_pending`]).
    pub fn flush_one_gap(&mut self, out: &mut impl FnMut(Input<'_>)) {
        let Some((&pos, held)) = self.pending.iter().next() else {
            return;
        };
        let next = self.next.unwrap_or(pos);
        if pos > next {
            let len = pos - next;
            self.stats.gap_bytes += len;
            out(Input::Gap {
                len,
                at: self.last_at.unwrap_or(held.at),
            });
            self.next = Some(pos);
        }
        self.drain(out);
    }

    /// Flushes every held chunk, turning holes into gaps.
    pub fn flush_all(&mut self, out: &mut impl FnMut(Input<'_>)) {
        while !self.pending.is_empty() {
            self.flush_one_gap(out);
        }
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    fn drain(&mut self, out: &mut impl FnMut(Input<'_>)) {
        while let Some(entry) = self.pending.first_entry() {
            let next = self.next.expect("set before anything is held");
            if *entry.key() > next {
                return;
            }
            let pos = *entry.key();
            let held = entry.remove();
            self.pending_bytes -= held.bytes.len();
            if pos + held.len as u64 <= next {
                self.stats.stale_chunks += 1;
                continue;
            }
            self.deliver(pos, held, out);
        }
    }

    /// Delivers a chunk that starts at or before `next`, trimming what was
    /// already delivered; the uncaptured tail becomes a gap.
    fn deliver(&mut self, pos: u64, held: Held, out: &mut impl FnMut(Input<'_>)) {
        let next = self.next.expect("set");
        let skip = (next - pos) as usize;
        let end = pos + held.len as u64;
        if skip < held.bytes.len() {
            out(Input::Data {
                bytes: &held.bytes[skip..],
                at: held.at,
            });
        }
        self.last_at = Some(held.at);
        let captured_end = pos + held.bytes.len() as u64;
        let gap_from = captured_end.max(next);
        if end > gap_from {
            let len = end - gap_from;
            self.stats.gap_bytes += len;
            out(Input::Gap { len, at: held.at });
        }
        self.next = Some(end);
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
