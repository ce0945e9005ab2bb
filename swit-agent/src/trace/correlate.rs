//! Gives every exchange its place in a trace: trace id, span id, parent.
//!
//! A span's parent comes from, in order (see docs/user-guide.md, How spans
//! are linked):
//! 1. a `traceparent` header in the request it answers;
//! 2. for a client call: the server request in flight on the same worker
//!    of the same process: the thread, or in a Go process the goroutine
//!    (and the goroutines it started for that request, see [`Serving`]);
//! 3. for a server request: the traced client span at the other end of the
//!    same connection on this host.
//!
//! Ids are assigned when a request *starts*, because the work done while
//! serving it (its children) finishes, and is exported, before it does.
use std::{
    collections::{BTreeMap, VecDeque},
    sync::Arc,
};

use super::{
    context::{Incoming, extract},
    db_span::db_span,
    grpc_span::{h2_span, status_hidden},
    http_span::{HttpExchange, HttpSpanParts, captured_headers, http_span},
    red::Red,
    route::RouteSettings,
    sampler,
    span::{Resource, Span, SpanId, SpanKind, TraceId},
};
use crate::{
    capture::{
        conn::ConnEvent,
        event::{Role, Tuple},
        hash::FxHashMap,
    },
    config::{Propagator, Sampler, redaction::CaptureHeaders},
    protocol::{
        ProtoEvent, ProtocolKind, Timing,
        db::{DbCall, DbEvent},
        headers::{HeaderFields, Headers},
        http1::Http1Event,
        http2::{H2Request, Http2Event},
    },
};

/// Requests started and not yet answered, at most.
pub const MAX_OPEN_REQUESTS: usize = 65536;
/// Client calls per connection waiting for their server side, at most
/// (HTTP/2 multiplexes: gRPC's default limit is 100 concurrent streams).
const MAX_PENDING_PER_TUPLE: usize = 256;
/// Requests handed to goroutines a reader starts, held per reader at most.
const MAX_HANDOFF: usize = 64;
/// Goroutines that inherit one request, at most.
const MAX_INHERITED: usize = 256;
/// Marks HTTP/2 stream ids among a connection's request ids: after an h2c
/// upgrade one connection carries both kinds.
const H2_ID: u64 = 1 << 40;

/// An HTTP/2 request's key among its connection's requests: the HTTP/1
/// request's for the one an h2c upgrade carried (it started there).
fn h2_key(r: &H2Request) -> u64 {
    r.http1_id.unwrap_or(H2_ID | r.stream as u64)
}

/// The connection an event happened on.
struct Conn {
    sock: u64,
    pid: u32,
    tuple: Tuple,
    role: Role,
    /// Seen as TLS plaintext: HTTP/1 URLs are https.
    tls: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanCtx {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent: Option<SpanId>,
    pub flags: u8,
    pub trace_state: String,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CorrelatorStats {
    pub spans: u64,
    /// Exchanges of traces the sampler dropped.
    pub unsampled: u64,
    pub orphan_responses: u64,
    pub parse_errors: u64,
    /// `parse_errors` by protocol, indexed as [`ProtocolKind::ALL`].
    pub parse_errors_by: [u64; ProtocolKind::ALL.len()],
    /// Requests and database calls forgotten unanswered: too many were
    /// open, their connection closed first (HTTP/2 streams), or the side
    /// that answers them lost its place.
    pub dropped_requests: u64,
    /// gRPC spans without `rpc.grpc.status_code`: the trailers' fields
    /// hidden (HPACK table entries from before capture) and nothing else
    /// said how the call ended.
    pub grpc_status_unknown: u64,
    /// HTTP/2 connections with header fields the agent could not decode
    /// (their HPACK table began before capture, or bytes were lost).
    pub h2_hidden_headers: u64,
}

impl CorrelatorStats {
    fn parse_error(&mut self, kind: ProtocolKind) {
        self.parse_errors += 1;
        if let Some(i) = ProtocolKind::ALL.iter().position(|k| *k == kind) {
            self.parse_errors_by[i] += 1;
        }
    }
}

/// Converts kernel (CLOCK_MONOTONIC) times to Unix epoch times.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    offset_ns: i128,
}

impl Clock {
    /// Reads both clocks now.
    pub fn now() -> Self {
        Clock {
            offset_ns: read_clock(libc::CLOCK_REALTIME) as i128
                - read_clock(libc::CLOCK_MONOTONIC) as i128,
        }
    }

