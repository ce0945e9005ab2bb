//! The YAML file as written: raw serde structs, every field optional, and
//! the parse step that turns text into them with every problem collected.
//!
//! Values are kept as the user wrote them (strings for enums, durations and
//! URLs) so that `validate` can say what is wrong in the file's own words,
//! and so that environment variables and CLI flags, which are strings too,
//! go through the same checks.
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, de};
use serde_norway::Value;

use super::{Lookup, Problem, env::expand};

/// The whole file.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub tracing: RawTracing,
    pub agent: RawAgent,
}

/// `tracing:`, the schema shared with the Swit tracing plan.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTracing {
    pub enabled: Option<bool>,
    pub service_name: Option<String>,
    pub sampling: RawSampling,
    pub exporter: RawExporter,
    pub resource_attributes: Option<BTreeMap<String, ScalarString>>,
    pub propagators: Option<Vec<String>>,
    pub redaction: super::redaction::RawRedaction,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSampling {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub rate: Option<f64>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawExporter {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub endpoint: Option<String>,
    pub protocol: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub timeout: Option<String>,
    pub compression: Option<String>,
    pub tls: RawTls,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTls {
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub insecure: Option<bool>,
}

/// `agent:`, swit's own section.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAgent {
    pub targets: RawTargets,
    pub services: Option<Vec<RawService>>,
    pub capture: RawCapture,
    pub console: RawConsole,
    pub export: RawExport,
    /// `ADDR:PORT` for the Prometheus endpoint (`/metrics`, `/healthz`).
    pub metrics_addr: Option<String>,
    /// How often the agent's metrics go to the OTLP collector ("15s").
    pub metrics_export_interval: Option<String>,
    pub limits: RawLimits,
    pub routes: RawRoutes,
}

/// `agent.routes`: `http.route` patterns such as `/orders/{id}`, for every
/// service or per service name, and the bound on distinct routes.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRoutes {
    pub patterns: Option<Vec<String>>,
    pub services: Option<BTreeMap<String, Vec<String>>>,
    pub max_per_service: Option<usize>,
}

/// Which processes to trace. One field per kind of selector; cgroups,
/// executables and ports join `pids` here as fields of their own.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTargets {
    pub pids: Option<Vec<u32>>,
    /// cgroup directories (v2, or a v1 controller's); every process in one
    /// or in a cgroup below it is traced.
    pub cgroups: Option<Vec<String>>,
    /// Executable globs (`nginx`, `/usr/bin/python3*`).
    pub exes: Option<Vec<String>>,
    /// Processes listening on these TCP ports.
    pub ports: Option<Vec<u16>>,
}

/// `{ match: { pid: 1234 }, name: "checkout" }`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    #[serde(rename = "match")]
    pub matcher: RawMatch,
    pub name: String,
}

