//! The agent's view of every traced connection: its two ordered streams,
//! its role, and the protocol session that parses it.
use std::collections::BTreeSet;

use super::{
    event::{ConnInfo, DataChunk, Direction, Role, Tuple},
    hash::FxHashMap,
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
    /// The process that last opened or used the connection: its spans'
    /// process.
    pid: u32,
    /// `pid` still holds the socket, so its exit closes the connection
    /// (it is in the pid index). False once `pid` closed its descriptor
    /// while other references remain, until a process uses it again.
    owned: bool,
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
            owned: true,
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
            protocol::framing::Start::Yes
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
    /// Boxed: a table of 65,536 connections inline would be 20 MiB of
    /// slots, and twice that for the moment it grows (a spike the heap's
    /// bound only sees after the fact); boxed, the slots are 16 bytes.
    conns: FxHashMap<u64, Box<Connection>>,
    /// (pid, socket) of every owned connection: what a process's exit
    /// closes is a range, not a scan of every connection (quadratic under
    /// churn).
    by_pid: BTreeSet<(u32, u64)>,
    pub stats: ConnStats,
    role_hint: Option<RoleHint>,
    /// 0 means [`IDLE_NS`].
    idle_ns: u64,
    /// Sockets forgotten without a close (idle, evicted, shed), for the
    /// correlator to forget too: see [`ConnTable::take_forgotten`].
    forgotten: Vec<u64>,
    /// The protocol events of one call, kept for its capacity: a fresh
    /// vector per chunk grows through sizes that cost more than the parse.
    produced: Vec<ProtoEvent>,
    /// Connections looked at by `of_pid`, for tests.
    #[cfg(test)]
    pub(crate) visited: std::cell::Cell<usize>,
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
            self.remove(sock);
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

    /// Whether a connection on `sock` is held.
    pub fn holds(&self, sock: u64) -> bool {
        self.conns.contains_key(&sock)
    }

    fn entry(&mut self, info: &ConnInfo, role: Role) -> &mut Connection {
        // The kernel reuses a freed `struct sock`: a different tuple at the
        // same address is a different connection.
        if self
            .conns
            .get(&info.sock)
            .is_some_and(|c| c.tuple != info.tuple)
        {
            self.remove(info.sock);
        }
        if !self.conns.contains_key(&info.sock) {
            if self.conns.len() >= MAX_CONNECTIONS {
                self.evict_oldest();
            }
            self.stats.opened += 1;
            self.by_pid.insert((info.pid, info.sock));
        }
        self.conns
            .entry(info.sock)
            .or_insert_with(|| Box::new(Connection::new(info, role)))
    }

    /// Forgets one connection, and its place in the pid index.
    fn remove(&mut self, sock: u64) -> Option<Box<Connection>> {
        let c = self.conns.remove(&sock)?;
        self.by_pid.remove(&(c.pid, sock));
        Some(c)
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
        self.remove(info.sock);
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
        if c.pid != info.pid || !c.owned {
            // Another process took over (a forked child, the receiver of a
            // passed descriptor), or the one that let go uses it again:
            // the user's exit is what closes it now, and its spans name it.
            if c.owned {
                self.by_pid.remove(&(c.pid, info.sock));
            }
            c.pid = info.pid;
            c.owned = true;
            self.by_pid.insert((info.pid, info.sock));
        }
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
        } = &mut **c;
        let side = side_of(*role, chunk.direction);
        let stream = match chunk.direction {
            Direction::Ingress => ingress,
            Direction::Egress => egress,
        };
        let before = stream.stats.gap_bytes;
        let stale_before = stream.stats.stale_chunks;
        let mut produced = std::mem::take(&mut self.produced);
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
        out.extend(produced.drain(..).map(|event| ConnEvent {
            sock: info.sock,
            pid,
            tuple,
            role,
            tls,
            event,
        }));
        self.produced = produced;
    }

    /// `info.pid` closed a descriptor of the connection while other
    /// references remain: its exit no longer closes it. Who holds it is
    /// known again when a process uses it.
    pub fn release(&mut self, info: &ConnInfo) {
        if let Some(c) = self.conns.get_mut(&info.sock)
            && c.owned
            && c.pid == info.pid
        {
            c.owned = false;
            self.by_pid.remove(&(info.pid, info.sock));
        }
    }

    /// The connection closed: flush held chunks, end messages that end at
    /// close, forget it.
    pub fn close(&mut self, info: &ConnInfo, out: &mut Vec<ConnEvent>) {
        let Some(mut c) = self.remove(info.sock) else {
            return;
        };
        let mut produced = std::mem::take(&mut self.produced);
        flush_streams(&mut c, &mut produced, &mut self.stats);
        if let Parse::Active(s) = &mut c.parse {
            let at = Moment {
                enter_ns: info.ts_ns,
                exit_ns: info.ts_ns,
                worker: info.tid as u64,
            };
            s.close(at, &mut produced);
        }
        out.extend(produced.drain(..).map(|event| ConnEvent {
            sock: info.sock,
            pid: c.pid,
            tuple: c.tuple,
            role: c.role,
            tls: c.tls,
            event,
        }));
        self.produced = produced;
    }

    /// Periodic upkeep: streams quiet with held chunks give up on their
    /// holes; idle connections are forgotten.
    pub fn tick(&mut self, now_ns: u64, out: &mut Vec<ConnEvent>) {
        let mut evs = std::mem::take(&mut self.produced);
        for (&sock, c) in self.conns.iter_mut() {
            if !c.ingress.has_pending() && !c.egress.has_pending() {
                continue;
            }
            flush_streams(c, &mut evs, &mut self.stats);
            out.extend(evs.drain(..).map(|event| ConnEvent {
                sock,
                pid: c.pid,
                tuple: c.tuple,
                role: c.role,
                tls: c.tls,
                event,
            }));
        }
        self.produced = evs;
        let idle = if self.idle_ns == 0 {
            IDLE_NS
        } else {
            self.idle_ns
        };
        let forgotten = &mut self.forgotten;
        let by_pid = &mut self.by_pid;
        let before = self.conns.len();
        self.conns.retain(|&sock, c| {
            let keep = now_ns.saturating_sub(c.last_ns) < idle;
            if !keep {
                forgotten.push(sock);
                by_pid.remove(&(c.pid, sock));
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
        self.by_pid
            .range((pid, 0)..=(pid, u64::MAX))
            .filter_map(|&(_, sock)| {
                #[cfg(test)]
                self.visited.set(self.visited.get() + 1);
                let c = self.conns.get(&sock)?;
                (c.last_ns <= ts_ns).then_some(ConnInfo {
                    sock,
                    pid,
                    tid: pid,
                    ts_ns,
                    tuple: c.tuple,
                })
            })
            .collect()
    }

    /// Panics unless the pid index names exactly the owned connections
    /// held (for tests and the fuzzer).
    #[doc(hidden)]
    pub fn check_index(&self) {
        let owned = self.conns.values().filter(|c| c.owned).count();
        assert_eq!(self.by_pid.len(), owned, "pid index size");
        for &(pid, sock) in &self.by_pid {
            assert_eq!(
                self.conns.get(&sock).map(|c| (c.pid, c.owned)),
                Some((pid, true))
            );
        }
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
#[path = "conn_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "conn_hostile_tests.rs"]
mod hostile_tests;
