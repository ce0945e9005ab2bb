//! The agent's view of every traced connection: its two ordered streams,
//! its role, and the protocol session that parses it.
use std::collections::HashMap;

use super::{
    event::{ConnInfo, DataChunk, Direction, Role, Tuple},
    stream::Stream,
    tls,
};
use crate::protocol::{self, Detect, Input, Moment, ProtoEvent, Session, Side};

/// Connections tracked at once; past it the least recently active is dropped.
pub const MAX_CONNECTIONS: usize = 65536;
/// Request-side chunks looked at before a connection is declared not to
/// speak any known protocol.
const DETECT_ATTEMPTS: u32 = 8;
/// Connections with no activity for this long are forgotten, unless
/// [`ConnTable::set_idle_ns`] says otherwise (`agent.limits.idle_timeout`).
pub const IDLE_NS: u64 = 300 * 1_000_000_000;

/// A protocol event together with the connection it happened on.
#[derive(Debug, Clone)]
pub struct ConnEvent {
    pub sock: u64,
    pub pid: u32,
    pub tuple: Tuple,
    pub role: Role,
    /// The bytes were TLS plaintext (the span says https).
    pub tls: bool,
    pub event: ProtoEvent,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ConnStats {
    pub opened: u64,
    pub evicted: u64,
    pub undetected: u64,
    pub gap_bytes: u64,
    /// Chunks that came again, or behind what was already handed on (a
    /// record later than the reorder window): dropped.
    pub stale_chunks: u64,
    /// Connections forgotten to keep the memory bound.
    pub shed: u64,
    /// Connections whose TLS plaintext arrived (parsed from then on).
    pub tls: u64,
    /// Connections whose first bytes were TLS records: set aside as
    /// ciphertext, never parsed.
    pub ciphertext: u64,
}

#[derive(Debug)]
enum Parse {
    /// Waiting for the request side's first bytes to name the protocol.
    Detecting {
        attempts: u32,
        buf: Vec<u8>,
    },
    Active(Box<Session>),
    /// Nothing swit understands; bytes are ignored.
    Unknown,
    /// TLS records: ignored until the connection's plaintext arrives.
    Ciphertext,
}

#[derive(Debug)]
struct Connection {
    pid: u32,
    tuple: Tuple,
    role: Role,
    ingress: Stream,
    egress: Stream,
    parse: Parse,
    last_ns: u64,
    /// The role hint was asked.
    hinted: bool,
    /// Fed with TLS plaintext: syscall bytes (ciphertext) are ignored.
    tls: bool,
}

impl Connection {
    fn new(info: &ConnInfo, role: Role) -> Self {
        Connection {
            pid: info.pid,
            tuple: info.tuple,
            role,
            ingress: Stream::new(),
            egress: Stream::new(),
            parse: Parse::Detecting {
                attempts: 0,
                buf: Vec::new(),
            },
            last_ns: info.ts_ns,
            hinted: false,
            tls: false,
        }
    }

    /// The first plaintext: what the syscalls carried was ciphertext (or
    /// a plaintext preamble such as PostgreSQL's SSLRequest), and the
    /// plaintext's positions start a new line, so both streams and the
    /// protocol start over.
    fn start_tls(&mut self) {
        self.tls = true;
        self.ingress = Stream::new();
        self.egress = Stream::new();
        self.parse = Parse::Detecting {
            attempts: 0,
            buf: Vec::new(),
        };
    }

    fn side(&self, dir: Direction) -> Option<Side> {
        side_of(self.role, dir)
    }

