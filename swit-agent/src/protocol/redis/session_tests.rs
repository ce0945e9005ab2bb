//! Tests of session.rs: calls paired with replies, the shared kit's checks,
//! transactions, namespaces, push frames, gaps, resync and bounds.
use super::*;
use crate::protocol::Input;
use crate::protocol::testkit::{self, REQ, RESP, data, gap, m};

/// A RESP command array.
fn cmd(words: &[&str]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", words.len()).into_bytes();
    for w in words {
        v.extend_from_slice(format!("${}\r\n{w}\r\n", w.len()).as_bytes());
    }
    v
}

fn run(steps: &[(Side, Input<'_>)]) -> Vec<DbEvent> {
    let mut s = Session::default();
    let mut out = Vec::new();
    for (side, input) in steps {
        s.feed(*side, *input, &mut |e| out.push(e));
    }
    out
}

fn calls(events: &[DbEvent]) -> Vec<&DbCall> {
    events
        .iter()
        .filter_map(|e| match e {
            DbEvent::Call(c) => Some(c),
            _ => None,
        })
        .collect()
}

fn errors(events: &[DbEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, DbEvent::ParseError { .. }))
        .count()
}

/// (operation, query_text) of each call.
fn summary(events: &[DbEvent]) -> Vec<(String, String)> {
    calls(events)
        .iter()
        .map(|c| {
            (
                c.operation.clone().unwrap_or_default(),
                c.query_text.clone().unwrap_or_default(),
            )
        })
        .collect()
}

/// One command, one reply: (command words, reply bytes, operation, query).
const ONE_CALL: &[(&[&str], &[u8], &str, &str)] = &[
    (
        &["SET", "user:1", "alice"],
        b"+OK\r\n",
        "SET",
        "SET user:1 ?",
    ),
    (&["get", "user:1"], b"$5\r\nalice\r\n", "GET", "GET user:1"),
    (&["HSET", "h", "f", "v"], b":1\r\n", "HSET", "HSET h ? ?"),
    (&["DEL", "a", "b", "c"], b":3\r\n", "DEL", "DEL a ? ?"),
    (&["PING"], b"+PONG\r\n", "PING", "PING"),
    (&["PING", "secret"], b"$6\r\nsecret\r\n", "PING", "PING ?"),
    (&["ECHO", "hi"], b"$2\r\nhi\r\n", "ECHO", "ECHO ?"),
    (&["AUTH", "hunter2"], b"+OK\r\n", "AUTH", "AUTH ?"),
    (&["AUTH", "bob", "hunter2"], b"+OK\r\n", "AUTH", "AUTH ?"),
    (
        &["HELLO", "3", "AUTH", "bob", "hunter2"],
        b"%1\r\n+server\r\n+redis\r\n",
        "HELLO",
        "HELLO ? ? ? ?",
    ),
    (
        &["CLIENT", "SETNAME", "worker"],
        b"+OK\r\n",
        "CLIENT SETNAME",
        "CLIENT SETNAME worker",
    ),
    (
        &["config", "get", "maxmemory"],
        b"*0\r\n",
        "CONFIG GET",
        "CONFIG GET maxmemory",
    ),
    (
        &["EVAL", "return 'x'", "1", "k"],
        b"$1\r\nx\r\n",
        "EVAL",
        "EVAL ? ? ?",
    ),
    (
        &["SCRIPT", "LOAD", "return 1"],
        b"$2\r\nab\r\n",
        "SCRIPT LOAD",
        "SCRIPT LOAD ?",
    ),
    (
        &["SMEMBERS", "s"],
        b"~2\r\n+a\r\n+b\r\n",
        "SMEMBERS",
        "SMEMBERS s",
    ),
    (
        &["HGETALL", "h"],
        b"%1\r\n+f\r\n+v\r\n",
        "HGETALL",
        "HGETALL h",
    ),
    (
        &["GET", "k"],
        b"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n",
        "GET",
        "GET k",
    ),
    (&["GET", "missing"], b"_\r\n", "GET", "GET missing"),
    (&["GET", "missing"], b"$-1\r\n", "GET", "GET missing"),
];

#[test]
fn one_call_table() {
    for (words, reply, op, query) in ONE_CALL {
        let req = cmd(words);
        let ev = run(&[(REQ, data(&req, 1)), (RESP, data(reply, 2))]);
        let c = calls(&ev);
        assert_eq!(c.len(), 1, "{words:?}: {ev:?}");
        assert_eq!(c[0].operation.as_deref(), Some(*op), "{words:?}");
        assert_eq!(c[0].query_text.as_deref(), Some(*query), "{words:?}");
        assert_eq!(c[0].system, "redis");
        assert_eq!(c[0].namespace.as_deref(), Some("0"));
        assert_eq!(c[0].collection, None);
        assert!(!c[0].is_error());
        assert_eq!(c[0].request.first, m(1));
        assert_eq!(c[0].response.last, m(2));
    }
}

#[test]
fn secrets_never_reach_events() {
    let mut all = Vec::new();
    for words in [
        &["AUTH", "hunter2"][..],
        &["AUTH", "bob", "hunter2"],
        &["HELLO", "3", "AUTH", "bob", "hunter2"],
        &["SET", "k", "hunter2"],
        &["CONFIG", "SET", "requirepass", "hunter2"],
        &["ACL", "SETUSER", "bob", ">hunter2"],
    ] {
        all.extend(cmd(words));
    }
    all.extend_from_slice(b"AUTH hunter2\r\n");
    let replies = b"+OK\r\n".repeat(7);
    let ev = run(&[(REQ, data(&all, 1)), (RESP, data(&replies, 2))]);
    assert_eq!(calls(&ev).len(), 7);
    let text = format!("{ev:?}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn pipelined_commands_pair_in_order() {
    let mut reqs = Vec::new();
    for i in 0..100 {
        reqs.extend(cmd(&["SET", &format!("k{i}"), "v"]));
    }
    let replies = b"+OK\r\n".repeat(100);
    let ev = run(&[(REQ, data(&reqs, 1)), (RESP, data(&replies, 2))]);
    let c = calls(&ev);
    assert_eq!(c.len(), 100);
    for (i, call) in c.iter().enumerate() {
        assert_eq!(call.id, i as u64);
        assert_eq!(
            call.query_text.as_deref(),
            Some(format!("SET k{i} ?").as_str())
        );
        assert_eq!(call.request.first, m(1));
        assert_eq!(call.response.first, m(2));
    }
    assert_eq!(errors(&ev), 0);
}

#[test]
fn split_anywhere_equals_whole() {
    let mut reqs = cmd(&["SET", "a", "1"]);
    reqs.extend(cmd(&["LRANGE", "l", "0", "-1"]));
    reqs.extend_from_slice(b"PING\r\n");
    let replies = b"+OK\r\n*2\r\n$1\r\nx\r\n|1\r\n+a\r\n+b\r\n$1\r\ny\r\n+PONG\r\n".to_vec();
    let steps = vec![(REQ, reqs), (RESP, replies)];
    assert_eq!(calls(&testkit::run::<Session>(&steps)).len(), 3);
    testkit::split_anywhere::<Session>(&steps, 1, 1);
    testkit::split_anywhere::<Session>(&steps, 9, 40);
}

#[test]
fn truncated_prefixes_report_nothing() {
    for (words, reply, _, _) in ONE_CALL {
        testkit::truncated_prefixes::<Session>(&[], REQ, &cmd(words));
        testkit::truncated_prefixes::<Session>(&[(REQ, cmd(words))], RESP, reply);
    }
}

#[test]
fn garbage_never_panics() {
    let valid: Vec<(Side, Vec<u8>)> = ONE_CALL
        .iter()
        .flat_map(|(words, reply, _, _)| [(REQ, cmd(words)), (RESP, reply.to_vec())])
        .collect();
    testkit::garbage::<Session>(&valid, 200, |e| matches!(e, DbEvent::ParseError { .. }));
}

#[test]
fn multi_exec() {
    let mut reqs = cmd(&["MULTI"]);
    reqs.extend(cmd(&["INCR", "c"]));
    reqs.extend(cmd(&["SET", "k", "v"]));
    reqs.extend(cmd(&["EXEC"]));
    let replies = b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1\r\n+OK\r\n";
    let ev = run(&[(REQ, data(&reqs, 1)), (RESP, data(replies, 2))]);
    let ops: Vec<_> = summary(&ev).into_iter().map(|(op, _)| op).collect();
    assert_eq!(ops, ["MULTI", "INCR", "SET", "EXEC"]);
    // A queue-time error, then EXECABORT.
    let mut reqs = cmd(&["MULTI"]);
    reqs.extend(cmd(&["NOPE"]));
    reqs.extend(cmd(&["EXEC"]));
    let replies = b"+OK\r\n-ERR unknown command 'NOPE'\r\n-EXECABORT Transaction discarded.\r\n";
    let ev = run(&[(REQ, data(&reqs, 1)), (RESP, data(replies, 2))]);
    let c = calls(&ev);
    assert_eq!(c.len(), 3);
    assert_eq!(c[1].status_code.as_deref(), Some("ERR"));
    assert_eq!(c[2].status_code.as_deref(), Some("EXECABORT"));
    assert_eq!(
        c[2].error_message.as_deref(),
        Some("Transaction discarded.")
    );
}

#[test]
fn errors_give_status_and_message() {
    let cases: &[(&[u8], &str, Option<&str>)] = &[
        (b"-ERR unknown command\r\n", "ERR", Some("unknown command")),
        (
            b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
            "WRONGTYPE",
            Some("Operation against a key holding the wrong kind of value"),
        ),
        (
            b"-NOAUTH Authentication required.\r\n",
            "NOAUTH",
            Some("Authentication required."),
        ),
        (b"-LOADING\r\n", "LOADING", None),
        (b"-\r\n", "ERR", None),
        (
            b"!21\r\nSYNTAX invalid syntax\r\n",
            "SYNTAX",
            Some("invalid syntax"),
        ),
    ];
    for (reply, code, message) in cases {
        let req = cmd(&["GET", "k"]);
        let ev = run(&[(REQ, data(&req, 1)), (RESP, data(reply, 2))]);
        let c = calls(&ev);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].status_code.as_deref(), Some(*code));
        assert_eq!(c[0].error_message.as_deref(), *message);
    }
}

