//! Pure MySQL frame functions: packet headers, length-encoded integers, the
//! handful of payloads the session reads (greeting, handshake response,
//! OK, ERR, EOF, COM_STMT_PREPARE_OK, column count) and detection. Bytes
//! in, values out; no I/O, no clock, no panic, no allocation sized by the
//! peer.
use crate::protocol::db::system;
use crate::protocol::framing::Start;

/// Bytes of a packet header: 3-byte little-endian payload length, sequence id.
pub const HEADER_LEN: usize = 4;
/// A packet of this payload length is continued by the next packet.
pub const MAX_PACKET: u32 = 0xFF_FFFF;

/// Capability flags (`CLIENT_*`) the parser looks at.
pub mod caps {
    pub const CONNECT_WITH_DB: u32 = 1 << 3;
    pub const PROTOCOL_41: u32 = 1 << 9;
    pub const SSL: u32 = 1 << 11;
    pub const SECURE_CONNECTION: u32 = 1 << 15;
    pub const PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 1 << 21;
    pub const DEPRECATE_EOF: u32 = 1 << 24;
}

/// Server status flags (`SERVER_*`) the parser looks at.
pub mod status {
    pub const MORE_RESULTS_EXISTS: u16 = 0x0008;
    pub const CURSOR_EXISTS: u16 = 0x0040;
}

/// Command bytes (first payload byte of a command packet).
pub mod command {
    pub const QUIT: u8 = 0x01;
    pub const INIT_DB: u8 = 0x02;
    pub const QUERY: u8 = 0x03;
    pub const PING: u8 = 0x0e;
    pub const CHANGE_USER: u8 = 0x11;
    pub const STMT_PREPARE: u8 = 0x16;
    pub const STMT_EXECUTE: u8 = 0x17;
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    pub const STMT_CLOSE: u8 = 0x19;
    pub const STMT_RESET: u8 = 0x1a;
    pub const RESET_CONNECTION: u8 = 0x1f;
}

/// Greeting payload lengths accepted by the detector.
const GREETING_LEN: std::ops::RangeInclusive<u32> = 18..=1024;
/// Longest server version string accepted.
const MAX_VERSION: usize = 64;
/// Statement bytes checked for printable text before a command is believed.
const TEXT_CHECK: usize = 16;
/// Longest schema name accepted by the COM_INIT_DB detector.
const MAX_SCHEMA: u32 = 256;

/// A packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Payload length (not counting the header).
    pub len: u32,
    pub seq: u8,
}

/// Reads a packet header from the start of `b`.
pub fn parse_header(b: &[u8]) -> Option<Header> {
    let h = b.get(..HEADER_LEN)?;
    Some(Header {
        len: u32::from_le_bytes([h[0], h[1], h[2], 0]),
        seq: h[3],
    })
}

/// Reads a length-encoded integer: its value and its size in bytes.
pub fn read_lenenc(b: &[u8]) -> Option<(u64, usize)> {
    let n = match *b.first()? {
        v @ 0..=0xfa => return Some((u64::from(v), 1)),
        0xfc => 2,
        0xfd => 3,
        0xfe => 8,
        _ => return None,
    };
    let bytes = b.get(1..1 + n)?;
    let mut v = [0u8; 8];
    v[..n].copy_from_slice(bytes);
    Some((u64::from_le_bytes(v), 1 + n))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A NUL-terminated string at the start of `b` and the bytes after its NUL.
fn cstr(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = b.iter().position(|&c| c == 0)?;
    Some((&b[..n], &b[n + 1..]))
}

/// `db.system.name` for a server version string.
pub fn system_for(version: &[u8]) -> &'static str {
    if version.windows(7).any(|w| w == b"MariaDB") {
        system::MARIADB
    } else {
        system::MYSQL
    }
}

/// What the parser keeps of a Handshake v10 (never the scramble).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    pub server_version: String,
    pub connection_id: u32,
    pub capabilities: u32,
}

/// Parses a Handshake v10 payload.
pub fn parse_greeting(p: &[u8]) -> Option<Greeting> {
    if p.first() != Some(&0x0a) {
        return None;
    }
    let (version, rest) = cstr(&p[1..])?;
    let connection_id = u32_at(rest, 0)?;
    // auth-plugin-data part 1 (8) and a filler (1): skipped, never read.
    let lower = u16_at(rest, 13).unwrap_or(0);
    // charset (1) and status flags (2) sit between the two capability halves.
    let upper = u16_at(rest, 18).unwrap_or(0);
    Some(Greeting {
        server_version: String::from_utf8_lossy(version).into_owned(),
        connection_id,
        capabilities: u32::from(lower) | (u32::from(upper) << 16),
    })
}

