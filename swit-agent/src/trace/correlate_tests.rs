//! Tests of correlate.rs: parents across goroutines, sampling, and requests cut or given up.
use super::*;
use crate::protocol::{
    Moment, Timing,
    http1::{Request, Response},
};
use crate::trace::span::{AttrValue, StatusCode};

fn tuple(l: &str, r: &str) -> Tuple {
    Tuple {
        local: l.parse().unwrap(),
        remote: r.parse().unwrap(),
    }
}

fn req(id: u64, worker: u64, headers: &[(&str, &str)]) -> Request {
    let at = Moment {
        enter_ns: 10,
        exit_ns: 20,
        worker,
    };
    Request {
        id,
        method: "GET".into(),
        target: "/x".into(),
        minor_version: 1,
        headers: headers.iter().copied().collect(),
        body_size: 0,
        timing: Timing {
            first: at,
            last: at,
        },
    }
}

fn resp() -> Response {
    let at = Moment {
        enter_ns: 30,
        exit_ns: 40,
        worker: 1,
    };
    Response {
        status: 200,
        minor_version: 1,
        headers: Default::default(),
        body_size: 0,
        timing: Timing {
            first: at,
            last: at,
        },
        ended_by_close: false,
    }
}

fn correlator(sampler: Sampler) -> Correlator {
    let res = Arc::new(Resource {
        service_name: "s".into(),
        attributes: vec![],
    });
    Correlator::new(
        Clock::fixed(0),
        TraceOptions {
            sampler,
            propagators: vec![Propagator::TraceContext, Propagator::B3],
            ..TraceOptions::default()
        },
        Box::new(move |_| res.clone()),
    )
}

/// Feeds a request and its response on one connection; returns the spans.
fn exchange(c: &mut Correlator, sock: u64, role: Role, t: Tuple, r: Request) -> Vec<Span> {
    let mut out = vec![];
    let ev = |e| ConnEvent {
        sock,
        pid: 7,
        tuple: t,
        role,
        tls: false,
        event: ProtoEvent::Http1(e),
    };
    c.on_event(ev(Http1Event::RequestStarted(r.clone().into())), &mut |s| {
        out.push(s)
    });
    c.on_event(
        ev(Http1Event::Exchange {
            request: r,
            response: resp(),
        }),
        &mut |s| out.push(s),
    );
    out
}

const TP: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[test]
fn an_incoming_sampled_flag_decides_under_a_parent_based_sampler() {
    let t = tuple("127.0.0.1:80", "127.0.0.1:5000");
    let mut c = correlator(Sampler::ParentBasedAlwaysOn);
    let kept = exchange(
        &mut c,
        1,
        Role::Server,
        t,
        req(
            0,
            1,
            &[("traceparent", &format!("00-{TP}-00f067aa0ba902b7-01"))],
        ),
    );
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].trace_id.to_hex(), TP);
    assert_eq!(kept[0].parent_span_id.unwrap().to_hex(), "00f067aa0ba902b7");
    let dropped = exchange(
        &mut c,
        1,
        Role::Server,
        t,
        req(
            1,
            1,
            &[("traceparent", &format!("00-{TP}-00f067aa0ba902b7-00"))],
        ),
    );
    assert!(dropped.is_empty());
    assert_eq!(c.stats.unsampled, 1);
    let mut off = correlator(Sampler::AlwaysOff);
    assert!(exchange(&mut off, 1, Role::Server, t, req(0, 1, &[])).is_empty());
}

#[test]
fn a_client_call_made_while_serving_is_the_requests_child() {
    let mut c = correlator(Sampler::AlwaysOn);
    let srv = tuple("127.0.0.1:80", "127.0.0.1:5000");
    let out_t = tuple("127.0.0.1:6000", "127.0.0.1:81");
    let mut out = vec![];
    let r = req(0, 42, &[("b3", &format!("{TP}-00f067aa0ba902b7-1"))]);
    c.on_event(
        ConnEvent {
            sock: 1,
            pid: 7,
            tuple: srv,
            role: Role::Server,
            tls: false,
            event: ProtoEvent::Http1(Http1Event::RequestStarted(r.clone().into())),
        },
        &mut |s| out.push(s),
    );
    let call = exchange(&mut c, 2, Role::Client, out_t, req(0, 42, &[]));
    c.on_event(
        ConnEvent {
            sock: 1,
            pid: 7,
            tuple: srv,
            role: Role::Server,
            tls: false,
            event: ProtoEvent::Http1(Http1Event::Exchange {
                request: r,
                response: resp(),
            }),
        },
        &mut |s| out.push(s),
    );
    assert_eq!(out.len(), 1);
    let server = &out[0];
    assert_eq!(server.trace_id.to_hex(), TP, "b3 continued");
    assert_eq!(call[0].trace_id, server.trace_id);
    assert_eq!(call[0].parent_span_id, Some(server.span_id));
    assert_eq!(call[0].kind, SpanKind::Client);
    // A call from another thread is not this request's child.
    let other = exchange(&mut c, 3, Role::Client, out_t, req(0, 43, &[]));
    assert_eq!(other[0].parent_span_id, None);
}

