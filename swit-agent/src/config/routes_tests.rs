//! Tests of routes.rs: what a bad pattern is told, and matching.
use super::*;

#[test]
fn bad_patterns_say_what_to_fix() {
    for (p, needle) in [
        ("orders/{id}", "must start with /"),
        ("/orders/{id}?x=1", "no query"),
        ("/orders/{}", "is not a placeholder"),
        ("/orders/{a-b}", "is not a placeholder"),
        ("/orders/id{x}", "whole segment"),
        ("/orders/{id", "whole segment"),
    ] {
        let e = Pattern::parse(p).unwrap_err();
        assert!(e.contains(needle), "{p}: {e}");
    }
    assert!(Pattern::parse("/").is_ok());
}

#[test]
fn patterns_match_whole_segments() {
    let p = Pattern::parse("/orders/{id}/items").unwrap();
    assert!(p.matches("/orders/7/items"));
    assert!(!p.matches("/orders/7/items/1"));
    assert!(!p.matches("/orders//items"));
    assert!(!p.matches("/orders/7"));
    assert!(!p.matches("orders/7/items"));
    let root = Pattern::parse("/").unwrap();
    assert!(root.matches("/"));
    assert!(!root.matches("/a"));
}
