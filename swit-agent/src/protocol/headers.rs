//! Header fields as the trace side reads them.
//!
//! HTTP/1 keeps a head's fields packed: every name and value back to back
//! in one string, with their ends alongside, so a head costs two
//! allocations whatever its field count (a `String` pair per field was a
//! third of the agent's allocations per request). HTTP/2 keeps pairs (HPACK
//! hands it owned strings). [`HeaderFields`] reads either.
use std::{borrow::Cow, fmt};

/// Fields of one HTTP/1 head: names lowercased, in wire order.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// `name1 value1 name2 value2 ...`, with no separators.
    text: String,
    /// Per field, where its name and its value end in `text`; each name
    /// starts where the previous value ended.
    ends: Vec<(u32, u32)>,
}

impl Headers {
    /// Room for `fields` fields of `bytes` bytes of names and values in
    /// all, so that building a head allocates exactly twice.
    pub fn with_capacity(fields: usize, bytes: usize) -> Self {
        Headers {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(fields),
        }
    }

    /// Appends a field; the name is lowercased.
    pub fn push(&mut self, name: &str, value: &str) {
        self.push_named(name, |_| Cow::Borrowed(value));
    }

    /// Appends a field whose value depends on its lowercased name (the
    /// secret check), without a copy of the name. Callers bound the size
    /// (heads are at most 64 KiB), so the offsets fit in `u32`.
    pub fn push_named<'v>(&mut self, name: &str, value: impl FnOnce(&str) -> Cow<'v, str>) {
        let start = self.text.len();
        self.text.push_str(name);
        self.text[start..].make_ascii_lowercase();
        let name_end = self.text.len();
        let value = value(&self.text[start..name_end]);
        self.text.push_str(&value);
        self.ends.push((name_end as u32, self.text.len() as u32));
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The `i`th field (0-based, wire order).
    pub fn get(&self, i: usize) -> Option<(&str, &str)> {
        let &(name_end, value_end) = self.ends.get(i)?;
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1].1,
        };
        Some((
            &self.text[start as usize..name_end as usize],
            &self.text[name_end as usize..value_end as usize],
        ))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&(name_end, value_end)| {
            let (n, v) = (name_end as usize, value_end as usize);
            let field = (&self.text[start..n], &self.text[n..v]);
            start = v;
            field
        })
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for Headers {
    fn from_iter<T: IntoIterator<Item = (&'a str, &'a str)>>(iter: T) -> Self {
        let mut h = Headers::default();
        for (k, v) in iter {
            h.push(k, v);
        }
        h
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Read access to a message's fields, packed (HTTP/1) or paired (HTTP/2).
#[derive(Clone, Copy, Debug)]
pub enum HeaderFields<'a> {
    Packed(&'a Headers),
    Pairs(&'a [(String, String)]),
}

impl<'a> HeaderFields<'a> {
    pub fn iter(self) -> impl Iterator<Item = (&'a str, &'a str)> {
        let (packed, pairs) = match self {
            HeaderFields::Packed(h) => (Some(h.iter()), None),
            HeaderFields::Pairs(p) => (None, Some(p.iter().map(|(k, v)| (&k[..], &v[..])))),
        };
        packed
            .into_iter()
            .flatten()
            .chain(pairs.into_iter().flatten())
    }

    /// The first value of the (lowercase) `name`.
    pub fn get(self, name: &str) -> Option<&'a str> {
        match self {
            HeaderFields::Packed(h) => h.iter().find(|(k, _)| *k == name).map(|(_, v)| v),
            HeaderFields::Pairs(p) => p.iter().find(|(k, _)| k == name).map(|(_, v)| &v[..]),
        }
    }
}

impl<'a> From<&'a Headers> for HeaderFields<'a> {
    fn from(h: &'a Headers) -> Self {
        HeaderFields::Packed(h)
    }
}

impl<'a> From<&'a [(String, String)]> for HeaderFields<'a> {
    fn from(p: &'a [(String, String)]) -> Self {
        HeaderFields::Pairs(p)
    }
}

impl<'a> From<&'a Vec<(String, String)>> for HeaderFields<'a> {
    fn from(p: &'a Vec<(String, String)>) -> Self {
        HeaderFields::Pairs(p)
    }
}

#[cfg(test)]
#[path = "headers_tests.rs"]
mod tests;