/// Go: g addresses, far above thread ids.
const READER: u64 = 0x00c0_0000_1000;
const H1: u64 = 0x00c0_0000_2000;
const H2: u64 = 0x00c0_0000_3000;
const FAN: u64 = 0x00c0_0000_4000;
const DIAL: u64 = 0x00c0_0000_5000;
const WRITER: u64 = 0x00c0_0000_6000;

fn server_event(id: u64, worker: u64, done: bool) -> ConnEvent {
    let r = req(id, worker, &[]);
    ConnEvent {
        sock: 1,
        pid: 7,
        tuple: tuple("127.0.0.1:80", "127.0.0.1:5000"),
        role: Role::Server,
        tls: false,
        event: ProtoEvent::Http1(if done {
            Http1Event::Exchange {
                request: r,
                response: resp(),
            }
        } else {
            Http1Event::RequestStarted(r.into())
        }),
    }
}

/// The parent of a client call made by `worker` (None: a root).
fn call_parent(c: &mut Correlator, worker: u64) -> Option<SpanId> {
    let t = tuple("127.0.0.1:6000", "127.0.0.1:81");
    exchange(c, 9, Role::Client, t, req(0, worker, &[]))[0].parent_span_id
}

fn server_span_ids(c: &mut Correlator, ids: &[u64]) -> Vec<SpanId> {
    ids.iter()
        .map(|&id| {
            let mut out = vec![];
            c.on_event(server_event(id, READER, true), &mut |s| out.push(s));
            out[0].span_id
        })
        .collect()
}

#[test]
fn goroutines_a_reader_starts_serve_its_requests_in_read_order() {
    let mut c = correlator(Sampler::AlwaysOn);
    // Two requests in one read, then one goroutine started for each
    // (grpc-go's stream handlers); the second handler fans out.
    c.on_event(server_event(1, READER, false), &mut |_| {});
    c.on_event(server_event(2, READER, false), &mut |_| {});
    c.go_spawn(7, READER, H1);
    c.go_spawn(7, READER, H2);
    c.go_spawn(7, H2, FAN);
    let p1 = call_parent(&mut c, H1);
    let p2 = call_parent(&mut c, H2);
    let pf = call_parent(&mut c, FAN);
    let ids = server_span_ids(&mut c, &[1, 2]);
    assert_eq!(p1, Some(ids[0]));
    assert_eq!(p2, Some(ids[1]));
    assert_eq!(pf, Some(ids[1]));
    // Both requests answered: their goroutines serve nothing now.
    assert_eq!(call_parent(&mut c, H1), None);
    assert_eq!(call_parent(&mut c, FAN), None);
}

#[test]
fn nothing_is_inherited_two_starts_away_or_by_a_reused_goroutine() {
    let mut c = correlator(Sampler::AlwaysOn);
    // net/http: the handler runs on the goroutine that read the
    // request; its client dials from a goroutine it starts, which
    // starts the connection's writer. Later requests reuse that
    // writer: it must not keep this request as its parent.
    c.on_event(server_event(1, READER, false), &mut |_| {});
    c.go_spawn(7, READER, H1); // net/http's background read
    c.go_spawn(7, READER, DIAL);
    c.go_spawn(7, DIAL, WRITER);
    let on_reader = call_parent(&mut c, READER);
    let dial = call_parent(&mut c, DIAL);
    assert_eq!(call_parent(&mut c, WRITER), None);
    // H1's g is reused by a goroutine that has nothing to do with it.
    c.go_spawn(7, 0x00c0_0000_9900, H1);
    assert_eq!(call_parent(&mut c, H1), None);
    let ids = server_span_ids(&mut c, &[1]);
    assert_eq!(on_reader, Some(ids[0]));
    assert_eq!(dial, Some(ids[0]));
    assert_eq!(c.held().1, 0, "no goroutine state left once answered");
}

#[test]
fn a_connection_writer_acts_for_the_goroutine_that_handed_it_a_request() {
    let mut c = correlator(Sampler::AlwaysOn);
    // net/http's client: the handler (READER, which read request 1)
    // hands its call to the connection's writer.
    c.on_event(server_event(1, READER, false), &mut |_| {});
    c.go_handoff(7, READER, WRITER);
    let linked = call_parent(&mut c, WRITER);
    // Then a goroutine serving nothing uses the same connection.
    c.go_handoff(7, FAN, WRITER);
    assert_eq!(call_parent(&mut c, WRITER), None);
    let ids = server_span_ids(&mut c, &[1]);
    assert_eq!(linked, Some(ids[0]));
    assert_eq!(c.held().1, 0);
}

