//! deploy/'s files agree with the repository, with the agent and with
//! themselves. No root, no network, no Docker engine, no cluster: these
//! read files and run `swit-agent config validate` and `run --help` only.
//! What only a real `docker compose up` or `kubectl apply` would show is
//! listed under "Not run here" in deploy/README.md.
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
};

use swit_tests::{
    agent_bin,
    deploy::{
        HOST_MOUNTS, Value, dockerfile_base_images, dockerfile_copy_sources, env_map, exists,
        listen_ports, peers, proc_net_listen_ports, read, scalar, seq, words, yaml_docs,
    },
    root, write_config,
};

const COMPOSE_FILES: &[&str] = &[
    "deploy/docker-compose.yml",
    "deploy/http-demo/docker-compose.yml",
];
const K8S_FILES: &[&str] = &[
    "deploy/kubernetes/daemonset.yaml",
    "deploy/kubernetes/jaeger.yaml",
    "deploy/kubernetes/shop.yaml",
];
const AGENT_CONFIGS: &[&str] = &["deploy/swit.yaml", "deploy/http-demo/swit.yaml"];

/// `swit-agent config validate FILE` exits 0 saying ok.
fn assert_valid_config(path: &Path, what: &str) {
    let out = Command::new(agent_bin())
        .args(["config", "validate"])
        .arg(path)
        // The DaemonSet's ConfigMap expands ${NODE_NAME} (set from the pod's node).
        .env("NODE_NAME", "node-1")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains(": ok"),
        "{what}: {text}"
    );
}

/// Files under deploy/, relative to the repository root, symlinks included.
fn deploy_files() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join("deploy"), &mut out);
    let mut rel: Vec<String> = out
        .iter()
        .map(|p| {
            p.strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    rel.sort();
    rel
}

/// Compose services as (name, definition).
fn compose_services(doc: &Value) -> Vec<(String, &Value)> {
    let m = doc["services"].as_mapping().expect("services:");
    m.iter()
        .map(|(k, v)| (k.as_str().unwrap().to_string(), v))
        .collect()
}

/// Images that a Dockerfile in this repository builds, by compose `image:` tag.
fn built_images() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for file in COMPOSE_FILES {
        for (_, svc) in compose_services(&yaml_docs(file)[0]) {
            if !svc["build"].is_null() {
                out.extend(svc["image"].as_str().map(String::from));
            }
        }
    }
    out
}

#[test]
fn every_yaml_file_under_deploy_parses_and_the_readme_names_every_file() {
    let readme = read("deploy/README.md");
    for f in deploy_files() {
        if f.ends_with(".yml") || f.ends_with(".yaml") {
            assert!(!yaml_docs(&f).is_empty(), "{f}: no YAML document");
        }
        let name = f.strip_prefix("deploy/").unwrap();
        assert!(
            f == "deploy/README.md" || readme.contains(name),
            "deploy/README.md does not name {name}"
        );
    }
    for f in COMPOSE_FILES.iter().chain(K8S_FILES).chain(AGENT_CONFIGS) {
        assert!(exists(Path::new(f)), "{f} is gone: update this test");
    }
}

#[test]
fn agent_configurations_pass_config_validate() {
    for f in AGENT_CONFIGS {
        assert_valid_config(&root().join(f), f);
    }
    // The DaemonSet's, from its ConfigMap (written out as the pod sees it).
    let docs = yaml_docs("deploy/kubernetes/daemonset.yaml");
    let cm = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .expect("a ConfigMap");
    let text = cm["data"]["swit.yaml"].as_str().expect("data: swit.yaml");
    assert_valid_config(
        &write_config("daemonset-configmap", text),
        "daemonset ConfigMap",
    );
}

