//! Gives every exchange its place in a trace: trace id, span id, parent.
//!
//! A span's parent comes from, in order (see DESIGN.md, Trace context):
//! 1. a `traceparent` header in the request it answers;
//! 2. for a client call: the server request in flight on the same thread
//!    of the same process;
//! 3. for a server request: the traced client span at the other end of the
//!    same connection on this host.
//!
//! Ids are assigned when a request *starts*, because the work done while
//! serving it (its children) finishes, and is exported, before it does.
use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
};

use super::{
    context::parse_traceparent,
    http_span::{header, http_span},
    span::{Resource, Span, SpanId, SpanKind, TraceId},
};
use crate::{
    capture::{
        conn::ConnEvent,
        event::{Role, Tuple},
    },
    protocol::{ProtoEvent, http1::Http1Event},
};

/// Requests started and not yet answered, at most.
pub const MAX_OPEN_REQUESTS: usize = 65536;
/// Client calls per connection waiting for their server side, at most.
const MAX_PENDING_PER_TUPLE: usize = 64;

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
    pub orphan_responses: u64,
    pub parse_errors: u64,
    /// Requests forgotten because too many were open.
    pub dropped_requests: u64,
}

/// Converts kernel (CLOCK_MONOTONIC) times to Unix epoch times.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    offset_ns: i128,
}

impl Clock {
    /// Reads both clocks now.
    pub fn now() -> Self {
        let ts = |id| {
            let mut t = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: valid clock id and out pointer.
            unsafe { libc::clock_gettime(id, &mut t) };
            t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128
        };
        Clock {
            offset_ns: ts(libc::CLOCK_REALTIME) - ts(libc::CLOCK_MONOTONIC),
        }
    }

    pub fn fixed(offset_ns: i128) -> Self {
        Clock { offset_ns }
    }

    pub fn to_unix(&self, mono_ns: u64) -> u64 {
        (mono_ns as i128 + self.offset_ns).max(0) as u64
    }
}

type ResourceFn = Box<dyn FnMut(u32) -> Arc<Resource> + Send>;

pub struct Correlator {
    clock: Clock,
    resource: ResourceFn,
    /// Requests started, by (socket, request id).
    open: HashMap<(u64, u64), SpanCtx>,
    /// The server request each thread is serving, by (pid, tid).
    serving: HashMap<(u32, u32), ((u64, u64), SpanCtx)>,
    /// Client calls by the client's tuple, waiting for the server side.
    calls: HashMap<Tuple, VecDeque<SpanCtx>>,
    pub stats: CorrelatorStats,
}

impl Correlator {
    pub fn new(clock: Clock, resource: ResourceFn) -> Self {
        Correlator {
            clock,
            resource,
            open: HashMap::new(),
            serving: HashMap::new(),
            calls: HashMap::new(),
            stats: CorrelatorStats::default(),
        }
    }

