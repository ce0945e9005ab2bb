//! What /proc says about a traced process: its resource attributes.
use std::{collections::HashMap, fs, sync::Arc};

use super::span::{AttrValue, Attributes, Resource};

/// Interpreters whose service is better named by the script they run.
const INTERPRETERS: [&str; 7] = ["python", "node", "ruby", "perl", "php", "java", "bash"];

/// Service name from an executable path and its command line: the
/// executable's name, or for an interpreter the script it runs.
pub fn service_name(exe: &str, cmdline: &[String]) -> String {
    let base = exe.rsplit('/').next().unwrap_or(exe);
    if INTERPRETERS.iter().any(|i| base.starts_with(i)) {
        let mut args = cmdline.iter().skip(1);
        while let Some(a) = args.next() {
            if a == "-m" {
                if let Some(m) = args.next() {
                    return m.clone();
                }
            } else if a == "-c" {
                break;
            } else if !a.starts_with('-') {
                let script = a.rsplit('/').next().unwrap_or(a);
                let stem = script.rsplit_once('.').map_or(script, |(s, _)| s);
                if !stem.is_empty() {
                    return stem.to_string();
                }
            }
        }
    }
    base.to_string()
}

fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// How resources are named beyond what /proc says: the configuration's
/// per-process rules, `tracing.service_name`, `resource_attributes`.
#[derive(Debug, Clone, Default)]
pub struct ResourcePolicy {
    pub agent: Option<crate::config::AgentSettings>,
    /// `tracing.service_name`, only when the configuration set it.
    pub service_name: Option<String>,
    /// Added to every process's resource.
    pub attributes: Vec<(String, String)>,
}

/// `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` from a process's own
/// environment (what an SDK in it would use).
fn otel_env(pid: u32) -> (Option<String>, Vec<(String, String)>) {
    let Ok(raw) = fs::read(format!("/proc/{pid}/environ")) else {
        return (None, Vec::new());
    };
    let mut name = None;
    let mut attrs = Vec::new();
    for var in raw.split(|&b| b == 0) {
        let var = String::from_utf8_lossy(var);
        if let Some(v) = var.strip_prefix("OTEL_SERVICE_NAME=") {
            if !v.trim().is_empty() {
                name = Some(v.trim().to_string());
            }
        } else if let Some(v) = var.strip_prefix("OTEL_RESOURCE_ATTRIBUTES=") {
            attrs = parse_resource_attributes(v);
        }
    }
    (name, attrs)
}

/// `k=v,k2=v2` with percent-encoded values, as OTEL_RESOURCE_ATTRIBUTES.
pub fn parse_resource_attributes(v: &str) -> Vec<(String, String)> {
    v.split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            let v = percent_encoding::percent_decode_str(v.trim()).decode_utf8_lossy();
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_string(), v.into_owned()))
        })
        .collect()
}

/// The container a process runs in, from its cgroup path: the 64-hex id
/// that docker, containerd and CRI-O put in the last path segments.
pub fn container_id(cgroup: &str) -> Option<String> {
    cgroup.lines().find_map(|line| {
        let path = line.splitn(3, ':').nth(2)?;
        path.rsplit('/').find_map(|seg| {
            let seg = seg.trim_end_matches(".scope");
            let id = seg.rsplit(['-', ':']).next()?;
            (id.len() == 64 && id.bytes().all(|c| c.is_ascii_hexdigit())).then(|| id.to_string())
        })
    })
}

/// Builds the resource of process `pid` from /proc and the policy.
///
/// service.name, in order: a configured per-process rule, the process's own
/// OTEL_SERVICE_NAME (or service.name in its OTEL_RESOURCE_ATTRIBUTES), the
/// configured `tracing.service_name`, the executable or script name.
pub fn resource_of(pid: u32, host: &str, policy: &ResourcePolicy) -> Resource {
    resource_with_hint(pid, host, policy, None)
}

