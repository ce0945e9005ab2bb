//! HPACK (RFC 7541): decoding the header blocks of one direction of an
//! HTTP/2 connection, as a passive observer.
//!
//! swit sees a connection's bytes but takes no part in it, so it must follow
//! the peer's dynamic table without ever being told its state. Two needs no
//! off-the-shelf decoder meets:
//! - capture may begin mid-connection, when the table's contents are unknown
//!   ([`Decoder::new_mid_stream`]);
//! - bytes may be lost, after which the table can no longer be trusted
//!   ([`Decoder::lost_sync`]).
//!
//! In both cases the decoder decodes what it can prove and counts the rest in
//! [`BlockStats::unknown`]. It never emits a value it cannot prove.
//!
//! Layout: `huffman` decodes string literals (Appendix B), `table` holds the
//! static table and our view of the peer's dynamic table, `decoder` parses the
//! representations (§5, §6) and is the public face.
//!
//! # What we know of the peer's table
//! We hold a list of slots, newest first: index 62 + i refers to slot i. A
//! slot is either *known* (name and value) or *opaque*: an entry the peer
//! inserted with a name we could not resolve; we know a lower bound of its
//! size. Past our last slot the peer may hold older entries we never saw: the
//! *unknown tail* (a flag).
//!
//! Invariant: where both the peer's table and ours have an `i`-th entry, they
//! are the same entry (ours may be opaque); and if the peer has more entries
//! than we have slots, the unknown-tail flag is set. A reference within our
//! slots is then decoded or counted unknown, a reference past them is unknown
//! while the tail may exist and an error once we know it does not. Two facts
//! keep the invariant:
//!
//! 1. Both sides insert at index 0 and evict only the oldest entries, so the
//!    agreement survives every insertion whichever old entries each side
//!    evicts. Keeping an entry the peer has evicted is harmless: a valid peer
//!    never references past the end of its own table. Dropping an entry the
//!    peer still holds only loses knowledge, provided the tail flag is set.
//!    So a wrong guess about eviction can cost knowledge, never correctness,
//!    except for one claim: that the tail is gone.
//! 2. Whether the peer keeps its `i`-th entry when it inserts an entry of size
//!    `s` depends only on `s`, the sizes of its entries `0..=i` and the maximum
//!    size: it survives iff `s + size(0..=i) <= max` (§4.4). Those entries are
//!    ours, so with the maximum known our evictions are exact, and when one of
//!    our slots is evicted every older entry, seen or not, is gone with it: the
//!    tail flag clears. A size update to `m` evicts likewise (`size(0..=i) >
//!    m`), so one to 0 always empties the table. Opaque sizes are lower bounds:
//!    a slot is dropped only when the lower bound already proves the peer
//!    evicted it, otherwise it is kept (fact 1). The tail counts as one more
//!    entry of at least 32 bytes (the per-entry overhead): when not even that
//!    fits behind our slots, the tail is gone too.
//!
//! # The maximum size
//! [`Decoder::new`] knows it: 4096, the initial SETTINGS_HEADER_TABLE_SIZE,
//! and every change is signalled by a size update in a block we see (§4.2).
//! Mid-stream and after [`Decoder::lost_sync`] it is unknown: an unseen size
//! update may have set anything up to the peer's SETTINGS bound, which can be
//! above 4096. Assuming a maximum larger than the real one only keeps entries
//! the peer evicted (harmless, fact 1). Assuming a smaller one would let us
//! declare the tail gone while the peer still holds it; a later reference to
//! it would then be rejected as [`HpackError::BadIndex`]. So while the maximum
//! is unknown no eviction clears the tail flag: we keep the newest entries
//! within a budget (4096, or the last maximum known before the loss) and what
//! falls past it joins the unknown tail. The next size update makes the
//! maximum known again.
//!
//! A mid-stream decoder therefore reports [`Decoder::in_sync`] only after a
//! size update has made the maximum known and it, or later evictions, have
//! pushed the unknown tail out. Decoding does not wait for that: once every entry the peer
//! holds was inserted after capture began (the table turns over as new
//! entries push old ones out), the peer's table is a prefix of ours and every
//! reference resolves, as long as its maximum fits our budget.
//!
//! # Unknown names with incremental indexing
//! A literal with incremental indexing whose name refers to an entry we don't
//! know inserts an entry we can't decode and whose size we only bound (the
//! value's length is known, the name's is not). Forgetting every slot would be
//! correct, but it would also be permanent on a common pattern: an encoder
//! that re-inserts a header such as `traceparent` with each request refers to
//! the name of the previous insertion, which a mid-stream decoder never saw,
//! so every block would wipe the table again. An opaque slot keeps the other
//! entries decodable at their shifted indices; its lower-bound size keeps the
//! eviction arithmetic sound (fact 2). That header itself stays unknown for
//! as long as the chain of insertions lasts: its name is never sent again.
//!
//! # Memory
//! At most [`MAX_TABLE_BYTES`] of entries are held whatever the peer's
//! maximum: older entries are dropped and join the unknown tail. A string
//! literal longer than [`MAX_STRING`] is an error, checked before anything is
//! allocated; a block keeps at most [`MAX_FIELDS_PER_BLOCK`] fields of at most
//! [`MAX_FIELD_BYTES`] each, and fields past those limits are counted without
//! being copied.
//!
//! # Errors
//! An error abandons the block: `out` is restored and the table is forgotten
//! as by [`Decoder::lost_sync`], since the peer's own decoder would have
//! failed the connection and we cannot tell how far its table got. A size
//! update after the first field of a block is an error (§4.2 places it at the
//! beginning). Size updates are otherwise accepted up to 2^32-1, the largest
//! SETTINGS value: we don't see SETTINGS reliably enough to check the real
//! bound.
mod decoder;
mod huffman;
mod table;

