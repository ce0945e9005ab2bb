//! What database protocols report: one call (a query, a command) with its
//! outcome, in the terms of the OpenTelemetry database conventions.
use super::{Side, Timing};

/// `db.system.name` values.
pub mod system {
    pub const POSTGRESQL: &str = "postgresql";
    pub const MYSQL: &str = "mysql";
    pub const MARIADB: &str = "mariadb";
    pub const REDIS: &str = "redis";
}

/// One database call as seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DbCall {
    /// Per-connection sequence number, 0 for the first call seen.
    pub id: u64,
    /// `db.system.name`, one of [`system`].
    pub system: &'static str,
    /// `db.operation.name`: `SELECT`, `INSERT`, `GET`, `HSET`, ...
    pub operation: Option<String>,
    /// `db.collection.name`: the table (SQL) when one is named simply.
    pub collection: Option<String>,
    /// `db.namespace`: the database (PostgreSQL, MySQL) or index (Redis).
    pub namespace: Option<String>,
    /// `db.query.text` with every literal replaced by `?`; never a password.
    pub query_text: Option<String>,
    /// `db.response.status_code`: SQLSTATE, MySQL error number, Redis error
    /// prefix (`ERR`, `WRONGTYPE`).
    pub status_code: Option<String>,
    /// The server's error message, when the call failed (for the span
    /// status description; never holds literals the server echoed? It may:
    /// callers must not export it as an attribute).
    pub error_message: Option<String>,
    /// `db.response.returned_rows`, when the protocol tells.
    pub returned_rows: Option<u64>,
    /// First byte of the request .. last byte of the response.
    pub request: Timing,
    pub response: Timing,
}

impl DbCall {
    pub fn is_error(&self) -> bool {
        self.status_code.is_some()
    }
}

/// What a database session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbEvent {
    /// A call's request is complete (its id and request timing; the rest
    /// filled as known), sent before the response so work it causes can
    /// name it. Optional for protocols where calls never cause other calls.
    CallStarted(DbCall),
    /// A call and its response are complete.
    Call(DbCall),
    /// Bytes that are not this protocol where a message should start.
    ParseError { side: Side, reason: &'static str },
    /// Calls seen but never reported: past a session's bound, or waiting
    /// when the answers' side lost its place.
    Dropped { count: u64 },
}