    /// CLOCK_MONOTONIC now, the clock of the kernel's record times.
    pub fn mono_ns() -> u64 {
        read_clock(libc::CLOCK_MONOTONIC)
    }

    pub fn fixed(offset_ns: i128) -> Self {
        Clock { offset_ns }
    }

    pub fn to_unix(&self, mono_ns: u64) -> u64 {
        (mono_ns as i128 + self.offset_ns).max(0) as u64
    }
}

fn read_clock(id: libc::clockid_t) -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and out pointer.
    unsafe { libc::clock_gettime(id, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Where a process's resource comes from (the /proc-backed cache, or a
/// closure in tests).
pub trait ResourceSource: Send {
    fn get(&mut self, pid: u32) -> Arc<Resource>;
    /// The process exec'd or exited: build it again next time.
    fn forget(&mut self, _pid: u32) {}
    /// The kernel's name for a process that just exec'd: used if the
    /// process is gone before its resource is built from /proc.
    fn name_hint(&mut self, _pid: u32, _comm: String) {}
    /// Resources held (for the state-leak check).
    fn held(&self) -> usize {
        0
    }
}

impl<F: FnMut(u32) -> Arc<Resource> + Send> ResourceSource for F {
    fn get(&mut self, pid: u32) -> Arc<Resource> {
        self(pid)
    }
}

type ResourceFn = Box<dyn ResourceSource>;

/// How traces are continued and sampled.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceOptions {
    pub sampler: Sampler,
    pub propagators: Vec<Propagator>,
    /// Headers exported as attributes; shared with each span's builder.
    pub capture_headers: Arc<CaptureHeaders>,
    /// `agent.routes`: how server spans get `http.route`.
    pub routes: RouteSettings,
    /// Request metrics are recorded, with this many series per metric at
    /// most, when something exports them.
    pub metric_series: Option<usize>,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            sampler: Sampler::AlwaysOn,
            propagators: vec![Propagator::TraceContext, Propagator::Baggage],
            capture_headers: Arc::default(),
            routes: RouteSettings::default(),
            metric_series: None,
        }
    }
}

const SAMPLED: u8 = 1;

/// A request's key among all: (socket, request id).
type ReqKey = (u64, u64);
/// A worker of a process: (pid, thread id or goroutine `g`).
type WorkerKey = (u32, u64);

/// What a worker is serving.
///
/// A request is served by the worker that read the end of its head: the
/// first bytes may have come through another (net/http's background read
/// of one byte, waiting for the next request on a keep-alive connection).
///
/// A Go server may read a request on one goroutine and serve it on one it
/// starts for it (grpc-go: one per stream). So a goroutine serves what it
/// read itself (`depth` 0), what its reader handed it when it started (in
/// read order: the n-th goroutine started after reading n requests gets
/// the n-th; `depth` 0 too), or, when nothing was waiting, what its parent
/// serves at that moment (`depth` 1: a handler's fan-out). Nothing is
/// inherited past that: net/http's client writes from a connection
/// goroutine two starts away from the handler that dialled it, and later
/// requests reuse that connection; inheriting there would name a wrong
/// parent. An entry counts only while its request is open.
#[derive(Debug, Clone)]
struct Serving {
    key: ReqKey,
    ctx: SpanCtx,
    depth: u8,
}

/// Thread ids are below 2^22; Go's heap, where every `g` lives, is far
/// above 2^32.
fn is_goroutine(worker: u64) -> bool {
    worker > u32::MAX as u64
}

