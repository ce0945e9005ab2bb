//! Reading deploy/'s files for the deploy_files test: YAML documents,
//! environment lists, the ports a container listens on and the peers it
//! names, Dockerfile COPY sources. Plain text and YAML values only; nothing
//! here runs Docker or talks to a cluster.
use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use serde::Deserialize;
pub use serde_norway::Value;

use crate::root;

/// Host paths a deployment may bind-mount, each named in deploy/README.md.
pub const HOST_MOUNTS: &[&str] = &["/sys/kernel/btf", "/sys/kernel/tracing", "/sys/fs/cgroup"];

/// Ports that images from elsewhere listen on as they come (by image name
/// prefix): Jaeger v2 all-in-one, PostgreSQL, Redis.
pub const IMAGE_PORTS: &[(&str, &[u16])] = &[
    ("jaegertracing/jaeger:", &[4317, 4318, 16686]),
    ("postgres:", &[5432]),
    ("redis:", &[6379]),
];

/// A file of the repository as text; panics naming it when missing.
pub fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every YAML document in `rel` (a `---` separated stream); panics naming
/// the file and the parser's message on the first that does not parse.
pub fn yaml_docs(rel: &str) -> Vec<Value> {
    let text = read(rel);
    serde_norway::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{rel}: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

/// A string, or a number written without quotes, as text.
pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A sequence's items, or nothing.
pub fn seq(v: &Value) -> &[Value] {
    v.as_sequence().map(|s| s.as_slice()).unwrap_or(&[])
}

/// Compose `environment:` (a mapping or `KEY=VALUE` items) or Kubernetes
/// `env:` (`{name, value}` items) as one map. `valueFrom` entries are left
/// out.
pub fn env_map(v: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(m) = v.as_mapping() {
        for (k, v) in m {
            if let (Some(k), Some(v)) = (scalar(k), scalar(v)) {
                out.insert(k, v);
            }
        }
    }
    for item in seq(v) {
        if let Some(s) = item.as_str() {
            if let Some((k, v)) = s.split_once('=') {
                out.insert(k.into(), v.into());
            }
        } else if let (Some(k), Some(v)) = (item["name"].as_str(), scalar(&item["value"])) {
            out.insert(k.into(), v);
        }
    }
    out
}

/// A command (a string or a list) as its words.
pub fn words(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => s.split_whitespace().map(String::from).collect(),
        _ => seq(v).iter().filter_map(scalar).collect(),
    }
}

/// Ports a container says it listens on: environment values `0.0.0.0:N`
/// or `[::]:N`, a `--port N` argument, and the ports of known images.
pub fn listen_ports(image: &str, env: &BTreeMap<String, String>, args: &[String]) -> BTreeSet<u16> {
    let mut out = BTreeSet::new();
    for v in env.values() {
        for any in ["0.0.0.0:", "[::]:"] {
            if let Some(p) = v.strip_prefix(any).and_then(|p| p.parse().ok()) {
                out.insert(p);
            }
        }
    }
    for w in args.windows(2) {
        if w[0] == "--port" {
            out.extend(w[1].parse::<u16>().ok());
        }
    }
    for (prefix, ports) in IMAGE_PORTS {
        if image.starts_with(prefix) {
            out.extend(ports.iter().copied());
        }
    }
    out
}

/// `HOST:PORT` addresses named in `text` where they start a value or follow
/// `//` or `@` (URLs, DSNs, bare addresses): `(host, port)`.
pub fn peers(text: &str) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    let starts = std::iter::once(0)
        .chain(text.match_indices("//").map(|(i, _)| i + 2))
        .chain(text.match_indices('@').map(|(i, _)| i + 1));
    for start in starts {
        let rest = &text[start..];
        let host_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
            .unwrap_or(rest.len());
        let (host, after) = rest.split_at(host_len);
        let Some(digits) = after.strip_prefix(':') else {
            continue;
        };
        let digits: String = digits.chars().take_while(char::is_ascii_digit).collect();
        if let (false, Ok(port)) = (host.is_empty(), digits.parse()) {
            out.push((host.to_string(), port));
        }
    }
    out
}

/// Ports a healthcheck looks for in /proc/net/tcp: the local address's hex
/// port two fields before a state `0A` (LISTEN) after a `...:0000` remote.
pub fn proc_net_listen_ports(test: &[String]) -> Vec<u16> {
    let text = test.join(" ").replace(['\'', '"'], " ");
    let t: Vec<&str> = text.split_whitespace().collect();
    (2..t.len())
        .filter(|&i| t[i].starts_with("0A") && t[i - 1].ends_with(":0000"))
        .filter_map(|i| u16::from_str_radix(t[i - 2].rsplit(':').next()?, 16).ok())
        .collect()
}

