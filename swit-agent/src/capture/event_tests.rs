//! Tests of event.rs: decoding data, connection and process records, and refusing bad ones.
use super::*;

fn record(h: DataHeader, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; size_of::<DataHeader>()];
    // SAFETY: DataHeader is plain integers.
    unsafe { std::ptr::write_unaligned(v.as_mut_ptr().cast::<DataHeader>(), h) };
    v.extend_from_slice(payload);
    v
}

fn header() -> DataHeader {
    let mut h = DataHeader::default();
    h.hdr.kind = kind::DATA;
    h.hdr.pid_tgid = (42u64 << 32) | 43;
    h.hdr.sock = 0xdead;
    h.hdr.tuple.family = AF_INET;
    h.hdr.tuple.local_port = 8080;
    h.hdr.tuple.remote_port = 50000;
    h.hdr.tuple.local_addr[..4].copy_from_slice(&[127, 0, 0, 1]);
    h.hdr.tuple.remote_addr[..4].copy_from_slice(&[127, 0, 0, 2]);
    h.seq = 7;
    h.len = 5;
    h.captured = 3;
    h.direction = direction::EGRESS;
    h
}

#[test]
fn decodes_a_data_record() {
    let Event::Data(d) = decode(&record(header(), b"GETxx")).unwrap() else {
        panic!("not data")
    };
    assert_eq!((d.conn.pid, d.conn.tid), (42, 43));
    assert_eq!(d.bytes, b"GET");
    assert_eq!((d.seq, d.len), (7, 5));
    assert_eq!(d.direction, Direction::Egress);
    assert_eq!(d.conn.tuple.local, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(d.conn.tuple.remote, "127.0.0.2:50000".parse().unwrap());
    assert!(!d.tls);
    let mut h = header();
    h.flags = data_flags::TLS;
    let Event::Data(d) = decode(&record(h, b"GET")).unwrap() else {
        panic!("not data")
    };
    assert!(d.tls, "TLS plaintext");
}

#[test]
fn v4_mapped_v6_becomes_v4() {
    let mut h = header();
    h.hdr.tuple.family = AF_INET6;
    h.hdr.tuple.local_addr = Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped().octets();
    h.hdr.tuple.remote_addr = Ipv6Addr::LOCALHOST.octets();
    let Event::Data(d) = decode(&record(h, b"abc")).unwrap() else {
        panic!("data")
    };
    assert_eq!(
        d.conn.tuple.local.ip(),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))
    );
    assert_eq!(d.conn.tuple.remote.ip(), IpAddr::V6(Ipv6Addr::LOCALHOST));
}

#[test]
fn decodes_process_records() {
    let rec = |k: u32, aux: u32| {
        let r = ProcRecord {
            kind: k,
            aux,
            ts_ns: 5,
            pid_tgid: (42u64 << 32) | 43,
            comm: *b"curl\0\0\0\0\0\0\0\0\0\0\0\0",
        };
        let mut v = vec![0u8; size_of::<ProcRecord>()];
        // SAFETY: plain integers.
        unsafe { std::ptr::write_unaligned(v.as_mut_ptr().cast::<ProcRecord>(), r) };
        v
    };
    let change = |v: Vec<u8>| match decode(&v).unwrap() {
        Event::Proc { change, .. } => change,
        e => panic!("{e:?}"),
    };
    assert_eq!(
        change(rec(kind::PROC_FORK, 50)),
        ProcChange::Fork { child: 50 }
    );
    assert_eq!(
        change(rec(kind::PROC_EXEC, 0)),
        ProcChange::Exec { pid: 42 }
    );
    assert_eq!(
        change(rec(kind::PROC_EXIT, 42)),
        ProcChange::Exit { pid: 42 }
    );
    assert_eq!(
        change(rec(kind::LISTEN, 8080)),
        ProcChange::Listen {
            pid: 42,
            port: 8080
        }
    );
    assert!(decode(&rec(kind::LISTEN, 1)[..10]).is_err());
}

#[test]
fn short_and_bad_records_are_errors() {
    let full = record(header(), b"abc");
    for n in 0..full.len() {
        assert!(decode(&full[..n]).is_err(), "prefix {n}");
    }
    let mut h = header();
    h.hdr.kind = 99;
    assert_eq!(decode(&record(h, b"abc")), Err(DecodeError::Kind(99)));
    let mut h = header();
    h.hdr.tuple.family = 1;
    assert_eq!(decode(&record(h, b"abc")), Err(DecodeError::Family(1)));
}

/// A close that is not the socket's last reference, and which kind.
#[test]
fn decodes_close_and_release_records() {
    let conn_record = |k: u32, r: u32| {
        let mut h = header().hdr;
        h.kind = k;
        h.role = r;
        let mut v = vec![0u8; size_of::<EventHeader>()];
        // SAFETY: EventHeader is plain integers.
        unsafe { std::ptr::write_unaligned(v.as_mut_ptr().cast::<EventHeader>(), h) };
        decode(&v).unwrap()
    };
    assert!(matches!(conn_record(kind::CLOSE, 0), Event::Close { conn } if conn.pid == 42));
    assert!(matches!(
        conn_record(kind::RELEASE, release::HELD),
        Event::Release { threads: false, conn } if conn.pid == 42 && conn.sock == 0xdead
    ));
    assert!(matches!(
        conn_record(kind::RELEASE, release::THREADS),
        Event::Release { threads: true, .. }
    ));
}
