//! MySQL and MariaDB client/server protocol.
//!
//! Every message is a run of packets: a 3-byte little-endian payload length
//! and a sequence id, then the payload; a payload of 0xFFFFFF bytes goes on
//! in the next packet. The server speaks first (Handshake v10), the client
//! answers (HandshakeResponse41, or an SSLRequest after which the stream is
//! TLS and parsing stops), authentication packets go back and forth until
//! an OK or ERR; then each command (sequence 0) gets one response.
//!
//! Written here rather than taken from a crate: the MySQL crates (`mysql`,
//! `mysql_async`, `mysql_common`) decode whole, trusted packets into owned
//! values for a client; a tracer needs to follow a stream it does not
//! drive, with gaps, mid-stream starts and bounded memory, and to skip row
//! values and auth data unread. The framing is a few lines; the work is the
//! response state machine.
//!
//! Layout: `reader` frames packets into bounded messages; `parse` holds the pure frame functions (headers, length-encoded
//! integers, greeting, handshake response, OK/ERR/EOF, prepare answer,
//! detection); `session` follows one connection's two directions on the
//! [framing driver](super::framing) and reports [`DbEvent`](crate::protocol::db::DbEvent)s:
//! - `COM_QUERY` and `COM_STMT_EXECUTE` (statement text joined by id, from
//!   the `COM_STMT_PREPARE` answer) give a call with `returned_rows` for
//!   result sets (multi-result answers belong to one call);
//! - `COM_PING` gives a call `PING`, `COM_INIT_DB` a call `USE` that also
//!   sets the namespace of later calls (as does `USE db` in a query);
//! - `COM_STMT_PREPARE` gives a call only when it fails;
//! - `COM_STMT_CLOSE`, `COM_STMT_RESET`, `COM_QUIT` and other commands give
//!   none (their answers are followed to stay in sync).
//!
//! Never kept: the scramble, the auth response (skipped by its length),
//! row values and statement parameters. Query text is summarised by
//! [`crate::protocol::sql::summarize`].
mod parse;
mod reader;
mod session;

pub use parse::{
    ErrPacket, Greeting, HandshakeResponse, Header, OkPacket, PrepareOk, detect_command,
    detect_server_greeting, parse_err, parse_greeting, parse_handshake_response, parse_header,
    parse_ok, parse_prepare_ok, read_lenenc,
};
pub use session::{MAX_PENDING, MAX_STATEMENT_BYTES, MAX_STATEMENTS, Mysql, Session};

impl super::Detector for Mysql {
    fn client_first(request_side: &[u8]) -> super::Evidence {
        detect_command(request_side).into()
    }

    /// The server's greeting: a connection seen from its start.
    fn server_first(response_side: &[u8]) -> super::Evidence {
        detect_server_greeting(response_side).into()
    }
}

/// Longest statement text kept from one command; past it the text is
/// truncated before it is summarised.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;
