//! The fuzz targets' drivers: each reads its input as a script
//! (`swit_agent::protocol::script`: steps of data or gaps, request or
//! response side) and plays it into one of the agent's real entry points.
//!
//! For the reassembler and the connection table, a step's bits 2–7 say
//! more (bits 0–3 alone still read as plain data or a plain gap, so every
//! protocol seed is a seed here too):
//! - a gap step whose bits 6–7 are not 0 is a control step on socket
//!   (bits 4–5): 1 open (role `n % 3`, TLS plaintext from now on if
//!   `n & 4`, another tuple at the same socket if `n & 8`), 2 close,
//!   3 tick `n` × 10 s later (idle connections go), or with `n` 0 the
//!   socket's process exits;
//! - a data step's bits 2–3 say how its chunk travels: 0 in order, 1 held
//!   back until after the next chunk of its direction, 2 sent again from
//!   up to `payload[0]` bytes before the current position, 3 captured only
//!   in part (the chunk stands for `payload[0]` × 64 more bytes);
//! - a gap step (bits 6–7 at 0) is a hole: its bytes are never sent.
use std::net::SocketAddr;

use swit_agent::{
    capture::{
        conn::{ConnEvent, ConnTable},
        event::{ConnInfo, DataChunk, Direction, Role, Tuple},
        stream::Stream,
        tls,
    },
    protocol::{
        self, Detect, Input, Moment, ProtocolKind, Session, Side, http1, http2, mysql,
        script::{self, ScriptStep},
    },
};

fn moment(i: usize, ctl: u8) -> Moment {
    let t = i as u64 * 1000;
    Moment {
        enter_ns: t,
        exit_ns: t + 10,
        worker: (ctl >> 4) as u64 & 3,
    }
}

/// The protocol the `protocol` target fuzzes: `SWIT_FUZZ_PROTOCOL`, a
/// registry label. With `SWIT_FUZZ_LIST` set, prints every label and exits,
/// so the runner needs no list of its own.
pub fn chosen_protocol() -> ProtocolKind {
    if std::env::var_os("SWIT_FUZZ_LIST").is_some() {
        for k in ProtocolKind::ALL {
            println!("{}", k.as_str());
        }
        std::process::exit(0);
    }
    let name = std::env::var("SWIT_FUZZ_PROTOCOL").unwrap_or_default();
    ProtocolKind::from_name(&name).unwrap_or_else(|| {
        let all: Vec<_> = ProtocolKind::ALL.iter().map(|k| k.as_str()).collect();
        eprintln!("SWIT_FUZZ_PROTOCOL={name:?} names no protocol; set one of {all:?}");
        std::process::exit(2)
    })
}

/// A protocol session fed every step; closed at the end.
pub fn session(kind: ProtocolKind, data: &[u8]) {
    let mut s = Session::new(kind);
    let mut out = Vec::new();
    let mut i = 0;
    for st in script::steps(data) {
        i += 1;
        let at = moment(i, st.ctl);
        // The reassembler never hands on empty data or an empty gap.
        let input = match st.gap() {
            Some(0) => continue,
            Some(len) => Input::Gap { len, at },
            None if st.payload.is_empty() => continue,
            None => Input::Data {
                bytes: st.payload,
                at,
            },
        };
        s.feed(st.side(), input, &mut out);
        out.clear();
    }
    s.close(moment(i + 1, 0), &mut out);
}

/// Detection as the connection table asks it: the request side's bytes so
/// far, the response side's first chunk. A match never follows a "no" on
/// a shorter prefix: the table gives up on a "no".
pub fn detect(data: &[u8]) {
    let mut req = Vec::new();
    for st in script::steps(data) {
        if st.gap().is_some() {
            continue;
        }
        match st.side() {
            Side::Request => {
                req.extend_from_slice(st.payload);
                req.truncate(4096);
                let d = protocol::detect(&req);
                let _ = http1::detect_request(&req);
                let _ = http2::detect(&req);
                let _ = mysql::detect_command(&req);
                let _ = tls::looks_like_record(&req);
                if let Detect::Match(kind) = d {
                    for cut in 1..req.len().min(64) {
                        assert_ne!(
                            protocol::detect(&req[..cut]),
                            Detect::NoMatch,
                            "{kind:?} at {} bytes, none at {cut}",
                            req.len()
                        );
                    }
                }
            }
            Side::Response => {
                let _ = protocol::detect_server_first(st.payload);
                let _ = http1::looks_like_response(st.payload);
                let _ = tls::looks_like_record(st.payload);
            }
        }
    }
}

