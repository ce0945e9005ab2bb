//! Database calls as OpenTelemetry spans, per the database semantic
//! conventions (`db.*`, stable names).
use std::net::SocketAddr;

use super::{
    http_span::HttpSpanParts,
    span::{AttrValue, Attributes, StatusCode},
};
use crate::protocol::db::DbCall;

/// Name, attributes and status of one database span. `server` is the
/// database's address, `peer` the other end of the connection.
pub fn db_span(call: &DbCall, server: SocketAddr, peer: SocketAddr) -> HttpSpanParts {
    let mut a: Attributes = Vec::with_capacity(12);
    a.push(("db.system.name".into(), call.system.into()));
    if let Some(ns) = &call.namespace {
        a.push(("db.namespace".into(), ns.clone().into()));
    }
    if let Some(op) = &call.operation {
        a.push(("db.operation.name".into(), op.clone().into()));
    }
    if let Some(c) = &call.collection {
        a.push(("db.collection.name".into(), c.clone().into()));
    }
    if let Some(q) = &call.query_text {
        a.push(("db.query.text".into(), q.clone().into()));
    }
    a.push(("server.address".into(), server.ip().to_string().into()));
    a.push(("server.port".into(), AttrValue::Int(server.port() as i64)));
    a.push(("network.peer.address".into(), peer.ip().to_string().into()));
    a.push((
        "network.peer.port".into(),
        AttrValue::Int(peer.port() as i64),
    ));
    if let Some(rows) = call.returned_rows {
        a.push((
            "db.response.returned_rows".into(),
            AttrValue::Int(rows as i64),
        ));
    }
    let status = match &call.status_code {
        Some(code) => {
            a.push(("db.response.status_code".into(), code.clone().into()));
            a.push(("error.type".into(), code.clone().into()));
            StatusCode::Error
        }
        None => StatusCode::Unset,
    };
    // `{operation} {target}`: the table, else the database, else the
    // operation alone; the system name when nothing else is known.
    let target = call.collection.as_ref().or(call.namespace.as_ref());
    let name = match (&call.operation, target) {
        (Some(op), Some(t)) => format!("{op} {t}"),
        (Some(op), None) => op.clone(),
        (None, _) => call.system.to_string(),
    };
    HttpSpanParts {
        name,
        attributes: a,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::db::system;

    fn get<'a>(p: &'a HttpSpanParts, k: &str) -> Option<&'a AttrValue> {
        p.attributes.iter().find(|(n, _)| n == k).map(|(_, v)| v)
    }

    #[test]
    fn names_and_attributes() {
        let srv = "127.0.0.1:5432".parse().unwrap();
        let call = DbCall {
            system: system::POSTGRESQL,
            operation: Some("SELECT".into()),
            collection: Some("users".into()),
            namespace: Some("appdb".into()),
            query_text: Some("SELECT name FROM users WHERE id = ?".into()),
            returned_rows: Some(1),
            ..Default::default()
        };
        let p = db_span(&call, srv, srv);
        assert_eq!(p.name, "SELECT users");
        assert_eq!(get(&p, "db.system.name"), Some(&"postgresql".into()));
        assert_eq!(
            get(&p, "db.response.returned_rows"),
            Some(&AttrValue::Int(1))
        );
        assert_eq!(get(&p, "server.port"), Some(&AttrValue::Int(5432)));
        assert_eq!(p.status, StatusCode::Unset);

        let err = DbCall {
            system: system::MYSQL,
            operation: Some("SELECT".into()),
            namespace: Some("appdb".into()),
            status_code: Some("1146".into()),
            ..Default::default()
        };
        let p = db_span(&err, srv, srv);
        assert_eq!(
            p.name, "SELECT appdb",
            "the database when no table is known"
        );
        assert_eq!(p.status, StatusCode::Error);
        assert_eq!(get(&p, "error.type"), Some(&"1146".into()));

        let bare = DbCall {
            system: system::REDIS,
            ..Default::default()
        };
        assert_eq!(db_span(&bare, srv, srv).name, "redis");
    }
}
