//! The shop demo (examples/shop/, issue 9): five uninstrumented services in
//! three languages, one trace per order. Root, real PostgreSQL, Redis,
//! Python, Go (net/http, grpc-go, lib/pq) and node.
use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    time::Duration,
};

use swit_tests::{
    Agent, Proc, SpanRec, fixture,
    shop::{Shop, all_trees, http_path, tree},
};

const WAIT: Duration = Duration::from_secs(60);
const SERVER: i64 = 2;
const CLIENT: i64 = 3;
const ERROR: i64 = 2;

/// How every order's trace begins: the load client's call, order serving
/// it, the token checked with auth (a Redis GET), the stock reserved over
/// gRPC (a PostgreSQL UPDATE in inventory).
const ORDER_HEAD: &str = "\
CLIENT loadgen POST /orders
  SERVER order POST /orders
    CLIENT order GET /verify
      SERVER auth GET /verify
        CLIENT auth GET 0
    CLIENT order inventory.Inventory/Reserve
      SERVER inventory inventory.Inventory/Reserve
        CLIENT inventory UPDATE items
";

/// The client's calls to `path`, in the order they were made: the
/// warm-up round's, then the checked round's.
fn calls_to(spans: &[SpanRec], client: u32, path: &str) -> Vec<SpanRec> {
    let mut v: Vec<SpanRec> = spans
        .iter()
        .filter(|s| s.pid() == Some(client as i64) && s.kind == CLIENT)
        .filter(|s| http_path(s) == Some(path))
        .cloned()
        .collect();
    v.sort_by_key(|s| s.start);
    v
}

fn find<'a>(
    spans: &'a [SpanRec],
    trace: &str,
    kind: i64,
    service: &str,
    name: &str,
) -> &'a SpanRec {
    spans
        .iter()
        .find(|s| {
            s.trace_id == trace
                && s.kind == kind
                && s.name == name
                && s.resource.get("service.name").and_then(|v| v.as_str()) == Some(service)
        })
        .unwrap_or_else(|| panic!("no {kind} span {name:?} of {service} in trace {trace}"))
}

#[test]
fn each_order_is_one_trace_across_five_services() {
    let shop = Shop::start();
    let mut cmd = Command::new("python3");
    cmd.arg(fixture("shop_client.py"))
        .args([&shop.auth_url, &shop.order_url, &shop.user_url])
        .env("OTEL_SERVICE_NAME", "loadgen")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut client = Proc::spawn("shop_client.py", &mut cmd);
    let mut stdin = client.child.stdin.take().expect("stdin");
    let mut out = BufReader::new(client.child.stdout.take().expect("stdout")).lines();
    let mut next = || out.next().expect("a line").expect("utf-8");
    assert_eq!(next(), "ready");

    let mut pids: Vec<u32> = shop.pids.values().copied().collect();
    pids.push(client.pid());
    let agent = Agent::start(&pids, &[]);
    writeln!(stdin, "go").unwrap();
    let statuses: Vec<String> = (0..4).map(|_| next()).collect();
    assert_eq!(
        statuses,
        ["placed 201", "declined 402", "sold-out 409", "users 200"]
    );
    assert_eq!(next(), "done");

    let cpid = client.pid();
    // The client's span of an order ends after every span inside it, and
    // stopping the agent flushes what it holds: all the trees are in.
    agent.wait_spans(
        "the client's six order spans and two user calls",
        WAIT,
        |s| calls_to(s, cpid, "/orders").len() >= 6 && calls_to(s, cpid, "/users").len() >= 2,
    );
    let spans = agent.stop().spans;
    eprintln!("{}", all_trees(&spans));
    let calls = calls_to(&spans, cpid, "/orders");
    assert_eq!(calls.len(), 6, "{calls:?}");
    let calls = &calls[3..];
    for c in calls {
        assert!(
            c.parent_span_id.is_empty(),
            "the client starts the trace: {c:?}"
        );
    }

    assert_eq!(
        tree(&spans, &calls[0]),
        ORDER_HEAD.to_string()
            + "    CLIENT order POST /charges
      SERVER payment POST /charges
        CLIENT payment SET 0
    CLIENT order INSERT orders
",
        "a placed order"
    );

    // A declined card: payment answers 402, order gives up the stock and
    // answers 402 too. Per the HTTP conventions a 4xx is an error on the
    // client side only; the servers' spans carry the code, status unset.
    let declined = &calls[1];
    assert_eq!(
        tree(&spans, declined),
        ORDER_HEAD.to_string()
            + "    CLIENT order POST /charges
      SERVER payment POST /charges
        CLIENT payment SET 0
    CLIENT order inventory.Inventory/Release
      SERVER inventory inventory.Inventory/Release
        CLIENT inventory UPDATE items
",
        "a declined card"
    );
    let t = &declined.trace_id;
    let charge = find(&spans, t, CLIENT, "order", "POST");
    // Server spans are named by their route (`{method} {http.route}`).
    let charged = find(&spans, t, SERVER, "payment", "POST /charges");
    let order = find(&spans, t, SERVER, "order", "POST /orders");
    for s in [declined, charge, charged, order] {
        assert_eq!(s.attr_int("http.response.status_code"), Some(402), "{s:?}");
    }
    assert_eq!(declined.status_code, ERROR);
    assert_eq!(charge.status_code, ERROR);
    assert_ne!(charged.status_code, ERROR);
    assert_ne!(order.status_code, ERROR);

    // Out of stock: no row updated, so inventory looks the item up to tell
    // "unknown" from "sold out", and answers FAILED_PRECONDITION (9), an
    // error for the gRPC client only; order answers 409.
    let sold_out = &calls[2];
    assert_eq!(
        tree(&spans, sold_out),
        ORDER_HEAD.to_string()
            + "        CLIENT inventory SELECT items
",
        "an item out of stock"
    );
    let t = &sold_out.trace_id;
    let reserve = "inventory.Inventory/Reserve";
    let call = find(&spans, t, CLIENT, "order", reserve);
    let served = find(&spans, t, SERVER, "inventory", reserve);
    for s in [call, served] {
        assert_eq!(s.attr_int("rpc.grpc.status_code"), Some(9), "{s:?}");
    }
    assert_eq!(call.status_code, ERROR);
    assert_ne!(served.status_code, ERROR);
    assert_eq!(sold_out.attr_int("http.response.status_code"), Some(409));
    // user is Go: its handler's call to auth is written by net/http's
    // connection goroutine, which the handler hands the request to.
    let users = calls_to(&spans, cpid, "/users");
    assert_eq!(
        tree(&spans, &users[1]),
        "\
CLIENT loadgen GET /users
  SERVER user GET /users
    CLIENT user GET /verify
      SERVER auth GET /verify
        CLIENT auth GET 0
    CLIENT user SELECT users
",
        "a Go handler's calls"
    );
    drop(client);
    drop(shop);
}
