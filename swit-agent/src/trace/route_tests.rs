//! Tests of route.rs: the heuristic's table, config patterns first, and
//! the per-service bound.
use super::*;

fn guess(path: &str) -> String {
    let mut s = String::new();
    heuristic(path, &mut s);
    s
}

#[test]
fn heuristic_replaces_ids_and_keeps_words() {
    for (path, want) in [
        ("/", "/"),
        ("", "/"),
        ("/orders", "/orders"),
        ("/orders/42", "/orders/{id}"),
        ("/orders/42/items/7", "/orders/{id}/items/{id}"),
        (
            "/orders/7ee4a646-1b2c-4d5e-8f90-0123456789ab",
            "/orders/{id}",
        ),
        (
            "/orders/7EE4A646-1B2C-4D5E-8F90-0123456789AB/lines",
            "/orders/{id}/lines",
        ),
        ("/blob/5f3a9c1e", "/blob/{id}"),
        (
            "/commit/da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "/commit/{id}",
        ),
        ("/session/aGVsbG8gd29ybGQ9PTEyMzQ1", "/session/{id}"),
        ("/reset/Zx81kQ_p-0aa9bQmW", "/reset/{id}"),
        ("/report/2024-01-31", "/report/{date}"),
        ("/report/20240131", "/report/{date}"),
        ("/at/2024-01-31T10:00:00Z", "/at/{date}"),
        ("/v1/users/17", "/v1/users/{id}"),
        ("/api/v2.1/health", "/api/v2.1/health"),
        ("/V3/x", "/V3/x"),
        ("/static/app.js", "/static/app.js"),
        ("/static/index.html", "/static/index.html"),
        ("/img/12345.jpg", "/img/{id}"),
        ("/cafe/decade/beef", "/cafe/decade/beef"),
        ("/users/me/settings", "/users/me/settings"),
        ("/page2", "/page2"),
        ("/items/1234-x", "/items/{id}"),
        ("/a//b/", "/a//b/"),
        ("/caf%C3%A9/x", "/caf%C3%A9/x"),
        ("/search-results", "/search-results"),
    ] {
        assert_eq!(guess(path), want, "{path}");
    }
    // Garbage stays bounded: a huge segment is one token.
    let long = format!("/x/{}", "z".repeat(100));
    assert_eq!(guess(&long), "/x/{id}");
}

fn patterns(p: &[&str]) -> Vec<Pattern> {
    p.iter().map(|p| Pattern::parse(p).unwrap()).collect()
}

#[test]
fn config_patterns_come_first_per_service_then_global() {
    let mut r = Routes::new(RouteSettings {
        patterns: patterns(&["/orders/{id}", "/files/{name}", "/"]),
        services: vec![("shop".into(), patterns(&["/orders/{order}"]))],
        max_per_service: 10,
    });
    assert_eq!(
        r.route("api", "/orders/abc"),
        ("/orders/{id}", RouteSource::Config)
    );
    assert_eq!(
        r.route("shop", "/orders/abc"),
        ("/orders/{order}", RouteSource::Config)
    );
    // A word the heuristic would keep is still the pattern's.
    assert_eq!(
        r.route("api", "/files/readme"),
        ("/files/{name}", RouteSource::Config)
    );
    assert_eq!(r.route("api", "/"), ("/", RouteSource::Config));
    // Shape must match exactly: more segments, or an empty one, fall back.
    assert_eq!(
        r.route("api", "/orders/42/items"),
        ("/orders/{id}/items", RouteSource::Heuristic)
    );
    assert_eq!(
        r.route("api", "/orders/"),
        ("/orders/", RouteSource::Heuristic)
    );
    assert_eq!(r.folded, 0);
}

#[test]
fn ten_thousand_paths_fold_past_the_bound() {
    let mut r = Routes::new(RouteSettings {
        max_per_service: 1000,
        ..RouteSettings::default()
    });
    let mut distinct = HashSet::new();
    for i in 0..10_000 {
        // Words, not ids: the heuristic keeps each one distinct.
        let path = format!("/p/w{}", to_letters(i));
        let (route, source) = r.route("svc", &path);
        assert_eq!(source, RouteSource::Heuristic);
        distinct.insert(route.to_string());
    }
    assert_eq!(distinct.len(), 1001, "1000 routes and the fold");
    assert!(distinct.contains(FOLDED));
    assert_eq!(r.folded, 9000);
    assert_eq!(r.held(), 1000);
    // Routes already kept go on being named; another service has its own.
    assert_eq!(r.route("svc", "/p/wa").0, "/p/wa");
    assert_eq!(r.route("other", "/p/wzz").0, "/p/wzz");
    // Ids fold into one route, whatever the bound.
    let mut r = Routes::new(RouteSettings::default());
    for i in 0..10_000 {
        assert_eq!(r.route("svc", &format!("/orders/{i}")).0, "/orders/{id}");
    }
    assert_eq!((r.folded, r.held()), (0, 1));
}

fn to_letters(mut i: usize) -> String {
    let mut s = String::new();
    loop {
        s.push((b'a' + (i % 26) as u8) as char);
        i /= 26;
        if i == 0 {
            return s;
        }
    }
}

#[test]
fn a_huge_path_folds() {
    let mut r = Routes::new(RouteSettings::default());
    let p = format!("/{}", "a/".repeat(MAX_PATH));
    assert_eq!(r.route("s", &p).0, FOLDED);
    assert_eq!(r.folded, 1);
}

#[test]
fn routes_over_all_services_are_bounded_too() {
    let mut r = Routes::new(RouteSettings {
        max_per_service: 1000,
        ..RouteSettings::default()
    });
    for s in 0..MAX_SERVICES + 10 {
        for i in 0..100 {
            r.route(&format!("s{s}"), &format!("/p/w{}", to_letters(i)));
        }
    }
    assert_eq!(r.held(), MAX_ROUTES);
    assert_eq!(r.folded, ((MAX_SERVICES + 10) * 100 - MAX_ROUTES) as u64);
}