/// What the parser keeps of a HandshakeResponse41 (never the auth response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse {
    pub capabilities: u32,
    /// An SSLRequest: the rest of the connection is TLS.
    pub ssl_request: bool,
    /// The schema named with CLIENT_CONNECT_WITH_DB.
    pub schema: Option<String>,
}

/// Parses a HandshakeResponse41 or SSLRequest payload. The auth response
/// is skipped by its length, never copied.
pub fn parse_handshake_response(p: &[u8]) -> Option<HandshakeResponse> {
    let capabilities = u32_at(p, 0)?;
    if capabilities & caps::PROTOCOL_41 == 0 {
        // HandshakeResponse320: two capability bytes; no schema kept.
        let low = u32::from(u16_at(p, 0)?);
        return Some(HandshakeResponse {
            capabilities: low,
            ssl_request: low & caps::SSL != 0 && p.len() <= 5,
            schema: None,
        });
    }
    // capabilities 4, max packet 4, charset 1, filler 23.
    let rest = p.get(32..)?;
    if rest.is_empty() && capabilities & caps::SSL != 0 {
        return Some(HandshakeResponse {
            capabilities,
            ssl_request: true,
            schema: None,
        });
    }
    let (_user, rest) = cstr(rest)?;
    let rest = if capabilities & caps::PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
        let (n, used) = read_lenenc(rest)?;
        let n = usize::try_from(n).ok()?;
        rest.get(used.checked_add(n)?..)?
    } else if capabilities & caps::SECURE_CONNECTION != 0 {
        let n = usize::from(*rest.first()?);
        rest.get(1 + n..)?
    } else {
        cstr(rest)?.1
    };
    let schema = if capabilities & caps::CONNECT_WITH_DB != 0 {
        cstr(rest)
            .map(|(s, _)| s)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
    } else {
        None
    };
    Some(HandshakeResponse {
        capabilities,
        ssl_request: false,
        schema,
    })
}

/// An OK packet (or the 0xFE-headed OK ending a result set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OkPacket {
    pub affected_rows: u64,
    pub last_insert_id: u64,
    pub status: u16,
}

/// Parses an OK packet headed by 0x00 or 0xFE.
pub fn parse_ok(p: &[u8]) -> Option<OkPacket> {
    if !matches!(p.first(), Some(0x00 | 0xfe)) {
        return None;
    }
    let (affected_rows, a) = read_lenenc(&p[1..])?;
    let (last_insert_id, b) = read_lenenc(&p[1 + a..])?;
    Some(OkPacket {
        affected_rows,
        last_insert_id,
        status: u16_at(p, 1 + a + b).unwrap_or(0),
    })
}

/// Whether a payload of `total` bytes starting with `p` is an EOF packet.
pub fn is_eof(p: &[u8], total: u64) -> bool {
    p.first() == Some(&0xfe) && total < 9
}

/// Status flags of a packet ending a result (OK, EOF or 0xFE-headed OK).
/// A 5-byte 0xFE packet is an EOF (warnings, then status); longer is an OK.
pub fn end_status(p: &[u8]) -> u16 {
    if p.first() == Some(&0xfe) && p.len() <= 5 {
        return u16_at(p, 3).unwrap_or(0);
    }
    parse_ok(p).map_or(0, |ok| ok.status)
}

/// An ERR packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrPacket {
    pub code: u16,
    /// Five characters, when the server sent one (`#` marker).
    pub sql_state: Option<String>,
    pub message: String,
}

/// Parses an ERR packet (0xFF).
pub fn parse_err(p: &[u8]) -> Option<ErrPacket> {
    if p.first() != Some(&0xff) {
        return None;
    }
    let code = u16_at(p, 1)?;
    let (sql_state, msg) = match p.get(3) {
        Some(b'#') => (
            p.get(4..9).map(|s| String::from_utf8_lossy(s).into_owned()),
            p.get(9..).unwrap_or_default(),
        ),
        _ => (None, p.get(3..).unwrap_or_default()),
    };
    Some(ErrPacket {
        code,
        sql_state,
        message: String::from_utf8_lossy(msg).into_owned(),
    })
}

/// The first packet of a COM_STMT_PREPARE answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrepareOk {
    pub statement_id: u32,
    pub num_columns: u16,
    pub num_params: u16,
}

/// Parses COM_STMT_PREPARE_OK.
pub fn parse_prepare_ok(p: &[u8]) -> Option<PrepareOk> {
    if p.first() != Some(&0x00) {
        return None;
    }
    Some(PrepareOk {
        statement_id: u32_at(p, 1)?,
        num_columns: u16_at(p, 5)?,
        num_params: u16_at(p, 7)?,
    })
}

/// The column count starting a result set, and whether column definitions
/// follow (MySQL's optional metadata and MariaDB's metadata cache add a
/// byte that is 0 when they are left out).
pub fn column_count(p: &[u8]) -> Option<(u64, bool)> {
    let (n, used) = read_lenenc(p)?;
    Some((n, p.get(used) != Some(&0)))
}

