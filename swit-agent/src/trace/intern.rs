//! Texts that repeat from span to span (the peers' and servers' addresses,
//! the names in `Host` and `:authority`), kept once for the agent's life,
//! so that a span borrows them: no allocation when the stage builds it, and
//! no free when the export thread drops it (a free on another thread than
//! the allocation's). Three such texts were a third of a span's
//! allocations.
//!
//! Bounded: past [`MAX_BYTES`] of kept text, or for a text longer than
//! [`MAX_TEXT`], a span owns its copy as before. Spans are built on the
//! stage's thread only, so the table is that thread's own.
use std::{borrow::Cow, cell::RefCell, net::IpAddr};

use super::span::Text;
use crate::capture::hash::{FxHashMap, FxHashSet};

/// Text kept at most, in all: thousands of peers' addresses.
pub const MAX_BYTES: usize = 256 << 10;
/// Longer texts are not kept (a name that long is not a repeating one).
pub const MAX_TEXT: usize = 128;

#[derive(Default)]
struct Kept {
    ips: FxHashMap<IpAddr, &'static str>,
    texts: FxHashSet<&'static str>,
    bytes: usize,
}

impl Kept {
    /// Keeps `s` for good, if there is room.
    fn keep(&mut self, s: &str) -> Option<&'static str> {
        if s.len() > MAX_TEXT || self.bytes + s.len() > MAX_BYTES {
            return None;
        }
        self.bytes += s.len();
        // Never freed, by design: bounded by MAX_BYTES, and what every
        // later span borrows.
        Some(Box::leak(s.to_owned().into_boxed_str()))
    }
}

thread_local! {
    static KEPT: RefCell<Kept> = RefCell::new(Kept::default());
}

/// An address as text (`10.0.0.7`, `::1`), kept.
pub fn ip(ip: IpAddr) -> Text {
    KEPT.with_borrow_mut(|k| {
        if let Some(&s) = k.ips.get(&ip) {
            return Cow::Borrowed(s);
        }
        let text = ip_text(ip);
        match k.keep(&text) {
            Some(s) => {
                k.ips.insert(ip, s);
                Cow::Borrowed(s)
            }
            None => Cow::Owned(text),
        }
    })
}

/// `s`, kept.
pub fn text(s: &str) -> Text {
    KEPT.with_borrow_mut(|k| {
        if let Some(&kept) = k.texts.get(s) {
            return Cow::Borrowed(kept);
        }
        match k.keep(s) {
            Some(kept) => {
                k.texts.insert(kept);
                Cow::Borrowed(kept)
            }
            None => Cow::Owned(s.to_owned()),
        }
    })
}

/// Text kept so far, in bytes (for tests).
#[cfg(test)]
pub fn kept_bytes() -> usize {
    KEPT.with_borrow(|k| k.bytes)
}

/// An address as text; IPv4, the common case, without the formatting
/// machinery (it was a tenth of a span's building).
pub(crate) fn ip_text(ip: IpAddr) -> String {
    let IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut s = String::with_capacity(15);
    for (i, o) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        if o >= 100 {
            s.push((b'0' + o / 100) as char);
        }
        if o >= 10 {
            s.push((b'0' + o / 10 % 10) as char);
        }
        s.push((b'0' + o % 10) as char);
    }
    s
}

#[cfg(test)]
#[path = "intern_tests.rs"]
mod tests;
