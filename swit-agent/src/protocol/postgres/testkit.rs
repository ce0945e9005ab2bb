//! Test-only: message builders and the conversation table for `session_tests.rs`.
use super::*;
use crate::protocol::Input;

pub(super) use crate::protocol::testkit::{REQ as FE, RESP as BE, m};

pub(super) fn cs(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

pub(super) fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    v.extend_from_slice(body);
    v
}

pub(super) fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

pub(super) fn untyped(code: u32, body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32 + 8).to_be_bytes().to_vec();
    v.extend_from_slice(&code.to_be_bytes());
    v.extend_from_slice(body);
    v
}

pub(super) fn startup(user: &str, db: Option<&str>) -> Vec<u8> {
    let mut body = cat(&[cs("user"), cs(user)]);
    if let Some(db) = db {
        body.extend(cat(&[cs("database"), cs(db)]));
    }
    body.push(0);
    untyped(parse::PROTOCOL_3_0, &body)
}

pub(super) fn query(sql: &str) -> Vec<u8> {
    msg(b'Q', &cs(sql))
}

pub(super) fn parse_stmt(name: &str, sql: &str) -> Vec<u8> {
    msg(b'P', &cat(&[cs(name), cs(sql), vec![0, 0]]))
}

pub(super) fn bind(portal: &str, stmt: &str) -> Vec<u8> {
    // One text parameter, '4242', which must never be reported.
    let params = b"\0\0\0\x01\0\0\0\x044242\0\0".to_vec();
    msg(b'B', &cat(&[cs(portal), cs(stmt), params]))
}

pub(super) fn execute(portal: &str, max_rows: u32) -> Vec<u8> {
    msg(b'E', &cat(&[cs(portal), max_rows.to_be_bytes().to_vec()]))
}

pub(super) fn describe(kind: u8, name: &str) -> Vec<u8> {
    msg(b'D', &cat(&[vec![kind], cs(name)]))
}

pub(super) fn close(kind: u8, name: &str) -> Vec<u8> {
    msg(b'C', &cat(&[vec![kind], cs(name)]))
}

pub(super) fn sync() -> Vec<u8> {
    msg(b'S', b"")
}

pub(super) fn row_desc() -> Vec<u8> {
    msg(b'T', &cat(&[vec![0, 1], cs("a"), vec![0; 18]]))
}

pub(super) fn data_row(val: &str) -> Vec<u8> {
    let mut body = vec![0, 1];
    body.extend_from_slice(&(val.len() as u32).to_be_bytes());
    body.extend_from_slice(val.as_bytes());
    msg(b'D', &body)
}

pub(super) fn done(tag: &str) -> Vec<u8> {
    msg(b'C', &cs(tag))
}

pub(super) fn ready() -> Vec<u8> {
    msg(b'Z', b"I")
}

pub(super) fn error(code: &str, text: &str) -> Vec<u8> {
    let fields = cat(&[
        cs("SERROR"),
        cs("VERROR"),
        cs(&format!("C{code}")),
        cs(&format!("M{text}")),
        cs("Dsecret detail"),
        vec![0],
    ]);
    msg(b'E', &fields)
}

pub(super) fn auth_ok() -> Vec<u8> {
    msg(b'R', &[0, 0, 0, 0])
}

/// The backend's answer to a startup: auth ok, parameters, key, ready.
pub(super) fn hello() -> Vec<u8> {
    cat(&[
        auth_ok(),
        msg(b'S', &cat(&[cs("server_version"), cs("17.2")])),
        msg(b'K', &[0, 0, 0, 7, 1, 2, 3, 4]),
        ready(),
    ])
}

pub(super) fn connect() -> Vec<(Side, Vec<u8>)> {
    vec![(FE, startup("alice", Some("shop"))), (BE, hello())]
}

pub(super) fn run_with(steps: &[(Side, Vec<u8>)], s: &mut Session) -> Vec<DbEvent> {
    let mut out = Vec::new();
    for (i, (side, bytes)) in steps.iter().enumerate() {
        let at = m(i as u64 + 1);
        s.feed(*side, Input::Data { bytes, at }, &mut |e| out.push(e));
    }
    out
}

