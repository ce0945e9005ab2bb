//! Tests of session.rs: logins, exchanges with and without EOF packets, the
//! shared kit's checks, prepared statements, namespaces, gaps, resync and
//! bounds. Gaps and resync: `session_gap_tests.rs`.
use super::*;
use crate::protocol::Input;
use crate::protocol::testkit::{self, REQ, RESP, m};

pub(super) const PLUGIN_AUTH: u32 = 1 << 19;

pub(super) fn pkt(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    v.push(seq);
    v.extend_from_slice(payload);
    v
}

pub(super) fn lenenc_str(s: &[u8]) -> Vec<u8> {
    let mut v = vec![s.len() as u8];
    v.extend_from_slice(s);
    v
}

pub(super) fn greeting(version: &str, deprecate: bool) -> Vec<u8> {
    let caps = 0x81ff_f7ff_u32 & !(if deprecate { 0 } else { caps::DEPRECATE_EOF });
    let mut p = vec![0x0a];
    p.extend_from_slice(version.as_bytes());
    p.push(0);
    p.extend_from_slice(&7u32.to_le_bytes());
    p.extend_from_slice(b"GREETSC1\0");
    p.extend_from_slice(&(caps as u16).to_le_bytes());
    p.push(0x21);
    p.extend_from_slice(&2u16.to_le_bytes());
    p.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    p.push(21);
    p.extend_from_slice(&[0; 10]);
    p.extend_from_slice(b"GREETSC2xxxx\0caching_sha2_password\0");
    pkt(0, &p)
}

pub(super) fn client_caps(deprecate: bool) -> u32 {
    let mut c = caps::PROTOCOL_41 | caps::SECURE_CONNECTION | PLUGIN_AUTH | caps::CONNECT_WITH_DB;
    if deprecate {
        c |= caps::DEPRECATE_EOF;
    }
    c
}

/// Greeting, handshake response with schema, an auth switch round, OK.
pub(super) fn login(version: &str, deprecate: bool, schema: &str) -> Vec<(Side, Vec<u8>)> {
    let mut hr = client_caps(deprecate).to_le_bytes().to_vec();
    hr.extend_from_slice(&[0, 0, 0, 1, 0x21]);
    hr.extend_from_slice(&[0; 23]);
    hr.extend_from_slice(b"app\0");
    hr.push(20);
    hr.extend_from_slice(b"AUTHSECRETAUTHSECRET");
    hr.extend_from_slice(schema.as_bytes());
    hr.extend_from_slice(b"\0caching_sha2_password\0");
    vec![
        (RESP, greeting(version, deprecate)),
        (REQ, pkt(1, &hr)),
        (RESP, pkt(2, b"\xfemysql_native_password\0SWITCHSCRAMBLE\0")),
        (REQ, pkt(3, b"AUTHSECRET2AUTHSECRET")),
        (RESP, pkt(4, b"\x00\x00\x00\x02\x00\x00\x00")),
    ]
}

pub(super) fn ok(seq: u8, status: u16) -> Vec<u8> {
    let mut p = vec![0, 1, 0];
    p.extend_from_slice(&status.to_le_bytes());
    p.extend_from_slice(&[0, 0]);
    pkt(seq, &p)
}

pub(super) fn err(seq: u8, code: u16, state: &str, msg: &str) -> Vec<u8> {
    let mut p = vec![0xff];
    p.extend_from_slice(&code.to_le_bytes());
    p.push(b'#');
    p.extend_from_slice(state.as_bytes());
    p.extend_from_slice(msg.as_bytes());
    pkt(seq, &p)
}

pub(super) fn coldef(seq: u8, name: &str) -> Vec<u8> {
    let mut p = lenenc_str(b"def");
    for s in [
        &b"shop"[..],
        b"users",
        b"users",
        name.as_bytes(),
        name.as_bytes(),
    ] {
        p.extend(lenenc_str(s));
    }
    p.extend_from_slice(&[0x0c, 0x21, 0, 0xff, 0, 0, 0, 0xfd, 0, 0, 0, 0, 0]);
    pkt(seq, &p)
}