    /// Takes one protocol event; finished spans go to `out`.
    pub fn on_event(&mut self, ev: ConnEvent, out: &mut impl FnMut(Span)) {
        let ProtoEvent::Http1(h) = ev.event;
        match h {
            Http1Event::RequestStarted(req) => {
                let tid = req.timing.first.tid;
                let key = (ev.sock, req.id);
                let tp = header(&req.headers, "traceparent").and_then(parse_traceparent);
                let ts = header(&req.headers, "tracestate").unwrap_or("").to_string();
                let ctx = match ev.role {
                    Role::Client => {
                        let mut ctx = match tp {
                            // An instrumented client already made this call's
                            // span id: reuse it so the server side, which
                            // sees the same header, links to us.
                            Some(tp) => SpanCtx {
                                trace_id: tp.trace_id,
                                span_id: tp.parent_id,
                                parent: None,
                                flags: tp.flags,
                                trace_state: ts,
                            },
                            None => self.child_of_serving(ev.pid, tid),
                        };
                        if tp.is_some() {
                            // Its parent is whatever the thread is serving,
                            // when that is in the same trace.
                            if let Some((_, s)) = self.serving.get(&(ev.pid, tid))
                                && s.trace_id == ctx.trace_id
                            {
                                ctx.parent = Some(s.span_id);
                            }
                        }
                        let q = self.calls.entry(ev.tuple).or_default();
                        if q.len() >= MAX_PENDING_PER_TUPLE {
                            q.pop_front();
                        }
                        q.push_back(ctx.clone());
                        ctx
                    }
                    _ => {
                        let from_call = self
                            .calls
                            .get_mut(&ev.tuple.mirror())
                            .and_then(|q| q.pop_front());
                        let ctx = match (tp, from_call) {
                            (Some(tp), _) => SpanCtx {
                                trace_id: tp.trace_id,
                                span_id: SpanId::random(),
                                parent: Some(tp.parent_id),
                                flags: tp.flags,
                                trace_state: ts,
                            },
                            (None, Some(call)) => SpanCtx {
                                trace_id: call.trace_id,
                                span_id: SpanId::random(),
                                parent: Some(call.span_id),
                                flags: call.flags,
                                trace_state: call.trace_state,
                            },
                            (None, None) => root(),
                        };
                        self.serving.insert((ev.pid, tid), (key, ctx.clone()));
                        ctx
                    }
                };
                if self.open.len() >= MAX_OPEN_REQUESTS {
                    // Oldest cannot be told cheaply; drop everything open
                    // rather than grow: the count says it happened.
                    self.stats.dropped_requests += self.open.len() as u64;
                    self.open.clear();
                    self.serving.clear();
                    self.calls.clear();
                }
                self.open.insert(key, ctx);
            }
            Http1Event::Exchange { request, response } => {
                let key = (ev.sock, request.id);
                let ctx = self.open.remove(&key).unwrap_or_else(root);
                let kind = if ev.role == Role::Client {
                    SpanKind::Client
                } else {
                    SpanKind::Server
                };
                if kind == SpanKind::Server {
                    let tid = request.timing.first.tid;
                    if self
                        .serving
                        .get(&(ev.pid, tid))
                        .is_some_and(|(k, _)| *k == key)
                    {
                        self.serving.remove(&(ev.pid, tid));
                    }
                } else if let Some(q) = self.calls.get_mut(&ev.tuple) {
                    // The server side, when traced, has taken it by now.
                    q.retain(|c| c.span_id != ctx.span_id);
                    if q.is_empty() {
                        self.calls.remove(&ev.tuple);
                    }
                }
                let parts = http_span(kind, &request, &response, ev.tuple.local, ev.tuple.remote);
                let (start, end) = match kind {
                    // A client's call starts when it begins to send; a
                    // server's request when its read returns.
                    SpanKind::Client => {
                        (request.timing.first.enter_ns, response.timing.last.exit_ns)
                    }
                    _ => (request.timing.first.exit_ns, response.timing.last.exit_ns),
                };
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
                    resource: (self.resource)(ev.pid),
                });
            }
            Http1Event::OrphanResponse(_) => self.stats.orphan_responses += 1,
            Http1Event::ParseError { .. } => self.stats.parse_errors += 1,
        }
    }

    fn child_of_serving(&self, pid: u32, tid: u32) -> SpanCtx {
        match self.serving.get(&(pid, tid)) {
            Some((_, s)) => SpanCtx {
                trace_id: s.trace_id,
                span_id: SpanId::random(),
                parent: Some(s.span_id),
                flags: s.flags,
                trace_state: s.trace_state.clone(),
            },
            None => root(),
        }
    }

    /// Forgets the requests a closed connection left unanswered.
    pub fn forget_sock(&mut self, sock: u64) {
        self.open.retain(|(s, _), _| *s != sock);
        self.serving.retain(|_, ((s, _), _)| *s != sock);
    }

    /// Forgets what a process that exited left open.
    pub fn forget_pid(&mut self, pid: u32) {
        self.serving.retain(|(p, _), _| *p != pid);
    }
}

fn root() -> SpanCtx {
    SpanCtx {
        trace_id: TraceId::random(),
        span_id: SpanId::random(),
        parent: None,
        flags: 1,
        trace_state: String::new(),
    }
}