/// HPACK: a block ends at a step shorter than 255 bytes; request-side
/// blocks go to a decoder that saw the connection start, response-side
/// ones to a decoder that came in mid-stream; a gap loses its sync.
pub fn hpack(data: &[u8]) {
    use protocol::http2::hpack::Decoder;
    let mut decoders = [Decoder::new(), Decoder::new_mid_stream()];
    let mut blocks = [Vec::new(), Vec::new()];
    let mut out = Vec::new();
    for st in script::steps(data) {
        let i = (st.side() == Side::Response) as usize;
        if st.gap().is_some() {
            decoders[i].lost_sync();
            blocks[i].clear();
            continue;
        }
        blocks[i].extend_from_slice(st.payload);
        if st.payload.len() < 255 {
            let _ = decoders[i].decode(&blocks[i], &mut out);
            blocks[i].clear();
            out.clear();
        }
    }
}

/// One chunk as the kernel would report it.
struct Chunk {
    seq: u32,
    len: u32,
    bytes: Vec<u8>,
}

/// One direction's sender: turns data and gap steps into chunks, in the
/// order and shape the step's bits 2–3 ask for.
#[derive(Default)]
struct Sender {
    /// Sequence number of the next new byte.
    cursor: u32,
    held: Option<Chunk>,
}

impl Sender {
    fn new(first_seq: u32) -> Self {
        Sender {
            cursor: first_seq,
            held: None,
        }
    }

    /// The chunks this step sends, in order. `content` makes the bytes of
    /// a chunk from its sequence number and its payload.
    fn step(
        &mut self,
        st: &ScriptStep<'_>,
        content: &impl Fn(u32, &[u8]) -> Vec<u8>,
    ) -> Vec<Chunk> {
        if let Some(len) = st.gap() {
            self.cursor = self.cursor.wrapping_add(len as u32);
            return Vec::new();
        }
        if st.payload.is_empty() {
            return Vec::new();
        }
        let p = st.payload;
        let mode = (st.ctl >> 2) & 3;
        let (seq, extra) = match mode {
            2 => (self.cursor.wrapping_sub(p[0] as u32), 0),
            3 => (self.cursor, p[0] as u32 * 64),
            _ => (self.cursor, 0),
        };
        let chunk = Chunk {
            seq,
            len: p.len() as u32 + extra,
            bytes: content(seq, p),
        };
        let end = seq.wrapping_add(chunk.len);
        // Only forward: a chunk sent again does not move the sender back.
        if (end.wrapping_sub(self.cursor) as i32) > 0 {
            self.cursor = end;
        }
        if mode == 1 && self.held.is_none() {
            self.held = Some(chunk);
            return Vec::new();
        }
        let mut v = vec![chunk];
        v.extend(self.held.take());
        v
    }
}

/// What the stream's bytes are at each position, for the oracle.
fn byte_at(seq: u32) -> u8 {
    (seq % 251) as u8
}

/// The reassembler with an oracle: the bytes it hands on are the stream's
/// own bytes at their own positions, and data plus gaps never run past
/// what was sent.
pub fn stream(data: &[u8]) {
    let first = u32::MAX - 600;
    let mut sender = Sender::new(first);
    let mut s = Stream::new();
    // Sequence number of the next byte handed on, once something was.
    let mut out_pos: Option<u32> = None;
    let content = |seq: u32, p: &[u8]| {
        (0..p.len() as u32)
            .map(|i| byte_at(seq.wrapping_add(i)))
            .collect()
    };
    let check = |input: Input<'_>, out_pos: &mut Option<u32>, first_seq: u32| {
        let pos = out_pos.get_or_insert(first_seq);
        match input {
            Input::Data { bytes, .. } => {
                assert!(!bytes.is_empty(), "empty data handed on");
                for (i, b) in bytes.iter().enumerate() {
                    let at = pos.wrapping_add(i as u32);
                    assert_eq!(*b, byte_at(at), "byte at {at} out of place");
                }
                *pos = pos.wrapping_add(bytes.len() as u32);
            }
            Input::Gap { len, .. } => {
                assert!(len > 0, "empty gap handed on");
                *pos = pos.wrapping_add(len as u32);
            }
        }
    };
    let mut first_seq = None;
    for (i, st) in script::steps(data).enumerate() {
        if st.ctl >> 6 != 0 && st.gap().is_some() {
            // Control: give up on the holes, as the table's tick does.
            let fs = first_seq.unwrap_or(first);
            s.flush_all(&mut |inp| check(inp, &mut out_pos, fs));
            continue;
        }
        for c in sender.step(&st, &content) {
            let fs = *first_seq.get_or_insert(c.seq);
            s.push(c.seq, c.len, c.bytes, moment(i, st.ctl), &mut |inp| {
                check(inp, &mut out_pos, fs)
            });
        }
    }
    let fs = first_seq.unwrap_or(first);
    s.flush_all(&mut |inp| check(inp, &mut out_pos, fs));
    assert!(!s.has_pending());
}

