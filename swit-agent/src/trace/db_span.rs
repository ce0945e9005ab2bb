//! Database calls as OpenTelemetry spans, per the database semantic
//! conventions (`db.*`, stable names).
use std::net::SocketAddr;

use super::{
    http_span::HttpSpanParts,
    intern,
    span::{AttrValue, Attributes, StatusCode, Text},
};
use crate::protocol::db::DbCall;

/// Name, attributes and status of one database span. `server` is the
/// database's address, `peer` the other end of the connection.
pub fn db_span(call: DbCall, server: SocketAddr, peer: SocketAddr) -> HttpSpanParts {
    // `{operation} {target}`: the table, else the database, else the
    // operation alone; the system name when nothing else is known.
    let target = call.collection.as_ref().or(call.namespace.as_ref());
    let name = match (&call.operation, target) {
        (Some(op), Some(t)) => {
            let mut n = String::with_capacity(op.len() + 1 + t.len());
            n.push_str(op);
            n.push(' ');
            n.push_str(t);
            Text::Owned(n)
        }
        (Some(op), None) => Text::Owned(op.clone()),
        (None, _) => Text::Borrowed(call.system),
    };
    // The call is used up here: its strings move into the attributes.
    let mut a: Attributes = Vec::with_capacity(12);
    a.push(("db.system.name".into(), AttrValue::fixed(call.system)));
    if let Some(ns) = call.namespace {
        a.push(("db.namespace".into(), ns.into()));
    }
    if let Some(op) = call.operation {
        a.push(("db.operation.name".into(), op.into()));
    }
    if let Some(c) = call.collection {
        a.push(("db.collection.name".into(), c.into()));
    }
    if let Some(q) = call.query_text {
        a.push(("db.query.text".into(), q.into()));
    }
    a.push(("server.address".into(), intern::ip(server.ip()).into()));
    a.push(("server.port".into(), AttrValue::Int(server.port() as i64)));
    a.push(("network.peer.address".into(), intern::ip(peer.ip()).into()));
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
    let status = match call.status_code {
        Some(code) => {
            a.push(("db.response.status_code".into(), code.clone().into()));
            a.push(("error.type".into(), code.into()));
            StatusCode::Error
        }
        None => StatusCode::Unset,
    };
    HttpSpanParts {
        name,
        attributes: a,
        status,
    }
}

#[cfg(test)]
#[path = "db_span_tests.rs"]
mod tests;
