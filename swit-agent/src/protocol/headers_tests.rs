use super::*;

#[test]
fn packed_fields_read_back_in_order_with_names_lowercased() {
    let mut h = Headers::with_capacity(3, 64);
    h.push("Host", "example.com");
    h.push("X-Empty", "");
    h.push("host", "second");
    assert_eq!(h.len(), 3);
    assert_eq!(
        h.iter().collect::<Vec<_>>(),
        [("host", "example.com"), ("x-empty", ""), ("host", "second")]
    );
    assert_eq!(h.get(1), Some(("x-empty", "")));
    assert_eq!(h.get(3), None);
    assert_eq!(HeaderFields::from(&h).get("host"), Some("example.com"));
    assert_eq!(HeaderFields::from(&h).get("missing"), None);
    assert_eq!(
        format!("{h:?}"),
        r#"[("host", "example.com"), ("x-empty", ""), ("host", "second")]"#
    );
}

#[test]
fn pairs_and_packed_fields_read_alike() {
    let pairs = vec![("a".to_string(), "1".to_string()), ("b".into(), "2".into())];
    let packed: Headers = [("A", "1"), ("b", "2")].into_iter().collect();
    let (p, q) = (HeaderFields::from(&pairs), HeaderFields::from(&packed));
    assert!(p.iter().eq(q.iter()));
    assert_eq!(p.get("b"), q.get("b"));
    assert!(Headers::default().is_empty());
}