#[test]
fn select_sets_the_namespace_of_later_calls() {
    let mut reqs = cmd(&["SELECT", "2"]);
    reqs.extend(cmd(&["GET", "k"]));
    reqs.extend(cmd(&["SELECT", "99"]));
    reqs.extend(cmd(&["GET", "k"]));
    let ev = run(&[
        (REQ, data(&reqs, 1)),
        (
            RESP,
            data(b"+OK\r\n$-1\r\n-ERR DB index is out of range\r\n$-1\r\n", 2),
        ),
    ]);
    let ns: Vec<_> = calls(&ev)
        .iter()
        .map(|c| c.namespace.clone().unwrap())
        .collect();
    // Calls are made when the request parses: the second GET was queued
    // before the failed SELECT's reply; it keeps db 2.
    assert_eq!(ns, ["0", "0", "0", "0"]);
    let mut s = Session::default();
    let mut out = Vec::new();
    s.feed(REQ, data(&cmd(&["SELECT", "2"]), 1), &mut |e| out.push(e));
    s.feed(RESP, data(b"+OK\r\n", 2), &mut |e| out.push(e));
    s.feed(REQ, data(&cmd(&["GET", "k"]), 3), &mut |e| out.push(e));
    s.feed(RESP, data(b"$-1\r\n", 4), &mut |e| out.push(e));
    assert_eq!(calls(&out)[1].namespace.as_deref(), Some("2"));
}

