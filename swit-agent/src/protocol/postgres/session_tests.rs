//! Tests of session.rs: the conversation table, the shared kit's checks,
//! timing, prepared statements, secrets, gaps, resync and bounds.
use super::testkit::*;
use super::*;
use crate::protocol::Input;
use crate::protocol::postgres::MAX_QUERY_BYTES;
use crate::protocol::testkit;

#[test]
fn conversations() {
    for case in cases() {
        let whole = run(&case.steps);
        assert_eq!(briefs(&whole), case.want, "{}", case.name);
        testkit::split_anywhere::<Session>(&case.steps, 1, 1);
        testkit::split_anywhere::<Session>(&case.steps, 9, 5);
    }
}

#[test]
fn call_timing() {
    let steps = with_connect(vec![
        (FE, cat(&[parse_stmt("", "SELECT 1"), bind("", "")])),
        (FE, cat(&[execute("", 0), sync()])),
        (BE, cat(&[msg(b'1', b""), msg(b'2', b"")])),
        (BE, data_row("1")),
        (BE, cat(&[done("SELECT 1"), ready()])),
    ]);
    let events = run(&steps);
    let c = calls(&events)[0];
    assert_eq!(
        c.request,
        Timing {
            first: m(3),
            last: m(4)
        }
    );
    assert_eq!(
        c.response,
        Timing {
            first: m(6),
            last: m(7)
        }
    );
    assert_eq!(c.system, "postgresql");

    let steps = with_connect(vec![
        (FE, query("SELECT 1")),
        (BE, row_desc()),
        (BE, cat(&[data_row("1"), done("SELECT 1"), ready()])),
    ]);
    let c = calls(&run(&steps))[0].clone();
    assert_eq!(
        c.request,
        Timing {
            first: m(3),
            last: m(3)
        }
    );
    assert_eq!(
        c.response,
        Timing {
            first: m(4),
            last: m(5)
        }
    );
}

#[test]
fn named_statement_executed_100_times() {
    let sql = "SELECT a FROM t WHERE id = $1";
    let mut steps = with_connect(vec![
        (
            FE,
            cat(&[parse_stmt("s1", sql), describe(b'S', "s1"), sync()]),
        ),
        (
            BE,
            cat(&[
                msg(b'1', b""),
                msg(b't', &[0, 1, 0, 0, 0, 23]),
                row_desc(),
                ready(),
            ]),
        ),
    ]);
    for _ in 0..100 {
        steps.push((FE, cat(&[bind("", "s1"), execute("", 0), sync()])));
        steps.push((
            BE,
            cat(&[msg(b'2', b""), data_row("x"), done("SELECT 1"), ready()]),
        ));
    }
    steps.push((FE, cat(&[close(b'S', "s1"), sync()])));
    steps.push((BE, cat(&[msg(b'3', b""), ready()])));
    steps.push((FE, cat(&[bind("", "s1"), execute("", 0), sync()])));
    steps.push((
        BE,
        cat(&[
            error("26000", "prepared statement \"s1\" does not exist"),
            ready(),
        ]),
    ));
    let events = run(&steps);
    let c = calls(&events);
    assert_eq!(c.len(), 101);
    for (i, call) in c[..100].iter().enumerate() {
        assert_eq!(call.id, i as u64);
        assert_eq!(call.query_text.as_deref(), Some(sql));
        assert_eq!(call.returned_rows, Some(1));
    }
    // After Close the statement's text is forgotten.
    assert_eq!(c[100].query_text, None);
    assert_eq!(c[100].status_code.as_deref(), Some("26000"));
    assert!(!format!("{events:?}").contains("4242"), "parameters leaked");
}