pub struct Correlator {
    clock: Clock,
    opts: TraceOptions,
    resource: ResourceFn,
    // Ordered maps where a close or an exit forgets a range: by socket
    // for requests, by process for workers. A scan of everything per close
    // (or exit) would be quadratic under connection (or process) churn.
    /// Requests started, by (socket, request id).
    open: BTreeMap<ReqKey, SpanCtx>,
    /// The server request each worker is serving.
    serving: BTreeMap<WorkerKey, Serving>,
    /// Requests a reader goroutine read and has not yet handed to a
    /// goroutine it started, oldest first.
    handoff: BTreeMap<WorkerKey, VecDeque<Serving>>,
    /// The worker that read each open server request's head. With
    /// `inherited`, every worker whose `serving` or `handoff` may name a
    /// request: what [`Correlator::forget_sock`] looks at.
    read_by: BTreeMap<ReqKey, WorkerKey>,
    /// The goroutines serving each request besides its reader, so they
    /// stop when it is answered.
    inherited: BTreeMap<ReqKey, Vec<WorkerKey>>,
    /// Client calls by the client's tuple (and HTTP/2 stream), waiting
    /// for the server side.
    calls: FxHashMap<Tuple, VecDeque<(Option<u32>, SpanCtx)>>,
    pub stats: CorrelatorStats,
    /// Routes and request metrics.
    pub red: Red,
    /// Entries looked at by `forget_sock` and `forget_pid`, for tests.
    #[cfg(test)]
    visited: usize,
}

impl Correlator {
    pub fn new(clock: Clock, opts: TraceOptions, resource: ResourceFn) -> Self {
        let red = Red::new(opts.routes.clone(), opts.metric_series);
        Correlator {
            red,
            clock,
            opts,
            resource,
            open: BTreeMap::new(),
            serving: BTreeMap::new(),
            handoff: BTreeMap::new(),
            inherited: BTreeMap::new(),
            read_by: BTreeMap::new(),
            calls: FxHashMap::default(),
            stats: CorrelatorStats::default(),
            #[cfg(test)]
            visited: 0,
        }
    }

    /// Takes one protocol event; finished spans go to `out`.
    pub fn on_event(&mut self, ev: ConnEvent, out: &mut impl FnMut(Span)) {
        let at = Conn {
            sock: ev.sock,
            pid: ev.pid,
            tuple: ev.tuple,
            role: ev.role,
            tls: ev.tls,
        };
        match ev.event {
            ProtoEvent::Http1(h) => match h {
                Http1Event::RequestStarted(req) => self.request_started(
                    &at,
                    req.id,
                    req.timing.last.worker,
                    (&req.headers).into(),
                    None,
                ),
                Http1Event::Exchange { request, response } => {
                    let (l, r) = (at.tuple.local, at.tuple.remote);
                    let cap = self.opts.capture_headers.clone();
                    self.request_done(
                        &at,
                        request.id,
                        Timing {
                            first: request.timing.first,
                            last: response.timing.last,
                        },
                        |kind| {
                            let mut x = HttpExchange::http1(&request, &response);
                            if at.tls {
                                x.scheme = Some("https");
                            }
                            let mut p = http_span(kind, &x, l, r);
                            captured_headers(
                                &cap,
                                &request.headers,
                                &response.headers,
                                &mut p.attributes,
                            );
                            p
                        },
                        out,
                    );
                }
                Http1Event::CutByClose {
                    request,
                    response,
                    at: closed,
                } => {
                    let (l, r) = (at.tuple.local, at.tuple.remote);
                    let cap = self.opts.capture_headers.clone();
                    let no_headers = Headers::default();
                    self.request_done(
                        &at,
                        request.id,
                        Timing {
                            first: request.timing.first,
                            last: closed,
                        },
                        |kind| {
                            let mut x = HttpExchange::http1_cut(&request, response.as_ref());
                            if at.tls {
                                x.scheme = Some("https");
                            }
                            let mut p = http_span(kind, &x, l, r);
                            let answered = response.as_ref().map_or(&no_headers, |r| &r.headers);
                            captured_headers(&cap, &request.headers, answered, &mut p.attributes);
                            p
                        },
                        out,
                    );
                }
                Http1Event::OrphanResponse(_) => self.stats.orphan_responses += 1,
                Http1Event::RequestsDropped { count } => self.stats.dropped_requests += count,
                Http1Event::ParseError { .. } => self.stats.parse_error(ProtocolKind::Http1),
            },
            ProtoEvent::Http2(h) => match h {
                Http2Event::RequestStarted(req) => self.request_started(
                    &at,
                    h2_key(&req),
                    req.timing.last.worker,
                    (&req.headers).into(),
                    Some(req.stream),
                ),
                Http2Event::Exchange { request, response } => {
                    if status_hidden(&request, &response) {
                        self.stats.grpc_status_unknown += 1;
                    }
                    let (l, r) = (at.tuple.local, at.tuple.remote);
                    let cap = self.opts.capture_headers.clone();
                    self.request_done(
                        &at,
                        h2_key(&request),
                        Timing {
                            first: request.timing.first,
                            last: response.timing.last,
                        },
                        |kind| {
                            let mut p = h2_span(kind, &request, &response, l, r);
                            captured_headers(
                                &cap,
                                &request.headers,
                                &response.headers,
                                &mut p.attributes,
                            );
                            p
                        },
                        out,
                    );
                }
                Http2Event::OrphanResponse { .. } => self.stats.orphan_responses += 1,
                Http2Event::HiddenHeaders => self.stats.h2_hidden_headers += 1,
                Http2Event::StreamsDropped { count } => self.stats.dropped_requests += count,
                Http2Event::ParseError { .. } => self.stats.parse_error(ProtocolKind::Http2),
            },
            ProtoEvent::Db(_, DbEvent::Call(call)) => {
                self.db_call(ev.pid, ev.role, ev.tuple, call, out)
            }
            ProtoEvent::Db(kind, DbEvent::ParseError { .. }) => self.stats.parse_error(kind),
            ProtoEvent::Db(_, DbEvent::Dropped { count }) => self.stats.dropped_requests += count,
            // Database calls are leaves: ids are made when they end.
            ProtoEvent::Db(_, DbEvent::CallStarted(_)) => {}
        }
    }