/// One result set starting at `seq`; returns the bytes and the next seq.
pub(super) fn result_set(
    seq: u8,
    cols: usize,
    rows: &[&str],
    deprecate: bool,
    more: bool,
) -> (Vec<u8>, u8) {
    let mut s = seq;
    let mut next = || {
        s += 1;
        s - 1
    };
    let mut v = pkt(next(), &[cols as u8]);
    for i in 0..cols {
        v.extend(coldef(next(), &format!("c{i}")));
    }
    let status: u16 = if more { 0x0a } else { 0x02 };
    if !deprecate {
        v.extend(pkt(next(), b"\xfe\x00\x00\x02\x00"));
    }
    for r in rows {
        let mut p = Vec::new();
        for _ in 0..cols {
            p.extend(lenenc_str(r.as_bytes()));
        }
        v.extend(pkt(next(), &p));
    }
    let mut end = vec![0xfe, 0, 0];
    end.extend_from_slice(&status.to_le_bytes());
    if deprecate {
        end.extend_from_slice(&[0, 0]);
    }
    v.extend(pkt(next(), &end));
    (v, s)
}

pub(super) fn run_on(s: &mut Session, steps: &[(Side, Vec<u8>)], bytewise: bool) -> Vec<DbEvent> {
    let mut out = Vec::new();
    for (i, (side, bytes)) in steps.iter().enumerate() {
        let at = m(i as u64);
        if bytewise {
            for b in bytes.chunks(1) {
                s.feed(*side, Input::Data { bytes: b, at }, &mut |e| out.push(e));
            }
        } else {
            s.feed(*side, Input::Data { bytes, at }, &mut |e| out.push(e));
        }
    }
    out
}

pub(super) fn run(steps: &[(Side, Vec<u8>)]) -> Vec<DbEvent> {
    run_on(&mut Session::default(), steps, false)
}

pub(super) fn calls(events: &[DbEvent]) -> Vec<&DbCall> {
    events
        .iter()
        .filter_map(|e| match e {
            DbEvent::Call(c) => Some(c),
            _ => None,
        })
        .collect()
}

pub(super) fn dropped(events: &[DbEvent]) -> u64 {
    events
        .iter()
        .map(|e| match e {
            DbEvent::Dropped { count } => *count,
            _ => 0,
        })
        .sum()
}

pub(super) fn errors(events: &[DbEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, DbEvent::ParseError { .. }))
        .count()
}

pub(super) fn query(text: &str) -> Vec<u8> {
    let mut p = vec![command::QUERY];
    p.extend_from_slice(text.as_bytes());
    pkt(0, &p)
}

pub(super) struct Case {
    name: &'static str,
    request: Vec<u8>,
    response: Vec<u8>,
    operation: &'static str,
    rows: Option<u64>,
    status: Option<&'static str>,
}

pub(super) fn cases(deprecate: bool) -> Vec<Case> {
    let (select, _) = result_set(1, 2, &["a", "b", "c"], deprecate, false);
    let (empty, _) = result_set(1, 1, &[], deprecate, false);
    let (first, next) = result_set(1, 1, &["x", "y"], deprecate, true);
    let (second, next) = result_set(next, 3, &["z"], deprecate, true);
    let multi = [first, second, ok(next, 0x02)].concat();
    let infile = [
        pkt(1, b"\xfb/tmp/data.csv"),
        // The file and the empty packet go on the request side (seq 2, 3).
        ok(4, 0x02),
    ]
    .concat();
    vec![
        Case {
            name: "select with rows",
            request: query("SELECT id, name FROM users WHERE id > 5"),
            response: select,
            operation: "SELECT",
            rows: Some(3),
            status: None,
        },
        Case {
            name: "select, empty result",
            request: query("SELECT id FROM users WHERE 1 = 0"),
            response: empty,
            operation: "SELECT",
            rows: Some(0),
            status: None,
        },
        Case {
            name: "insert",
            request: query("INSERT INTO users (name) VALUES ('bob')"),
            response: ok(1, 0x02),
            operation: "INSERT",
            rows: None,
            status: None,
        },
        Case {
            name: "error",
            request: query("SELECT * FROM nope"),
            response: err(1, 1146, "42S02", "Table 'shop.nope' doesn't exist"),
            operation: "SELECT",
            rows: None,
            status: Some("1146"),
        },
        Case {
            name: "multi-resultset",
            request: query("CALL report()"),
            response: multi,
            operation: "CALL",
            rows: Some(3),
            status: None,
        },
        Case {
            name: "ping",
            request: pkt(0, &[command::PING]),
            response: ok(1, 0x02),
            operation: "PING",
            rows: None,
            status: None,
        },
        Case {
            name: "local infile",
            request: query("LOAD DATA LOCAL INFILE '/tmp/data.csv' INTO TABLE t"),
            response: infile,
            operation: "LOAD",
            rows: None,
            status: None,
        },
    ]
}