#[test]
fn push_frames_are_not_replies() {
    let mut reqs = cmd(&["CLIENT", "TRACKING", "on"]);
    reqs.extend(cmd(&["GET", "k"]));
    let replies = b"+OK\r\n>2\r\n+invalidate\r\n*1\r\n$1\r\nk\r\n$1\r\nv\r\n";
    let ev = run(&[(REQ, data(&reqs, 1)), (RESP, data(replies, 2))]);
    let c = calls(&ev);
    assert_eq!(c.len(), 2);
    assert_eq!(c[1].query_text.as_deref(), Some("GET k"));
    assert_eq!(errors(&ev), 0);
}

#[test]
fn subscribe_stops_pairing() {
    for reply in [
        &b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"[..],
        b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
    ] {
        let mut s = Session::default();
        let mut out = Vec::new();
        s.feed(REQ, data(&cmd(&["SUBSCRIBE", "ch"]), 1), &mut |e| {
            out.push(e)
        });
        s.feed(RESP, data(reply, 2), &mut |e| out.push(e));
        s.feed(REQ, data(&cmd(&["PING"]), 3), &mut |e| out.push(e));
        s.feed(
            RESP,
            data(b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n", 4),
            &mut |e| out.push(e),
        );
        assert_eq!(summary(&out), [("SUBSCRIBE".into(), "SUBSCRIBE ch".into())]);
        assert_eq!(s.protocol().pending_calls(), 0);
    }
    // MONITOR: +OK, then a stream of simple strings.
    let ev = run(&[
        (REQ, data(&cmd(&["MONITOR"]), 1)),
        (
            RESP,
            data(
                b"+OK\r\n+1339518083.107412 [0 127.0.0.1:60866] \"keys\" \"*\"\r\n",
                2,
            ),
        ),
    ]);
    assert_eq!(calls(&ev).len(), 1);
}

#[test]
fn inline_commands() {
    let ev = run(&[
        (REQ, data(b"PING\r\n", 1)),
        (RESP, data(b"+PONG\r\n", 2)),
        (REQ, data(b"set k v\r\nget k\n", 3)),
        (RESP, data(b"+OK\r\n$1\r\nv\r\n", 4)),
    ]);
    assert_eq!(
        summary(&ev),
        [
            ("PING".into(), "PING".into()),
            ("SET".into(), "SET k ?".into()),
            ("GET".into(), "GET k".into()),
        ]
    );
}

#[test]
fn gap_inside_a_big_value_is_skipped() {
    let value_len = 1_000_000u64;
    let head = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${value_len}\r\nxxxx");
    let ev = run(&[
        (REQ, data(head.as_bytes(), 1)),
        (REQ, gap(value_len - 8, 2)),
        (REQ, data(b"yyyy\r\n", 3)),
        (RESP, data(b"+OK\r\n", 4)),
        (REQ, data(&cmd(&["GET", "big"]), 5)),
        (RESP, data(b"$1000000\r\nzz", 6)),
        (RESP, gap(value_len - 2, 7)),
        (RESP, data(b"\r\n", 8)),
    ]);
    assert_eq!(errors(&ev), 0);
    let c = calls(&ev);
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].query_text.as_deref(), Some("SET big ?"));
    assert_eq!(c[0].request.first, m(1));
    assert_eq!(c[0].request.last, m(3));
    assert_eq!(c[1].response.first, m(6));
    assert_eq!(c[1].response.last, m(8));
}