/// As [`resource_of`]; `comm` names a process already gone from /proc.
pub fn resource_with_hint(
    pid: u32,
    host: &str,
    policy: &ResourcePolicy,
    comm: Option<&str>,
) -> Resource {
    let exe = fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| {
            p.to_string_lossy()
                .trim_end_matches(" (deleted)")
                .to_string()
        })
        .unwrap_or_default();
    let cmdline: Vec<String> = fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default();
    let exe_name = exe.rsplit('/').next().unwrap_or("").to_string();
    let derived = if exe.is_empty() {
        fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|s| s.trim().to_string())
            .ok()
            .or_else(|| comm.map(str::to_string))
            .unwrap_or_else(|| format!("pid-{pid}"))
    } else {
        service_name(&exe, &cmdline)
    };
    let script = (derived != exe_name).then_some(derived.as_str());
    let (env_name, env_attrs) = otel_env(pid);
    let env_attr_name = env_attrs
        .iter()
        .find(|(k, _)| k == "service.name")
        .map(|(_, v)| v.clone());
    let service = policy
        .agent
        .as_ref()
        .and_then(|a| a.service_for(pid, &exe_name, script))
        .map(str::to_string)
        .or(env_name)
        .or(env_attr_name)
        .or_else(|| policy.service_name.clone())
        .unwrap_or_else(|| derived.clone());

    let mut attributes: Attributes = Vec::new();
    let mut set = |k: &str, v: AttrValue| {
        if let Some(slot) = attributes.iter_mut().find(|(n, _)| n == k) {
            slot.1 = v;
        } else {
            attributes.push((k.to_string().into(), v));
        }
    };
    // Lowest precedence first: configured attributes, then the process's own.
    for (k, v) in policy.attributes.iter().chain(env_attrs.iter()) {
        set(k, v.as_str().into());
    }
    // One instance per process: a configured id names the host's set.
    let instance = match policy
        .attributes
        .iter()
        .find(|(k, _)| k == "service.instance.id")
    {
        Some((_, v)) => format!("{v}-{pid}"),
        None => format!("{host}-{pid}"),
    };
    if !env_attrs.iter().any(|(k, _)| k == "service.instance.id") {
        set("service.instance.id", instance.into());
    }
    set("service.name", service.clone().into());
    set("process.pid", AttrValue::Int(pid as i64));
    set("process.executable.name", exe_name.into());
    set("process.executable.path", exe.into());
    set("host.name", host.into());
    if let Some(id) = fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .ok()
        .as_deref()
        .and_then(container_id)
    {
        set("container.id", id.into());
    }
    set("telemetry.distro.name", "swit".into());
    set("telemetry.distro.version", env!("CARGO_PKG_VERSION").into());
    Resource {
        service_name: service,
        attributes,
    }
}

/// Resources by PID, built once per process.
pub struct Resources {
    host: String,
    policy: ResourcePolicy,
    cache: HashMap<u32, Arc<Resource>>,
    /// Command names from exec records, for processes gone before /proc
    /// is read (a CLI that runs for a millisecond).
    hints: HashMap<u32, String>,
}

impl Default for Resources {
    fn default() -> Self {
        Self::new(ResourcePolicy::default())
    }
}

impl Resources {
    pub fn new(policy: ResourcePolicy) -> Self {
        Resources {
            host: host_name(),
            policy,
            cache: HashMap::new(),
            hints: HashMap::new(),
        }
    }

    pub fn get(&mut self, pid: u32) -> Arc<Resource> {
        if self.cache.len() > 16384 {
            self.cache.clear();
        }
        let (host, policy) = (&self.host, &self.policy);
        let hint = self.hints.get(&pid).map(String::as_str);
        self.cache
            .entry(pid)
            .or_insert_with(|| Arc::new(resource_with_hint(pid, host, policy, hint)))
            .clone()
    }

    pub fn forget(&mut self, pid: u32) {
        self.cache.remove(&pid);
        self.hints.remove(&pid);
    }
}

impl super::correlate::ResourceSource for Resources {
    fn get(&mut self, pid: u32) -> Arc<Resource> {
        Resources::get(self, pid)
    }
    fn forget(&mut self, pid: u32) {
        Resources::forget(self, pid);
    }
    fn name_hint(&mut self, pid: u32, comm: String) {
        if self.hints.len() > 16384 {
            self.hints.clear();
        }
        self.cache.remove(&pid);
        self.hints.insert(pid, comm);
    }
    fn held(&self) -> usize {
        self.cache.len()
    }
}

#[cfg(test)]
#[path = "resource_tests.rs"]
mod tests;