fn tuple(sock: u8, variant: bool) -> Tuple {
    let port = 40000 + sock as u16 + if variant { 100 } else { 0 };
    Tuple {
        local: SocketAddr::from(([127, 0, 0, 1], 8080)),
        remote: SocketAddr::from(([127, 0, 0, 1], port)),
    }
}

/// The connection table, fed a script over up to four sockets.
pub fn conn_table(data: &[u8]) {
    let mut t = ConnTable::new();
    t.set_role_hint(Box::new(|pid, _| match pid % 3 {
        0 => Role::Server,
        1 => Role::Client,
        _ => Role::Unknown,
    }));
    let mut out: Vec<ConnEvent> = Vec::new();
    // Per socket: the senders of both directions, the tuple, TLS.
    let mut socks: [([Sender; 2], bool, bool); 4] = std::array::from_fn(|i| {
        (
            [Sender::new(1000 * i as u32), Sender::new(u32::MAX - 99)],
            false,
            false,
        )
    });
    let mut now = 1_000_000u64;
    for st in script::steps(data) {
        now += 1000;
        let sock = (st.ctl >> 4) & 3;
        let (senders, variant, tls) = &mut socks[sock as usize];
        let info = ConnInfo {
            sock: 0x1000 + sock as u64,
            pid: 10 + sock as u32,
            tid: 20 + sock as u32,
            ts_ns: now,
            tuple: tuple(sock, *variant),
        };
        if st.ctl >> 6 != 0 && st.gap().is_some() {
            match st.ctl >> 6 {
                1 => {
                    *variant ^= st.n & 8 != 0;
                    *tls = st.n & 4 != 0;
                    let role = [Role::Server, Role::Client, Role::Unknown][st.n as usize % 3];
                    let info = ConnInfo {
                        tuple: tuple(sock, *variant),
                        ..info
                    };
                    t.open(&info, role);
                    *senders = [Sender::new(0), Sender::new(0)];
                }
                2 => t.close(&info, &mut out),
                // The socket's process (or the other process that may use
                // it, as a forked child) exited: the agent closes what it
                // left open.
                _ if st.n < 2 => {
                    for c in t.of_pid(info.pid + 4 * st.n as u32, now) {
                        t.close(&c, &mut out);
                    }
                }
                // A close that was not the last reference (a fork, a dup).
                _ if st.n < 4 => t.release(&ConnInfo {
                    pid: info.pid + 4 * (st.n & 1) as u32,
                    ..info
                }),
                _ => {
                    now += st.n as u64 * 10_000_000_000;
                    t.tick(now, &mut out);
                }
            }
            out.clear();
            t.check_index();
            continue;
        }
        // Bytes moved by another process holding the same socket.
        let info = ConnInfo {
            pid: info.pid + 4 * (st.ctl >> 6 != 0) as u32,
            ..info
        };
        // The request side comes in on a server's socket.
        let (direction, dir_i) = match st.side() {
            Side::Request => (Direction::Ingress, 0),
            Side::Response => (Direction::Egress, 1),
        };
        let tls = *tls;
        for c in senders[dir_i].step(&st, &|_, p| p.to_vec()) {
            let chunk = DataChunk {
                conn: info,
                enter_ns: now - 500,
                seq: c.seq,
                len: c.len,
                direction,
                bytes: c.bytes,
                tls,
                g: 0,
            };
            t.data(chunk, &mut out);
        }
        out.clear();
        t.check_index();
    }
    for sock in 0..4u8 {
        let info = ConnInfo {
            sock: 0x1000 + sock as u64,
            pid: 10 + sock as u32,
            tid: 20 + sock as u32,
            ts_ns: now,
            tuple: tuple(sock, socks[sock as usize].1),
        };
        t.close(&info, &mut out);
    }
    t.tick(now + 1_000_000_000_000, &mut out);
    assert!(t.is_empty());
}
