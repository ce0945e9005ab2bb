//! Tests of session.rs: gaps and cuts — a huge statement seen as a prefix
//! and a gap, long text truncated, gaps skipped inside row data, a gap
//! cutting packet headers resynchronised with one error, and a capture that
//! starts mid-stream staying silent.
use super::tests::*;
use super::*;
use crate::protocol::Input;
use crate::protocol::testkit::{REQ, RESP, m};

#[test]
fn huge_statement_as_prefix_and_gap() {
    let mut head = (MAX_PACKET).to_le_bytes()[..3].to_vec();
    head.push(0);
    head.push(command::QUERY);
    head.extend_from_slice(b"INSERT INTO blobs VALUES ('");
    let prefix = head.len() - 4;
    let mut s = Session::default();
    let mut out = Vec::new();
    let mut feed = |s: &mut Session, side, input| s.feed(side, input, &mut |e| out.push(e));
    feed(
        &mut s,
        REQ,
        Input::Data {
            bytes: &head,
            at: m(1),
        },
    );
    let gap = u64::from(MAX_PACKET) - prefix as u64;
    feed(&mut s, REQ, Input::Gap { len: gap, at: m(2) });
    let tail = pkt(1, b"xyz')");
    feed(
        &mut s,
        REQ,
        Input::Data {
            bytes: &tail,
            at: m(3),
        },
    );
    feed(
        &mut s,
        RESP,
        Input::Data {
            bytes: &ok(1, 2),
            at: m(4),
        },
    );
    let c = calls(&out);
    assert_eq!(c.len(), 1, "{out:?}");
    assert_eq!(c[0].operation.as_deref(), Some("INSERT"));
    assert_eq!(
        c[0].request,
        Timing {
            first: m(1),
            last: m(3)
        }
    );
}

#[test]
fn long_text_is_truncated() {
    let text = format!("SELECT '{}'", "a".repeat(MAX_QUERY_BYTES * 2));
    let steps = vec![(REQ, query(&text)), (RESP, ok(1, 2))];
    let mut s = Session::default();
    let events = run_on(&mut s, &steps, false);
    let c = calls(&events);
    assert_eq!(c.len(), 1);
    assert!(c[0].query_text.as_ref().unwrap().len() <= MAX_QUERY_BYTES);
}

#[test]
fn gap_in_row_data_is_skipped() {
    let big = vec![b'v'; 5000];
    let mut row = vec![0xfc];
    row.extend_from_slice(&(big.len() as u16).to_le_bytes());
    row.extend_from_slice(&big);
    let rowpkt = pkt(3, &row);
    let mut before = pkt(1, &[1]);
    before.extend(coldef(2, "doc"));
    before.extend_from_slice(&rowpkt[..20]);
    let after = [
        &rowpkt[20 + 4000..],
        &pkt(4, b"\x00\x03ok")[..],
        &pkt(5, b"\xfe\x00\x00\x02\x00\x00\x00")[..],
    ]
    .concat();
    let q = query("SELECT doc FROM docs");
    let mut s = Session::default();
    let mut out = Vec::new();
    let mut feed = |s: &mut Session, side, input| s.feed(side, input, &mut |e| out.push(e));
    feed(
        &mut s,
        REQ,
        Input::Data {
            bytes: &q,
            at: m(0),
        },
    );
    feed(
        &mut s,
        RESP,
        Input::Data {
            bytes: &before,
            at: m(1),
        },
    );
    feed(
        &mut s,
        RESP,
        Input::Gap {
            len: 4000,
            at: m(2),
        },
    );
    feed(
        &mut s,
        RESP,
        Input::Data {
            bytes: &after,
            at: m(3),
        },
    );
    assert_eq!(errors(&out), 0, "{out:?}");
    let c = calls(&out);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].returned_rows, Some(2));
    assert_eq!(c[0].response.last, m(3));
}

#[test]
fn gap_cutting_headers_resyncs_with_one_error() {
    let mut steps = login("8.0.36", true, "shop");
    steps.push((REQ, query("SELECT 1")));
    let mut s = Session::default();
    let mut out = run_on(&mut s, &steps, false);
    // The answer's header is lost, and so is the next command's.
    for (side, len) in [(RESP, 3), (RESP, 50), (REQ, 2)] {
        s.feed(side, Input::Gap { len, at: m(20) }, &mut |e| out.push(e));
    }
    for (side, bytes) in [
        (RESP, b"garbage that is not a packet".to_vec()),
        (REQ, b"\x01\x02 trailing bytes of a lost command".to_vec()),
        (REQ, query("SELECT 2")),
        (RESP, ok(1, 2)),
    ] {
        s.feed(
            side,
            Input::Data {
                bytes: &bytes,
                at: m(21),
            },
            &mut |e| out.push(e),
        );
    }
    assert_eq!(errors(&out), 2, "{out:?}");
    let c = calls(&out);
    assert_eq!(c.len(), 1, "{out:?}");
    assert_eq!(c[0].query_text.as_deref(), Some("SELECT ?"));
    assert_eq!(dropped(&out), 1);
}

#[test]
fn mid_stream_start_is_silent() {
    let (rs, _) = result_set(1, 2, &["a", "b", "c", "d"], false, false);
    let steps = vec![
        (RESP, rs[30..].to_vec()),
        (REQ, b"\x05\x00\x00\x07tail".to_vec()),
        (REQ, query("SELECT id FROM t")),
        (RESP, result_set(1, 1, &["1", "2"], false, false).0),
    ];
    let events = run(&steps);
    assert_eq!(errors(&events), 0, "{events:?}");
    let c = calls(&events);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].returned_rows, Some(2));
    assert_eq!(c[0].system, system::MYSQL);
}