pub(super) fn run(steps: &[(Side, Vec<u8>)]) -> Vec<DbEvent> {
    run_with(steps, &mut Session::default())
}

pub(super) fn run_bytewise(steps: &[(Side, Vec<u8>)]) -> Vec<DbEvent> {
    let mut s = Session::default();
    let mut out = Vec::new();
    for (i, (side, bytes)) in steps.iter().enumerate() {
        let at = m(i as u64 + 1);
        for b in bytes.chunks(1) {
            s.feed(*side, Input::Data { bytes: b, at }, &mut |e| out.push(e));
        }
    }
    out
}

/// One line per event, for table comparisons.
pub(super) fn brief(e: &DbEvent) -> String {
    match e {
        DbEvent::Call(c) | DbEvent::CallStarted(c) => format!(
            "#{} {} {} rows={:?} err={:?} ns={} text={}",
            c.id,
            c.operation.as_deref().unwrap_or("-"),
            c.collection.as_deref().unwrap_or("-"),
            c.returned_rows,
            c.status_code,
            c.namespace.as_deref().unwrap_or("-"),
            c.query_text.as_deref().unwrap_or("-"),
        ),
        DbEvent::ParseError { side, reason } => format!("error {side:?} {reason}"),
        DbEvent::Dropped { count } => format!("dropped {count}"),
    }
}

