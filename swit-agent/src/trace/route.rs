//! `http.route` without the application's help: the operator's patterns
//! (`agent.routes`), else a heuristic that replaces ids in the path with
//! placeholders. Which one named the route is kept (`swit.route.source`),
//! so a guess never passes for a framework's route.
//!
//! Routes are label values of the request metrics and part of span names:
//! each service keeps at most `max_per_service` distinct ones, and the rest
//! fold into [`FOLDED`], counted.
use std::collections::HashSet;

use crate::capture::hash::FxHashMap;

pub use crate::config::routes::{DEFAULT_MAX_PER_SERVICE, Pattern, RouteSettings};

/// What every route past a service's bound becomes: `_OTHER`, as the
/// conventions fold unknown methods.
pub const FOLDED: &str = "_OTHER";
/// A path longer than this is not looked at: its route is [`FOLDED`].
/// With [`MAX_ROUTES`] it bounds what the routes held take (4 MiB).
pub const MAX_PATH: usize = 256;
/// Services whose routes are remembered; the routes of more fold.
pub const MAX_SERVICES: usize = 256;
/// Routes remembered over all services; past it new routes fold.
pub const MAX_ROUTES: usize = 16_384;

/// Who named a route: the value of `swit.route.source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteSource {
    Config,
    Heuristic,
}

impl RouteSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteSource::Config => "config",
            RouteSource::Heuristic => "heuristic",
        }
    }
}

/// The routes seen so far, per service, and what the bound folded.
pub struct Routes {
    settings: RouteSettings,
    /// Routes by service. Service names are the operator's or the
    /// processes', hashed fast; routes come from peers' paths, so their
    /// sets keep SipHash.
    seen: FxHashMap<String, HashSet<Box<str>>>,
    /// Routes in `seen`, over all services.
    held: usize,
    /// Requests whose route was folded into [`FOLDED`].
    pub folded: u64,
    /// The route being built, kept for its capacity.
    buf: String,
}

impl Routes {
    pub fn new(settings: RouteSettings) -> Self {
        Routes {
            settings,
            seen: FxHashMap::default(),
            held: 0,
            folded: 0,
            buf: String::new(),
        }
    }

    /// The route of a server request to `path` (no query) of `service`.
    /// Allocates only when a service or one of its routes is new.
    pub fn route(&mut self, service: &str, path: &str) -> (&str, RouteSource) {
        let own = self
            .settings
            .services
            .iter()
            .filter(|(s, _)| s == service)
            .flat_map(|(_, p)| p.iter());
        if let Some(p) = own
            .chain(self.settings.patterns.iter())
            .find(|p| p.matches(path))
        {
            self.buf.clear();
            self.buf.push_str(p.as_str());
            return self.bounded(service, RouteSource::Config);
        }
        if path.len() > MAX_PATH {
            self.folded += 1;
            return (FOLDED, RouteSource::Heuristic);
        }
        self.buf.clear();
        heuristic(path, &mut self.buf);
        self.bounded(service, RouteSource::Heuristic)
    }

    fn bounded(&mut self, service: &str, source: RouteSource) -> (&str, RouteSource) {
        let max = self.settings.max_per_service;
        let room = self.held < MAX_ROUTES;
        let room_for_service = room && self.seen.len() < MAX_SERVICES && max > 0;
        let known = match self.seen.get_mut(service) {
            Some(set) if set.contains(self.buf.as_str()) => true,
            Some(set) if room && set.len() < max => {
                set.insert(self.buf.as_str().into());
                self.held += 1;
                true
            }
            Some(_) => false,
            None if room_for_service => {
                let mut set = HashSet::new();
                set.insert(self.buf.as_str().into());
                self.seen.insert(service.to_string(), set);
                self.held += 1;
                true
            }
            None => false,
        };
        if known {
            (self.buf.as_str(), source)
        } else {
            self.folded += 1;
            (FOLDED, source)
        }
    }

    /// Distinct routes kept, over all services.
    pub fn held(&self) -> usize {
        self.held
    }
}

/// Writes `path` with each id-like segment replaced: `{id}` for numbers,
/// UUIDs, hex strings and long tokens, `{date}` for dates. Versions
/// (`v1`, `v2.1`), words and file names (`app.js`) stay.
pub fn heuristic(path: &str, out: &mut String) {
    let rest = path.strip_prefix('/').unwrap_or(path);
    if rest.is_empty() {
        out.push('/');
        return;
    }
    for seg in rest.split('/') {
        out.push('/');
        out.push_str(classify(seg).unwrap_or(seg));
    }
}

/// The placeholder for an id-like segment, `None` to keep it.
fn classify(seg: &str) -> Option<&'static str> {
    let b = seg.as_bytes();
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    // Most segments are words: without a digit, only a long hex string or
    // a very long token is an id.
    if digits == 0 && b.len() < 16 {
        return None;
    }
    if is_date(b) {
        return Some("{date}");
    }
    if b.iter().all(u8::is_ascii_digit) {
        return Some("{id}");
    }
    if is_version(b) {
        return None;
    }
    if is_uuid(b) {
        return Some("{id}");
    }
    // Hex: long enough that it is not a word ("cafe", "decade").
    if b.iter().all(u8::is_ascii_hexdigit) && (b.len() >= 16 || (b.len() >= 6 && digits > 0)) {
        return Some("{id}");
    }
    // A file name: a stem and a short alphabetic extension.
    if let Some((stem, ext)) = seg.rsplit_once('.')
        && !stem.is_empty()
        && (1..=5).contains(&ext.len())
        && ext.bytes().all(|c| c.is_ascii_alphabetic())
        && classify(stem).is_none()
    {
        return None;
    }
    // A token (base64, a session id, a slug with a number in it): long,
    // without spaces, and not a word.
    let token_chars = b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || b"-_.~=+%".contains(c));
    if (b.len() >= 16 && digits > 0 && token_chars) || b.len() >= 64 {
        return Some("{id}");
    }
    // Mostly digits (`12345-x`, `1a2b3`): an id with decoration.
    if digits * 2 > b.len() && b.len() >= 4 {
        return Some("{id}");
    }
    None
}

/// `v1`, `v2`, `v1.2`, `V3`.
fn is_version(b: &[u8]) -> bool {
    let Some((&v, rest)) = b.split_first() else {
        return false;
    };
    (v == b'v' || v == b'V')
        && !rest.is_empty()
        && rest.len() <= 8
        && rest[0].is_ascii_digit()
        && rest.iter().all(|c| c.is_ascii_digit() || *c == b'.')
}

/// `2024-01-31`, `20240131`, `2024-01-31T10:00:00Z` and the like.
fn is_date(b: &[u8]) -> bool {
    let d = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let year = |i: usize| d(i..i + 4) && matches!(b[i], b'1' | b'2');
    if b.len() >= 10 && year(0) && b[4] == b'-' && d(5..7) && b[7] == b'-' && d(8..10) {
        return b.len() == 10 || b[10] == b'T' || b[10] == b't' || b[10] == b' ';
    }
    b.len() == 8 && year(0) && d(4..8) && {
        let m = (b[4] - b'0') * 10 + (b[5] - b'0');
        let day = (b[6] - b'0') * 10 + (b[7] - b'0');
        (1..=12).contains(&m) && (1..=31).contains(&day)
    }
}

fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