#[test]
fn compose_builds_only_from_files_that_exist_and_pulls_only_documented_images() {
    let readme = read("deploy/README.md");
    let built = built_images();
    for file in COMPOSE_FILES {
        let dir = Path::new(file).parent().unwrap();
        for (name, svc) in compose_services(&yaml_docs(file)[0]) {
            let b = &svc["build"];
            if b.is_null() {
                let image = svc["image"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{name}: no image"));
                assert!(
                    built.contains(image) || readme.contains(image),
                    "{file}: {name}'s image {image} is not built here nor named in deploy/README.md"
                );
                continue;
            }
            let ctx = dir.join(b["context"].as_str().unwrap_or(b.as_str().unwrap_or(".")));
            let dockerfile = ctx.join(b["dockerfile"].as_str().unwrap_or("Dockerfile"));
            assert!(
                exists(&dockerfile),
                "{file}: {name}: no {}",
                dockerfile.display()
            );
            let args = env_map(&b["args"]);
            let text = read(dockerfile.to_str().unwrap());
            for src in dockerfile_copy_sources(&text, &args) {
                assert!(
                    exists(&ctx.join(&src)),
                    "{file}: {name}: {} copies {src}, which is not in the build context",
                    dockerfile.display()
                );
            }
            for image in dockerfile_base_images(&text) {
                assert!(
                    readme.contains(&image),
                    "{}: base image {image} is not named in deploy/README.md",
                    dockerfile.display()
                );
            }
        }
    }
}

#[test]
fn compose_mounts_only_repository_files_and_documented_host_paths() {
    let readme = read("deploy/README.md");
    for file in COMPOSE_FILES {
        let dir = Path::new(file).parent().unwrap();
        for (name, svc) in compose_services(&yaml_docs(file)[0]) {
            for v in seq(&svc["volumes"]) {
                let source = match v.as_str() {
                    Some(s) => s.split(':').next().unwrap().to_string(),
                    None if v["type"] == "bind" => v["source"].as_str().unwrap().to_string(),
                    None => continue,
                };
                if source.starts_with('/') {
                    assert!(
                        HOST_MOUNTS.contains(&source.as_str()) && readme.contains(&source),
                        "{file}: {name} mounts host path {source}: not one of {HOST_MOUNTS:?} \
                         documented in deploy/README.md"
                    );
                } else if source.starts_with('.') {
                    assert!(
                        exists(&dir.join(&source)),
                        "{file}: {name} mounts {source}, which is not in the repository"
                    );
                }
            }
        }
    }
}

#[test]
fn compose_ports_peers_and_healthchecks_match_what_each_service_listens_on() {
    for file in COMPOSE_FILES {
        let dir = Path::new(file).parent().unwrap();
        let docs = yaml_docs(file);
        let services = compose_services(&docs[0]);
        let listens: BTreeMap<String, BTreeSet<u16>> = services
            .iter()
            .map(|(name, svc)| {
                let image = svc["image"].as_str().unwrap_or("");
                let ports = listen_ports(
                    image,
                    &env_map(&svc["environment"]),
                    &words(&svc["command"]),
                );
                (name.clone(), ports)
            })
            .collect();
        for (name, svc) in &services {
            let own = &listens[name];
            for p in seq(&svc["ports"]) {
                let container = match scalar(p) {
                    Some(s) => s
                        .rsplit(':')
                        .next()
                        .unwrap()
                        .split('/')
                        .next()
                        .unwrap()
                        .to_string(),
                    None => scalar(&p["target"]).expect("ports: target"),
                };
                let port: u16 = container.parse().unwrap();
                assert!(
                    own.contains(&port),
                    "{file}: {name} publishes {port} but listens on {own:?}"
                );
            }
            // Peers by service name, in the environment and in mounted configuration.
            let mut texts: Vec<String> = env_map(&svc["environment"]).into_values().collect();
            for v in seq(&svc["volumes"]).iter().filter_map(Value::as_str) {
                let src = v.split(':').next().unwrap();
                if src.starts_with('.') && (src.ends_with(".yaml") || src.ends_with(".yml")) {
                    texts.push(read(dir.join(src).to_str().unwrap()));
                }
            }
            for (host, port) in texts.iter().flat_map(|t| peers(t)) {
                if host.chars().any(|c| c.is_ascii_alphabetic()) {
                    let theirs = listens.get(&host).unwrap_or_else(|| {
                        panic!("{file}: {name} names {host}:{port}, not a service")
                    });
                    assert!(
                        theirs.contains(&port),
                        "{file}: {name} calls {host}:{port} but {host} listens on {theirs:?}"
                    );
                }
            }
            for port in proc_net_listen_ports(&words(&svc["healthcheck"]["test"])) {
                assert!(
                    own.contains(&port),
                    "{file}: {name}'s healthcheck waits for port {port}, it listens on {own:?}"
                );
            }
            if let Some(m) = svc["depends_on"].as_mapping() {
                for dep in m.keys().filter_map(Value::as_str) {
                    assert!(
                        listens.contains_key(dep),
                        "{file}: {name} depends on unknown {dep}"
                    );
                }
            }
        }
    }
}

/// Kubernetes objects of every file, with the file they came from.
fn k8s_objects() -> Vec<(&'static str, Value)> {
    K8S_FILES
        .iter()
        .flat_map(|f| yaml_docs(f).into_iter().map(move |d| (*f, d)))
        .collect()
}

fn pod_spec(obj: &Value) -> Option<&Value> {
    let kind = obj["kind"].as_str()?;
    ["Deployment", "DaemonSet", "StatefulSet"]
        .contains(&kind)
        .then(|| &obj["spec"]["template"]["spec"])
}

#[test]
fn the_daemonset_has_host_pids_the_mounts_requests_and_its_configuration() {
    let docs = yaml_docs("deploy/kubernetes/daemonset.yaml");
    let ds = docs
        .iter()
        .find(|d| d["kind"] == "DaemonSet")
        .expect("a DaemonSet");
    let spec = pod_spec(ds).unwrap();
    assert_eq!(spec["hostPID"], true, "hostPID");
    let c = &seq(&spec["containers"])[0];
    assert_eq!(c["securityContext"]["privileged"], true, "privileged");
    for r in ["cpu", "memory"] {
        assert!(
            !c["resources"]["requests"][r].is_null(),
            "resources.requests.{r}"
        );
    }
    let volumes = seq(&spec["volumes"]);
    let volume = |name: &str| volumes.iter().find(|v| v["name"] == name);
    let mounts = seq(&c["volumeMounts"]);
    for host in HOST_MOUNTS {
        let m = mounts
            .iter()
            .find(|m| m["mountPath"] == *host)
            .unwrap_or_else(|| panic!("no volumeMount at {host}"));
        let v = volume(m["name"].as_str().unwrap()).expect("the mount's volume");
        assert_eq!(v["hostPath"]["path"], *host, "{host} comes from the host");
    }
    // --config names the ConfigMap's key where the ConfigMap is mounted.
    let args = words(&c["args"]);
    let config = args
        .windows(2)
        .find(|w| w[0] == "--config")
        .map(|w| PathBuf::from(&w[1]))
        .expect("--config");
    let m = mounts
        .iter()
        .find(|m| m["mountPath"].as_str() == config.parent().unwrap().to_str())
        .expect("a mount at the configuration's directory");
    let cm_name = &volume(m["name"].as_str().unwrap()).unwrap()["configMap"]["name"];
    let cm = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == *cm_name)
        .expect("the mounted ConfigMap in the same file");
    let key = config.file_name().unwrap().to_str().unwrap();
    assert!(cm["data"][key].is_string(), "ConfigMap has no {key}");
}