pub(super) fn briefs(events: &[DbEvent]) -> Vec<String> {
    events.iter().map(brief).collect()
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

pub(super) struct Case {
    pub(super) name: &'static str,
    pub(super) steps: Vec<(Side, Vec<u8>)>,
    pub(super) want: Vec<&'static str>,
}

pub(super) fn with_connect(steps: Vec<(Side, Vec<u8>)>) -> Vec<(Side, Vec<u8>)> {
    let mut all = connect();
    all.extend(steps);
    all
}

pub(super) fn cases() -> Vec<Case> {
    let q = "SELECT a FROM t";
    vec![
        Case {
            name: "simple select",
            steps: with_connect(vec![
                (FE, query(q)),
                (
                    BE,
                    cat(&[
                        row_desc(),
                        data_row("1"),
                        data_row("2"),
                        done("SELECT 2"),
                        ready(),
                    ]),
                ),
            ]),
            want: vec!["#0 SELECT t rows=Some(2) err=None ns=shop text=SELECT a FROM t"],
        },
        Case {
            name: "insert",
            steps: with_connect(vec![
                (FE, query("INSERT INTO t VALUES (1)")),
                (BE, cat(&[done("INSERT 0 1"), ready()])),
            ]),
            want: vec!["#0 INSERT t rows=None err=None ns=shop text=INSERT INTO t VALUES (?)"],
        },
        Case {
            name: "error 42P01",
            steps: with_connect(vec![
                (FE, query("SELECT * FROM nosuch")),
                (
                    BE,
                    cat(&[
                        error("42P01", "relation \"nosuch\" does not exist"),
                        ready(),
                    ]),
                ),
            ]),
            want: vec![
                "#0 SELECT nosuch rows=None err=Some(\"42P01\") ns=shop text=SELECT * FROM nosuch",
            ],
        },
        Case {
            name: "multi-statement query is one call",
            steps: with_connect(vec![
                (FE, query("BEGIN READ WRITE; SELECT 1; COMMIT")),
                (
                    BE,
                    cat(&[
                        done("BEGIN"),
                        row_desc(),
                        data_row("1"),
                        done("SELECT 1"),
                        done("COMMIT"),
                        ready(),
                    ]),
                ),
            ]),
            want: vec![
                "#0 BEGIN - rows=Some(1) err=None ns=shop text=BEGIN READ WRITE; SELECT ?; COMMIT",
            ],
        },
        Case {
            name: "empty query",
            steps: with_connect(vec![(FE, query("")), (BE, cat(&[msg(b'I', b""), ready()]))]),
            want: vec!["#0 - - rows=None err=None ns=shop text="],
        },
        Case {
            name: "unnamed extended",
            steps: with_connect(vec![
                (
                    FE,
                    cat(&[
                        parse_stmt("", q),
                        bind("", ""),
                        describe(b'P', ""),
                        execute("", 0),
                        sync(),
                    ]),
                ),
                (
                    BE,
                    cat(&[
                        msg(b'1', b""),
                        msg(b'2', b""),
                        row_desc(),
                        data_row("1"),
                        done("SELECT 1"),
                        ready(),
                    ]),
                ),
            ]),
            want: vec!["#0 SELECT t rows=Some(1) err=None ns=shop text=SELECT a FROM t"],
        },
        Case {
            name: "pipelined P/B/E/P/B/E/S",
            steps: with_connect(vec![
                (
                    FE,
                    cat(&[
                        parse_stmt("", "SELECT 1"),
                        bind("", ""),
                        execute("", 0),
                        parse_stmt("", "UPDATE t SET a = 1"),
                        bind("", ""),
                        execute("", 0),
                        sync(),
                    ]),
                ),
                (
                    BE,
                    cat(&[
                        msg(b'1', b""),
                        msg(b'2', b""),
                        data_row("1"),
                        done("SELECT 1"),
                        msg(b'1', b""),
                        msg(b'2', b""),
                        done("UPDATE 3"),
                        ready(),
                    ]),
                ),
            ]),
            want: vec![
                "#0 SELECT - rows=Some(1) err=None ns=shop text=SELECT ?",
                "#1 UPDATE t rows=None err=None ns=shop text=UPDATE t SET a = ?",
            ],
        },
        Case {
            name: "error in the middle of a pipeline",
            steps: with_connect(vec![
                (
                    FE,
                    cat(&[
                        parse_stmt("", "SELECT 1"),
                        bind("", ""),
                        execute("", 0),
                        parse_stmt("", "SELEC 2"),
                        bind("", ""),
                        execute("", 0),
                        parse_stmt("", "SELECT 3"),
                        bind("", ""),
                        execute("", 0),
                        sync(),
                        query("SELECT 4"),
                    ]),
                ),
                (
                    BE,
                    cat(&[
                        msg(b'1', b""),
                        msg(b'2', b""),
                        data_row("1"),
                        done("SELECT 1"),
                        error("42601", "syntax error at or near \"SELEC\""),
                        ready(),
                        row_desc(),
                        data_row("4"),
                        done("SELECT 1"),
                        ready(),
                    ]),
                ),
            ]),
            want: vec![
                "#0 SELECT - rows=Some(1) err=None ns=shop text=SELECT ?",
                "#1 SELEC - rows=None err=Some(\"42601\") ns=shop text=SELEC ?",
                "dropped 1",
                "#3 SELECT - rows=Some(1) err=None ns=shop text=SELECT ?",
            ],
        },
        Case {
            name: "failed prepare without execute",
            steps: with_connect(vec![
                (
                    FE,
                    cat(&[parse_stmt("s1", "SELEC 1"), describe(b'S', "s1"), sync()]),
                ),
                (BE, cat(&[error("42601", "syntax error"), ready()])),
            ]),
            want: vec!["#0 SELEC - rows=None err=Some(\"42601\") ns=shop text=SELEC ?"],
        },
        Case {
            name: "portal suspended by max rows",
            steps: with_connect(vec![
                (FE, cat(&[parse_stmt("", q), bind("", ""), execute("", 2)])),
                (
                    BE,
                    cat(&[
                        msg(b'1', b""),
                        msg(b'2', b""),
                        data_row("1"),
                        data_row("2"),
                        msg(b's', b""),
                    ]),
                ),
                (FE, cat(&[execute("", 2), sync()])),
                (BE, cat(&[data_row("3"), done("SELECT 1"), ready()])),
            ]),
            want: vec![
                "#0 SELECT t rows=Some(2) err=None ns=shop text=SELECT a FROM t",
                "#1 SELECT t rows=Some(1) err=None ns=shop text=SELECT a FROM t",
            ],
        },
        Case {
            name: "copy from stdin keeps sync",
            steps: with_connect(vec![
                (FE, query("COPY t FROM STDIN")),
                (BE, msg(b'G', &[0, 0, 1, 0, 0])),
                (
                    FE,
                    cat(&[
                        msg(b'd', b"1\tone\n"),
                        msg(b'd', b"2\ttwo\n"),
                        msg(b'c', b""),
                    ]),
                ),
                (BE, cat(&[done("COPY 2"), ready()])),
                (FE, query("SELECT 1")),
                (
                    BE,
                    cat(&[row_desc(), data_row("1"), done("SELECT 1"), ready()]),
                ),
            ]),
            want: vec![
                "#0 COPY t rows=Some(2) err=None ns=shop text=COPY t FROM STDIN",
                "#1 SELECT - rows=Some(1) err=None ns=shop text=SELECT ?",
            ],
        },
        Case {
            name: "copy to stdout keeps sync",
            steps: with_connect(vec![
                (FE, query("COPY t TO STDOUT")),
                (
                    BE,
                    cat(&[
                        msg(b'H', &[0, 0, 1, 0, 0]),
                        msg(b'd', b"Z\0\0\0\x05I"),
                        msg(b'd', b"2\ttwo\n"),
                        msg(b'c', b""),
                        done("COPY 2"),
                        ready(),
                    ]),
                ),
                (FE, query("SELECT 1")),
                (
                    BE,
                    cat(&[row_desc(), data_row("1"), done("SELECT 1"), ready()]),
                ),
            ]),
            want: vec![
                "#0 COPY t rows=Some(2) err=None ns=shop text=COPY t TO STDOUT",
                "#1 SELECT - rows=Some(1) err=None ns=shop text=SELECT ?",
            ],
        },
        Case {
            name: "notification, notice and parameter status between calls",
            steps: with_connect(vec![
                (FE, query("LISTEN ch")),
                (BE, cat(&[done("LISTEN"), ready()])),
                (
                    BE,
                    msg(b'A', &cat(&[vec![0, 0, 0, 9], cs("ch"), cs("payload")])),
                ),
                (FE, query("SELECT 1")),
                (
                    BE,
                    cat(&[
                        msg(b'N', &cat(&[cs("SNOTICE"), cs("Mhello"), vec![0]])),
                        row_desc(),
                        msg(b'S', &cat(&[cs("TimeZone"), cs("UTC")])),
                        data_row("1"),
                        done("SELECT 1"),
                        ready(),
                    ]),
                ),
            ]),
            want: vec![
                "#0 LISTEN - rows=None err=None ns=shop text=LISTEN ch",
                "#1 SELECT - rows=Some(1) err=None ns=shop text=SELECT ?",
            ],
        },
        Case {
            name: "ssl refused, then startup; namespace defaults to user",
            steps: vec![
                (FE, untyped(parse::SSL_REQUEST, b"")),
                (BE, b"N".to_vec()),
                (FE, startup("bob", None)),
                (BE, hello()),
                (FE, query("SELECT 1")),
                (
                    BE,
                    cat(&[row_desc(), data_row("1"), done("SELECT 1"), ready()]),
                ),
            ],
            want: vec!["#0 SELECT - rows=Some(1) err=None ns=bob text=SELECT ?"],
        },
        Case {
            name: "ssl accepted: nothing further parsed",
            steps: vec![
                (FE, untyped(parse::SSL_REQUEST, b"")),
                (BE, b"S".to_vec()),
                (FE, b"\x16\x03\x01\x00\x05hello".to_vec()),
                (FE, query("SELECT 1")),
                (BE, cat(&[done("SELECT 1"), ready()])),
            ],
            want: vec![],
        },
        Case {
            name: "cancel request ignored",
            steps: vec![(
                FE,
                untyped(parse::CANCEL_REQUEST, &[0, 0, 0, 7, 1, 2, 3, 4]),
            )],
            want: vec![],
        },
    ]
}
