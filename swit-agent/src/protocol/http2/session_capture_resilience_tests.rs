//! Tests of session.rs: replays of real HTTP/2 connections under loss: a tracer attaching at any
//! read, reads cut anywhere, bytes lost inside DATA and header blocks.
use super::super::*;
use super::testkit_capture::*;
use crate::protocol::{Input, Side};

// ---------------------------------------------------------------------------
// HPACK state across calls, and a tracer that attaches mid-connection.

/// "round 2 starts at c2s 497 s2c 360" -> (497, 360).
fn round_two(rounds: &str) -> (usize, usize) {
    let line = rounds
        .lines()
        .find(|l| l.starts_with("round 2 "))
        .expect("round 2 line");
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!((f[4], f[6]), ("c2s", "s2c"), "{line}");
    (f[5].parse().expect("c2s"), f[7].parse().expect("s2c"))
}

/// The header block of the HEADERS frame at `offset` (no padding or
/// priority in these), checking the frame is HEADERS on `stream`.
fn headers_block(file: &[u8], offset: usize, stream: u32) -> &[u8] {
    let h = &file[offset..offset + 9];
    let len = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
    assert_eq!(h[3], 1, "HEADERS at {offset}");
    assert_eq!(h[4] & 0x28, 0, "no padding or priority at {offset}");
    assert_eq!(u32::from_be_bytes([h[5], h[6], h[7], h[8]]), stream);
    &file[offset + 9..offset + 9 + len]
}

/// One-byte indexed representations only (RFC 7541 §6.1, index < 127),
/// and the given dynamic indexes among them.
fn assert_indexed_only(block: &[u8], dynamic: usize, ctx: &str) {
    assert!(
        block.iter().all(|b| b & 0x80 != 0 && b & 0x7f != 0x7f),
        "{ctx}: {block:02x?}"
    );
    assert_eq!(
        block.iter().filter(|&&b| b & 0x7f >= 62).count(),
        dynamic,
        "{ctx}: {block:02x?}"
    );
}

#[test]
fn round_two_headers_are_table_references_and_still_decode() {
    // The premise: round 2's request HEADERS are 8 (py) and 7 (go) bytes,
    // every field an index, all but :method and :scheme into the dynamic
    // table that round 1 filled.
    let (py_cut, _) = round_two(PY_TWO_ROUNDS_ROUNDS);
    let (go_cut, _) = round_two(GO_TWO_ROUNDS_ROUNDS);
    for (c, offsets, dynamic) in [
        (&PY_TWO_ROUNDS, [(py_cut, 5), (559, 7)], 6),
        (&GO_TWO_ROUNDS, [(go_cut, 5), (323, 7)], 5),
    ] {
        for (offset, stream) in offsets {
            let block = headers_block(c.c2s, offset, stream);
            assert_indexed_only(block, dynamic, &format!("{} c2s {offset}", c.name));
        }
    }
    // grpc-go's round-2 trailers-only error (s2c 317) is references only
    // too: its grpc-status and grpc-message come from the table.
    assert_indexed_only(headers_block(GO_TWO_ROUNDS.s2c, 317, 7), 3, "go s2c 317");

    let ok = End::Trailers("0", "");
    let not_found = End::TrailersOnly("5", "unknown service");
    let call = |stream, path, end, req, resp| Call {
        stream,
        path,
        timeout: None,
        end,
        req,
        resp,
    };
    let r = replay_capture(&PY_TWO_ROUNDS);
    assert_calls(
        PY_TWO_ROUNDS.name,
        &r,
        &py_peer("127.0.0.1:45743"),
        &[
            call(1, SAY_HELLO, ok, (10, 1), (16, 1)),
            call(3, SAY_HELLO, ok, (8, 1), (14, 1)),
            call(5, SAY_HELLO, ok, (10, 1), (16, 1)),
            call(7, SAY_HELLO, ok, (8, 1), (14, 1)),
        ],
    );
    let r = replay_capture(&GO_TWO_ROUNDS);
    assert_calls(
        GO_TWO_ROUNDS.name,
        &r,
        &go_peer("127.0.0.1:43853"),
        &[
            call(1, CHECK, ok, (5, 1), (7, 1)),
            call(3, CHECK, not_found, (17, 1), (0, 0)),
            call(5, CHECK, ok, (5, 1), (7, 1)),
            call(7, CHECK, not_found, (17, 1), (0, 0)),
        ],
    );
}