/// The statement of a COM_QUERY (bytes after the command byte). With query
/// attributes (CLIENT_QUERY_ATTRIBUTES) a parameter count and set count
/// come first; SQL never starts with NUL or a control byte, which marks
/// them. Text behind attribute values is not looked for (`None`).
pub fn query_text(after_command: &[u8]) -> Option<&[u8]> {
    match after_command {
        [0, ..] => {}
        // A parameter count (control byte, never SQL) and set count 1.
        [c @ 1..=8, 1, ..] if *c != b'\t' => return None,
        _ => return Some(after_command),
    }
    let (n, a) = read_lenenc(after_command)?;
    if n != 0 {
        return None;
    }
    let (_, b) = read_lenenc(&after_command[a..])?;
    after_command.get(a + b..)
}

fn printable(c: u8) -> bool {
    matches!(c, b' '..=b'~' | b'\t' | b'\n' | b'\r') || c >= 0x80
}

/// Whether a server's first bytes are a Handshake v10: sequence 0, protocol
/// 10, a NUL-terminated version starting with a digit.
pub fn detect_server_greeting(b: &[u8]) -> Start {
    if let Some(h) = b.get(..3) {
        let len = u32::from_le_bytes([h[0], h[1], h[2], 0]);
        if !GREETING_LEN.contains(&len) {
            return Start::No;
        }
    }
    match (b.get(3), b.get(4), b.get(5)) {
        (Some(s), _, _) if *s != 0 => return Start::No,
        (_, Some(p), _) if *p != 0x0a => return Start::No,
        (_, _, Some(d)) if !d.is_ascii_digit() => return Start::No,
        (_, _, None) => return Start::NeedMore,
        _ => {}
    }
    let len = u32::from_le_bytes([b[0], b[1], b[2], 0]) as usize;
    let payload = &b[HEADER_LEN..b.len().min(HEADER_LEN + len)];
    let version = &payload[1..];
    let end = version.iter().position(|&c| c == 0);
    let text = &version[..end.unwrap_or(version.len())];
    if text.len() > MAX_VERSION || !text.iter().all(|c| c.is_ascii_graphic()) {
        return Start::No;
    }
    match end {
        Some(_) => Start::Yes,
        None if payload.len() == len => Start::No,
        None => Start::NeedMore,
    }
}

/// `db.system.name` of the server whose greeting [`detect_server_greeting`]
/// found at the start of `b`: MariaDB when its version says so, else MySQL.
pub(super) fn greeting_system(b: &[u8]) -> &'static str {
    let version = b.get(HEADER_LEN + 1..).unwrap_or_default();
    system_for(version.split(|&c| c == 0).next().unwrap_or_default())
}

/// Whether a client's bytes start with a command packet (sequence 0, a
/// known command byte, a length that command can have); used to pick up a
/// connection mid-stream and to resynchronise.
pub fn detect_command(b: &[u8]) -> Start {
    use Start::{NeedMore, No, Yes};
    if b.len() >= 3 && u32::from_le_bytes([b[0], b[1], b[2], 0]) == 0 {
        return No;
    }
    if b.get(3).is_some_and(|&s| s != 0) {
        return No;
    }
    let (Some(h), Some(&cmd)) = (parse_header(b), b.get(HEADER_LEN)) else {
        return NeedMore;
    };
    let len = h.len;
    let args = &b[HEADER_LEN + 1..b.len().min(HEADER_LEN + len as usize)];
    let ok = match cmd {
        command::QUIT | command::PING => len == 1,
        command::STMT_CLOSE | command::STMT_RESET => len == 5,
        command::STMT_EXECUTE => {
            // statement id 4, flags 1, iteration count 4 (always 1).
            if len < 10 {
                false
            } else if args.len() < 9 {
                return NeedMore;
            } else {
                args[4] < 0x10 && u32_at(args, 5) == Some(1)
            }
        }
        command::INIT_DB if !(2..=MAX_SCHEMA).contains(&len) => false,
        command::INIT_DB | command::STMT_PREPARE | command::QUERY if len >= 2 => {
            let text = match (cmd, args) {
                (command::QUERY, [0, rest @ ..]) => match rest.first() {
                    Some(1) => &rest[1..],
                    Some(_) => return No,
                    None => return NeedMore,
                },
                _ => args,
            };
            let prefix = args.len() - text.len();
            let want = (len as usize - 1).saturating_sub(prefix).min(TEXT_CHECK);
            if !text.iter().take(want).all(|&c| printable(c)) {
                return No;
            }
            if text.len() < want {
                return NeedMore;
            }
            want > 0
        }
        _ => false,
    };
    if ok { Yes } else { No }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
