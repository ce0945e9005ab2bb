//! Tests of script.rs: what is pushed reads back, and any bytes are a script.
use super::*;

#[test]
fn what_is_pushed_reads_back() {
    let mut s = Vec::new();
    push_data(&mut s, Side::Request, b"GET / HTTP/1.1\r\n\r\n");
    push_gap(&mut s, Side::Response, 70_000);
    push_data(&mut s, Side::Response, &[7; 300]);
    let got: Vec<_> = steps(&s)
        .map(|st| (st.side(), st.gap(), st.payload.len()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Side::Request, None, 18),
            (Side::Response, Some(0x10000), 0),
            (Side::Response, None, 255),
            (Side::Response, None, 45),
        ]
    );
}

#[test]
fn any_bytes_are_a_script() {
    assert_eq!(steps(b"").count(), 0);
    let st: Vec<_> = steps(&[0x00, 9, b'a']).collect();
    assert_eq!(st[0].payload, b"a");
    let st: Vec<_> = steps(&[0x0e]).collect();
    assert_eq!(st[0].gap(), Some(0));
}
