//! Tests of red.rs: routes on server spans, metrics from every exchange.
use super::*;
use crate::trace::{
    requests::Value,
    route::{FOLDED, Pattern},
    span::StatusCode,
};

fn server_parts(method: &'static str, path: &str, status: i64) -> HttpSpanParts {
    let mut attributes: Attributes = vec![
        ("http.request.method".into(), AttrValue::fixed(method)),
        ("url.scheme".into(), AttrValue::fixed("http")),
        ("url.path".into(), path.into()),
        ("http.response.status_code".into(), AttrValue::Int(status)),
    ];
    if status >= 500 {
        attributes.push(("error.type".into(), status.to_string().into()));
    }
    HttpSpanParts {
        name: Text::Borrowed(method),
        attributes,
        status: StatusCode::Unset,
    }
}

fn red(max_series: Option<usize>) -> Red {
    Red::new(
        RouteSettings {
            patterns: vec![Pattern::parse("/orders/{order_id}").unwrap()],
            ..RouteSettings::default()
        },
        max_series,
    )
}

#[test]
fn a_sampled_server_span_is_named_by_its_route() {
    let mut r = red(None);
    let mut p = server_parts("GET", "/orders/42", 200);
    r.finish(SpanKind::Server, &mut p, "shop", 1, true);
    assert_eq!(p.name, "GET /orders/{order_id}");
    assert!(
        p.attributes
            .contains(&("http.route".into(), "/orders/{order_id}".into()))
    );
    assert!(
        p.attributes
            .contains(&(ROUTE_SOURCE.into(), AttrValue::fixed("config")))
    );
    let mut p = server_parts("GET", "/users/42", 200);
    r.finish(SpanKind::Server, &mut p, "shop", 1, true);
    assert_eq!(p.name, "GET /users/{id}");
    assert!(
        p.attributes
            .contains(&(ROUTE_SOURCE.into(), AttrValue::fixed("heuristic")))
    );
    // Metrics off: nothing recorded, nothing asked of unsampled exchanges.
    assert!(!r.wants_unsampled());
    assert!(r.snapshot().metrics.is_empty());
}

#[test]
fn unsampled_exchanges_are_counted_but_left_alone() {
    let mut r = red(Some(100));
    assert!(r.wants_unsampled());
    for (sampled, path, status) in [
        (true, "/orders/1", 200),
        (false, "/orders/2", 200),
        (false, "/orders/3", 503),
        (true, "/", 200),
    ] {
        let mut p = server_parts("GET", path, status);
        r.finish(SpanKind::Server, &mut p, "shop", 1_000_000, sampled);
        assert_eq!(p.attributes.iter().any(|(k, _)| k == "http.route"), sampled);
    }
    // A client call: no route, its server address instead.
    let mut c = HttpSpanParts {
        name: Text::Borrowed("POST"),
        attributes: vec![
            ("http.request.method".into(), AttrValue::fixed("POST")),
            ("url.full".into(), "http://pay:8080/charge/9".into()),
            ("server.address".into(), "pay".into()),
            ("server.port".into(), AttrValue::Int(8080)),
            ("http.response.status_code".into(), AttrValue::Int(402)),
            ("error.type".into(), "402".into()),
        ],
        status: StatusCode::Error,
    };
    r.finish(SpanKind::Client, &mut c, "shop", 3_000_000, false);
    assert_eq!(c.name, "POST");
    let s = r.snapshot();
    let server = &s.metrics[0];
    let by_route = |route: &str, status: i64| {
        server
            .series
            .iter()
            .filter(|(k, _)| {
                k.values[1] == Value::Str(route.into()) && k.values[2] == Value::Int(status)
            })
            .map(|(_, h)| h.count)
            .sum::<u64>()
    };
    assert_eq!(by_route("/orders/{order_id}", 200), 2);
    assert_eq!(by_route("/orders/{order_id}", 503), 1);
    assert_eq!(by_route("/", 200), 1);
    let client = &s.metrics[1];
    assert_eq!(client.series.len(), 1);
    let (k, h) = &client.series[0];
    assert_eq!(
        &*k.values,
        &[
            Value::Str("POST".into()),
            Value::Int(402),
            Value::Str("402".into()),
            Value::Str("pay".into()),
            Value::Int(8080),
        ]
    );
    assert_eq!((h.count, h.sum_ns), (1, 3_000_000));
}

#[test]
fn rpc_and_db_exchanges_go_to_their_metrics() {
    let mut r = red(Some(100));
    let mut rpc = HttpSpanParts {
        name: "shop.Cart/Add".into(),
        attributes: vec![
            ("rpc.system".into(), "grpc".into()),
            ("rpc.service".into(), "shop.Cart".into()),
            ("rpc.method".into(), "Add".into()),
            ("url.path".into(), "/x/1".into()),
            ("rpc.grpc.status_code".into(), AttrValue::Int(0)),
        ],
        status: StatusCode::Unset,
    };
    r.finish(SpanKind::Server, &mut rpc, "cart", 1, true);
    assert_eq!(rpc.name, "shop.Cart/Add", "no http.route on rpc spans");
    let mut db = HttpSpanParts {
        name: "SELECT users".into(),
        attributes: vec![
            ("db.system.name".into(), AttrValue::fixed("postgresql")),
            ("db.operation.name".into(), "SELECT".into()),
            ("db.collection.name".into(), "users".into()),
            (
                "db.query.text".into(),
                "SELECT * FROM users WHERE id = $1".into(),
            ),
        ],
        status: StatusCode::Unset,
    };
    r.finish(SpanKind::Client, &mut db.clone(), "cart", 1, true);
    // A traced database's own side records no client duration.
    r.finish(SpanKind::Server, &mut db, "pg", 1, true);
    let s = r.snapshot();
    assert_eq!(s.metrics[2].series.len(), 1, "rpc.server.duration");
    assert_eq!(s.metrics[4].series.len(), 1, "db.client.operation.duration");
    assert_eq!(&*s.metrics[4].series[0].0.service, "cart");
    assert_eq!(s.metrics[4].series[0].0.values.len(), 3);
}

#[test]
fn folded_routes_name_spans_and_series_alike() {
    let mut r = Red::new(
        RouteSettings {
            max_per_service: 2,
            ..RouteSettings::default()
        },
        Some(100),
    );
    for path in ["/a", "/b", "/c", "/d"] {
        let mut p = server_parts("GET", path, 200);
        r.finish(SpanKind::Server, &mut p, "s", 1, true);
    }
    assert_eq!(r.routes.folded, 2);
    let s = r.snapshot();
    let routes: Vec<_> = s.metrics[0]
        .series
        .iter()
        .map(|(k, h)| (k.values[1].clone(), h.count))
        .collect();
    assert_eq!(
        routes,
        vec![
            (Value::Str("/a".into()), 1),
            (Value::Str("/b".into()), 1),
            (Value::Str(FOLDED.into()), 2)
        ]
    );
}
