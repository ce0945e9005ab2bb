//! Header-block parsing: the primitives (§5) and representations (§6).
use super::table::{DEFAULT_MAX_SIZE, ENTRY_OVERHEAD, Entry, LARGEST_MAX_SIZE, Table};
use super::{
    BlockStats, HeaderField, HpackError, MAX_FIELD_BYTES, MAX_FIELDS_PER_BLOCK, MAX_STRING, huffman,
};

/// Continuation bytes past which an integer is rejected: 9 carry 63 bits,
/// more than any index, length or size we accept, and the sum cannot
/// overflow a u64.
const MAX_INTEGER_BYTES: usize = 9;

/// Decodes the header blocks of one direction of one connection.
#[derive(Debug, Clone)]
pub struct Decoder {
    table: Table,
}

/// A decoded field, borrowed from the block or the table: one that is
/// dropped for the output limits costs no copy, whatever the entry's size.
#[derive(Debug, Clone, Copy)]
struct FieldRef<'a> {
    name: &'a [u8],
    value: &'a [u8],
    never_indexed: bool,
}

impl FieldRef<'_> {
    fn to_field(self) -> HeaderField {
        HeaderField {
            name: self.name.to_vec(),
            value: self.value.to_vec(),
            never_indexed: self.never_indexed,
        }
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A connection seen from its first byte: empty dynamic table, max size
    /// 4096.
    pub fn new() -> Self {
        Self::with_max_size(DEFAULT_MAX_SIZE as u32)
    }

    /// A connection seen from its first byte whose dynamic table maximum is
    /// known to start at `max` rather than 4096, as in RFC 7541 C.5 and C.6.
    /// HTTP/2 callers want [`Decoder::new`]: the table starts at 4096 and
    /// the encoder signals every change with a size update (§4.2), which
    /// this decoder sees.
    pub fn with_max_size(max: u32) -> Self {
        Self {
            table: Table::new(max as usize),
        }
    }

    /// A connection whose earlier header blocks were not seen.
    pub fn new_mid_stream() -> Self {
        Self {
            table: Table::unknown(),
        }
    }

    /// A header block of this direction was missed: forget what the dynamic
    /// table holds (and its maximum, which the block may have changed).
    pub fn lost_sync(&mut self) {
        self.table.forget();
    }

    /// Whether every dynamic-table entry the peer can reference is known.
    pub fn in_sync(&self) -> bool {
        self.table.in_sync()
    }

    /// Bytes of dynamic-table entries held (for memory accounting): entry
    /// sizes as RFC 7541 counts them (name + value + 32), at most
    /// `MAX_TABLE_BYTES`.
    pub fn held_bytes(&self) -> usize {
        self.table.held_bytes()
    }

    /// Decodes one complete header block (HEADERS + CONTINUATION fragments
    /// already joined) and appends the fields kept to `out`.
    ///
    /// On error the block is abandoned: `out` is left as it was and the
    /// decoder falls back to unknown state (as [`Decoder::lost_sync`]),
    /// because the peer's table can no longer be tracked.
    pub fn decode(
        &mut self,
        block: &[u8],
        out: &mut Vec<HeaderField>,
    ) -> Result<BlockStats, HpackError> {
        #[cfg(test)]
        crate::protocol::seeds::header_block(block);
        let start = out.len();
        let mut stats = BlockStats::default();
        let result = self.decode_block(block, &mut |field| match field {
            None => stats.unknown += 1,
            Some(f)
                if out.len() - start < MAX_FIELDS_PER_BLOCK
                    && f.name.len() + f.value.len() <= MAX_FIELD_BYTES =>
            {
                out.push(f.to_field())
            }
            Some(_) => stats.dropped += 1,
        });
        match result {
            Ok(()) => Ok(stats),
            Err(e) => {
                out.truncate(start);
                self.table.forget();
                Err(e)
            }
        }
    }

    /// Decodes every representation of `block`, passing each field to
    /// `emit` in order (`None` for a field that needs an entry we don't
    /// know); the table is updated as the peer's is.
    fn decode_block(
        &mut self,
        block: &[u8],
        emit: &mut dyn FnMut(Option<FieldRef<'_>>),
    ) -> Result<(), HpackError> {
        let mut r = Reader { rest: block };
        let mut seen_field = false;
        while let Some(first) = r.next() {
            if first & 0x80 != 0 {
                // §6.1 indexed field.
                let index = r.integer(first, 7)?;
                match self.table.get(index) {
                    Entry::Known { name, value } => emit(Some(FieldRef {
                        name,
                        value,
                        never_indexed: false,
                    })),
                    Entry::Unknown => emit(None),
                    Entry::Invalid => return Err(HpackError::BadIndex),
                }
            } else if first & 0x40 != 0 {
                // §6.2.1 literal with incremental indexing.
                self.literal(&mut r, first, 6, emit)?;
            } else if first & 0x20 != 0 {
                // §6.3 dynamic table size update: only before the first
                // field (§4.2).
                if seen_field {
                    return Err(HpackError::MisplacedSizeUpdate);
                }
                let max = r.integer(first, 5)?;
                let max = usize::try_from(max)
                    .ok()
                    .filter(|&m| m <= LARGEST_MAX_SIZE)
                    .ok_or(HpackError::TableSizeTooLarge)?;
                self.table.set_max(max);
                continue;
            } else {
                // §6.2.2 without indexing (0000), §6.2.3 never indexed (0001).
                self.literal(&mut r, first, 4, emit)?;
            }
            seen_field = true;
        }
        Ok(())
    }

    /// A literal field (§6.2) whose first byte is `first`; its name index
    /// has a `prefix_bits` prefix: 6 with incremental indexing, else 4.
    fn literal(
        &mut self,
        r: &mut Reader<'_>,
        first: u8,
        prefix_bits: u32,
        emit: &mut dyn FnMut(Option<FieldRef<'_>>),
    ) -> Result<(), HpackError> {
        let indexing = prefix_bits == 6;
        let never_indexed = !indexing && first & 0x10 != 0;
        let name_index = r.integer(first, prefix_bits)?;
        let name = match name_index {
            0 => Name::Literal(r.string()?),
            i => match self.table.get(i) {
                Entry::Known { .. } => Name::Table(i),
                Entry::Unknown => Name::Unknown,
                Entry::Invalid => return Err(HpackError::BadIndex),
            },
        };
        let value = r.string()?;
        let name_bytes = match &name {
            Name::Literal(name) => Some(&name[..]),
            Name::Table(i) => match self.table.get(*i) {
                Entry::Known { name, .. } => Some(name),
                Entry::Unknown | Entry::Invalid => None,
            },
            Name::Unknown => None,
        };
        emit(name_bytes.map(|name| FieldRef {
            name,
            value: &value,
            never_indexed,
        }));
        if indexing {
            match name {
                Name::Literal(name) => self.table.insert(name, value),
                Name::Table(i) => self.table.insert_named(i, value),
                // The name's length is unknown: the value bounds the entry's
                // size from below.
                Name::Unknown => self.table.insert_opaque(ENTRY_OVERHEAD + value.len()),
            }
        }
        Ok(())
    }
}

/// Where a literal field's name comes from.
enum Name {
    Literal(Vec<u8>),
    /// A table entry we know, by index.
    Table(u64),
    /// A dynamic entry we don't know.
    Unknown,
}

/// The unread rest of a block.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn next(&mut self) -> Option<u8> {
        let (&b, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(b)
    }

    fn byte(&mut self) -> Result<u8, HpackError> {
        self.next().ok_or(HpackError::Truncated)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], HpackError> {
        if n > self.rest.len() {
            return Err(HpackError::Truncated);
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    /// §5.1: an integer whose first `prefix_bits` bits are the low bits of
    /// `first`, the byte already read.
    fn integer(&mut self, first: u8, prefix_bits: u32) -> Result<u64, HpackError> {
        let mask = u8::MAX >> (8 - prefix_bits);
        let mut value = u64::from(first & mask);
        if value < u64::from(mask) {
            return Ok(value);
        }
        for i in 0..MAX_INTEGER_BYTES {
            let b = self.byte()?;
            value += u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(HpackError::IntegerOverflow)
    }

    /// §5.2: a string literal, Huffman-decoded if flagged.
    fn string(&mut self) -> Result<Vec<u8>, HpackError> {
        let first = self.byte()?;
        let len = self.integer(first, 7)?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&n| n <= MAX_STRING)
            .ok_or(HpackError::StringTooLong)?;
        let raw = self.take(len)?;
        if first & 0x80 != 0 {
            huffman::decode(raw, MAX_STRING)
        } else {
            Ok(raw.to_vec())
        }
    }
}

#[cfg(test)]
#[path = "decoder_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "decoder_crosscheck_tests.rs"]
mod crosscheck_tests;