    /// A request's head is in: its span's ids are made now, so that the
    /// calls made while serving it can name it as parent. `stream` is the
    /// HTTP/2 stream, which pairs a traced client's call with the traced
    /// server's request exactly; HTTP/1 pairs them in order.
    fn request_started(
        &mut self,
        at: &Conn,
        id: u64,
        worker: u64,
        headers: HeaderFields<'_>,
        stream: Option<u32>,
    ) {
        let key = (at.sock, id);
        let incoming = extract(headers, &self.opts.propagators);
        let ctx = match at.role {
            Role::Client => {
                let ctx = match incoming {
                    // An instrumented client already made this call's
                    // span id: reuse it so the server side, which
                    // sees the same header, links to us. Its parent
                    // is what the thread serves, if in that trace.
                    Some(inc) => {
                        let parent = self
                            .serving_ctx(at.pid, worker)
                            .filter(|s| s.trace_id == inc.parent.trace_id)
                            .map(|s| s.span_id);
                        self.continued(&inc, inc.parent.parent_id, parent)
                    }
                    None => self.child_of_serving(at.pid, worker),
                };
                let q = self.calls.entry(at.tuple).or_default();
                if q.len() >= MAX_PENDING_PER_TUPLE {
                    q.pop_front();
                }
                q.push_back((stream, ctx.clone()));
                ctx
            }
            _ => {
                let from_call = self.calls.get_mut(&at.tuple.mirror()).and_then(|q| {
                    let i = match stream {
                        Some(s) => q.iter().position(|(cs, _)| *cs == Some(s))?,
                        None => 0,
                    };
                    q.remove(i).map(|(_, c)| c)
                });
                let ctx = match (incoming, from_call) {
                    (Some(inc), _) => {
                        self.continued(&inc, SpanId::random(), Some(inc.parent.parent_id))
                    }
                    // The caller is traced on this host: same trace,
                    // same sampling decision.
                    (None, Some(call)) => SpanCtx {
                        trace_id: call.trace_id,
                        span_id: SpanId::random(),
                        parent: Some(call.span_id),
                        flags: call.flags,
                        trace_state: call.trace_state,
                    },
                    (None, None) => self.root(),
                };
                let entry = Serving {
                    key,
                    ctx: ctx.clone(),
                    depth: 0,
                };
                if is_goroutine(worker) {
                    let q = self.handoff.entry((at.pid, worker)).or_default();
                    if q.len() >= MAX_HANDOFF {
                        q.pop_front();
                    }
                    q.push_back(entry.clone());
                }
                self.serving.insert((at.pid, worker), entry);
                self.read_by.insert(key, (at.pid, worker));
                ctx
            }
        };
        if self.open.len() >= MAX_OPEN_REQUESTS {
            // Oldest cannot be told cheaply; drop everything open
            // rather than grow: the count says it happened.
            self.stats.dropped_requests += self.open.len() as u64;
            self.open.clear();
            self.serving.clear();
            self.handoff.clear();
            self.inherited.clear();
            self.read_by.clear();
            self.calls.clear();
        }
        self.open.insert(key, ctx);
    }