#[cfg(test)]
mod testkit;

use std::fmt;

pub use decoder::Decoder;

/// Most fields kept per block; later ones are still decoded (their table
/// insertions must happen) but only counted in [`BlockStats::dropped`].
pub const MAX_FIELDS_PER_BLOCK: usize = 256;
/// Largest field kept (name + value bytes); a longer one is decoded for the
/// table's sake and counted in [`BlockStats::dropped`].
pub const MAX_FIELD_BYTES: usize = 16 * 1024;
/// Longest string literal accepted (before and after Huffman decoding).
pub const MAX_STRING: usize = 64 * 1024;
/// Most bytes of dynamic-table entries held, whatever the peer's maximum.
pub const MAX_TABLE_BYTES: usize = 64 * 1024;

/// One decoded header field. Names are lowercase bytes as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderField {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
    /// Sent as a literal never indexed (§6.2.3): the sender marked it
    /// sensitive.
    pub never_indexed: bool,
}

/// What a block held besides the fields kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockStats {
    /// Fields that could not be decoded for lack of dynamic-table state.
    pub unknown: usize,
    /// Fields decoded but not kept because an output limit was hit.
    pub dropped: usize,
}

/// Why a header block could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HpackError {
    /// The block ends inside a representation.
    Truncated,
    /// An integer needs more continuation bytes than any sane value does.
    IntegerOverflow,
    /// Bad Huffman code: EOS inside the string, or bad padding.
    BadHuffman,
    /// Index 0, or an index past every entry the peer can hold.
    BadIndex,
    /// A dynamic table size update above 2^32-1.
    TableSizeTooLarge,
    /// A string literal longer than [`MAX_STRING`].
    StringTooLong,
    /// A dynamic table size update after the block's first field.
    MisplacedSizeUpdate,
}

impl fmt::Display for HpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "truncated header block",
            Self::IntegerOverflow => "integer overflow",
            Self::BadHuffman => "invalid huffman code",
            Self::BadIndex => "invalid table index",
            Self::TableSizeTooLarge => "table size update too large",
            Self::StringTooLong => "string literal too long",
            Self::MisplacedSizeUpdate => "table size update after a field",
        })
    }
}

impl std::error::Error for HpackError {}