/// Fields a request reports: pseudo-headers present and regular fields.
fn request_fields(q: &H2Request) -> usize {
    [&q.method, &q.scheme, &q.authority, &q.path]
        .iter()
        .filter(|f| f.is_some())
        .count()
        + q.headers.len()
}

fn response_fields(p: &H2Response) -> usize {
    usize::from(p.status.is_some()) + p.headers.len() + p.trailers.len()
}

/// `part` is `full` with some elements left out, order kept.
fn is_subsequence(part: &[(String, String)], full: &[(String, String)]) -> bool {
    let mut rest = full.iter();
    part.iter().all(|f| rest.any(|g| g == f))
}

/// A session that missed the HPACK state reports a subset of the truth:
/// each value it gives is the value a session that saw everything gives,
/// and every field it leaves out is counted in `unknown_fields`. Body
/// sizes, messages, resets and times come from frames it did see in full.
fn assert_partial_view(part: &(H2Request, H2Response), full: &(H2Request, H2Response), ctx: &str) {
    let ((pq, pp), (fq, fp)) = (part, full);
    let ctx = format!("{ctx} stream {}", fq.stream);
    assert_eq!(pq.stream, fq.stream, "{ctx}");
    for (what, a, b) in [
        ("method", &pq.method, &fq.method),
        ("scheme", &pq.scheme, &fq.scheme),
        ("authority", &pq.authority, &fq.authority),
        ("path", &pq.path, &fq.path),
    ] {
        assert!(a.is_none() || a == b, "{ctx}: {what} {a:?}, truly {b:?}");
    }
    assert!(
        is_subsequence(&pq.headers, &fq.headers),
        "{ctx}: {:?} vs {:?}",
        pq.headers,
        fq.headers
    );
    assert_eq!(
        request_fields(pq) + pq.unknown_fields,
        request_fields(fq) + fq.unknown_fields,
        "{ctx}: each request field reported or counted unknown"
    );
    assert_eq!(
        (pq.body_size, pq.messages, pq.ended, pq.timing),
        (fq.body_size, fq.messages, fq.ended, fq.timing),
        "{ctx}"
    );
    assert!(
        pp.status.is_none() || pp.status == fp.status,
        "{ctx}: {:?} vs {:?}",
        pp.status,
        fp.status
    );
    assert!(
        is_subsequence(&pp.headers, &fp.headers),
        "{ctx}: {:?} vs {:?}",
        pp.headers,
        fp.headers
    );
    assert!(
        is_subsequence(&pp.trailers, &fp.trailers),
        "{ctx}: {:?} vs {:?}",
        pp.trailers,
        fp.trailers
    );
    assert_eq!(
        response_fields(pp) + pp.unknown_fields,
        response_fields(fp) + fp.unknown_fields,
        "{ctx}: each response field reported or counted unknown"
    );
    assert_eq!(
        (pp.body_size, pp.messages, pp.reset, pp.timing),
        (fp.body_size, fp.messages, fp.reset, fp.timing),
        "{ctx}"
    );
}

/// The reads from the given offsets on (round 2 starts at a read).
fn chunks_from(c: &Capture, c2s: usize, s2c: usize) -> Vec<Chunk> {
    let chunks = c.chunks();
    for (side, cut) in [(Side::Request, c2s), (Side::Response, s2c)] {
        assert!(
            chunks.iter().any(|k| k.side == side && k.offset == cut),
            "{}: a read starts at {side:?} {cut}",
            c.name
        );
    }
    chunks
        .into_iter()
        .filter(|k| {
            k.offset
                >= match k.side {
                    Side::Request => c2s,
                    Side::Response => s2c,
                }
        })
        .collect()
}