    /// A request was answered (or cut short): its span is complete.
    fn request_done(
        &mut self,
        at: &Conn,
        id: u64,
        timing: Timing,
        parts: impl FnOnce(SpanKind) -> HttpSpanParts,
        out: &mut impl FnMut(Span),
    ) {
        let key = (at.sock, id);
        let ctx = match self.open.remove(&key) {
            Some(c) => c,
            // Started before the agent saw it (or forgotten): a
            // span of its own trace.
            None => self.root(),
        };
        let kind = if at.role == Role::Client {
            SpanKind::Client
        } else {
            SpanKind::Server
        };
        if kind == SpanKind::Server {
            let w = self.read_by.remove(&key).unwrap_or((at.pid, 0));
            if self.serving.get(&w).is_some_and(|s| s.key == key) {
                self.serving.remove(&w);
            }
            if let Some(q) = self.handoff.get_mut(&w) {
                q.retain(|s| s.key != key);
                if q.is_empty() {
                    self.handoff.remove(&w);
                }
            }
            for g in self.inherited.remove(&key).unwrap_or_default() {
                if self.serving.get(&g).is_some_and(|s| s.key == key) {
                    self.serving.remove(&g);
                }
            }
        } else if let Some(q) = self.calls.get_mut(&at.tuple) {
            // The server side, when traced, has taken it by now.
            q.retain(|(_, c)| c.span_id != ctx.span_id);
            if q.is_empty() {
                self.calls.remove(&at.tuple);
            }
        }
        let sampled = ctx.flags & SAMPLED != 0;
        if !sampled && !self.red.wants_unsampled() {
            self.stats.unsampled += 1;
            return;
        }
        let mut parts = parts(kind);
        let (start, end) = match kind {
            // A client's call starts when it begins to send; a
            // server's request when its read returns.
            SpanKind::Client => (timing.first.enter_ns, timing.last.exit_ns),
            _ => (timing.first.exit_ns, timing.last.exit_ns),
        };
        let resource = self.resource.get(at.pid);
        let ns = end.saturating_sub(start);
        self.red
            .finish(kind, &mut parts, &resource.service_name, ns, sampled);
        if !sampled {
            self.stats.unsampled += 1;
            return;
        }
        self.stats.spans += 1;
        out(Span {
            trace_id: ctx.trace_id,
            span_id: ctx.span_id,
            parent_span_id: ctx.parent,
            flags: ctx.flags,
            trace_state: ctx.trace_state,
            name: parts.name,
            kind,
            start_unix_ns: self.clock.to_unix(start),
            end_unix_ns: self.clock.to_unix(end.max(start)),
            attributes: parts.attributes,
            status: parts.status,
            status_message: String::new(),
            resource,
        });
    }