#[test]
fn gap_between_frames_resyncs_once() {
    let mut after = cmd(&["GET", "b"]);
    after.extend(cmd(&["GET", "c"]));
    let ev = run(&[
        (REQ, data(&cmd(&["GET", "a"]), 1)),
        (RESP, data(b"$1\r\n1\r\n", 2)),
        (REQ, data(b"*2\r\n$3\r\nGE", 3)),
        (REQ, gap(10, 4)),
        (REQ, data(b"garbage\r\nmore\r\n", 5)),
        (REQ, gap(3, 6)),
        (REQ, data(&after, 7)),
        // The cut command's reply, then b's and c's.
        (RESP, data(b"$1\r\n?\r\n$1\r\n2\r\n$1\r\n3\r\n", 8)),
    ]);
    assert_eq!(errors(&ev), 1, "{ev:?}");
    let q: Vec<_> = summary(&ev).into_iter().map(|(_, q)| q).collect();
    assert_eq!(q, ["GET a", "GET b", "GET c"]);
    // A response-side gap outside a payload drops what waits.
    let ev = run(&[
        (REQ, data(&cmd(&["PING"]), 1)),
        (RESP, data(b"+PONG\r\n", 1)),
        (REQ, data(&cmd(&["GET", "a"]), 1)),
        (RESP, data(b"*2\r\n", 2)),
        (RESP, gap(5, 3)),
        (RESP, data(b"\r\n:1\r\n", 4)),
        (REQ, data(&cmd(&["GET", "b"]), 5)),
        (RESP, data(b":2\r\n", 6)),
    ]);
    assert_eq!(errors(&ev), 1);
    assert_eq!(
        summary(&ev),
        [
            ("PING".into(), "PING".into()),
            ("GET".into(), "GET b".into())
        ]
    );
}