#[test]
fn kubernetes_services_images_and_peers_fit_the_pods() {
    let readme = read("deploy/README.md");
    let built = built_images();
    let objects = k8s_objects();
    let ns = |o: &Value| {
        o["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string()
    };
    // (namespace, service name) -> ports; pods' (namespace, labels, container ports)
    let mut services = BTreeMap::new();
    for (_, o) in objects.iter().filter(|(_, o)| o["kind"] == "Service") {
        let ports: BTreeSet<u64> = seq(&o["spec"]["ports"])
            .iter()
            .filter_map(|p| p["port"].as_u64())
            .collect();
        services.insert(
            (ns(o), o["metadata"]["name"].as_str().unwrap().to_string()),
            ports,
        );
    }
    for (file, o) in &objects {
        let Some(spec) = pod_spec(o) else { continue };
        let labels = &o["spec"]["template"]["metadata"]["labels"];
        for c in seq(&spec["containers"]) {
            let name = c["name"].as_str().unwrap();
            let image = c["image"].as_str().unwrap();
            assert!(
                built.contains(image) || readme.contains(image),
                "{file}: {name}'s image {image} is not built here nor named in deploy/README.md"
            );
            for r in ["cpu", "memory"] {
                assert!(
                    !c["resources"]["requests"][r].is_null(),
                    "{file}: {name}: requests.{r}"
                );
            }
            let env = env_map(&c["env"]);
            let listens = listen_ports(image, &env, &words(&c["args"]));
            let ports: BTreeSet<u16> = seq(&c["ports"])
                .iter()
                .filter_map(|p| p["containerPort"].as_u64())
                .map(|p| p as u16)
                .collect();
            assert!(
                ports.is_subset(&listens),
                "{file}: {name} declares {ports:?}, listens on {listens:?}"
            );
            if let Some(p) = c["readinessProbe"]["tcpSocket"]["port"].as_u64() {
                assert!(
                    ports.contains(&(p as u16)),
                    "{file}: {name} probes {p}, not a port of it"
                );
            }
            // Every Service selecting this pod forwards to one of its ports.
            for (_, s) in objects
                .iter()
                .filter(|(_, s)| s["kind"] == "Service" && ns(s) == ns(o))
            {
                let sel = s["spec"]["selector"].as_mapping().unwrap();
                if sel.iter().all(|(k, v)| labels[k.as_str().unwrap()] == *v) {
                    for p in seq(&s["spec"]["ports"]) {
                        let t = p["targetPort"].as_u64().or(p["port"].as_u64()).unwrap() as u16;
                        assert!(
                            ports.contains(&t),
                            "{file}: Service for {name} targets {t}, pod has {ports:?}"
                        );
                    }
                }
            }
            // Peers (NAME:PORT or NAME.NAMESPACE:PORT) are Services with that port.
            let mut texts: Vec<String> = env.into_values().collect();
            if o["kind"] == "DaemonSet" {
                let cm = objects
                    .iter()
                    .find(|(_, d)| d["kind"] == "ConfigMap" && ns(d) == ns(o));
                texts.extend(
                    cm.and_then(|(_, d)| d["data"]["swit.yaml"].as_str())
                        .map(String::from),
                );
            }
            for (host, port) in texts.iter().flat_map(|t| peers(t)) {
                if !host.chars().any(|c| c.is_ascii_alphabetic()) {
                    continue;
                }
                let mut parts = host.split('.');
                let svc = parts.next().unwrap().to_string();
                let namespace = parts.next().map(String::from).unwrap_or_else(|| ns(o));
                let theirs = services
                    .get(&(namespace.clone(), svc.clone()))
                    .unwrap_or_else(|| {
                        panic!("{file}: {name} calls {host}: no Service {svc} in {namespace}")
                    });
                assert!(
                    theirs.contains(&u64::from(port)),
                    "{file}: {name} calls {host}:{port}; {svc} has {theirs:?}"
                );
            }
        }
    }
}

#[test]
fn the_schema_configmap_is_examples_shop_schema_sql() {
    let docs = yaml_docs("deploy/kubernetes/shop.yaml");
    let cm = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "shop-schema")
        .expect("ConfigMap shop-schema");
    assert_eq!(
        cm["data"]["schema.sql"].as_str().unwrap(),
        read("examples/shop/schema.sql"),
        "deploy/kubernetes/shop.yaml's schema.sql differs from examples/shop/schema.sql: copy it over"
    );
}