/// Each `KEYWORD ...` line of a Dockerfile: the whole rest, and its words
/// less `--flag`s.
fn instructions<'a>(
    text: &'a str,
    keyword: &'a str,
) -> impl Iterator<Item = (&'a str, Vec<&'a str>)> {
    text.lines().filter_map(move |line| {
        let rest = line.strip_prefix(keyword)?.strip_prefix(' ')?;
        Some((
            rest,
            rest.split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect(),
        ))
    })
}

/// Sources of a Dockerfile's `COPY`s (build-context paths, with `${ARG}`
/// replaced from `args`), less copies from a stage or a heredoc.
pub fn dockerfile_copy_sources(text: &str, args: &BTreeMap<String, String>) -> Vec<String> {
    instructions(text, "COPY")
        .filter(|(rest, w)| !rest.contains("--from=") && !rest.contains("<<") && w.len() >= 2)
        .flat_map(|(_, w)| {
            w[..w.len() - 1]
                .iter()
                .map(|src| substitute(src, args))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `FROM` images of a Dockerfile, less the names of its own stages.
pub fn dockerfile_base_images(text: &str) -> Vec<String> {
    let mut stages = BTreeSet::new();
    let mut out = Vec::new();
    for (_, w) in instructions(text, "FROM") {
        if let Some(image) = w.first().filter(|i| !stages.contains(**i)) {
            out.push(image.to_string());
        }
        if let [_, as_, name] = w.as_slice()
            && as_.eq_ignore_ascii_case("as")
        {
            stages.insert(name.to_string());
        }
    }
    out
}

/// `${NAME}` and `$NAME` replaced from `args`; panics on an unknown name.
fn substitute(s: &str, args: &BTreeMap<String, String>) -> String {
    let mut out = s.to_string();
    while let Some(i) = out.find('$') {
        let (name, len) = match out[i + 1..].strip_prefix('{') {
            Some(r) => {
                let end = r.find('}').expect("closing }");
                (r[..end].to_string(), end + 3)
            }
            None => {
                let n: String = out[i + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let len = n.len() + 1;
                (n, len)
            }
        };
        let v = args
            .get(&name)
            .unwrap_or_else(|| panic!("{s}: no build arg {name}"));
        out.replace_range(i..i + len, v);
    }
    out
}

/// Whether `rel` (relative to the repository root) exists.
pub fn exists(rel: &Path) -> bool {
    root().join(rel).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_found_in_urls_dsns_and_bare_addresses() {
        assert_eq!(peers("http://auth:18081"), [("auth".into(), 18081)]);
        assert_eq!(
            peers("postgres://shop:pw@postgres:5432/shop?x=1"),
            [("postgres".into(), 5432)]
        );
        assert_eq!(peers("inventory:18085"), [("inventory".into(), 18085)]);
        assert_eq!(
            peers("http://jaeger-collector.observability:4317"),
            [("jaeger-collector.observability".into(), 4317)]
        );
        assert!(peers("0.0.0.0:18081").iter().all(|(h, _)| h == "0.0.0.0"));
    }

    #[test]
    fn healthcheck_ports_are_read_from_proc_net_patterns() {
        let t = |s: &str| vec!["CMD-SHELL".to_string(), s.to_string()];
        assert_eq!(
            proc_net_listen_ports(&t("grep -qsi ':46A1 0*:0000 0A' /proc/net/tcp")),
            [18081]
        );
        assert_eq!(
            proc_net_listen_ports(&t("sys.exit('0100007F:1F90 00000000:0000 0A' not in x)")),
            [8080]
        );
    }

    #[test]
    fn copy_sources_take_build_args_and_skip_stages() {
        let args = BTreeMap::from([("SERVICE".to_string(), "auth".to_string())]);
        let text = "FROM a AS build\nCOPY --chmod=0755 x/${SERVICE}.py $SERVICE y/ /dst/\n\
                    COPY --from=build /out /x\nFROM build\nFROM b:1\n";
        assert_eq!(
            dockerfile_copy_sources(text, &args),
            ["x/auth.py", "auth", "y/"]
        );
        assert_eq!(dockerfile_base_images(text), ["a", "b:1"]);
    }
}