#[test]
fn attached_at_round_two_reports_only_what_it_can_know() {
    for (c, rounds, req_unknown, resp) in [
        // grpcio: :method and :scheme are static; :path, :authority and
        // the four regular fields are dynamic. The response's :status is
        // static (idx 8); content-type, grpc-accept-encoding and the
        // trailers' grpc-status are dynamic, grpc-message a literal.
        (
            &PY_TWO_ROUNDS,
            PY_TWO_ROUNDS_ROUNDS,
            6,
            [
                (5, vec![], fields(&[("grpc-message", "")]), 3),
                (7, vec![], fields(&[("grpc-message", "")]), 3),
            ],
        ),
        // grpc-go: the same requests (:path, :authority, content-type,
        // user-agent, te dynamic). Responses: content-type, grpc-status
        // and grpc-message all dynamic, in the trailers of stream 5 and
        // in stream 7's trailers-only HEADERS.
        (
            &GO_TWO_ROUNDS,
            GO_TWO_ROUNDS_ROUNDS,
            5,
            [(5, vec![], vec![], 3), (7, vec![], vec![], 3)],
        ),
    ] {
        let (c2s, s2c) = round_two(rounds);
        let r = replay(&steps(&chunks_from(c, c2s, s2c)));
        let full = replay_capture(c);
        assert_eq!(r.errors(), vec![], "{}", c.name);
        assert_eq!(
            r.orphans(),
            Vec::<u32>::new(),
            "{}: round 1 was over",
            c.name
        );
        assert_eq!(r.exchange_streams(), vec![5, 7], "{}", c.name);
        for (stream, headers, trailers, unknown) in resp {
            let (q, p) = r.exchange(stream);
            let ctx = format!("{} stream {stream}", c.name);
            assert_partial_view(&(q.clone(), p.clone()), &full.exchange(stream), c.name);
            // What only the dynamic table said is absent, never guessed.
            assert_eq!(q.method.as_deref(), Some("POST"), "{ctx}");
            assert_eq!(q.scheme.as_deref(), Some("http"), "{ctx}");
            assert_eq!(
                (q.path.as_deref(), q.authority.as_deref()),
                (None, None),
                "{ctx}"
            );
            assert_eq!(q.headers, vec![], "{ctx}");
            assert_eq!(q.unknown_fields, req_unknown, "{ctx}");
            // The status is a static entry: still right.
            assert_eq!(p.status, Some(200), "{ctx}");
            assert_eq!(p.headers, headers, "{ctx}");
            assert_eq!(p.trailers, trailers, "{ctx}");
            assert_eq!(header(&p.trailers, "grpc-status"), None, "{ctx}");
            assert_eq!(header(&p.headers, "grpc-status"), None, "{ctx}");
            assert_eq!(p.unknown_fields, unknown, "{ctx}");
            // What tells gRPC without its content type: the request's
            // bytes are whole messages, and (but for grpc-go's
            // Trailers-Only answer to stream 7) trailers end the stream.
            assert!(q.framed, "{ctx}");
            assert_eq!(
                p.trailers_seen,
                !(c.name.starts_with("go") && stream == 7),
                "{ctx}"
            );
        }
        r.assert_every_stream_closed(c.name);
    }
}

#[test]
fn attached_at_any_read_never_reports_a_wrong_value() {
    // A tracer may attach before any read. From there on, the streams
    // whose request HEADERS it sees are reported (as far as it can know
    // them), the others at most as orphan responses, and nothing is an
    // error: every read here starts at a frame.
    for c in all_captures() {
        let chunks = c.chunks();
        let full = replay_capture(c);
        let full_x = full.exchanges();
        // The read that carried each request's HEADERS, found by its time.
        for (i, a) in chunks.iter().enumerate() {
            assert!(
                chunks[i + 1..].iter().all(|b| b.at != a.at),
                "{}: reads have distinct times",
                c.name
            );
        }
        let head_read = |q: &H2Request| {
            chunks
                .iter()
                .position(|k| k.side == Side::Request && k.at == q.timing.first)
                .expect("request HEADERS read")
        };
        for k in 0..chunks.len() {
            let ctx = format!("{} attached at read {k}", c.name);
            let r = replay(&steps(&chunks[k..]));
            assert_eq!(r.errors(), vec![], "{ctx}");
            let want: Vec<u32> = full_x
                .iter()
                .filter(|(q, _)| head_read(q) >= k)
                .map(|(q, _)| q.stream)
                .collect();
            assert_eq!(r.exchange_streams(), want, "{ctx}");
            for part in r.exchanges() {
                let whole = full_x
                    .iter()
                    .find(|(q, _)| q.stream == part.0.stream)
                    .expect("stream");
                assert_partial_view(&part, whole, &ctx);
            }
            let mut missed: Vec<u32> = full_x
                .iter()
                .filter(|(q, _)| head_read(q) < k)
                .map(|(q, _)| q.stream)
                .collect();
            missed.extend(full.orphans());
            for o in r.orphans() {
                assert!(
                    missed.contains(&o),
                    "{ctx}: orphan {o} whose request was seen"
                );
            }
            assert_eq!(r.session.protocol().open_streams(), 0, "{ctx}");
        }
    }
}