    /// A database call: a child of the request its thread is serving.
    fn db_call(
        &mut self,
        pid: u32,
        role: Role,
        tuple: Tuple,
        call: DbCall,
        out: &mut impl FnMut(Span),
    ) {
        let (kind, ctx, server, peer) = match role {
            Role::Server => (SpanKind::Server, self.root(), tuple.local, tuple.remote),
            _ => (
                SpanKind::Client,
                self.child_of_serving(pid, call.request.first.worker),
                tuple.remote,
                tuple.remote,
            ),
        };
        let sampled = ctx.flags & SAMPLED != 0;
        if !sampled && !self.red.wants_unsampled() {
            self.stats.unsampled += 1;
            return;
        }
        let start = match kind {
            SpanKind::Client => call.request.first.enter_ns,
            _ => call.request.first.exit_ns,
        };
        let end = call.response.last.exit_ns.max(start);
        let mut parts = db_span(call, server, peer);
        let resource = self.resource.get(pid);
        self.red.finish(
            kind,
            &mut parts,
            &resource.service_name,
            end - start,
            sampled,
        );
        if !sampled {
            self.stats.unsampled += 1;
            return;
        }
        self.stats.spans += 1;
        out(Span {
            trace_id: ctx.trace_id,
            span_id: ctx.span_id,
            parent_span_id: ctx.parent,
            flags: ctx.flags,
            trace_state: ctx.trace_state,
            name: parts.name,
            kind,
            start_unix_ns: self.clock.to_unix(start),
            end_unix_ns: self.clock.to_unix(end),
            attributes: parts.attributes,
            status: parts.status,
            // The server's message may echo literal values (MySQL's
            // "Duplicate entry 'alice'"): only the code is exported.
            status_message: String::new(),
            resource,
        });
    }

    /// What `worker` serves, if that request is still open.
    fn serving_ctx(&self, pid: u32, worker: u64) -> Option<&SpanCtx> {
        self.serving
            .get(&(pid, worker))
            .filter(|s| self.open.contains_key(&s.key))
            .map(|s| &s.ctx)
    }

    /// Goroutine `parent` of `pid` started `child` (see [`Serving`]). A
    /// `g` is reused once its goroutine ends: whatever `child` did before
    /// is over.
    pub fn go_spawn(&mut self, pid: u32, parent: u64, child: u64) {
        let c = (pid, child);
        self.serving.remove(&c);
        self.handoff.remove(&c);
        let p = (pid, parent);
        let open = &self.open;
        let handed = self.handoff.get_mut(&p).and_then(|q| {
            while let Some(s) = q.pop_front() {
                if open.contains_key(&s.key) {
                    return Some(s);
                }
            }
            None
        });
        if self.handoff.get(&p).is_some_and(|q| q.is_empty()) {
            self.handoff.remove(&p);
        }
        let entry = handed.or_else(|| {
            self.serving
                .get(&p)
                .filter(|s| s.depth == 0 && open.contains_key(&s.key))
                .map(|s| Serving {
                    depth: 1,
                    ..s.clone()
                })
        });
        if let Some(e) = entry {
            self.inherit(c, e);
        }
    }

    /// Goroutine `from` of `pid` hands the request it is making to `to`,
    /// which writes it (net/http's connection writer): `to` acts for
    /// `from` until the next hand-off, serving whatever `from` serves, or
    /// nothing.
    pub fn go_handoff(&mut self, pid: u32, from: u64, to: u64) {
        let t = (pid, to);
        let entry = self
            .serving
            .get(&(pid, from))
            .filter(|s| self.open.contains_key(&s.key))
            .cloned();
        match entry {
            Some(e) => self.inherit(t, e),
            None => {
                self.serving.remove(&t);
            }
        }
    }

    /// `worker` serves `e`'s request too, until it is answered.
    fn inherit(&mut self, worker: WorkerKey, e: Serving) {
        let heirs = self.inherited.entry(e.key).or_default();
        if heirs.len() < MAX_INHERITED && self.serving.len() < MAX_OPEN_REQUESTS {
            heirs.push(worker);
            self.serving.insert(worker, e);
        }
    }

    fn child_of_serving(&self, pid: u32, worker: u64) -> SpanCtx {
        match self.serving_ctx(pid, worker) {
            Some(s) => SpanCtx {
                trace_id: s.trace_id,
                span_id: SpanId::random(),
                parent: Some(s.span_id),
                flags: s.flags,
                trace_state: s.trace_state.clone(),
            },
            None => self.root(),
        }
    }

    /// A new trace, sampled by the configured sampler.
    fn root(&self) -> SpanCtx {
        let trace_id = TraceId::random();
        let keep = sampler::keep(self.opts.sampler, &trace_id, None);
        SpanCtx {
            trace_id,
            span_id: SpanId::random(),
            parent: None,
            flags: if keep { SAMPLED } else { 0 },
            trace_state: String::new(),
        }
    }