#[test]
fn requests_given_up_unanswered_are_counted() {
    let mut c = correlator(Sampler::AlwaysOn);
    let ev = |event| ConnEvent {
        sock: 1,
        pid: 7,
        tuple: tuple("127.0.0.1:80", "127.0.0.1:5000"),
        role: Role::Server,
        tls: false,
        event,
    };
    let mut spans = 0;
    c.on_event(
        ev(ProtoEvent::Http1(Http1Event::RequestsDropped { count: 2 })),
        &mut |_| spans += 1,
    );
    c.on_event(
        ev(ProtoEvent::Http2(Http2Event::StreamsDropped { count: 3 })),
        &mut |_| spans += 1,
    );
    assert_eq!((c.stats.dropped_requests, spans), (5, 0));
}

#[test]
fn a_request_cut_by_close_still_parents_the_calls_made_for_it() {
    let mut c = correlator(Sampler::AlwaysOn);
    let srv = tuple("127.0.0.1:80", "127.0.0.1:5000");
    let ev = |event| ConnEvent {
        sock: 1,
        pid: 7,
        tuple: srv,
        role: Role::Server,
        tls: false,
        event: ProtoEvent::Http1(event),
    };
    let r = req(0, 42, &[]);
    let mut out = vec![];
    c.on_event(ev(Http1Event::RequestStarted(r.clone().into())), &mut |s| {
        out.push(s)
    });
    let call = exchange(
        &mut c,
        2,
        Role::Client,
        tuple("127.0.0.1:6000", "127.0.0.1:81"),
        req(0, 42, &[]),
    );
    let closed = Moment {
        enter_ns: 90,
        exit_ns: 95,
        worker: 9,
    };
    c.on_event(
        ev(Http1Event::CutByClose {
            request: r,
            response: None,
            at: closed,
        }),
        &mut |s| out.push(s),
    );
    assert_eq!(out.len(), 1);
    let server = &out[0];
    assert_eq!(call[0].parent_span_id, Some(server.span_id));
    assert_eq!(server.status, StatusCode::Error);
    assert_eq!(
        server.attr("error.type"),
        Some(&AttrValue::Str("connection_closed".into()))
    );
    assert_eq!(server.attr("http.response.status_code"), None);
    // From the request's arrival (exit 20) to the close (exit 95).
    assert_eq!(
        server.end_unix_ns - server.start_unix_ns,
        95 - 20,
        "it ends at the close"
    );
}

/// A request started (not answered) on `sock` by process `pid`, read by
/// `worker`.
fn started(c: &mut Correlator, sock: u64, pid: u32, worker: u64) {
    let remote = format!("127.0.0.1:{}", 1000 + sock % 60000);
    c.on_event(
        ConnEvent {
            sock,
            pid,
            tuple: tuple("127.0.0.1:80", &remote),
            role: Role::Server,
            tls: false,
            event: ProtoEvent::Http1(Http1Event::RequestStarted(req(0, worker, &[]).into())),
        },
        &mut |_| {},
    );
}

#[test]
fn a_close_forgets_its_connection_without_looking_at_the_others() {
    let mut c = correlator(Sampler::AlwaysOn);
    // 2000 connections with a request in flight each, read by goroutines
    // (which also hold them for hand-off) and threads.
    for sock in 1..=2000u64 {
        let worker = if sock % 2 == 0 { READER + sock } else { sock };
        started(&mut c, sock, 7, worker);
    }
    c.go_spawn(7, READER + 2, H1);
    let before = c.held();
    c.visited = 0;
    c.forget_sock(2);
    c.forget_sock(3);
    assert!(
        c.visited <= 6,
        "{} entries looked at for two closes among 2000 connections",
        c.visited
    );
    let after = c.held();
    assert_eq!(after.0, before.0 - 2, "both requests forgotten");
    // Socket 2's reader and heir (the hand-off went to the heir) with who
    // read it and the heirs list; socket 3's thread and who read it.
    assert_eq!(after.1, before.1 - 6, "{before:?} -> {after:?}");
    assert_eq!(call_parent(&mut c, H1), None, "the heir serves nothing");
    for sock in 1..=2000u64 {
        c.forget_sock(sock);
    }
    assert_eq!(c.held(), (0, 0, 0, 0), "nothing left once all closed");
}

#[test]
fn an_exit_forgets_its_process_without_looking_at_the_others() {
    let mut c = correlator(Sampler::AlwaysOn);
    for pid in 1..=2000u32 {
        started(&mut c, pid as u64, pid, READER + pid as u64);
    }
    c.go_spawn(5, READER + 5, H1);
    let before = c.held();
    c.visited = 0;
    c.forget_pid(5);
    assert!(
        c.visited <= 3,
        "{} entries looked at for one exit among 2000 processes",
        c.visited
    );
    let after = c.held();
    // What its reader and heir serve, and the heirs list (the hand-off
    // went to the heir; who read the request goes with the connection).
    assert_eq!(after.1, before.1 - 3, "{before:?} -> {after:?}");
    // Process 7 (the one `call_parent` calls from) still serves.
    assert!(
        call_parent(&mut c, READER + 7).is_some(),
        "others still serve"
    );
}