#[test]
fn secrets_never_reported() {
    let password = "hunter2-secret";
    let sasl = cat(&[
        cs("SCRAM-SHA-256"),
        vec![0, 0, 0, 20],
        b"n,,n=,r=hunter2-nonce".to_vec(),
    ]);
    let steps = vec![
        (FE, startup("alice", Some("shop"))),
        (BE, msg(b'R', &[0, 0, 0, 5, 1, 2, 3, 4])),
        (FE, msg(b'p', &cs(password))),
        (
            BE,
            msg(
                b'R',
                &cat(&[vec![0, 0, 0, 10], cs("SCRAM-SHA-256"), vec![0]]),
            ),
        ),
        (FE, msg(b'p', &sasl)),
        (BE, hello()),
        (FE, query("SELECT 1")),
        (
            BE,
            cat(&[
                row_desc(),
                data_row("hunter2-row"),
                done("SELECT 1"),
                ready(),
            ]),
        ),
    ];
    for bytewise in [false, true] {
        let mut s = Session::default();
        let events = match bytewise {
            false => run_with(&steps, &mut s),
            true => run_bytewise(&steps),
        };
        assert_eq!(calls(&events).len(), 1);
        let seen = format!("{events:?} {s:?}");
        assert!(!seen.contains("hunter2"), "{seen}");
    }
}

