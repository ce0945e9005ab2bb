//! What the backend owes the frontend, in order, and the per-connection
//! names (prepared statements, portals) that join an Execute to its text.
use std::collections::HashMap;
use std::sync::Arc;

use super::parse;
use crate::protocol::Moment;
use crate::protocol::Timing;
use crate::protocol::db::DbCall;
use crate::protocol::sql::SqlSummary;

/// Most named prepared statements (and, separately, portals) remembered per
/// connection; past it the oldest is forgotten.
pub const MAX_STATEMENTS: usize = 1024;

/// A prepared statement's text, summarised once however often it runs.
#[derive(Debug)]
pub(super) struct Prepared {
    pub(super) summary: SqlSummary,
}

/// What the backend owes, in order.
#[derive(Debug)]
pub(super) enum Expect {
    /// A Query: results, then ReadyForQuery.
    Simple(Pending),
    /// A FunctionCall: answered up to ReadyForQuery, not reported.
    Function,
    /// ParseComplete (the statement and its timing, to report a failed
    /// prepare).
    Parse(Arc<Prepared>, Timing),
    Bind,
    Describe,
    Close,
    /// An Execute's results.
    Execute(Pending),
    Sync,
}

#[derive(Debug)]
pub(super) struct Pending {
    pub(super) call: DbCall,
    pub(super) data_rows: u64,
    /// Sum of the returned-row counts of CommandComplete tags seen.
    pub(super) tag_rows: Option<u64>,
    pub(super) tag_verb: Option<String>,
    /// A result message was seen (response timing set).
    pub(super) responded: bool,
    /// The response side lost its place while this call waited: counts
    /// other than tags are not trusted.
    pub(super) lost: bool,
}

impl Pending {
    pub(super) fn respond(&mut self, first: Moment, last: Moment) {
        if !self.responded {
            self.call.response.first = first;
            self.responded = true;
        }
        self.call.response.last = last;
    }

    pub(super) fn tag(&mut self, tag: &parse::CommandTag) {
        if self.tag_verb.is_none() && !tag.verb.is_empty() {
            self.tag_verb = Some(tag.verb.clone());
        }
        if let Some(n) = tag.returned_rows() {
            self.tag_rows = Some(self.tag_rows.unwrap_or(0).saturating_add(n));
        }
    }

    pub(super) fn error(&mut self, f: parse::ErrorFields) {
        if self.call.status_code.is_none() {
            // An error without SQLSTATE is still an error.
            self.call.status_code = Some(f.code.unwrap_or_else(|| "XX000".to_string()));
            self.call.error_message = f.message;
        }
    }

    pub(super) fn into_call(self, suspended: bool) -> DbCall {
        let mut call = self.call;
        if call.operation.is_none() {
            call.operation = self.tag_verb;
        }
        call.returned_rows = match self.tag_rows {
            Some(n) => Some(n),
            None if suspended && !self.lost => Some(self.data_rows),
            None => None,
        };
        call
    }
}

/// Named statements or portals, bounded: past [`MAX_STATEMENTS`] the
/// oldest insertion is forgotten.
#[derive(Debug)]
pub(super) struct Names<V> {
    map: HashMap<Box<[u8]>, (u64, V)>,
    generation: u64,
}

impl<V> Names<V> {
    pub(super) fn new() -> Self {
        Names {
            map: HashMap::new(),
            generation: 0,
        }
    }

    pub(super) fn insert(&mut self, name: &[u8], value: V) {
        if !self.map.contains_key(name) && self.map.len() >= MAX_STATEMENTS {
            let oldest = self.map.iter().min_by_key(|(_, (g, _))| *g);
            if let Some(key) = oldest.map(|(k, _)| k.clone()) {
                self.map.remove(&key);
            }
        }
        self.generation += 1;
        self.map.insert(name.into(), (self.generation, value));
    }

    pub(super) fn get(&self, name: &[u8]) -> Option<&V> {
        self.map.get(name).map(|(_, v)| v)
    }

    pub(super) fn remove(&mut self, name: &[u8]) {
        self.map.remove(name);
    }
}