/// Steps of one exchange; LOCAL INFILE has the client send a file between.
pub(super) fn exchange(c: &Case) -> Vec<(Side, Vec<u8>)> {
    if c.response.get(4) == Some(&0xfb) {
        let head = pkt(1, b"\xfb/tmp/data.csv");
        let rest = c.response[head.len()..].to_vec();
        return vec![
            (REQ, c.request.clone()),
            (RESP, head),
            (REQ, [pkt(2, b"1,2\n3,4\n"), pkt(3, b"")].concat()),
            (RESP, rest),
        ];
    }
    vec![(REQ, c.request.clone()), (RESP, c.response.clone())]
}

#[test]
fn exchanges_with_and_without_deprecate_eof() {
    for deprecate in [false, true] {
        for c in cases(deprecate) {
            let name = format!("{} (deprecate_eof {deprecate})", c.name);
            for with_login in [true, false] {
                let mut steps = if with_login {
                    login("8.0.36", deprecate, "shop")
                } else {
                    Vec::new()
                };
                let base = steps.len();
                steps.extend(exchange(&c));
                let events = run(&steps);
                assert_eq!(errors(&events), 0, "{name}: {events:?}");
                let got = calls(&events);
                assert_eq!(got.len(), 1, "{name} login {with_login}: {events:?}");
                let call = got[0];
                assert_eq!(call.operation.as_deref(), Some(c.operation), "{name}");
                assert_eq!(call.returned_rows, c.rows, "{name}");
                assert_eq!(call.status_code.as_deref(), c.status, "{name}");
                assert_eq!(call.system, system::MYSQL);
                let ns = with_login.then_some("shop");
                assert_eq!(call.namespace.as_deref(), ns, "{name}");
                assert_eq!(call.request.first, m(base as u64));
                assert_eq!(call.response.first, m(base as u64 + 1));
                assert_eq!(call.response.last, m(steps.len() as u64 - 1));
                testkit::split_anywhere::<Session>(&steps, 1, 1);
                let (side, last) = steps.last().unwrap();
                let before = &steps[..steps.len() - 1];
                assert_eq!(run(before), vec![], "{name}");
                testkit::truncated_prefixes::<Session>(before, *side, last);
            }
        }
    }
}

#[test]
fn error_details() {
    let mut steps = login("8.0.36", true, "shop");
    let c = &cases(true)[3];
    steps.extend(exchange(c));
    let events = run(&steps);
    let call = calls(&events)[0];
    assert!(call.is_error());
    assert_eq!(
        call.error_message.as_deref(),
        Some("42S02: Table 'shop.nope' doesn't exist")
    );
    assert_eq!(call.query_text.as_deref(), Some("SELECT * FROM nope"));
}

#[test]
fn mariadb_handshake_sets_system_and_namespace_and_hides_auth() {
    let mut steps = login("5.5.5-10.11.6-MariaDB-0+deb12u1", true, "inventory");
    steps.push((REQ, query("SELECT 1")));
    steps.push((RESP, result_set(1, 1, &["1"], true, false).0));
    for bytewise in [false, true] {
        let events = run_on(&mut Session::default(), &steps, bytewise);
        let c = calls(&events);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].system, system::MARIADB);
        assert_eq!(c[0].namespace.as_deref(), Some("inventory"));
        assert_eq!(c[0].returned_rows, Some(1));
        let dump = format!("{events:?}");
        for secret in ["AUTHSECRET", "SCRAMBLE", "GREETSC", "app"] {
            assert!(!dump.contains(secret), "{secret} in {dump}");
        }
    }
}