    /// For a connection older than the agent: the first message's shape
    /// tells who is who (a request going out means we are the client).
    fn infer_role(&mut self, dir: Direction, bytes: &[u8]) {
        if self.role != Role::Unknown {
            return;
        }
        // HTTP/2 frames look alike both ways; only some tell who sent them
        // (request pseudo-headers, :status, a push).
        if let protocol::http2::H2Detect::Frames { sender } = protocol::http2::detect(bytes) {
            use protocol::http2::Sender;
            self.role = match (dir, sender) {
                (Direction::Ingress, Sender::Client) | (Direction::Egress, Sender::Server) => {
                    Role::Server
                }
                (Direction::Egress, Sender::Client) | (Direction::Ingress, Sender::Server) => {
                    Role::Client
                }
                (_, Sender::Unknown) => Role::Unknown,
            };
            return;
        }
        let request = matches!(protocol::detect(bytes), Detect::Match(_));
        let response = matches!(
            protocol::http1::looks_like_response(bytes),
            Detect::Match(_)
        ) || matches!(protocol::detect_server_first(bytes), Detect::Match(_));
        self.role = match (dir, request, response) {
            (Direction::Ingress, true, _) | (Direction::Egress, _, true) => Role::Server,
            (Direction::Egress, true, _) | (Direction::Ingress, _, true) => Role::Client,
            _ => Role::Unknown,
        };
    }
}

/// Tells the role of a connection whose bytes do not (the agent asks the
/// kernel's socket table; tests answer directly).
pub type RoleHint = Box<dyn FnMut(u32, &Tuple) -> Role + Send>;

/// Every traced connection, keyed by kernel socket address.
#[derive(Default)]
pub struct ConnTable {
    conns: HashMap<u64, Connection>,
    pub stats: ConnStats,
    role_hint: Option<RoleHint>,
    /// 0 means [`IDLE_NS`].
    idle_ns: u64,
    /// Sockets forgotten without a close (idle, evicted, shed), for the
    /// correlator to forget too: see [`ConnTable::take_forgotten`].
    forgotten: Vec<u64>,
}

impl std::fmt::Debug for ConnTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnTable")
            .field("conns", &self.conns.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl ConnTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Connections silent for `ns` are forgotten at the next tick.
    pub fn set_idle_ns(&mut self, ns: u64) {
        self.idle_ns = ns;
    }

    /// Sockets forgotten since the last call without being closed.
    pub fn take_forgotten(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.forgotten)
    }

    /// Forgets the `n` least recently active connections (the memory bound
    /// is near); returns how many went.
    pub fn shed(&mut self, n: usize) -> usize {
        let n = n.min(self.conns.len());
        if n == 0 {
            return 0;
        }
        let mut by_age: Vec<(u64, u64)> = self.conns.iter().map(|(&k, c)| (c.last_ns, k)).collect();
        by_age.select_nth_unstable(n - 1);
        for &(_, sock) in &by_age[..n] {
            self.conns.remove(&sock);
            self.forgotten.push(sock);
        }
        self.stats.shed += n as u64;
        // The map keeps its slots after removals: give them back too, or
        // forgetting would free only what the connections pointed to.
        if self.conns.len() < self.conns.capacity() / 4 {
            self.conns.shrink_to_fit();
        }
        n
    }

