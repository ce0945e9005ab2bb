//! Which service a traced process is: a configured rule, else the
//! process's own OTEL_SERVICE_NAME, else `tracing.service_name`, else its
//! executable or script name. Needs root.
use std::time::Duration;

use swit_tests::{Agent, Client, SERVER, Service, of_kind};

#[test]
fn service_names_follow_the_documented_order() {
    let env = [
        ("OTEL_SERVICE_NAME", "inventory"),
        ("OTEL_RESOURCE_ATTRIBUTES", "team=stock,service.version=1.2"),
    ];
    let ruled = Service::start_with("127.0.0.1", None, &env);
    let own = Service::start_with("127.0.0.1", None, &env);
    let plain = Service::start(None);
    let cfg = swit_tests::write_config(
        "names",
        &format!(
            "tracing:\n  enabled: true\n  service_name: fallback-name\n  sampling: {{ type: always_on }}\n  resource_attributes: {{ environment: e2e }}\nagent:\n  services:\n    - {{ match: {{ pid: {} }}, name: ruled-name }}\n",
            ruled.proc.pid()
        ),
    );
    let cfg = cfg.display().to_string();
    let agent = Agent::start(
        &[ruled.proc.pid(), own.proc.pid(), plain.proc.pid()],
        &["--config", &cfg],
    );
    for svc in [&ruled, &own, &plain] {
        Client::start(svc.port, &["GET:/hello"]).go_and_wait();
    }
    agent.wait_spans("one span per service", Duration::from_secs(30), |s| {
        s.len() >= 3
    });
    let spans = agent.stop().spans;
    let name = |svc: &Service| {
        let s = of_kind(&spans, svc.proc.pid(), SERVER);
        assert_eq!(s.len(), 1, "{spans:?}");
        s[0].resource.clone()
    };
    let (r, o, p) = (name(&ruled), name(&own), name(&plain));
    assert_eq!(r["service.name"], "ruled-name", "a configured rule wins");
    assert_eq!(
        o["service.name"], "inventory",
        "then the process's OTEL_SERVICE_NAME"
    );
    assert_eq!(
        p["service.name"], "fallback-name",
        "then tracing.service_name"
    );
    assert_eq!(
        o["team"], "stock",
        "the process's OTEL_RESOURCE_ATTRIBUTES are kept"
    );
    assert_eq!(o["service.version"], "1.2");
    for res in [&r, &o, &p] {
        assert_eq!(
            res["environment"], "e2e",
            "configured attributes on every process"
        );
        assert_eq!(res["telemetry.distro.name"], "swit");
    }
    assert_ne!(
        r["service.instance.id"], o["service.instance.id"],
        "one instance per process"
    );
}