pub(super) fn prepare_ok(seq: u8, id: u32, cols: u16, params: u16) -> Vec<u8> {
    let mut p = vec![0];
    p.extend_from_slice(&id.to_le_bytes());
    p.extend_from_slice(&cols.to_le_bytes());
    p.extend_from_slice(&params.to_le_bytes());
    p.extend_from_slice(&[0, 0, 0]);
    pkt(seq, &p)
}

/// A prepare answer with `params` and `cols` definitions.
pub(super) fn prepare_answer(id: u32, cols: u16, params: u16, deprecate: bool) -> Vec<u8> {
    let mut v = prepare_ok(1, id, cols, params);
    let mut seq = 2;
    for n in [params, cols] {
        if n == 0 {
            continue;
        }
        for i in 0..n {
            v.extend(coldef(seq, &format!("p{i}")));
            seq += 1;
        }
        if !deprecate {
            v.extend(pkt(seq, b"\xfe\x00\x00\x02\x00"));
            seq += 1;
        }
    }
    v
}

pub(super) fn execute(id: u32, param: &[u8]) -> Vec<u8> {
    let mut p = vec![command::STMT_EXECUTE];
    p.extend_from_slice(&id.to_le_bytes());
    p.push(0);
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(&[0, 1, 0xfe, 0]);
    p.extend(lenenc_str(param));
    pkt(0, &p)
}

pub(super) fn binary_rows(n: usize, deprecate: bool) -> Vec<u8> {
    let mut v = pkt(1, &[1]);
    v.extend(coldef(2, "name"));
    let mut seq = 3;
    if !deprecate {
        v.extend(pkt(seq, b"\xfe\x00\x00\x02\x00"));
        seq += 1;
    }
    for _ in 0..n {
        v.extend(pkt(seq, b"\x00\x00\x03bob"));
        seq += 1;
    }
    let end: &[u8] = if deprecate {
        b"\xfe\x00\x00\x02\x00\x00\x00"
    } else {
        b"\xfe\x00\x00\x02\x00"
    };
    v.extend(pkt(seq, end));
    v
}

#[test]
fn prepared_once_executed_100_times() {
    for (deprecate, with_login) in [(false, true), (true, true), (false, false), (true, false)] {
        let mut steps = if with_login {
            login("8.0.36", deprecate, "shop")
        } else {
            Vec::new()
        };
        let mut prep = vec![command::STMT_PREPARE];
        prep.extend_from_slice(b"SELECT name FROM users WHERE id = ?");
        steps.push((REQ, pkt(0, &prep)));
        steps.push((RESP, prepare_answer(9, 1, 1, deprecate)));
        for i in 0..100 {
            steps.push((REQ, execute(9, format!("SECRETPARAM{i}").as_bytes())));
            steps.push((RESP, binary_rows(2, deprecate)));
        }
        steps.push((REQ, pkt(0, &[command::STMT_CLOSE, 9, 0, 0, 0])));
        steps.push((REQ, execute(9, b"x")));
        steps.push((RESP, ok(1, 2)));
        let mut s = Session::default();
        let events = run_on(&mut s, &steps, false);
        let name = format!("deprecate {deprecate} login {with_login}");
        assert_eq!(errors(&events), 0, "{name}: {events:?}");
        let c = calls(&events);
        assert_eq!(c.len(), 101, "{name}");
        for call in &c[..100] {
            assert_eq!(
                call.query_text.as_deref(),
                Some("SELECT name FROM users WHERE id = ?")
            );
            assert_eq!(call.operation.as_deref(), Some("SELECT"));
            assert_eq!(call.returned_rows, Some(2), "{name}");
        }
        assert_eq!(c[100].query_text, None, "closed statement is forgotten");
        assert_eq!(c[100].operation.as_deref(), Some("EXECUTE"));
        assert_eq!(s.protocol().statements(), 0);
        assert!(!format!("{events:?}").contains("SECRETPARAM"));
        assert_eq!(
            run_on(&mut Session::default(), &steps, true),
            events,
            "{name}"
        );
    }
}

