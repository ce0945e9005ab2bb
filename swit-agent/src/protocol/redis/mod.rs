//! Redis: RESP2 and RESP3 (<https://redis.io/docs/latest/develop/reference/protocol-spec/>).
//!
//! Layout: `parse` holds the pure incremental frame parser and the
//! detector; `commands` the command names it knows; `session` drives one
//! connection's two directions, pairs commands with replies in order
//! (pipelining, `MULTI`/`EXEC`) and reports [`DbEvent`](super::db::DbEvent)s
//! with `db.system.name` `redis`.
//!
//! Nothing a client sends as a value is kept: a command keeps its name and
//! its key (arguments become `?` in `db.query.text`), `AUTH` and `HELLO`
//! keep no argument at all.
mod commands;
mod parse;
mod session;

pub use parse::{
    Fed, Frame, Kind, MAX_BULK, MAX_DEPTH, MAX_ELEMENTS, MAX_LINE, MAX_TEXT, MAX_WORDS, Outcome,
    Parsed, Parser, detect, keep_word, parse,
};
pub use session::Redis;
pub use session::{MAX_KEY, MAX_PENDING, MAX_PLACEHOLDERS, Session, describe};

impl super::Detector for Redis {
    fn client_first(request_side: &[u8]) -> super::Evidence {
        detect(request_side).into()
    }
}
