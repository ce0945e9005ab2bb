//! Tests of resource.rs: service names, container ids and resource attributes.
use super::*;

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn service_names() {
    let table = [
        ("/usr/sbin/nginx", s(&["nginx: worker process"]), "nginx"),
        (
            "/usr/bin/python3.11",
            s(&["python3", "/srv/app/frontend.py", "--port", "1"]),
            "frontend",
        ),
        (
            "/usr/bin/python3.11",
            s(&["python3", "-u", "backend.py"]),
            "backend",
        ),
        (
            "/usr/bin/python3.11",
            s(&["python3", "-m", "http.server"]),
            "http.server",
        ),
        (
            "/usr/bin/python3.11",
            s(&["python3", "-c", "print(1)"]),
            "python3.11",
        ),
        ("/usr/bin/node", s(&["node", "server.js"]), "server"),
        ("/opt/app", s(&[]), "app"),
    ];
    for (exe, cmd, want) in table {
        assert_eq!(service_name(exe, &cmd), want, "{exe} {cmd:?}");
    }
}

#[test]
fn container_ids_from_cgroup_paths() {
    let id = "a".repeat(64);
    let table = [
        (
            format!("0::/system.slice/docker-{id}.scope"),
            Some(id.clone()),
        ),
        (
            format!("0::/kubepods/burstable/pod1234/{id}"),
            Some(id.clone()),
        ),
        (format!("12:memory:/docker/{id}"), Some(id.clone())),
        (
            format!("0::/system.slice/cri-containerd-{id}.scope"),
            Some(id.clone()),
        ),
        (
            "0::/user.slice/user-0.slice/session-1.scope".to_string(),
            None,
        ),
        ("0::/".to_string(), None),
    ];
    for (cg, want) in table {
        assert_eq!(container_id(&cg), want, "{cg}");
    }
}

#[test]
fn resource_attributes_parse_and_decode() {
    assert_eq!(
        parse_resource_attributes("service.name=checkout, env=prod%20eu,bad,=x"),
        vec![
            ("service.name".into(), "checkout".into()),
            ("env".into(), "prod eu".into())
        ]
    );
}

#[test]
fn service_name_precedence() {
    let me = std::process::id();
    let plain = resource_of(me, "h", &ResourcePolicy::default());
    let configured = ResourcePolicy {
        service_name: Some("from-config".into()),
        attributes: vec![
            ("environment".into(), "dev".into()),
            ("service.instance.id".into(), "i".into()),
        ],
        ..Default::default()
    };
    let r = resource_of(me, "h", &configured);
    assert_ne!(plain.service_name, "from-config");
    assert_eq!(
        r.service_name, "from-config",
        "tracing.service_name beats the executable name"
    );
    assert!(r.attributes.contains(&("environment".into(), "dev".into())));
    assert!(
        r.attributes
            .contains(&("service.instance.id".into(), format!("i-{me}").into()))
    );
}

#[test]
fn resource_of_this_process() {
    let r = resource_of(std::process::id(), "h", &ResourcePolicy::default());
    assert!(!r.service_name.is_empty());
    assert!(
        r.attributes
            .iter()
            .any(|(k, v)| k == "process.pid" && *v == AttrValue::Int(std::process::id() as i64))
    );
}
