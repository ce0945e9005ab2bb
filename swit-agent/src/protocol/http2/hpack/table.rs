//! The static table and what we know of the peer's dynamic table (the model
//! and its reasoning are in the module doc, `mod.rs`).
use std::collections::VecDeque;

use super::MAX_TABLE_BYTES;

/// The table's initial maximum size: SETTINGS_HEADER_TABLE_SIZE's initial
/// value (RFC 9113 §6.5.2).
pub(super) const DEFAULT_MAX_SIZE: usize = 4096;
/// Added to name and value lengths to give an entry's size (§4.1); also the
/// smallest size any entry can have.
pub(super) const ENTRY_OVERHEAD: usize = 32;
/// Largest maximum size a size update may set: SETTINGS values are 32-bit.
pub(super) const LARGEST_MAX_SIZE: usize = u32::MAX as usize;

/// Appendix A; index 1 is the first entry.
pub(super) const STATIC_TABLE: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// What a table index refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Entry<'a> {
    Known {
        name: &'a [u8],
        value: &'a [u8],
    },
    /// An entry is, or may be, there, but we don't know it.
    Unknown,
    /// No entry can be there: a valid peer never sends this index.
    Invalid,
}

#[derive(Debug, Clone)]
enum Slot {
    Known {
        name: Vec<u8>,
        value: Vec<u8>,
    },
    /// An entry inserted under a name we could not resolve.
    Opaque {
        min_size: usize,
    },
}

impl Slot {
    /// The entry's size (§4.1); for an opaque slot, a lower bound.
    fn size(&self) -> usize {
        match self {
            Self::Known { name, value } => name.len() + value.len() + ENTRY_OVERHEAD,
            Self::Opaque { min_size } => *min_size,
        }
    }

    /// Bytes this slot accounts for in memory.
    fn held(&self) -> usize {
        match self {
            Self::Known { .. } => self.size(),
            Self::Opaque { .. } => ENTRY_OVERHEAD,
        }
    }
}

/// Slots newest first (`None` for opaque ones) and their total size.
#[cfg(test)]
pub(super) type Snapshot<'a> = (Vec<Option<(&'a [u8], &'a [u8])>>, usize);

/// Our view of the peer's dynamic table (model in the module doc).
#[derive(Debug, Clone)]
pub(super) struct Table {
    /// Newest first: slot `i` is index 62 + i.
    slots: VecDeque<Slot>,
    /// Sum of the slots' sizes (lower bounds for opaque slots).
    size: usize,
    /// Sum of the slots' `held`.
    held: usize,
    /// How many slots are opaque.
    opaque: usize,
    /// The peer may hold entries older than our last slot.
    unknown_tail: bool,
    /// The peer's maximum size, when known exactly.
    max: Option<usize>,
    /// How many bytes of entries to hold while `max` is unknown.
    budget_unknown_max: usize,
}

impl Table {
    /// A table seen from its creation: empty, maximum known.
    pub(super) fn new(max: usize) -> Self {
        Self {
            slots: VecDeque::new(),
            size: 0,
            held: 0,
            opaque: 0,
            unknown_tail: false,
            max: Some(max),
            budget_unknown_max: DEFAULT_MAX_SIZE,
        }
    }

    /// A table whose past is unknown: any older entries, any maximum.
    pub(super) fn unknown() -> Self {
        let mut t = Self::new(DEFAULT_MAX_SIZE);
        t.forget();
        t
    }

    /// Drops everything we know: a missed block may have inserted entries
    /// and changed the maximum.
    pub(super) fn forget(&mut self) {
        if let Some(max) = self.max.take() {
            // The last known maximum is the best guess of the peer's; never
            // below the default, which most peers keep, and cheap to hold.
            self.budget_unknown_max = max.clamp(DEFAULT_MAX_SIZE, MAX_TABLE_BYTES);
        }
        self.clear();
        self.unknown_tail = true;
    }

    /// Whether every entry the peer can reference is known.
    pub(super) fn in_sync(&self) -> bool {
        !self.unknown_tail && self.opaque == 0
    }

    pub(super) fn held_bytes(&self) -> usize {
        self.held
    }

