//! Tests of tls.rs: what is and is not a TLS record.
use super::*;

#[test]
fn records_and_not_records() {
    let client_hello = [
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    let cases: &[(&str, &[u8], bool)] = &[
        ("client hello", &client_hello, true),
        ("server hello", &[0x16, 0x03, 0x03, 0x00, 0x7a, 0x02], true),
        (
            "change cipher spec",
            &[0x14, 0x03, 0x03, 0x00, 0x01, 0x01],
            true,
        ),
        ("alert", &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28], true),
        ("application data", &[0x17, 0x03, 0x03, 0x40, 0x11], true),
        ("three bytes", &[0x17, 0x03, 0x03], true),
        ("two bytes", &[0x17, 0x03], false),
        ("empty", &[], false),
        ("zero length", &[0x17, 0x03, 0x03, 0x00, 0x00], false),
        ("too long", &[0x17, 0x03, 0x03, 0xff, 0xff], false),
        ("version 3.5", &[0x16, 0x03, 0x05, 0x00, 0x10], false),
        ("heartbeat", &[0x18, 0x03, 0x03, 0x00, 0x10], false),
        ("http", b"GET / HTTP/1.1\r\n", false),
        ("pg ssl request", &[0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f], false),
        ("redis", b"*1\r\n$4\r\nPING\r\n", false),
    ];
    for (name, b, want) in cases {
        assert_eq!(looks_like_record(b), *want, "{name}");
    }
}
