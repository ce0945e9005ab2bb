//! Faults (issue 10): the collector away for a minute, the agent started,
//! stopped and killed under load, and the ring buffer overflowing. Nothing
//! is lost that was promised, nothing is left behind, and tracing resumes.
use std::time::{Duration, Instant};

use swit_tests::{
    Agent, ExportingAgent, Nginx, Service,
    faults::{BpfObjects, LineClient, LoadClient},
    otlp_receiver::OtlpReceiver,
    require_root, summary_counter, summary_line, wait_for,
};

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn spans_made_in_a_minute_without_the_collector_arrive_and_capture_never_waits() {
    require_root();
    let mut rx = OtlpReceiver::start_grpc();
    let svc = Service::start(None);
    let args: Vec<String> = [
        "--pid",
        &svc.proc.pid().to_string(),
        "--exporter",
        "otlp",
        "--endpoint",
        &rx.endpoint(),
        "--service-name",
        "outage",
    ]
    .map(String::from)
    .to_vec();
    let agent = ExportingAgent::start(&args, &[]);
    let mut client = LineClient::connect(svc.port);
    assert_eq!(client.get("/hello?before"), 200);
    rx.wait_spans("the span before the outage", WAIT, |s| !s.is_empty());

    rx.stop();
    // Requests go on all through the outage, about ten a second.
    let down = Instant::now();
    let mut during = 0u64;
    while down.elapsed() < Duration::from_secs(60) {
        assert_eq!(client.get(&format!("/hello?during{during}")), 200);
        during += 1;
        std::thread::park_timeout(Duration::from_millis(100));
    }
    rx.restart();
    assert_eq!(client.get("/hello?after"), 200);
    // Only the service is traced: one SERVER span per request.
    let want = (during + 2) as usize;
    let spans = rx.wait_spans("every span of the outage", WAIT, |s| {
        s.iter().filter(|s| s.kind == 2).count() >= want
    });
    let summary = agent.stop();
    let server: Vec<_> = spans.iter().filter(|s| s.kind == 2).collect();
    assert_eq!(server.len(), want, "{summary}");
    for i in 0..during {
        let q = format!("during{i}");
        assert!(
            server
                .iter()
                .any(|s| s.attr_str("url.query") == Some(q.as_str())),
            "the span of request {i} of the outage is missing: {summary}"
        );
    }
    for key in [
        "retry_dropped",
        "export_dropped",
        "ringbuf_full",
        "reader_dropped",
        "dropped_requests",
    ] {
        assert_eq!(summary_counter(&summary, key), 0, "{key}: {summary}");
    }
    eprintln!("figures: {during} requests during a 60 s outage, all delivered after it");
}

fn tracefs_probes() -> String {
    ["uprobe_events", "kprobe_events"]
        .iter()
        .map(|f| std::fs::read_to_string(format!("/sys/kernel/tracing/{f}")).unwrap_or_default())
        .collect()
}

/// Starts the agent on nginx and the service, checks it traces both, and
/// returns it with the BPF objects it holds.
fn traced(ng: &Nginx, svc: &Service, round: u32) -> (Agent, BpfObjects) {
    let agent = Agent::start(&[ng.proc.pid(), svc.proc.pid()], &[]);
    let held = BpfObjects::held_by(agent.proc.pid());
    assert!(!held.progs.is_empty() && !held.maps.is_empty(), "{held:?}");
    // Under full load a debug build of the agent falls behind and drops
    // (counted) records, so any span of each will do.
    // nginx's spans come from its workers: told apart by path.
    for path in ["/ok", "/hello"] {
        agent.wait_spans(&format!("a span of {path} in round {round}"), WAIT, |s| {
            s.iter().any(|s| s.attr_str("url.path") == Some(path))
        });
    }
    (agent, held)
}

fn assert_released(held: &BpfObjects, when: &str) {
    // The kernel frees programs and maps after their last reference goes,
    // a little after the process's descriptors close.
    wait_for(
        &format!("every BPF object to be released {when}"),
        Duration::from_secs(20),
        || held.still_loaded().is_empty().then_some(()),
    );
}