/// Exactly one of these; checked in `validate`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMatch {
    pub pid: Option<u32>,
    pub exe: Option<String>,
    pub script: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCapture {
    pub bytes: Option<u32>,
    pub ring_bytes: Option<u32>,
    /// Kernel features not to use even where the kernel has them
    /// (`bpf_loop`): the portable path instead.
    pub disable_kernel_features: Option<Vec<String>>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConsole {
    pub format: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLimits {
    /// Bytes, or a number with KiB, MiB or GiB.
    pub memory: Option<ScalarString>,
    pub idle_timeout: Option<String>,
    /// Series each request metric holds before the rest overflow.
    pub metric_series: Option<usize>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawExport {
    pub queue_spans: Option<usize>,
}

/// A YAML scalar (string, number or bool) kept as text: resource attribute
/// values such as `replicas: 3` are fine without quotes.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarString(pub String);

impl<'de> Deserialize<'de> for ScalarString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ScalarString;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ScalarString, E> {
                Ok(ScalarString(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ScalarString, E> {
                Ok(ScalarString(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ScalarString, E> {
                Ok(ScalarString(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ScalarString, E> {
                Ok(ScalarString(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ScalarString, E> {
                Ok(ScalarString(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses the file's text and expands `${VAR}` in its string values.
///
/// Each key that fails (unknown key, wrong type) is reported and set
/// aside, and the rest is read again: `Ok` holds what could be read and the
/// problems found, so that checking the values can add its own. `Err` is a
/// YAML syntax error (the first one) or a file that cannot be read at all.
pub fn parse(text: &str, lookup: Lookup) -> Result<(RawConfig, Vec<Problem>), Vec<Problem>> {
    // A file of only comments is an empty mapping, not an error.
    let mut value: Value = match serde_norway::from_str(text) {
        Ok(Value::Null) => return Ok((RawConfig::default(), Vec::new())),
        Ok(v) => v,
        Err(e) => return Err(vec![syntax_problem(&e)]),
    };
    // Expanding the tree rather than the typed config reaches every string
    // value, including keys added later, without a list to keep in step.
    let mut expanded = Vec::new();
    expand_tree(&mut value, &mut Vec::new(), lookup, text, &mut expanded);
    let (raw, mut problems) = parse_structure(text, value)?;
    problems.extend(expanded);
    Ok((raw, problems))
}

/// Expands `${VAR}` in every string scalar under `node`; keys stay as
/// written. A value that fails keeps its text and adds a problem.
fn expand_tree(
    node: &mut Value,
    path: &mut Vec<Seg>,
    lookup: Lookup,
    text: &str,
    problems: &mut Vec<Problem>,
) {
    match node {
        Value::String(s) => {
            if !s.contains('$') {
                return;
            }
            match expand(s, lookup) {
                Ok(e) => *s = e,
                Err(m) => {
                    problems.push(Problem::at(path_string(path), m).with_line(locate(text, path)))
                }
            }
        }
        Value::Sequence(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                path.push(Seg::Index(i));
                expand_tree(v, path, lookup, text, problems);
                path.pop();
            }
        }
        Value::Mapping(m) => {
            for (k, v) in m.iter_mut() {
                let key = match k {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => String::from("?"),
                };
                path.push(Seg::Key(key));
                expand_tree(v, path, lookup, text, problems);
                path.pop();
            }
        }
        Value::Tagged(t) => expand_tree(&mut t.value, path, lookup, text, problems),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Reads the expanded tree into the typed config, reporting and setting
/// aside each key that does not fit.
fn parse_structure(
    text: &str,
    mut value: Value,
) -> Result<(RawConfig, Vec<Problem>), Vec<Problem>> {
    // The first pass reads the text itself so its error carries the exact
    // line and column; the config itself comes from the expanded tree.
    let first = serde_path_to_error::deserialize::<_, RawConfig>(
        serde_norway::Deserializer::from_str(text),
    );
    let mut err = match first {
        Ok(_) => match serde_path_to_error::deserialize::<_, RawConfig>(value.clone()) {
            Ok(raw) => return Ok((raw, Vec::new())),
            Err(e) => e,
        },
        Err(e) => e,
    };
    let mut problems = Vec::new();
    for _ in 0..100 {
        let (segments, message) = describe(&err);
        let line = err
            .inner()
            .location()
            .map(|l| l.line())
            .or_else(|| locate(text, &segments));
        problems.push(Problem::at(path_string(&segments), message).with_line(line));
        if !remove(&mut value, &segments) {
            break;
        }
        match serde_path_to_error::deserialize::<_, RawConfig>(value.clone()) {
            Ok(raw) => return Ok((raw, problems)),
            Err(e) => err = e,
        }
    }
    Err(problems)
}

/// One segment of a key path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

fn path_string(segs: &[Seg]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    if s.is_empty() {
        "(top level)".into()
    } else {
        s
    }
}

/// The path of the failing key and a one-line message without location.
fn describe(err: &serde_path_to_error::Error<serde_norway::Error>) -> (Vec<Seg>, String) {
    let mut segs: Vec<Seg> = err
        .path()
        .iter()
        .filter_map(|s| match s {
            serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
            serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
            _ => None,
        })
        .collect();
    let mut msg = err.inner().to_string();
    // serde_norway appends " at line L column C"; the line is kept apart.
    if let Some(i) = msg.find(" at line ") {
        msg.truncate(i);
    }
    // serde_norway names the path itself; it is kept apart too.
    // For an unknown key serde_path_to_error's path ends with that key,
    // serde_norway's does not.
    for n in [segs.len(), segs.len().saturating_sub(1)] {
        if let Some(rest) = msg.strip_prefix(&format!("{}: ", path_string(&segs[..n]))) {
            msg = rest.to_owned();
            break;
        }
    }
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or_default().to_owned();
        if segs.last() != Some(&Seg::Key(name.clone())) {
            segs.push(Seg::Key(name));
        }
        return (segs, "unknown key".into());
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default();
        return (segs, format!("missing key \"{name}\""));
    }
    (segs, msg)
}

/// Drops the node at `segs` so the next pass can find the next problem.
fn remove(value: &mut Value, segs: &[Seg]) -> bool {
    let Some((last, parents)) = segs.split_last() else {
        return false;
    };
    let mut node = value;
    for seg in parents {
        node = match (seg, node) {
            (Seg::Key(k), Value::Mapping(m)) => match m.get_mut(k.as_str()) {
                Some(v) => v,
                None => return false,
            },
            (Seg::Index(i), Value::Sequence(s)) => match s.get_mut(*i) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, node) {
        (Seg::Key(k), Value::Mapping(m)) => m.remove(k.as_str()).is_some(),
        (Seg::Index(i), Value::Sequence(s)) if *i < s.len() => {
            s.remove(*i);
            true
        }
        _ => false,
    }
}

fn syntax_problem(e: &serde_norway::Error) -> Problem {
    let mut msg = e.to_string();
    if let Some(i) = msg.find(" at line ") {
        msg.truncate(i);
    }
    let p = Problem::at("(yaml)", format!("syntax error: {msg}"));
    match e.location() {
        Some(l) => Problem {
            message: format!("{} (line {}, column {})", p.message, l.line(), l.column()),
            line: Some(l.line()),
            ..p
        },
        None => p,
    }
}

/// The 1-based line of a key path, found by looking for each key in turn
/// after the previous one; a good guess for block and flow style alike.
/// `None` for paths through sequences or keys that contain dots.
pub(crate) fn locate(text: &str, segs: &[Seg]) -> Option<usize> {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| match l.find(" #") {
            Some(i) => &l[..i],
            None if l.trim_start().starts_with('#') => "",
            None => l,
        })
        .collect();
    let (mut line, mut col) = (0usize, 0usize);
    for seg in segs {
        let Seg::Key(key) = seg else { return None };
        let needle = format!("{key}:");
        loop {
            let l = lines.get(line)?;
            let hit = l.get(col..).and_then(|rest| {
                rest.match_indices(&needle)
                    .map(|(i, _)| col + i)
                    .find(|&i| {
                        i == 0 || matches!(l.as_bytes()[i - 1], b' ' | b'{' | b',' | b'"' | b'\'')
                    })
            });
            match hit {
                Some(i) => {
                    col = i + needle.len();
                    break;
                }
                None => {
                    line += 1;
                    col = 0;
                }
            }
        }
    }
    Some(line + 1)
}

/// [`locate`] for a dotted key path such as `tracing.sampling.rate`.
pub(crate) fn locate_path(text: &str, path: &str) -> Option<usize> {
    if path.contains('[') {
        return None;
    }
    let segs: Vec<Seg> = path.split('.').map(|k| Seg::Key(k.to_owned())).collect();
    locate(text, &segs)
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
