//! Tests of reader.rs: the queue's byte bound, closes that are never dropped, and batch vectors handed back.
use super::*;
use crate::capture::event::{ConnInfo, DataChunk, Direction, Tuple};

fn conn(sock: u64) -> ConnInfo {
    ConnInfo {
        sock,
        pid: 1,
        tid: 1,
        ts_ns: sock,
        tuple: Tuple {
            local: "127.0.0.1:80".parse().unwrap(),
            remote: "127.0.0.1:5000".parse().unwrap(),
        },
    }
}

fn data(sock: u64, n: usize) -> Event {
    Event::Data(DataChunk {
        conn: conn(sock),
        enter_ns: sock,
        seq: 0,
        len: n as u32,
        direction: Direction::Ingress,
        bytes: vec![b'x'; n],
        tls: false,
        g: 0,
    })
}

fn sent(events: Vec<Event>) -> Sent {
    Sent {
        events,
        drained_ns: 0,
    }
}

fn close(sock: u64) -> Event {
    Event::Close { conn: conn(sock) }
}

fn queue(batches: usize, limit: u64) -> (Queue, Receiver<Sent>) {
    let (tx, rx) = sync_channel(batches);
    let counters = Arc::new(ReaderCounters::default());
    counters.queue_limit.store(limit, Ordering::Relaxed);
    let q = Queue {
        tx,
        counters,
        carry: Vec::new(),
        mark: 0,
    };
    (q, rx)
}

#[test]
fn past_the_byte_bound_payloads_go_and_closes_stay() {
    let (mut q, rx) = queue(16, 10_000);
    q.send(vec![data(1, 4000), close(1)]);
    // 8 KB more would pass the bound: the payload goes, the close stays.
    q.send(vec![data(2, 8000), close(2)]);
    let first = rx.try_recv().unwrap().events;
    assert_eq!(first.len(), 2);
    assert_eq!(rx.try_recv().unwrap().events, vec![close(2)]);
    assert_eq!(q.counters.dropped.load(Ordering::Relaxed), 1);
    // Taken: the bytes are free again.
    q.counters.taken(&first);
    q.send(vec![data(3, 8000)]);
    assert_eq!(rx.try_recv().unwrap().events.len(), 1);
}

#[test]
fn a_full_queue_carries_closes_to_the_next_batch() {
    let (mut q, rx) = queue(1, 0);
    q.send(vec![data(1, 10)]);
    q.send(vec![data(2, 10), close(2), data(3, 10), close(3)]);
    assert_eq!(q.carry, vec![close(2), close(3)]);
    assert_eq!(q.counters.dropped.load(Ordering::Relaxed), 2);
    assert_eq!(rx.try_recv().unwrap().events, vec![data(1, 10)]);
    q.send(vec![data(4, 10)]);
    assert_eq!(
        rx.try_recv().unwrap().events,
        vec![close(2), close(3), data(4, 10)],
        "in order, first"
    );
    assert!(q.carry.is_empty());
    // At stop, what cannot be sent is counted.
    q.send(vec![data(5, 10)]);
    q.send(vec![close(6)]);
    let counters = q.counters.clone();
    q.finish();
    assert_eq!(counters.dropped.load(Ordering::Relaxed), 3);
}

#[test]
fn a_dropped_batch_hands_its_emptied_vector_back() {
    let (tx, spare) = sync_channel(1);
    let mut events = Vec::with_capacity(BATCH);
    events.push(close(1));
    let b = Batch::new(sent(events), tx.clone());
    assert_eq!(b.len(), 1);
    drop(b);
    let v = fresh(&spare);
    assert!(v.is_empty());
    assert_eq!(v.capacity(), BATCH);
    // A carried backlog's vector is freed, not kept.
    drop(Batch::new(sent(Vec::with_capacity(8 * BATCH)), tx.clone()));
    assert!(spare.try_recv().is_err());
    // Nothing handed back: a new one.
    assert_eq!(fresh(&spare).capacity(), BATCH);
}

/// Every batch carries the mark of the drain it ends, and a quiet drain
/// sends the mark alone: the stage releases by it, so a record that waited
/// in the ring for the next look is not late.
#[test]
fn batches_carry_their_drain_mark_and_a_quiet_drain_sends_it_alone() {
    let (mut q, rx) = queue(16, 0);
    q.mark = 7_000;
    q.send(vec![close(1)]);
    let got = rx.try_recv().unwrap();
    assert_eq!((got.events.len(), got.drained_ns), (1, 7_000));
    q.mark = 9_000;
    q.mark_only();
    let got = rx.try_recv().unwrap();
    assert_eq!((got.events.len(), got.drained_ns), (0, 9_000));
    // Carried past a full queue, records go with the later mark.
    let (mut q, rx) = queue(1, 0);
    q.mark = 1;
    q.send(vec![close(1)]);
    q.mark = 2;
    q.send(vec![close(2)]);
    assert_eq!(rx.try_recv().unwrap().drained_ns, 1);
    q.mark = 3;
    q.send(Vec::new());
    let got = rx.try_recv().unwrap();
    assert_eq!((got.events, got.drained_ns), (vec![close(2)], 3));
}