    /// A span continuing an incoming context; the sampler sees its flag.
    fn continued(&self, inc: &Incoming, span_id: SpanId, parent: Option<SpanId>) -> SpanCtx {
        let p = &inc.parent;
        let keep = sampler::keep(self.opts.sampler, &p.trace_id, Some(p.flags & SAMPLED != 0));
        SpanCtx {
            trace_id: p.trace_id,
            span_id,
            parent,
            flags: (p.flags & !SAMPLED) | if keep { SAMPLED } else { 0 },
            trace_state: inc.trace_state.clone(),
        }
    }

    /// Forgets the requests a closed connection left unanswered: the
    /// socket's range of each request map, and what the workers those
    /// name serve or hold for it.
    pub fn forget_sock(&mut self, sock: u64) {
        let range = (sock, 0)..=(sock, u64::MAX);
        let mut workers: Vec<WorkerKey> = take_range(&mut self.read_by, range.clone())
            .into_iter()
            .map(|(_, w)| w)
            .collect();
        let readers = workers.len();
        for (_, heirs) in take_range(&mut self.inherited, range.clone()) {
            workers.extend(heirs);
        }
        let open = take_range(&mut self.open, range);
        #[cfg(test)]
        {
            self.visited += open.len() + workers.len();
        }
        drop(open);
        for (i, w) in workers.iter().enumerate() {
            if self.serving.get(w).is_some_and(|v| v.key.0 == sock) {
                self.serving.remove(w);
            }
            if i < readers
                && let Some(q) = self.handoff.get_mut(w)
            {
                q.retain(|v| v.key.0 != sock);
                if q.is_empty() {
                    self.handoff.remove(w);
                }
            }
        }
    }

    /// Forgets what a process that exited left open: its range of the
    /// worker maps, and the heirs of what its workers served.
    pub fn forget_pid(&mut self, pid: u32) {
        let range = (pid, 0)..=(pid, u64::MAX);
        let serving = take_range(&mut self.serving, range.clone());
        let _handoff = take_range(&mut self.handoff, range).len();
        #[cfg(test)]
        {
            self.visited += serving.len() + _handoff;
        }
        for (_, s) in serving {
            if self
                .inherited
                .get(&s.key)
                .is_some_and(|heirs| heirs.first().is_some_and(|(p, _)| *p == pid))
            {
                self.inherited.remove(&s.key);
            }
        }
        self.resource.forget(pid);
    }

    /// The process runs a new program: its service name may differ.
    pub fn renamed(&mut self, pid: u32) {
        self.resource.forget(pid);
    }

    /// A process is traced from now on: its identity (executable, command
    /// line, environment) is read while it runs. Read only when its first
    /// span is built, a client that exits right after its last answer is
    /// a zombie by then, named by its interpreter (`python3`), not its
    /// script.
    pub fn know(&mut self, pid: u32) {
        let _ = self.resource.get(pid);
    }

    /// See [`ResourceSource::name_hint`].
    pub fn name_hint(&mut self, pid: u32, comm: String) {
        self.resource.name_hint(pid, comm);
    }

    /// Entries held per table: (open requests, serving threads, pending
    /// calls, resources), for the summary's state check.
    pub fn held(&self) -> (usize, usize, usize, usize) {
        (
            self.open.len(),
            self.serving.len() + self.handoff.len() + self.inherited.len() + self.read_by.len(),
            self.calls.len(),
            self.resource.held(),
        )
    }
}

/// Removes and returns the entries of `m` in `range`: the cost is theirs,
/// not the map's.
fn take_range<K: Ord + Copy, V>(
    m: &mut BTreeMap<K, V>,
    range: std::ops::RangeInclusive<K>,
) -> Vec<(K, V)> {
    let keys: Vec<K> = m.range(range).map(|(k, _)| *k).collect();
    keys.into_iter()
        .filter_map(|k| m.remove_entry(&k))
        .collect()
}

#[cfg(test)]
#[path = "correlate_tests.rs"]
mod tests;