#[test]
fn truncated_prefixes_report_nothing() {
    // (name, preamble, side, message, events when whole)
    let after_query = with_connect(vec![(FE, query("SELECT 1"))]);
    let after_execute = with_connect(vec![(
        FE,
        cat(&[
            parse_stmt("", "SELECT 1"),
            bind("", ""),
            execute("", 0),
            sync(),
        ]),
    )]);
    type Row = (&'static str, Vec<(Side, Vec<u8>)>, Side, Vec<u8>, usize);
    let table: Vec<Row> = vec![
        ("startup", vec![], FE, startup("alice", Some("shop")), 0),
        (
            "ssl request",
            vec![],
            FE,
            untyped(parse::SSL_REQUEST, b""),
            0,
        ),
        ("query", connect(), FE, query("SELECT 1"), 0),
        ("parse", connect(), FE, parse_stmt("s", "SELECT 1"), 0),
        ("bind", connect(), FE, bind("", "s"), 0),
        ("execute", connect(), FE, execute("", 0), 0),
        ("password", connect(), FE, msg(b'p', &cs("pw")), 0),
        ("auth", connect(), BE, auth_ok(), 0),
        ("row description", after_query.clone(), BE, row_desc(), 0),
        ("data row", after_query.clone(), BE, data_row("abc"), 0),
        (
            "command complete",
            after_query.clone(),
            BE,
            done("SELECT 1"),
            0,
        ),
        ("error", after_query.clone(), BE, error("42P01", "x"), 0),
        ("ready", after_query.clone(), BE, ready(), 1),
        ("execute done", after_execute, BE, done("SELECT 1"), 1),
    ];
    for (name, pre, side, message, want) in table {
        testkit::truncated_prefixes::<Session>(&pre, side, &message);
        let mut s = Session::default();
        run_with(&pre, &mut s);
        let mut out = Vec::new();
        s.feed(
            side,
            Input::Data {
                bytes: &message,
                at: m(99),
            },
            &mut |e| out.push(e),
        );
        assert_eq!(out.len(), want, "{name}: {out:?}");
        assert!(out.iter().all(|e| matches!(e, DbEvent::Call(_))), "{name}");
    }
}

fn feed_all(s: &mut Session, side: Side, input: Input<'_>, out: &mut Vec<DbEvent>) {
    s.feed(side, input, &mut |e| out.push(e));
}

#[test]
fn gap_inside_data_row_is_skipped() {
    let mut s = Session::default();
    let mut out = run_with(&connect(), &mut s);
    let big = data_row(&"x".repeat(10_000));
    feed_all(
        &mut s,
        FE,
        Input::Data {
            bytes: &query("SELECT x FROM t"),
            at: m(5),
        },
        &mut out,
    );
    let head = cat(&[row_desc(), big[..100].to_vec()]);
    feed_all(
        &mut s,
        BE,
        Input::Data {
            bytes: &head,
            at: m(6),
        },
        &mut out,
    );
    feed_all(
        &mut s,
        BE,
        Input::Gap {
            len: (big.len() - 200) as u64,
            at: m(7),
        },
        &mut out,
    );
    let tail = cat(&[
        big[big.len() - 100..].to_vec(),
        data_row("y"),
        done("SELECT 2"),
        ready(),
    ]);
    feed_all(
        &mut s,
        BE,
        Input::Data {
            bytes: &tail,
            at: m(8),
        },
        &mut out,
    );
    assert_eq!(
        briefs(&out),
        ["#0 SELECT t rows=Some(2) err=None ns=shop text=SELECT x FROM t"]
    );
}

#[test]
fn gap_in_query_text_truncates_it() {
    let mut s = Session::default();
    let mut out = run_with(&connect(), &mut s);
    let q = query(&format!("SELECT '{}'", "v".repeat(1000)));
    feed_all(
        &mut s,
        FE,
        Input::Data {
            bytes: &q[..20],
            at: m(5),
        },
        &mut out,
    );
    feed_all(
        &mut s,
        FE,
        Input::Gap {
            len: (q.len() - 20) as u64,
            at: m(6),
        },
        &mut out,
    );
    feed_all(
        &mut s,
        BE,
        Input::Data {
            bytes: &cat(&[done("SELECT 1"), ready()]),
            at: m(7),
        },
        &mut out,
    );
    assert_eq!(
        briefs(&out),
        ["#0 SELECT - rows=Some(1) err=None ns=shop text=SELECT ?"]
    );
}

#[test]
fn long_query_is_truncated_not_buffered() {
    let long = format!("SELECT '{}'", "v".repeat(MAX_QUERY_BYTES * 2));
    let steps = with_connect(vec![
        (FE, query(&long)),
        (BE, cat(&[done("SELECT 1"), ready()])),
    ]);
    let mut s = Session::default();
    let events = run_with(&steps, &mut s);
    let c = calls(&events);
    // Only a bounded prefix is kept; summarised, its literal is a `?`.
    assert!(
        c[0].query_text
            .as_ref()
            .is_some_and(|t| t.len() <= MAX_QUERY_BYTES)
    );
}

#[test]
fn gap_in_header_resyncs_at_ready() {
    let mut s = Session::default();
    let mut out = run_with(&connect(), &mut s);
    feed_all(
        &mut s,
        FE,
        Input::Data {
            bytes: &query("SELECT 1"),
            at: m(5),
        },
        &mut out,
    );
    let resp = cat(&[row_desc(), data_row("1"), data_row("2")]);
    feed_all(
        &mut s,
        BE,
        Input::Data {
            bytes: &resp[..resp.len() - 13],
            at: m(6),
        },
        &mut out,
    );
    feed_all(&mut s, BE, Input::Gap { len: 50, at: m(7) }, &mut out);
    let junk = cat(&[
        b"\x01\x02D\xff".to_vec(),
        data_row("Z"),
        done("SELECT 9"),
        ready(),
    ]);
    feed_all(
        &mut s,
        BE,
        Input::Data {
            bytes: &junk,
            at: m(8),
        },
        &mut out,
    );
    feed_all(
        &mut s,
        FE,
        Input::Data {
            bytes: &query("SELECT 2"),
            at: m(9),
        },
        &mut out,
    );
    let next = cat(&[row_desc(), data_row("1"), done("SELECT 1"), ready()]);
    feed_all(
        &mut s,
        BE,
        Input::Data {
            bytes: &next,
            at: m(10),
        },
        &mut out,
    );
    assert_eq!(
        briefs(&out),
        [
            "error Response gap",
            // Its result was partly seen: reported, counts unknown.
            "#0 SELECT - rows=None err=None ns=shop text=SELECT ?",
            "#1 SELECT - rows=Some(1) err=None ns=shop text=SELECT ?",
        ]
    );
}

#[test]
fn mid_stream_start_is_silent() {
    let frontend = cat(&[query("SELECT 1"), query("SELECT 2"), query("SELECT 3")]);
    let answer = |n: &str| cat(&[row_desc(), data_row(n), done("SELECT 1"), ready()]);
    let backend = [answer("1"), answer("2"), answer("3")];
    let q1 = query("SELECT 1").len();
    for skip in 1..backend[0].len() {
        let mut s = Session::default();
        let mut out = Vec::new();
        // Time order: the rest of answer 1, then query 2, answer 2, ...
        feed_all(
            &mut s,
            BE,
            Input::Data {
                bytes: &backend[0][skip..],
                at: m(1),
            },
            &mut out,
        );
        let q2 = &frontend[q1..2 * q1];
        feed_all(
            &mut s,
            FE,
            Input::Data {
                bytes: q2,
                at: m(2),
            },
            &mut out,
        );
        feed_all(
            &mut s,
            BE,
            Input::Data {
                bytes: &backend[1],
                at: m(3),
            },
            &mut out,
        );
        feed_all(
            &mut s,
            FE,
            Input::Data {
                bytes: &frontend[2 * q1..],
                at: m(4),
            },
            &mut out,
        );
        feed_all(
            &mut s,
            BE,
            Input::Data {
                bytes: &backend[2],
                at: m(5),
            },
            &mut out,
        );
        assert_eq!(
            briefs(&out),
            [
                "#0 SELECT - rows=Some(1) err=None ns=- text=SELECT ?",
                "#1 SELECT - rows=Some(1) err=None ns=- text=SELECT ?",
            ],
            "skip {skip}"
        );
    }
    // The frontend starting inside a message resyncs at the next one.
    for skip in 1..q1 {
        let steps = vec![
            (FE, frontend[skip..2 * q1].to_vec()),
            (BE, cat(&[answer("2")])),
        ];
        let events = run(&steps);
        assert_eq!(
            briefs(&events),
            ["#0 SELECT - rows=Some(1) err=None ns=- text=SELECT ?"],
            "frontend skip {skip}"
        );
    }
}

#[test]
fn pending_queue_is_bounded() {
    let mut s = Session::default();
    let mut out = run_with(&connect(), &mut s);
    let q = query("SELECT 1");
    for _ in 0..MAX_PENDING + 10 {
        feed_all(
            &mut s,
            FE,
            Input::Data {
                bytes: &q,
                at: m(5),
            },
            &mut out,
        );
    }
    assert_eq!(out, vec![DbEvent::Dropped { count: 1 }; 10]);
}

#[test]
fn garbage_never_panics() {
    let conversation: Vec<(Side, Vec<u8>)> = cases().into_iter().flat_map(|c| c.steps).collect();
    testkit::garbage::<Session>(&conversation, 60, |e| {
        matches!(e, DbEvent::ParseError { .. })
    });
    // Pure noise on both sides.
    for seed in 1..60u64 {
        let noise = testkit::Prng(seed).bytes(4096);
        let mut s = Session::default();
        let mut out = Vec::new();
        for chunk in noise.chunks(97) {
            feed_all(&mut s, FE, testkit::data(chunk, 1), &mut out);
            feed_all(&mut s, BE, testkit::data(chunk, 2), &mut out);
        }
    }
}

#[test]
fn one_error_per_episode() {
    let mut steps = connect();
    steps.push((BE, testkit::Prng(3).bytes(5000)));
    steps.push((BE, b"\xff\xff\xff".to_vec()));
    let events = run(&steps);
    let errors = events
        .iter()
        .filter(|e| matches!(e, DbEvent::ParseError { .. }))
        .count();
    assert!(errors <= 1, "{events:?}");
}

#[test]
fn close_reports_a_call_ended_by_fatal_error() {
    let mut s = Session::default();
    let mut out = run_with(&connect(), &mut s);
    feed_all(
        &mut s,
        FE,
        Input::Data {
            bytes: &query("SELECT pg_terminate_backend(1)"),
            at: m(5),
        },
        &mut out,
    );
    let fatal = error(
        "57P01",
        "terminating connection due to administrator command",
    );
    feed_all(
        &mut s,
        BE,
        Input::Data {
            bytes: &fatal,
            at: m(6),
        },
        &mut out,
    );
    s.close(m(7), &mut |e| out.push(e));
    let c = calls(&out);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].status_code.as_deref(), Some("57P01"));
    assert!(!format!("{out:?}").contains("secret detail"));
}

#[test]
fn calls_never_answered_are_counted_dropped() {
    let mut s = Session::default();
    let mut out = run_with(&with_connect(vec![(FE, query("SELECT 1"))]), &mut s);
    // The whole result is lost: a gap where a header should be.
    feed_all(&mut s, BE, Input::Gap { len: 30, at: m(6) }, &mut out);
    out.extend(run_with(&[(BE, ready())], &mut s));
    assert_eq!(briefs(&out), ["error Response gap", "dropped 1"]);
}
