//! An application instrumented with the real OpenTelemetry Python SDK calls
//! an uninstrumented service; swit traces both. The SDK's spans and swit's
//! must form one trace (needs root, python3 and, the first time, PyPI).
use std::{
    io::Write,
    process::{Command, Stdio},
    time::Duration,
};

use swit_tests::{
    CLIENT, ExportingAgent, Proc, SERVER, Service, SpanRec, collect_lines, fixture, otel_python,
    otlp_receiver::OtlpReceiver, require_root, wait_for,
};

const WAIT: Duration = Duration::from_secs(30);

fn find<'a>(spans: &'a [SpanRec], what: &str, f: impl Fn(&SpanRec) -> bool) -> &'a SpanRec {
    let found: Vec<&SpanRec> = spans.iter().filter(|s| f(s)).collect();
    assert_eq!(found.len(), 1, "exactly one {what} in {spans:#?}");
    found[0]
}

#[test]
fn an_sdk_instrumented_service_and_swit_share_one_trace() {
    require_root();
    let python = otel_python::python();
    // The SDK exports OTLP/HTTP to one receiver, swit OTLP/gRPC to another.
    let sdk_rx = OtlpReceiver::start_http();
    let swit_rx = OtlpReceiver::start_grpc();
    let svc = Service::start(None);

    let mut cmd = Command::new(&python);
    cmd.arg(fixture("sdk_client.py"))
        .args(["--endpoint", &sdk_rx.endpoint()])
        .args(["--target", &format!("127.0.0.1:{}", svc.port)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut app = Proc::spawn("sdk_client.py", &mut cmd);
    let mut stdin = app.child.stdin.take().expect("stdin");
    let lines = collect_lines(app.child.stdout.take().expect("stdout"));
    let has = |want: &str| lines.lock().unwrap().iter().any(|l| l == want);
    wait_for("sdk_client ready", WAIT, || has("ready").then_some(()));

    let agent = ExportingAgent::start(
        &[
            "--pid".into(),
            svc.proc.pid().to_string(),
            "--pid".into(),
            app.pid().to_string(),
            "--exporter".into(),
            "otlp".into(),
            "--endpoint".into(),
            swit_rx.endpoint(),
            "--protocol".into(),
            "grpc".into(),
        ],
        &[],
    );

    writeln!(stdin, "go").expect("write go");
    drop(stdin);
    wait_for("sdk_client done", WAIT, || has("done").then_some(()));
    let (trace_id, call_id) = {
        let l = lines.lock().unwrap();
        let ids = l
            .iter()
            .find_map(|x| x.strip_prefix("ids "))
            .unwrap_or_else(|| panic!("no ids line in {l:?}"))
            .to_string();
        let (t, s) = ids.split_once(' ').expect("ids TRACE SPAN");
        (t.to_string(), s.to_string())
    };

    // What the SDK exported (provider.shutdown() flushed before "done").
    let sdk_spans = sdk_rx.wait_spans("the SDK's two spans", WAIT, |s| s.len() >= 2);
    assert_eq!(sdk_spans.len(), 2, "{sdk_spans:#?}");
    let root = find(&sdk_spans, "sdk-root", |s| s.name == "sdk-root");
    let call = find(&sdk_spans, "sdk-call", |s| s.name == "sdk-call");
    for s in [root, call] {
        assert_eq!(
            s.resource.get("service.name").and_then(|v| v.as_str()),
            Some("sdk-app")
        );
        assert_eq!(s.trace_id, trace_id, "{} in the printed trace", s.name);
    }
    assert_eq!(root.kind, SERVER);
    assert_eq!(root.parent_span_id, "");
    assert_eq!(call.kind, CLIENT);
    assert_eq!(call.span_id, call_id);
    assert_eq!(call.parent_span_id, root.span_id);

    // What swit exported: the GET /hello seen from both ends. (swit also
    // sees the SDK's own export, a POST /v1/traces from the app.)
    // Servers record url.path, clients url.full.
    let hello_url = format!("http://127.0.0.1:{}/hello", svc.port);
    let hello = |s: &SpanRec, pid: u32, kind: i64| {
        s.pid() == Some(pid as i64)
            && s.kind == kind
            && match kind {
                SERVER => s.attr_str("url.path") == Some("/hello"),
                _ => s.attr_str("url.full") == Some(hello_url.as_str()),
            }
    };
    let (svc_pid, app_pid) = (svc.proc.pid(), app.pid());
    swit_rx.wait_spans("swit's server and client spans of GET /hello", WAIT, |s| {
        s.iter().any(|x| hello(x, svc_pid, SERVER)) && s.iter().any(|x| hello(x, app_pid, CLIENT))
    });

    // SIGINT: the agent flushes and exits cleanly.
    agent.stop();

    let swit_spans = swit_rx.spans();
    let server = find(&swit_spans, "server span of GET /hello", |s| {
        hello(s, svc_pid, SERVER)
    });
    let client = find(&swit_spans, "client span of GET /hello", |s| {
        hello(s, app_pid, CLIENT)
    });
    // The uninstrumented service continues the SDK's trace through the
    // traceparent header the SDK sent.
    assert_eq!(
        server.trace_id, trace_id,
        "the service joins the SDK's trace"
    );
    assert_eq!(
        server.parent_span_id, call_id,
        "the service's parent is sdk-call"
    );
    assert_eq!(server.attr_int("http.response.status_code"), Some(200));
    assert_eq!(server.status_code, 0, "unset status on a 200");
    assert_ne!(server.span_id, call_id);
    // docs/user-guide.md, How spans are linked: a client that already sends
    // `traceparent` keeps its ids: same trace, and the span id the header
    // carries, which is sdk-call's.
    assert_eq!(
        client.trace_id, trace_id,
        "swit's client span in the SDK's trace"
    );
    assert_eq!(
        client.span_id, call_id,
        "swit's client span takes sdk-call's id"
    );
    assert_eq!(client.attr_int("http.response.status_code"), Some(200));
    // sdk-call's parent (sdk-root) never crosses the wire: the header holds
    // only the trace id and sdk-call's id, and the app's thread serves no
    // request swit saw. So swit's client span has no parent; it cannot name
    // sdk-root (see correlate.rs, "Its parent is what the thread serves, if
    // in that trace").
    assert_eq!(
        client.parent_span_id, "",
        "swit's client span cannot know sdk-root; it has no parent"
    );
}