    /// Where to ask for the role of a connection older than the agent
    /// when its bytes cannot tell.
    pub fn set_role_hint(&mut self, hint: RoleHint) {
        self.role_hint = Some(hint);
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    fn entry(&mut self, info: &ConnInfo, role: Role) -> &mut Connection {
        // The kernel reuses a freed `struct sock`: a different tuple at the
        // same address is a different connection.
        if self
            .conns
            .get(&info.sock)
            .is_some_and(|c| c.tuple != info.tuple)
        {
            self.conns.remove(&info.sock);
        }
        if !self.conns.contains_key(&info.sock) {
            if self.conns.len() >= MAX_CONNECTIONS {
                self.evict_oldest();
            }
            self.stats.opened += 1;
        }
        self.conns
            .entry(info.sock)
            .or_insert_with(|| Connection::new(info, role))
    }

    /// The table is full: the least recently active sixteenth goes at
    /// once, so a flood of new connections costs one scan per many.
    fn evict_oldest(&mut self) {
        let before = self.stats.shed;
        let n = self.shed((self.conns.len() / 16).max(1));
        self.stats.shed = before;
        self.stats.evicted += n as u64;
    }

    /// A traced process accepted or connected: a fresh connection.
    pub fn open(&mut self, info: &ConnInfo, role: Role) {
        self.conns.remove(&info.sock);
        let c = self.entry(info, role);
        c.role = role;
    }

    /// Feeds one chunk; protocol events go to `out`.
    pub fn data(&mut self, chunk: DataChunk, out: &mut Vec<ConnEvent>) {
        let info = chunk.conn;
        let mut hint = self.role_hint.take();
        let c = self.entry(&info, Role::Unknown);
        c.last_ns = info.ts_ns;
        if chunk.tls != c.tls {
            if !chunk.tls {
                // Ciphertext the kernel let through (a syscall it saw
                // before it knew the socket was TLS, processed late).
                self.role_hint = hint;
                return;
            }
            c.start_tls();
            self.stats.tls += 1;
        }
        let c = self.conns.get_mut(&info.sock).expect("entry made above");
        if c.role == Role::Unknown {
            c.infer_role(chunk.direction, &chunk.bytes);
        }
        if c.role == Role::Unknown
            && !c.hinted
            && let Some(hint) = hint.as_mut()
        {
            // Once per connection: the answer does not change.
            c.hinted = true;
            c.role = hint(info.pid, &info.tuple);
        }
        let at = Moment {
            enter_ns: chunk.enter_ns,
            exit_ns: info.ts_ns,
            worker: if chunk.g != 0 {
                chunk.g
            } else {
                info.tid as u64
            },
        };
        let Connection {
            ingress,
            egress,
            parse,
            role,
            pid,
            tuple,
            tls,
            ..
        } = c;
        let side = side_of(*role, chunk.direction);
        let stream = match chunk.direction {
            Direction::Ingress => ingress,
            Direction::Egress => egress,
        };
        let before = stream.stats.gap_bytes;
        let stale_before = stream.stats.stale_chunks;
        let mut produced = Vec::new();
        let mut counts = RouteCounts::default();
        stream.push(chunk.seq, chunk.len, chunk.bytes, at, &mut |input| {
            route(parse, side, input, &mut produced, &mut counts);
        });
        let gaps = stream.stats.gap_bytes - before;
        self.stats.stale_chunks += stream.stats.stale_chunks - stale_before;
        let (pid, tuple, role, tls) = (*pid, *tuple, *role, *tls);
        self.role_hint = hint;
        self.stats.gap_bytes += gaps;
        self.stats.undetected += counts.undetected;
        self.stats.ciphertext += counts.ciphertext;
        out.extend(produced.into_iter().map(|event| ConnEvent {
            sock: info.sock,
            pid,
            tuple,
            role,
            tls,
            event,
        }));
    }

    /// The connection closed: flush held chunks, end messages that end at
    /// close, forget it.
    pub fn close(&mut self, info: &ConnInfo, out: &mut Vec<ConnEvent>) {
        let Some(mut c) = self.conns.remove(&info.sock) else {
            return;
        };
        let mut produced = Vec::new();
        flush_streams(&mut c, &mut produced, &mut self.stats);
        if let Parse::Active(s) = &mut c.parse {
            let at = Moment {
                enter_ns: info.ts_ns,
                exit_ns: info.ts_ns,
                worker: info.tid as u64,
            };
            s.close(at, &mut produced);
        }
        out.extend(produced.into_iter().map(|event| ConnEvent {
            sock: info.sock,
            pid: c.pid,
            tuple: c.tuple,
            role: c.role,
            tls: c.tls,
            event,
        }));
    }

    /// Periodic upkeep: streams quiet with held chunks give up on their
    /// holes; idle connections are forgotten.
    pub fn tick(&mut self, now_ns: u64, out: &mut Vec<ConnEvent>) {
        let mut produced = Vec::new();
        for (&sock, c) in self.conns.iter_mut() {
            if !c.ingress.has_pending() && !c.egress.has_pending() {
                continue;
            }
            let mut evs = Vec::new();
            flush_streams(c, &mut evs, &mut self.stats);
            produced.extend(evs.into_iter().map(|event| ConnEvent {
                sock,
                pid: c.pid,
                tuple: c.tuple,
                role: c.role,
                tls: c.tls,
                event,
            }));
        }
        out.extend(produced);
        let idle = if self.idle_ns == 0 {
            IDLE_NS
        } else {
            self.idle_ns
        };
        let forgotten = &mut self.forgotten;
        let before = self.conns.len();
        self.conns.retain(|&sock, c| {
            let keep = now_ns.saturating_sub(c.last_ns) < idle;
            if !keep {
                forgotten.push(sock);
            }
            keep
        });
        self.stats.evicted += (before - self.conns.len()) as u64;
    }

    /// The connections of process `pid`, as a close at `ts_ns` would name
    /// them: its exit closes them without a close(2) of its own. Only those
    /// silent since `ts_ns`: a later one belongs to a new process that got
    /// the PID.
    pub fn of_pid(&self, pid: u32, ts_ns: u64) -> Vec<ConnInfo> {
        self.conns
            .iter()
            .filter(|(_, c)| c.pid == pid && c.last_ns <= ts_ns)
            .map(|(&sock, c)| ConnInfo {
                sock,
                pid,
                tid: pid,
                ts_ns,
                tuple: c.tuple,
            })
            .collect()
    }
}

/// Gives up on every hole of both streams (they become gaps) and hands on
/// what that releases.
fn flush_streams(c: &mut Connection, out: &mut Vec<ProtoEvent>, stats: &mut ConnStats) {
    for dir in [Direction::Ingress, Direction::Egress] {
        let side = c.side(dir);
        let stream = match dir {
            Direction::Ingress => &mut c.ingress,
            Direction::Egress => &mut c.egress,
        };
        let before = stream.stats.gap_bytes;
        let mut counts = RouteCounts::default();
        stream.flush_all(&mut |input| route(&mut c.parse, side, input, out, &mut counts));
        stats.gap_bytes += stream.stats.gap_bytes - before;
        stats.undetected += counts.undetected;
        stats.ciphertext += counts.ciphertext;
    }
}

/// Which side of the exchange a direction carries, once the role is known.
fn side_of(role: Role, dir: Direction) -> Option<Side> {
    match (role, dir) {
        (Role::Server, Direction::Ingress) | (Role::Client, Direction::Egress) => {
            Some(Side::Request)
        }
        (Role::Server, Direction::Egress) | (Role::Client, Direction::Ingress) => {
            Some(Side::Response)
        }
        (Role::Unknown, _) => None,
    }
}

/// What detection decided while routing, for the table's counters.
#[derive(Default)]
struct RouteCounts {
    undetected: u64,
    ciphertext: u64,
}

/// Hands one input to the connection's protocol session, detecting the
/// protocol first if needed.
fn route(
    parse: &mut Parse,
    side: Option<Side>,
    input: Input<'_>,
    out: &mut Vec<ProtoEvent>,
    counts: &mut RouteCounts,
) {
    let Some(side) = side else {
        return;
    };
    match parse {
        Parse::Active(s) => s.feed(side, input, out),
        Parse::Unknown | Parse::Ciphertext => {}
        Parse::Detecting { attempts, buf } => {
            let Input::Data { bytes, at } = input else {
                return;
            };
            // The request side names most protocols; a server that speaks
            // first (MySQL's greeting) names its own on the response side.
            // Other response bytes before a request belong to an exchange
            // that cannot be paired anyway.
            if side == Side::Response {
                if let Detect::Match(kind) = protocol::detect_server_first(bytes) {
                    let mut s = Session::new(kind);
                    s.feed(side, input, out);
                    *parse = Parse::Active(Box::new(s));
                } else if buf.is_empty() && tls::looks_like_record(bytes) {
                    counts.ciphertext += 1;
                    *parse = Parse::Ciphertext;
                }
                return;
            }
            buf.extend_from_slice(bytes);
            match protocol::detect(buf) {
                Detect::Match(kind) => {
                    let held = std::mem::take(buf);
                    let mut s = Session::new(kind);
                    s.feed(side, Input::Data { bytes: &held, at }, out);
                    *parse = Parse::Active(Box::new(s));
                }
                // Only after every protocol said no: a MySQL packet can
                // start like a TLS record (length 0x0316.., sequence 0).
                _ if tls::looks_like_record(buf) => {
                    counts.ciphertext += 1;
                    *parse = Parse::Ciphertext;
                }
                Detect::NeedMore if buf.len() < 64 => {}
                _ => {
                    buf.clear();
                    *attempts += 1;
                    if *attempts >= DETECT_ATTEMPTS {
                        counts.undetected += 1;
                        *parse = Parse::Unknown;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::http1::Http1Event;

    pub(super) fn info(ts: u64) -> ConnInfo {
        ConnInfo {
            sock: 0xabc,
            pid: 10,
            tid: 11,
            ts_ns: ts,
            tuple: Tuple {
                local: "127.0.0.1:8080".parse().unwrap(),
                remote: "127.0.0.1:40000".parse().unwrap(),
            },
        }
    }

    pub(super) fn chunk(ts: u64, dir: Direction, seq: u32, b: &[u8]) -> DataChunk {
        DataChunk {
            conn: info(ts),
            enter_ns: ts,
            seq,
            len: b.len() as u32,
            direction: dir,
            bytes: b.to_vec(),
            tls: false,
            g: 0,
        }
    }

    fn plain(ts: u64, dir: Direction, seq: u32, b: &[u8]) -> DataChunk {
        DataChunk {
            tls: true,
            ..chunk(ts, dir, seq, b)
        }
    }

    fn exchanges(out: &[ConnEvent]) -> Vec<(String, u16)> {
        out.iter()
            .filter_map(|e| match &e.event {
                ProtoEvent::Http1(Http1Event::Exchange { request, response }) => {
                    Some((request.target.clone(), response.status))
                }
                _ => None,
            })
            .collect()
    }

    const REQ: &[u8] = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";

    #[test]
    fn an_exiting_process_closes_only_its_connections_silent_since() {
        let mut t = ConnTable::new();
        let other = ConnInfo {
            sock: 0xdef,
            pid: 12,
            ..info(1)
        };
        let later = ConnInfo {
            sock: 0x123,
            ts_ns: 50,
            ..info(1)
        };
        t.open(&info(1), Role::Server);
        t.open(&other, Role::Server);
        t.open(&later, Role::Server);
        let socks = |v: Vec<ConnInfo>| {
            let mut s: Vec<(u64, u64)> = v.iter().map(|c| (c.sock, c.ts_ns)).collect();
            s.sort();
            s
        };
        // PID 10's connection active at 50 is a new process's (PID reused).
        assert_eq!(socks(t.of_pid(10, 20)), [(0xabc, 20)]);
        assert_eq!(socks(t.of_pid(10, 60)), [(0x123, 60), (0xabc, 60)]);
        assert!(t.of_pid(99, 60).is_empty());
    }

    #[test]
    fn a_server_exchange_in_two_response_writes() {
        let mut t = ConnTable::new();
        let mut out = vec![];
        t.open(&info(1), Role::Server);
        t.data(chunk(2, Direction::Ingress, 100, REQ), &mut out);
        t.data(chunk(3, Direction::Egress, 5000, HEAD), &mut out);
        t.data(
            chunk(4, Direction::Egress, 5000 + HEAD.len() as u32, b"hello"),
            &mut out,
        );
        assert_eq!(exchanges(&out), vec![("/hello".to_string(), 200)]);
    }

    #[test]
    fn role_is_inferred_for_a_connection_older_than_the_agent() {
        let mut t = ConnTable::new();
        let mut out = vec![];
        t.data(chunk(2, Direction::Egress, 100, REQ), &mut out);
        t.data(chunk(3, Direction::Ingress, 7, HEAD), &mut out);
        t.data(
            chunk(4, Direction::Ingress, 7 + HEAD.len() as u32, b"hello"),
            &mut out,
        );
        assert_eq!(exchanges(&out), vec![("/hello".to_string(), 200)]);
        assert_eq!(out[0].role, Role::Client);
    }

    /// A ClientHello (the first bytes of a real one) and the server's answer.
    const CLIENT_HELLO: &[u8] = &[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x5a, 0x11, 0x2b, 0x90,
        0x3c, 0x47, 0x8e, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
    ];
    const SERVER_HELLO: &[u8] = &[0x16, 0x03, 0x03, 0x00, 0x7a, 0x02, 0x00, 0x00, 0x76, 0x03];

    #[test]
    fn ciphertext_is_set_aside_then_plaintext_is_parsed_as_tls() {
        let mut t = ConnTable::new();
        let mut out = vec![];
        t.open(&info(1), Role::Server);
        // The handshake reaches the agent before the kernel knew.
        t.data(chunk(2, Direction::Ingress, 100, CLIENT_HELLO), &mut out);
        t.data(chunk(3, Direction::Egress, 900, SERVER_HELLO), &mut out);
        assert_eq!(t.stats.ciphertext, 1);
        // Plaintext at its own positions, from 0.
        t.data(plain(4, Direction::Ingress, 0, REQ), &mut out);
        // Late ciphertext of the same socket: ignored.
        t.data(
            chunk(
                5,
                Direction::Ingress,
                100 + CLIENT_HELLO.len() as u32,
                b"\x17\x03\x03\x00\x20",
            ),
            &mut out,
        );
        t.data(plain(6, Direction::Egress, 0, HEAD), &mut out);
        t.data(
            plain(7, Direction::Egress, HEAD.len() as u32, b"hello"),
            &mut out,
        );
        assert_eq!(exchanges(&out), vec![("/hello".to_string(), 200)]);
        assert!(out.iter().all(|e| e.tls), "marked TLS for the span");
        assert_eq!((t.stats.tls, t.stats.undetected), (1, 0));
    }

    /// Connection `sock` (its own port) opened at `ts`, with a request head
    /// still waiting for its end.
    fn half_request(t: &mut ConnTable, sock: u64, ts: u64) {
        // Connections are told apart by socket; the tuple may repeat.
        let conn = ConnInfo { sock, ..info(ts) };
        t.open(&conn, Role::Server);
        t.data(
            DataChunk {
                conn,
                ..chunk(
                    ts,
                    Direction::Ingress,
                    0,
                    b"GET /slow HTTP/1.1\r\nHost: x\r\n",
                )
            },
            &mut vec![],
        );
    }

    #[test]
    fn shedding_forgets_the_least_recently_active_and_says_which() {
        let mut t = ConnTable::new();
        for sock in 1..=10 {
            // Socket 7 was the first to go quiet, then 3, then the rest.
            let ts = match sock {
                7 => 1,
                3 => 2,
                s => 100 + s,
            };
            half_request(&mut t, sock, ts);
        }
        assert_eq!(t.shed(2), 2);
        let mut gone = t.take_forgotten();
        gone.sort();
        assert_eq!(gone, vec![3, 7]);
        assert_eq!((t.len(), t.stats.shed, t.stats.evicted), (8, 2, 0));
        assert!(t.take_forgotten().is_empty(), "said once");
        assert_eq!(t.shed(100), 8);
        assert_eq!(t.shed(1), 0);
        assert!(t.is_empty());
    }

    #[test]
    fn idle_connections_go_after_the_configured_timeout() {
        let mut t = ConnTable::new();
        t.set_idle_ns(1_000);
        half_request(&mut t, 1, 100);
        half_request(&mut t, 2, 600);
        let mut out = vec![];
        t.tick(1_099, &mut out);
        assert_eq!(t.len(), 2);
        t.tick(1_100, &mut out);
        assert_eq!((t.len(), t.take_forgotten()), (1, vec![1]));
        t.tick(1_600, &mut out);
        assert_eq!((t.len(), t.take_forgotten()), (0, vec![2]));
        assert_eq!((t.stats.evicted, t.stats.shed), (2, 0));
    }

    #[test]
    fn a_full_table_makes_room_by_a_sixteenth() {
        let mut t = ConnTable::new();
        for sock in 0..MAX_CONNECTIONS as u64 {
            half_request(&mut t, sock + 1, sock + 1);
        }
        assert_eq!(t.len(), MAX_CONNECTIONS);
        half_request(&mut t, u64::MAX, u64::MAX);
        let gone = t.take_forgotten();
        assert_eq!(gone.len(), MAX_CONNECTIONS / 16);
        assert!(
            gone.iter().all(|&s| s <= (MAX_CONNECTIONS / 16) as u64),
            "the oldest"
        );
        assert_eq!(t.len(), MAX_CONNECTIONS - MAX_CONNECTIONS / 16 + 1);
        assert_eq!(
            (t.stats.evicted, t.stats.shed),
            ((MAX_CONNECTIONS / 16) as u64, 0)
        );
    }

    #[test]
    fn ciphertext_never_reaches_a_parser() {
        let mut t = ConnTable::new();
        let mut out = vec![];
        t.open(&info(1), Role::Client);
        let mut seq = 0;
        for i in 0..20u64 {
            let rec: &[u8] = if i == 0 {
                CLIENT_HELLO
            } else {
                // Application data that happens to contain a request line.
                b"\x17\x03\x03\x00\x30GET /x HTTP/1.1\r\n\r\n"
            };
            t.data(chunk(2 + i, Direction::Egress, seq, rec), &mut out);
            seq += rec.len() as u32;
        }
        assert!(out.is_empty(), "{out:?}");
        assert_eq!((t.stats.ciphertext, t.stats.undetected), (1, 0));
    }
}

#[cfg(test)]
#[path = "hostile_tests.rs"]
mod hostile_tests;