#[test]
fn the_systemd_unit_runs_swit_agent_with_flags_it_has() {
    // The unit's old path stays, as a relative symlink.
    let old = root().join("deploy/swit-agent.service");
    let link = std::fs::read_link(&old).expect("deploy/swit-agent.service is a symlink");
    assert!(link.is_relative(), "{} is absolute", link.display());
    let unit = read("deploy/systemd/swit-agent.service");
    assert_eq!(
        std::fs::read_to_string(&old).unwrap(),
        unit,
        "the symlink leads to the unit"
    );

    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart=");
    // `/bin/sh -c '...'` adds --pid only when the old SWIT_PID is set.
    let exec = exec
        .strip_prefix("/bin/sh -c '")
        .and_then(|e| e.strip_suffix('\''))
        .expect("ExecStart=/bin/sh -c '...'");
    let exec = exec
        .strip_prefix("exec ")
        .expect("the shell execs the agent");
    assert!(
        exec.contains("$${SWIT_PID:+--pid $$SWIT_PID}") && exec.ends_with("$$SWIT_ARGS"),
        "SWIT_PID and SWIT_ARGS both reach the agent: {exec}"
    );
    let argv: Vec<&str> = exec.split_whitespace().collect();
    assert!(
        argv[0].starts_with('/') && argv[0].ends_with("/swit-agent"),
        "{exec}"
    );
    assert_eq!(argv[1], "run", "{exec}");
    let help = Command::new(agent_bin())
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let known: BTreeSet<&str> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '=')
        .filter(|w| w.starts_with("--"))
        .collect();
    for flag in argv.iter().filter(|w| w.starts_with("--")) {
        assert!(
            known.contains(flag),
            "{exec}: `swit-agent run --help` has no {flag}"
        );
    }
}