#[test]
fn prepare_failure_is_reported_and_success_is_not() {
    let mut prep = vec![command::STMT_PREPARE];
    prep.extend_from_slice(b"SELECT * FROM nope");
    let steps = vec![
        (REQ, pkt(0, &prep)),
        (RESP, err(1, 1146, "42S02", "no table")),
        (REQ, pkt(0, &[command::STMT_RESET, 1, 0, 0, 0])),
        (RESP, ok(1, 2)),
        (REQ, pkt(0, &[command::PING])),
        (RESP, ok(1, 2)),
    ];
    let events = run(&steps);
    let c = calls(&events);
    assert_eq!(c.len(), 2, "{events:?}");
    assert_eq!(c[0].status_code.as_deref(), Some("1146"));
    assert_eq!(c[0].query_text.as_deref(), Some("SELECT * FROM nope"));
    assert_eq!(c[1].operation.as_deref(), Some("PING"));
}

#[test]
fn init_db_and_use_change_namespace() {
    let mut steps = login("8.0.36", true, "shop");
    steps.push((REQ, pkt(0, b"\x02billing")));
    steps.push((RESP, ok(1, 2)));
    steps.push((REQ, query("SELECT 1")));
    steps.push((RESP, ok(1, 2)));
    steps.push((REQ, pkt(0, b"\x02missing")));
    steps.push((RESP, err(1, 1049, "42000", "Unknown database")));
    steps.push((REQ, query("USE `audit`")));
    steps.push((RESP, ok(1, 2)));
    steps.push((REQ, query("SELECT 2")));
    steps.push((RESP, ok(1, 2)));
    let events = run(&steps);
    let ns: Vec<_> = calls(&events)
        .iter()
        .map(|c| (c.operation.clone().unwrap(), c.namespace.clone()))
        .collect();
    let want = [
        ("USE", Some("billing")),
        ("SELECT", Some("billing")),
        ("USE", Some("missing")),
        ("USE", Some("billing")),
        ("SELECT", Some("audit")),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(o, n)| (o.to_string(), n.map(str::to_string)))
        .collect();
    assert_eq!(ns, want);
}

#[test]
fn split_anywhere_equals_whole() {
    let mut steps = login("8.0.36", false, "shop");
    for c in cases(false) {
        steps.extend(exchange(&c));
    }
    assert_eq!(calls(&run(&steps)).len(), 7);
    testkit::split_anywhere::<Session>(&steps, 9, 50);
}

#[test]
fn ssl_request_and_quit_stop_parsing() {
    let mut steps = vec![(RESP, greeting("8.0.36", true))];
    let mut ssl = (client_caps(true) | caps::SSL).to_le_bytes().to_vec();
    ssl.extend_from_slice(&[0; 28]);
    steps.push((REQ, pkt(1, &ssl)));
    steps.push((
        REQ,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
    ));
    steps.push((REQ, query("SELECT 1")));
    steps.push((RESP, ok(1, 2)));
    assert_eq!(run(&steps), vec![]);
    let steps = vec![
        (REQ, pkt(0, &[command::QUIT])),
        (REQ, query("SELECT 1")),
        (RESP, ok(1, 2)),
    ];
    assert_eq!(run(&steps), vec![]);
}

#[test]
fn bounds_hold() {
    let mut s = Session::default();
    let mut steps = Vec::new();
    for _ in 0..(MAX_PENDING + 10) {
        steps.push((REQ, query("SELECT 1")));
    }
    assert_eq!(dropped(&run_on(&mut s, &steps, false)), 10);
    // Calls cut short by a close are not reported as dropped.
    let mut out = Vec::new();
    s.close(m(99), &mut |e| out.push(e));
    assert_eq!(out, vec![]);
    let mut s = Session::default();
    let mut steps = Vec::new();
    for id in 0..(MAX_STATEMENTS as u32 + 5) {
        let mut prep = vec![command::STMT_PREPARE];
        prep.extend_from_slice(b"DELETE FROM t WHERE id = ?");
        steps.push((REQ, pkt(0, &prep)));
        steps.push((RESP, prepare_answer(id, 0, 1, true)));
    }
    assert_eq!(errors(&run_on(&mut s, &steps, false)), 0);
    assert_eq!(s.protocol().statements(), MAX_STATEMENTS);
}

#[test]
fn garbage_never_panics() {
    let mut valid = login("8.0.36", false, "shop");
    for c in cases(false) {
        valid.extend(exchange(&c));
    }
    testkit::garbage::<Session>(&valid, 300, |e| matches!(e, DbEvent::ParseError { .. }));
}
