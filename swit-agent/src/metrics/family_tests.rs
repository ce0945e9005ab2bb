//! Tests of family.rs: family names and parse-error labels.
use super::*;

#[test]
fn names_are_unique_and_prefixed() {
    let s = Snapshot {
        otlp: Some(Default::default()),
        ..Snapshot::default()
    };
    let f = families(&s);
    let mut names: Vec<_> = f.iter().map(|f| f.name).collect();
    assert!(names.iter().all(|n| n.starts_with("swit_")));
    assert!(names.iter().all(|n| !n.ends_with("_total")));
    names.sort();
    let n = names.len();
    names.dedup();
    assert_eq!(names.len(), n);
}

#[test]
fn parse_errors_are_labelled_by_protocol() {
    let s = Snapshot {
        parse_errors_by: [1, 2, 3, 4, 5],
        ..Snapshot::default()
    };
    let f = families(&s);
    let pe = f.iter().find(|f| f.name == "swit_parse_errors").unwrap();
    assert_eq!(
        pe.samples,
        vec![
            ("http1", 1),
            ("http2", 2),
            ("postgresql", 3),
            ("mysql", 4),
            ("redis", 5)
        ]
    );
    // No collector: no collector families.
    assert!(!f.iter().any(|f| f.name.starts_with("swit_otlp_")));
}
