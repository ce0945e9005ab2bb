//! Tests of validate.rs: durations and URLs.
use super::*;

#[test]
fn durations() {
    let ok = [
        ("500ms", Duration::from_millis(500)),
        ("10s", Duration::from_secs(10)),
        ("1m", Duration::from_secs(60)),
        ("1h", Duration::from_secs(3600)),
        ("0s", Duration::ZERO),
    ];
    for (s, d) in ok {
        assert_eq!(parse_duration(s), Some(d), "{s}");
    }
    for s in ["10x", "-1s", "10", "s", "", "1.5s", "10 s", "1d"] {
        assert_eq!(parse_duration(s), None, "{s:?}");
    }
}

#[test]
fn urls() {
    let ok = [
        ("http://localhost:4317", "localhost", Some(4317), ""),
        (
            "https://otel.example.com/v1/traces",
            "otel.example.com",
            None,
            "/v1/traces",
        ),
        ("http://[::1]:4318/", "::1", Some(4318), "/"),
        ("http://u:p@h:1/x?y", "h", Some(1), "/x"),
    ];
    for (u, host, port, path) in ok {
        let p = parse_url(u).unwrap_or_else(|| panic!("{u}"));
        assert_eq!((p.host, p.port, p.path), (host, port, path), "{u}");
    }
    for u in [
        "localhost:4317",
        "grpc://h:4317",
        "http://",
        "http://:4317",
        "http://h:port",
        "http://h:0",
        "http://h :1",
        "",
    ] {
        assert_eq!(parse_url(u), None, "{u:?}");
    }
}
