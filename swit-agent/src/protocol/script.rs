//! A byte encoding of what one connection carried, both ways, gaps
//! included: the input format of the fuzz targets (`fuzz/`), and what the
//! protocol tests write as the targets' seeds (see `seeds.rs`).
//!
//! A script is a run of steps `[ctl] [n] [n payload bytes]` (the last
//! payload may come short). In `ctl`:
//! - bit 0: the side (0 request, 1 response);
//! - bit 1: a gap instead of data: `n << (8 * scale)` uncaptured bytes,
//!   with no payload, where `scale` is bits 2–3;
//! - bits 2–7: free for a target's own use (the connection table's target
//!   reads chunk order, socket and open/close/tick from them). Every target
//!   reads a step with only bits 0–3 set as plain data or a plain gap.
//!
//! Any byte string is a valid script, so a fuzzer's mutations always mean
//! something.
use super::Side;

/// One step of a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptStep<'a> {
    pub ctl: u8,
    pub n: u8,
    /// The data (empty for a gap).
    pub payload: &'a [u8],
}

pub const SIDE_BIT: u8 = 0x01;
pub const GAP_BIT: u8 = 0x02;

impl ScriptStep<'_> {
    pub fn side(&self) -> Side {
        if self.ctl & SIDE_BIT == 0 {
            Side::Request
        } else {
            Side::Response
        }
    }

    /// The gap's length, if the step is a gap.
    pub fn gap(&self) -> Option<u64> {
        let scale = (self.ctl >> 2) & 3;
        (self.ctl & GAP_BIT != 0).then(|| (self.n as u64) << (8 * scale))
    }
}

/// The steps of a script, in order.
pub fn steps(mut script: &[u8]) -> impl Iterator<Item = ScriptStep<'_>> {
    std::iter::from_fn(move || {
        let (&ctl, rest) = script.split_first()?;
        let (&n, rest) = rest.split_first().unwrap_or((&0, &[]));
        let take = if ctl & GAP_BIT != 0 {
            0
        } else {
            (n as usize).min(rest.len())
        };
        let (payload, rest) = rest.split_at(take);
        script = rest;
        Some(ScriptStep { ctl, n, payload })
    })
}

fn side_bit(side: Side) -> u8 {
    match side {
        Side::Request => 0,
        Side::Response => SIDE_BIT,
    }
}

/// Appends `bytes` as data of `side` (in steps of at most 255 bytes).
pub fn push_data(script: &mut Vec<u8>, side: Side, bytes: &[u8]) {
    for piece in bytes.chunks(255) {
        script.extend_from_slice(&[side_bit(side), piece.len() as u8]);
        script.extend_from_slice(piece);
    }
}

/// Appends a gap of about `len` bytes (rounded down to what one step says:
/// one significant byte).
pub fn push_gap(script: &mut Vec<u8>, side: Side, len: u64) {
    let scale = (0..4u8).find(|s| len >> (8 * s) < 256).unwrap_or(3);
    let n = (len >> (8 * scale)).min(255) as u8;
    script.extend_from_slice(&[side_bit(side) | GAP_BIT | (scale << 2), n]);
}

#[cfg(test)]
#[path = "script_tests.rs"]
mod tests;
