//! Tests of grpc.rs: header names and values.
use super::*;

#[test]
fn header_names_and_values() {
    for (k, v, ok) in [
        ("authorization", "Bearer x", true),
        ("X-Tenant", "a", true),
        ("x-data-bin", "AAEC", false),
        ("bad key", "v", false),
        ("", "v", false),
        ("x-ok", "line\nbreak", false),
    ] {
        let got = metadata(&[(k.to_string(), v.to_string())]);
        assert_eq!(got.is_ok(), ok, "{k:?}: {v:?}");
    }
    let m = metadata(&[("X-Tenant".into(), "a".into())]).unwrap();
    assert_eq!(m.get("x-tenant").unwrap(), "a");
}