#[test]
fn start_stop_and_sigkill_under_load_fail_no_request_and_leave_nothing() {
    require_root();
    let ng = Nginx::start();
    let svc = Service::start(None);
    let probes_before = tracefs_probes();
    let nginx_load = LoadClient::start(ng.port, "/ok", 4);
    let python_load = LoadClient::start(svc.port, "/hello", 2);

    let (agent, held) = traced(&ng, &svc, 1);
    let stopped = agent.stop();
    assert!(summary_line(&stopped.stderr).contains("stopped;"));
    assert_released(&held, "after a clean stop");
    assert_eq!(
        tracefs_probes(),
        probes_before,
        "tracefs probes left behind"
    );

    let (mut agent, held) = traced(&ng, &svc, 2);
    agent.proc.signal(libc::SIGKILL);
    wait_for("the killed agent to go", WAIT, || {
        agent.proc.child.try_wait().ok().flatten()
    });
    assert_released(&held, "after SIGKILL");
    assert_eq!(
        tracefs_probes(),
        probes_before,
        "tracefs probes left behind"
    );

    // The next start finds nothing in its way.
    let (agent, held) = traced(&ng, &svc, 3);
    let stopped = agent.stop();
    assert_released(&held, "after the last stop");

    let (n, p) = (nginx_load.finish(), python_load.finish());
    eprintln!(
        "figures: nginx {} requests, python {} requests through three starts, two stops and a SIGKILL",
        n.0, p.0
    );
    assert!(n.0 > 0 && p.0 > 0);
    assert_eq!(n.1, 0, "failed nginx requests");
    assert_eq!(p.1, 0, "failed python requests");
    assert!(!summary_line(&stopped.stderr).contains("WARN"));
}

#[test]
fn after_the_ring_overflows_every_connection_resyncs_and_spans_resume() {
    require_root();
    let ng = Nginx::start();
    // The smallest ring: 64 KiB, a few hundred requests' records.
    let agent = Agent::start(&[ng.proc.pid()], &["--ring-bytes", "65536"]);
    let mut c = LineClient::connect(ng.port);
    assert_eq!(c.get("/ok?before"), 200);
    agent.wait_spans("the span before the burst", WAIT, |s| {
        s.iter().any(|s| s.attr_str("url.query") == Some("before"))
    });
    // The agent is stopped while the burst comes: nobody reads the ring,
    // which fills, and the kernel drops the rest and counts them.
    agent.proc.signal(libc::SIGSTOP);
    let burst = 1000;
    for i in 0..burst {
        assert_eq!(c.get(&format!("/ok?burst{i}")), 200);
    }
    agent.proc.signal(libc::SIGCONT);
    // Until the agent has drained the ring, new records are dropped too:
    // ask again, on the same connection, until one is traced.
    let mut probe = 0;
    wait_for("a request after the burst to be traced", WAIT, || {
        probe += 1;
        let q = format!("probe{probe}");
        assert_eq!(c.get(&format!("/ok?{q}")), 200);
        let traced = |s: &[swit_tests::SpanRec]| {
            s.iter()
                .any(|s| s.attr_str("url.query") == Some(q.as_str()))
        };
        swit_tests::wait_for_opt(Duration::from_secs(2), || {
            traced(&agent.spans()).then_some(())
        })
    });
    // The same connection, now with answers that tell requests apart: a
    // response paired with the wrong request would show a wrong status.
    let mut after = Vec::new();
    for i in 0..10 {
        let path = if i % 2 == 0 { "/ok" } else { "/missing" };
        let status = c.get(&format!("{path}?after{i}"));
        after.push((format!("after{i}"), status));
    }
    let spans = agent.wait_spans("every request after the burst", WAIT, |s| {
        after.iter().all(|(q, _)| {
            s.iter()
                .any(|s| s.attr_str("url.query") == Some(q.as_str()))
        })
    });
    for (q, status) in &after {
        let s = spans
            .iter()
            .find(|s| s.attr_str("url.query") == Some(q.as_str()))
            .unwrap();
        assert_eq!(
            s.attr_int("http.response.status_code"),
            Some(*status as i64),
            "{q}"
        );
    }
    let burst_spans = spans
        .iter()
        .filter(|s| {
            s.attr_str("url.query")
                .is_some_and(|q| q.starts_with("burst"))
        })
        .count();
    let stopped = agent.stop();
    let summary = summary_line(&stopped.stderr);
    eprintln!(
        "figures: a burst of {burst} requests into a stopped agent's 64 KiB ring: {burst_spans} traced, {} records dropped and counted",
        summary_counter(&summary, "ringbuf_full")
    );
    assert!(summary_counter(&summary, "ringbuf_full") > 0, "{summary}");
    assert!(burst_spans < burst, "{summary}");
    assert!(
        summary_counter(&summary, "uncaptured_bytes") > 0,
        "the gap is marked: {summary}"
    );
    assert!(summary.contains("WARN"), "a loss is a warning: {summary}");
}
