//! What /proc says about a traced process: its resource attributes.
use std::{collections::HashMap, fs, sync::Arc};

use crate::trace::span::{AttrValue, Resource};

/// Interpreters whose service is better named by the script they run.
const INTERPRETERS: [&str; 7] = ["python", "node", "ruby", "perl", "php", "java", "bash"];

/// The parent PID from the text of /proc/PID/stat (the command name may
/// hold spaces and parentheses, so parse from the last ')').
pub fn parse_stat_ppid(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

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

/// Builds the resource of process `pid` from /proc.
pub fn resource_of(pid: u32, host: &str) -> Resource {
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
    let service = if exe.is_empty() {
        fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| format!("pid-{pid}"))
    } else {
        service_name(&exe, &cmdline)
    };
    Resource {
        service_name: service.clone(),
        attributes: vec![
            ("service.name".into(), service.into()),
            ("process.pid".into(), AttrValue::Int(pid as i64)),
            ("process.executable.name".into(), exe_name.into()),
            ("process.executable.path".into(), exe.into()),
            ("host.name".into(), host.into()),
            ("telemetry.distro.name".into(), "swit".into()),
            (
                "telemetry.distro.version".into(),
                env!("CARGO_PKG_VERSION").into(),
            ),
        ],
    }
}

/// Resources by PID, built once per process.
pub struct Resources {
    host: String,
    cache: HashMap<u32, Arc<Resource>>,
}

impl Default for Resources {
    fn default() -> Self {
        Self::new()
    }
}

impl Resources {
    pub fn new() -> Self {
        Resources {
            host: host_name(),
            cache: HashMap::new(),
        }
    }

    pub fn get(&mut self, pid: u32) -> Arc<Resource> {
        if self.cache.len() > 16384 {
            self.cache.clear();
        }
        let host = &self.host;
        self.cache
            .entry(pid)
            .or_insert_with(|| Arc::new(resource_of(pid, host)))
            .clone()
    }

    pub fn forget(&mut self, pid: u32) {
        self.cache.remove(&pid);
    }
}

#[cfg(test)]
mod tests {
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
    fn ppid_from_stat_with_odd_comm() {
        assert_eq!(parse_stat_ppid("123 (a b) c) S 45 1 1"), Some(45));
        assert_eq!(parse_stat_ppid("garbage"), None);
    }

    #[test]
    fn resource_of_this_process() {
        let r = resource_of(std::process::id(), "h");
        assert!(!r.service_name.is_empty());
        assert!(r.attributes.iter().any(|(k, v)| k == "process.pid" && *v == AttrValue::Int(std::process::id() as i64)));
    }
}
