//! Reads the agent's metrics endpoint: a plain HTTP/1.1 GET, and the
//! Prometheus text parsed into `name{labels}` -> value.
use std::{
    collections::HashMap,
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

/// `GET path` on 127.0.0.1:`port`: the status and the body, or `None` when
/// nothing answers.
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut c = TcpStream::connect(("127.0.0.1", port)).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(c, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    c.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// The samples of a Prometheus text exposition, keyed as written:
/// `swit_spans_total`, `swit_parse_errors_total{protocol="http1"}`.
pub fn parse(text: &str) -> HashMap<String, u64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// The agent's metrics now; panics when the endpoint does not answer 200.
pub fn metrics(port: u16) -> HashMap<String, u64> {
    match get(port, "/metrics") {
        Some((200, body)) => parse(&body),
        other => panic!("GET /metrics: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_samples() {
        let m =
            parse("# HELP a_total x\n# TYPE a_total counter\na_total 3\nb{reason=\"x y\"} 4\n\n");
        assert_eq!(m["a_total"], 3);
        assert_eq!(m["b{reason=\"x y\"}"], 4);
        assert_eq!(m.len(), 2);
    }
}
