//! Tests of intern.rs: kept once, borrowed after, bounded.
use std::net::{IpAddr, Ipv4Addr};

use super::*;

#[test]
fn a_repeated_text_is_borrowed_from_one_copy() {
    let a = text("shop.example");
    let b = text("shop.example");
    let (Cow::Borrowed(a), Cow::Borrowed(b)) = (a, b) else {
        panic!("kept texts are borrowed");
    };
    assert!(std::ptr::eq(a, b), "one copy");
    let ip4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));
    assert_eq!(ip(ip4), "10.0.0.7");
    assert!(matches!(ip(ip4), Cow::Borrowed(_)));
    assert_eq!(ip("::1".parse().unwrap()), "::1");
}

#[test]
fn past_the_bound_texts_are_owned_and_the_bound_holds() {
    // Each test runs on a thread of its own: this table starts empty.
    let long = "x".repeat(MAX_TEXT + 1);
    assert!(matches!(text(&long), Cow::Owned(_)), "too long to keep");
    let mut i = 0u32;
    while kept_bytes() + 16 <= MAX_BYTES {
        text(&format!("host-{i:011}")); // 16 bytes each
        i += 1;
    }
    let extra = text("one-more-name");
    assert_eq!(extra, "one-more-name");
    assert!(matches!(extra, Cow::Owned(_)), "no room left");
    assert!(kept_bytes() <= MAX_BYTES);
    // What was kept before is still borrowed.
    assert!(matches!(text("host-00000000000"), Cow::Borrowed(_)));
}

#[test]
fn ip_text_is_the_standard_text() {
    use std::net::Ipv6Addr;
    let mut rng = crate::protocol::testkit::Prng(3);
    for _ in 0..5000 {
        let ip = IpAddr::V4(Ipv4Addr::from(rng.next_u64() as u32));
        assert_eq!(ip_text(ip), ip.to_string());
    }
    for ip in [
        IpAddr::V4(Ipv4Addr::new(0, 0, 0, 0)),
        IpAddr::V4(Ipv4Addr::new(255, 255, 255, 255)),
        IpAddr::V4(Ipv4Addr::new(10, 0, 100, 9)),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ] {
        assert_eq!(ip_text(ip), ip.to_string());
        assert_eq!(super::ip(ip), ip.to_string());
    }
}