// ---------------------------------------------------------------------------
// However the reads are cut, the same events.

/// Where to cut a read of the given length.
type SplitAt = fn(usize) -> usize;

fn split_steps(chunks: &[Chunk], cut: impl Fn(usize, usize) -> Vec<usize>) -> Vec<Step> {
    let mut out = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        let mut at = 0;
        let mut cuts = cut(i, c.bytes.len());
        cuts.push(c.bytes.len());
        for end in cuts {
            if end > at && end <= c.bytes.len() {
                out.push((
                    c.side,
                    Input::Data {
                        bytes: &c.bytes[at..end],
                        at: c.at,
                    },
                ));
                at = end;
            }
        }
    }
    out
}

#[test]
fn every_capture_gives_the_same_events_however_its_reads_are_split() {
    for c in all_captures() {
        let chunks = c.chunks();
        let want = replay(&steps(&chunks)).events;
        assert!(
            want.iter()
                .any(|e| matches!(e, Http2Event::Exchange { .. })),
            "{}",
            c.name
        );
        // Every read cut at the same place.
        let positions: [(&str, SplitAt); 4] = [
            ("1", |_| 1),
            ("9", |_| 9),
            ("len/2", |len| len / 2),
            ("len-1", |len| len.saturating_sub(1)),
        ];
        for (what, pos) in positions {
            let got = replay(&split_steps(&chunks, |_, len| vec![pos(len)])).events;
            assert_eq!(got, want, "{}: every read split at {what}", c.name);
        }
        // One byte at a time.
        let got = replay(&split_steps(&chunks, |_, len| (1..len).collect())).events;
        assert_eq!(got, want, "{}: byte by byte", c.name);
        // One read cut at each of its positions, the others whole.
        for (i, chunk) in chunks.iter().enumerate() {
            for p in 1..chunk.bytes.len() {
                let got = replay(&split_steps(
                    &chunks,
                    |j, _| if j == i { vec![p] } else { vec![] },
                ))
                .events;
                assert_eq!(got, want, "{}: read {i} split at {p}", c.name);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Bytes the tracer lost.

/// The reads with `[start, end)` of `side` replaced by a gap; the range
/// lies within one read, whose moment the gap keeps.
fn steps_with_gap(c: &Capture, side: Side, start: usize, end: usize) -> Vec<Step> {
    let mut out = Vec::new();
    let mut found = false;
    for k in c.chunks() {
        let range = k.offset..k.offset + k.bytes.len();
        if k.side != side || !range.contains(&start) {
            out.push((
                k.side,
                Input::Data {
                    bytes: k.bytes,
                    at: k.at,
                },
            ));
            continue;
        }
        assert!(end <= range.end, "{}: gap within one read", c.name);
        found = true;
        let file = c.file(side);
        if start > k.offset {
            out.push((
                side,
                Input::Data {
                    bytes: &file[k.offset..start],
                    at: k.at,
                },
            ));
        }
        out.push((
            side,
            Input::Gap {
                len: (end - start) as u64,
                at: k.at,
            },
        ));
        if end < range.end {
            out.push((
                side,
                Input::Data {
                    bytes: &file[end..range.end],
                    at: k.at,
                },
            ));
        }
    }
    assert!(found, "{}: {side:?} {start} is in a read", c.name);
    out
}

#[test]
fn a_gap_inside_data_payloads_keeps_every_exchange() {
    let full = replay_capture(&PY_MIXED);
    // s2c 537: DATA stream 9, payload 546..561 = prefix (5) + "greeting 0"
    // at 551..561. Losing the message bytes keeps framing and the count.
    let r = replay(&steps_with_gap(&PY_MIXED, Side::Response, 551, 561));
    assert_eq!(
        r.events, full.events,
        "a gap inside one message changes nothing"
    );

    // c2s 772: DATA stream 11, payload 781..788 = the whole message "m0",
    // prefix included: the body size is still known, the message count
    // no longer is.
    let r = replay(&steps_with_gap(&PY_MIXED, Side::Request, 781, 788));
    assert_eq!(r.errors(), vec![]);
    let mut want = full.exchanges();
    let i = want
        .iter()
        .position(|(q, _)| q.stream == 11)
        .expect("stream 11");
    assert_eq!(want[i].0.messages, Some(4));
    want[i].0.messages = None;
    // Nor whether its bytes were whole messages.
    want[i].0.framed = false;
    assert_eq!(r.exchanges(), want);
    assert_eq!(r.exchange(11).0.body_size, 28);
}

#[test]
fn a_gap_inside_a_header_block_loses_that_stream_and_the_table_only() {
    let full = replay_capture(&PY_MIXED);
    // c2s 609: HEADERS stream 9 (ListGreetings), block 618..660, in the
    // read at c2s 596 with the RST_STREAM of stream 7 before it and its
    // DATA after. Bytes 630..650 are lost.
    let r = replay(&steps_with_gap(&PY_MIXED, Side::Request, 630, 650));
    assert_eq!(
        r.errors(),
        vec![(Side::Request, "gap")],
        "one error for the request side, none for the response side"
    );
    // Stream 9's request is gone (its response is an orphan); the others
    // end as they did.
    assert_eq!(r.exchange_streams(), vec![1, 3, 5, 7, 11, 13, 15]);
    assert!(r.orphans().contains(&9));
    for s in [1, 3, 5, 7] {
        assert_eq!(
            r.exchange(s),
            full.exchange(s),
            "stream {s}, before the gap"
        );
    }
    // After it, the request side resumes at the next read (c2s 675, a
    // PING) with the client's table forgotten. grpcio spells out each new
    // :path (a literal with indexing) and refers to the rest by index:
    // the paths of 11 and 13 are known, the table entries they refer to
    // are not. Stream 15 refers to its :path by index: unknown.
    for (s, path, unknown) in [
        (11, Some("/demo.Greeter/CollectGreetings"), 5),
        (13, Some("/demo.Greeter/Chat"), 5),
        (15, None, 6),
    ] {
        let (q, p) = r.exchange(s);
        assert_partial_view(&(q.clone(), p.clone()), &full.exchange(s), "after the gap");
        assert_eq!(q.path.as_deref(), path, "stream {s}");
        assert_eq!(q.method.as_deref(), Some("POST"), "stream {s}");
        assert_eq!(q.authority, None, "stream {s}");
        assert_eq!(q.unknown_fields, unknown, "stream {s}");
        // The response side lost nothing.
        assert_eq!(p, full.exchange(s).1, "stream {s}");
    }
}

// ---------------------------------------------------------------------------
// Orphan responses: a response whose request was not seen, once.

#[test]
fn a_server_response_racing_the_client_cancel_is_not_an_orphan() {
    // py-grpc-mixed stream 7: the client's RST_STREAM CANCEL (c2s 596,
    // read at .516784) crossed the server's own DEADLINE_EXCEEDED
    // trailers-only HEADERS and RST_STREAM NO_ERROR (s2c 399, read at
    // .516888). The request was seen and its exchange reported: frames
    // the server had in flight on the closed stream (RFC 9113 §5.1) are no
    // response without a request.
    let r = replay_capture(&PY_MIXED);
    assert_eq!(
        r.exchange(7).1.reset.map(|x| (x.by, x.code)),
        Some((Side::Request, CANCEL))
    );
    assert_eq!(r.orphans(), Vec::<u32>::new());
}

#[test]
fn an_orphan_response_is_reported_once() {
    // Stream 9's request HEADERS lost in a gap (as above): its response is
    // HEADERS, three DATA and trailers. One response, one orphan.
    let r = replay(&steps_with_gap(&PY_MIXED, Side::Request, 630, 650));
    assert_eq!(
        r.orphans().iter().filter(|&&s| s == 9).count(),
        1,
        "{:?}",
        r.orphans()
    );
}