    /// The entry at HPACK index `index` (static entries first, from 1).
    pub(super) fn get(&self, index: u64) -> Entry<'_> {
        let Some(dynamic) = index.checked_sub(STATIC_TABLE.len() as u64 + 1) else {
            return match index
                .checked_sub(1)
                .and_then(|i| STATIC_TABLE.get(i as usize))
            {
                Some(&(name, value)) => Entry::Known { name, value },
                None => Entry::Invalid,
            };
        };
        let slot = usize::try_from(dynamic)
            .ok()
            .and_then(|i| self.slots.get(i));
        match slot {
            Some(Slot::Known { name, value }) => Entry::Known { name, value },
            Some(Slot::Opaque { .. }) => Entry::Unknown,
            None if self.unknown_tail && dynamic < self.max_entries() => Entry::Unknown,
            None => Entry::Invalid,
        }
    }

    /// Most entries the peer can hold: ours, then older ones of at least
    /// `ENTRY_OVERHEAD` bytes each in the room the maximum leaves. An index
    /// past them is garbage even while the tail is unknown.
    fn max_entries(&self) -> u64 {
        let room = self
            .max
            .unwrap_or(LARGEST_MAX_SIZE)
            .saturating_sub(self.size);
        (self.slots.len() + room / ENTRY_OVERHEAD) as u64
    }

    /// The peer inserted `name: value`.
    pub(super) fn insert(&mut self, name: Vec<u8>, value: Vec<u8>) {
        self.insert_slot(Slot::Known { name, value });
    }

    /// The peer inserted `value` under the name of the known entry at
    /// `index`.
    pub(super) fn insert_named(&mut self, index: u64, value: Vec<u8>) {
        let Entry::Known { name, .. } = self.get(index) else {
            // The decoder resolves the name first; if it could not, the
            // entry is as good as opaque.
            return self.insert_opaque(ENTRY_OVERHEAD + value.len());
        };
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        if size > self.budget() {
            // Not held anyway: only its effect on the other entries
            // matters, and an opaque slot of the same size has it, without
            // copying a name of up to MAX_STRING bytes.
            return self.insert_opaque(size);
        }
        let name = name.to_vec();
        self.insert(name, value);
    }

    /// The peer inserted an entry we can't decode, of at least `min_size`
    /// bytes.
    pub(super) fn insert_opaque(&mut self, min_size: usize) {
        self.insert_slot(Slot::Opaque { min_size });
    }

    fn insert_slot(&mut self, slot: Slot) {
        let size = slot.size();
        if let Some(max) = self.max {
            let Some(room) = max.checked_sub(size) else {
                // §4.4: an entry larger than the maximum empties the table
                // and is not inserted. For an opaque slot, size is a lower
                // bound, so this is certain too.
                self.clear();
                self.unknown_tail = false;
                return;
            };
            self.evict_to(room);
        }
        self.size += size;
        self.held += slot.held();
        self.opaque += usize::from(matches!(slot, Slot::Opaque { .. }));
        self.slots.push_front(slot);
        self.trim_to_budget();
    }

    /// A dynamic table size update (§6.3).
    pub(super) fn set_max(&mut self, max: usize) {
        self.max = Some(max);
        self.evict_to(max);
        self.trim_to_budget();
    }

    /// The peer keeps its newest entries while their sizes add up to at most
    /// `limit` and evicts the rest (§4.3, §4.4). Only valid with the exact
    /// maximum: it is what allows clearing the unknown tail.
    fn evict_to(&mut self, limit: usize) {
        if self.drop_oldest(limit) {
            // The peer evicted an entry of ours, hence every older one.
            self.unknown_tail = false;
        } else if self.size.saturating_add(ENTRY_OVERHEAD) > limit {
            // Not even the smallest possible older entry fits behind ours.
            self.unknown_tail = false;
        }
    }

    /// Our memory cap, and the budget while the maximum is unknown: older
    /// slots are dropped and join the unknown tail.
    fn trim_to_budget(&mut self) {
        if self.drop_oldest(self.budget()) {
            self.unknown_tail = true;
        }
    }

    /// Most bytes of entries we hold.
    fn budget(&self) -> usize {
        self.max
            .unwrap_or(self.budget_unknown_max)
            .min(MAX_TABLE_BYTES)
    }

    /// Drops the oldest slots until the rest add up to at most `limit`,
    /// which keeps the longest run of newest slots that fits; tells whether
    /// any was dropped.
    fn drop_oldest(&mut self, limit: usize) -> bool {
        let mut dropped = false;
        while self.size > limit {
            let Some(slot) = self.slots.pop_back() else {
                break;
            };
            self.size -= slot.size();
            self.held -= slot.held();
            self.opaque -= usize::from(matches!(slot, Slot::Opaque { .. }));
            dropped = true;
        }
        dropped
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.size = 0;
        self.held = 0;
        self.opaque = 0;
    }

    #[cfg(test)]
    pub(super) fn snapshot(&self) -> Snapshot<'_> {
        let slots = self
            .slots
            .iter()
            .map(|s| match s {
                Slot::Known { name, value } => Some((&name[..], &value[..])),
                Slot::Opaque { .. } => None,
            })
            .collect();
        (slots, self.size)
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