#[test]
fn mid_stream_start_resyncs_silently() {
    let mut tail = b"lue of some earlier SET\r\n".to_vec();
    tail.extend(cmd(&["GET", "k"]));
    let ev = run(&[
        (RESP, data(b"ue\r\n", 1)),
        (REQ, data(&tail, 2)),
        (RESP, data(b"$1\r\nv\r\n", 3)),
    ]);
    assert_eq!(errors(&ev), 0);
    assert_eq!(summary(&ev), [("GET".into(), "GET k".into())]);
}

#[test]
fn garbage_reports_once_and_recovers() {
    let ev = run(&[
        (REQ, data(&cmd(&["PING"]), 1)),
        (RESP, data(b"+PONG\r\n", 2)),
        (REQ, data(b"*1\r\n\x00\x00junk\r\n", 3)),
        (REQ, data(b"*zz\r\n", 4)),
        (REQ, data(&cmd(&["PING"]), 5)),
        (RESP, data(b"+PONG\r\n", 6)),
    ]);
    assert_eq!(errors(&ev), 1);
    assert_eq!(calls(&ev).len(), 2);
}

#[test]
fn pending_is_bounded() {
    let mut reqs = Vec::new();
    let n = MAX_PENDING + 10;
    for _ in 0..n {
        reqs.extend(cmd(&["INCR", "c"]));
    }
    let mut replies = Vec::new();
    for i in 0..n {
        replies.extend(format!(":{i}\r\n").as_bytes());
    }
    let mut s = Session::default();
    let mut out = Vec::new();
    s.feed(REQ, data(&reqs, 1), &mut |e| out.push(e));
    assert_eq!(s.protocol().pending_calls(), MAX_PENDING);
    let dropped: u64 = out
        .iter()
        .map(|e| match e {
            DbEvent::Dropped { count } => *count,
            _ => 0,
        })
        .sum();
    assert_eq!(dropped, 10);
    s.feed(RESP, data(&replies, 2), &mut |e| out.push(e));
    assert_eq!(calls(&out).len(), MAX_PENDING);
    // The next command still pairs with its own reply.
    s.feed(REQ, data(&cmd(&["GET", "x"]), 3), &mut |e| out.push(e));
    s.feed(RESP, data(b"+mine\r\n", 4), &mut |e| out.push(e));
    assert_eq!(
        calls(&out).last().unwrap().query_text.as_deref(),
        Some("GET x")
    );
    assert_eq!(s.protocol().pending_calls(), 0);
}

#[test]
fn long_argument_lists_are_summarised() {
    let mut words = vec!["MSET"];
    words.extend(["k", "v"].repeat(20));
    let (op, q) = describe(
        "MSET",
        &[Some("MSET".into()), Some("k".into())],
        words.len() as u64,
    );
    assert_eq!(op, "MSET");
    assert_eq!(
        q,
        format!("MSET k{} ...", " ?".repeat(MAX_PLACEHOLDERS as usize))
    );
}

#[test]
fn close_drops_waiting_calls() {
    let mut s = Session::default();
    let mut out = Vec::new();
    s.feed(REQ, data(&cmd(&["BLPOP", "q", "0"]), 1), &mut |e| {
        out.push(e)
    });
    s.close(m(2), &mut |e| out.push(e));
    assert!(out.is_empty());
    assert_eq!(s.protocol().pending_calls(), 0);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = testkit::Prng(7);
    let alphabet = b"*$+-:_>|%~#,!=0123456789\r\n\r\nGETSETPINGabc ";
    for _ in 0..3000 {
        let mut s = Session::default();
        let mut out = Vec::new();
        for _ in 0..(rng.next_u64() % 8) {
            let len = rng.next_u64() % 40;
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[(rng.next_u64() % alphabet.len() as u64) as usize])
                .collect();
            let side = if rng.next_u64().is_multiple_of(2) {
                REQ
            } else {
                RESP
            };
            if rng.next_u64().is_multiple_of(6) {
                s.feed(side, gap(rng.next_u64() % 100, 1), &mut |e| out.push(e));
            } else {
                s.feed(side, data(&bytes, 1), &mut |e| out.push(e));
            }
        }
        s.close(m(2), &mut |e| out.push(e));
    }
}
