//! Tests of db_span.rs: span names and attributes.
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
    let p = db_span(call, srv, srv);
    assert_eq!(p.name, "SELECT users");
    assert_eq!(get(&p, "db.system.name"), Some(&"postgresql".into()));
    assert_eq!(
        get(&p, "db.response.returned_rows"),
        Some(&AttrValue::Int(1))
    );
    assert_eq!(get(&p, "server.port"), Some(&AttrValue::Int(5432)));
    // Every string of the call moves into its attribute.
    for (key, want) in [
        ("db.namespace", "appdb"),
        ("db.operation.name", "SELECT"),
        ("db.collection.name", "users"),
        ("db.query.text", "SELECT name FROM users WHERE id = ?"),
        ("server.address", "127.0.0.1"),
        ("network.peer.address", "127.0.0.1"),
    ] {
        assert_eq!(get(&p, key), Some(&want.into()), "{key}");
    }
    assert_eq!(p.status, StatusCode::Unset);

    let err = DbCall {
        system: system::MYSQL,
        operation: Some("SELECT".into()),
        namespace: Some("appdb".into()),
        status_code: Some("1146".into()),
        ..Default::default()
    };
    let p = db_span(err, srv, srv);
    assert_eq!(
        p.name, "SELECT appdb",
        "the database when no table is known"
    );
    assert_eq!(p.status, StatusCode::Error);
    assert_eq!(get(&p, "error.type"), Some(&"1146".into()));
    assert_eq!(get(&p, "db.response.status_code"), Some(&"1146".into()));

    let bare = DbCall {
        system: system::REDIS,
        ..Default::default()
    };
    assert_eq!(db_span(bare, srv, srv).name, "redis");
}
