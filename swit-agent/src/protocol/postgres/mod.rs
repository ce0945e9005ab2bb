//! PostgreSQL frontend/backend protocol, version 3.
//!
//! Written here rather than taken from a crate: `postgres-protocol` parses
//! whole messages from a buffer (it would have us buffer DataRows and
//! authentication messages), and a passive observer must also resynchronise
//! mid-stream, skip uncaptured bytes by length and pair pipelined requests,
//! which no client library does.
//!
//! Layout: `parse` holds the pure frame functions (detection, headers,
//! plausible message starts, the few bodies read); `session` drives one
//! connection's two directions and pairs calls with their results, reporting
//! [`DbEvent`](crate::protocol::db::DbEvent)s with `system = "postgresql"`.
//!
//! What a call is:
//! - a simple Query (`Q`) is one call, whatever number of statements its
//!   string holds: `db.query.text` is the whole string, sanitised, and the
//!   operation and collection are what [`sql::summarize`](crate::protocol::sql::summarize)
//!   says of it (the first statement's). Its result runs to ReadyForQuery;
//!   `returned_rows` sums the SELECT/FETCH/COPY counts of its statements.
//! - in the extended protocol each Execute (`E`) is a call; its text comes
//!   from the Parse of the statement its portal was bound to. A Parse that
//!   fails with no Execute after it before Sync is reported as a call too
//!   (a failed prepare), so syntax errors are never silent.
//! - the operation falls back to the CommandComplete tag's verb when the
//!   text is unknown (statement prepared before capture began).
//!
//! `returned_rows` is the count of a SELECT, FETCH or COPY tag (or the
//! DataRows of an Execute suspended by its row limit); it is `None` for
//! INSERT/UPDATE/DELETE (rows changed, not returned) and MOVE.
//!
//! Secrets: authentication (`R`) and password/SASL (`p`) messages are
//! skipped by length and never buffered; nor are DataRow values or Bind
//! parameters. Only ErrorResponse severity, SQLSTATE and message are read.
//! `DbEvent::CallStarted` is not sent: a PostgreSQL call causes no other
//! call on the traced host.
mod calls;
mod parse;
mod session;

pub use parse::{
    CANCEL_REQUEST, CommandTag, ErrorFields, FrameError, GSSENC_REQUEST, Header, PROTOCOL_3_0,
    SSL_REQUEST, StartupHeader, StartupKind, StartupParams, command_tag, detect, error_fields,
    parse_header, parse_startup_header, startup_params,
};
pub use session::{MAX_PENDING, MAX_STATEMENTS, Postgres, Session};

impl super::Detector for Postgres {
    fn client_first(request_side: &[u8]) -> super::Evidence {
        detect(request_side).into()
    }
}

/// Longest query text kept from a Query or Parse; the rest is skipped and
/// the text summarised truncated.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;
/// Longest statement or portal name kept.
pub const MAX_NAME_BYTES: usize = 256;
