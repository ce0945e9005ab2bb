//! Raw layers -> [`Settings`]: defaults filled in, strings parsed, every
//! value checked, every problem collected (one line each, named by key
//! path, with the variable or flag that set it when not the file).
use std::{path::PathBuf, time::Duration};

use super::routes::{DEFAULT_MAX_PER_SERVICE, DEFAULT_METRIC_SERIES, Pattern, RouteSettings};
use super::{
    AgentSettings, Base, ConsoleFormat, DEFAULT_CAPTURE_BYTES, DEFAULT_EXPORT_QUEUE,
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MEMORY_LIMIT, DEFAULT_RING_BYTES, Exporter, ExporterKind,
    KernelFeature, Layered, Problem, ProcessMatch, Propagator, Protocol, Sampler, ServiceRule,
    Settings, Targets, Tls, TracingSettings, file::locate_path,
};
use swit_ebpf_common::MAX_CAPTURE;

/// The default `tracing.service_name`.
pub const DEFAULT_SERVICE_NAME: &str = "swit-service";
/// The default ratio of `traceidratio` in a file.
pub const DEFAULT_RATE: f64 = 0.1;
/// The default `agent.metrics_export_interval`.
pub const DEFAULT_METRICS_EXPORT_INTERVAL: Duration = Duration::from_secs(15);
/// Below this `agent.limits.memory` cannot hold the agent itself.
const MIN_MEMORY_LIMIT: u64 = 32 << 20;

/// The default exporter timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

const SAMPLERS: &str = "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio";

/// Collects problems with their origin and line.
struct Check<'a> {
    layered: &'a Layered,
    text: Option<&'a str>,
    problems: Vec<Problem>,
}

impl Check<'_> {
    fn add(&mut self, path: &str, message: String) {
        let origin = self
            .layered
            .origins
            .iter()
            .find(|(k, _)| path == **k || path.starts_with(&format!("{k}[")))
            .map(|(_, v)| v.clone());
        let line = match (&origin, self.text) {
            (None, Some(t)) => locate_path(t, path),
            _ => None,
        };
        self.problems.push(Problem {
            path: path.to_owned(),
            message,
            origin,
            line,
        });
    }
}

/// Resolves the merged layers. `text` is the file, to find problem lines.
pub(crate) fn resolve(
    l: &Layered,
    base: Base,
    text: Option<&str>,
) -> Result<Settings, Vec<Problem>> {
    let mut c = Check {
        layered: l,
        text,
        problems: Vec::new(),
    };
    let tracing = tracing(&mut c, base);
    let agent = agent(&mut c);
    if c.problems.is_empty() {
        Ok(Settings { tracing, agent })
    } else {
        Err(c.problems)
    }
}

fn tracing(c: &mut Check, base: Base) -> TracingSettings {
    let t = &c.layered.raw.tracing;
    let (enabled, sampler_default, rate_default) = match base {
        Base::File => (false, "traceidratio", DEFAULT_RATE),
        // OTEL_TRACES_SAMPLER_ARG's own default is 1.0.
        Base::NoFile => (true, "always_on", 1.0),
    };
    let service_name = t.service_name.clone();
    if service_name.as_deref().is_some_and(|s| s.trim().is_empty()) {
        c.add("tracing.service_name", "must not be empty".into());
    }
    let rate = t.sampling.rate.unwrap_or(rate_default);
    if !(0.0..=1.0).contains(&rate) {
        c.add(
            "tracing.sampling.rate",
            format!("{rate} is not between 0 and 1"),
        );
    }
    let kind = t.sampling.kind.as_deref().unwrap_or(sampler_default);
    let sampler = match kind {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatio(rate),
        "parentbased_always_on" => Sampler::ParentBasedAlwaysOn,
        "parentbased_always_off" => Sampler::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => Sampler::ParentBasedTraceIdRatio(rate),
        other => {
            c.add(
                "tracing.sampling.type",
                format!("unknown sampler {other:?} (expected {SAMPLERS})"),
            );
            Sampler::AlwaysOn
        }
    };
    let mut propagators = Vec::new();
    let default_props = ["tracecontext".to_owned(), "baggage".to_owned()];
    let props = t.propagators.as_deref().unwrap_or(&default_props);
    for (i, p) in props.iter().enumerate() {
        propagators.push(match p.as_str() {
            "tracecontext" => Propagator::TraceContext,
            "baggage" => Propagator::Baggage,
            "b3" => Propagator::B3,
            "b3multi" => Propagator::B3Multi,
            "jaeger" => Propagator::Jaeger,
            other => {
                c.add(
                    &format!("tracing.propagators[{i}]"),
                    format!(
                        "unknown propagator {other:?} (expected tracecontext, baggage, b3, b3multi or jaeger)"
                    ),
                );
                continue;
            }
        });
    }
    let (redaction, problems) = super::redaction::resolve(&t.redaction);
    for (path, message) in problems {
        c.add(&path, message);
    }
    TracingSettings {
        enabled: t.enabled.unwrap_or(enabled),
        service_name_configured: service_name.is_some(),
        service_name: service_name.unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned()),
        sampler,
        exporter: exporter(c),
        resource_attributes: t
            .resource_attributes
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect(),
        propagators,
        redaction,
    }
}

fn exporter(c: &mut Check) -> Exporter {
    let e = &c.layered.raw.tracing.exporter;
    let kind = match e.kind.as_deref().unwrap_or("console") {
        "otlp" => ExporterKind::Otlp,
        "jaeger" => ExporterKind::Jaeger,
        "console" => ExporterKind::Console,
        other => {
            c.add(
                "tracing.exporter.type",
                format!("unknown exporter {other:?} (expected otlp, jaeger or console)"),
            );
            ExporterKind::Console
        }
    };
    let protocol = match e.protocol.as_deref().unwrap_or("grpc") {
        "grpc" => Protocol::Grpc,
        "http/protobuf" => Protocol::HttpProtobuf,
        other => {
            c.add(
                "tracing.exporter.protocol",
                format!("unknown protocol {other:?} (expected grpc or http/protobuf)"),
            );
            Protocol::Grpc
        }
    };
    let gzip = match e.compression.as_deref().unwrap_or("none") {
        "gzip" => true,
        "none" => false,
        other => {
            c.add(
                "tracing.exporter.compression",
                format!("unknown compression {other:?} (expected gzip or none)"),
            );
            false
        }
    };
    let endpoint = endpoint(c, protocol);
    let timeout = match e.timeout.as_deref() {
        None => DEFAULT_TIMEOUT,
        Some(s) => match parse_duration(s) {
            Some(d) if d.is_zero() => {
                c.add(
                    "tracing.exporter.timeout",
                    format!("{s:?} must be more than 0"),
                );
                DEFAULT_TIMEOUT
            }
            Some(d) => d,
            None => {
                c.add(
                    "tracing.exporter.timeout",
                    format!("{s:?} is not a duration (e.g. \"10s\", \"500ms\")"),
                );
                DEFAULT_TIMEOUT
            }
        },
    };
    let e = &c.layered.raw.tracing.exporter;
    let files = [
        ("tracing.exporter.tls.ca_file", e.tls.ca_file.clone()),
        ("tracing.exporter.tls.cert_file", e.tls.cert_file.clone()),
        ("tracing.exporter.tls.key_file", e.tls.key_file.clone()),
    ];
    let insecure = e.tls.insecure.unwrap_or(false);
    let headers = e.headers.clone().unwrap_or_default();
    let [ca_file, cert_file, key_file] = files.map(|(key, path)| {
        let path = path.filter(|p| !p.trim().is_empty())?;
        if let Err(err) = std::fs::File::open(&path) {
            c.add(key, format!("cannot read {path:?}: {err}"));
        }
        Some(PathBuf::from(path))
    });
    if cert_file.is_some() != key_file.is_some() {
        c.add(
            "tracing.exporter.tls",
            "cert_file and key_file go together (client certificate and its key)".into(),
        );
    }
    Exporter {
        kind,
        endpoint,
        protocol,
        headers,
        timeout,
        gzip,
        tls: Tls {
            ca_file,
            cert_file,
            key_file,
            insecure,
        },
    }
}

/// The final endpoint. http/protobuf appends `/v1/traces` to a base URL
/// (OTEL_EXPORTER_OTLP_ENDPOINT, or any URL without a path); a URL with a
/// path, or from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, is used as is.
fn endpoint(c: &mut Check, protocol: Protocol) -> String {
    const KEY: &str = "tracing.exporter.endpoint";
    let raw = c.layered.raw.tracing.exporter.endpoint.as_deref();
    let url = raw
        .filter(|u| !u.trim().is_empty())
        .unwrap_or(protocol.default_endpoint());
    let Some(parts) = parse_url(url) else {
        c.add(
            KEY,
            format!(
                "{url:?} is not a URL (expected http:// or https:// and a host, e.g. \"{}\")",
                protocol.default_endpoint()
            ),
        );
        return url.to_owned();
    };
    if parts.port == Some(14268)
        || parts.port == Some(14250)
        || parts.path.starts_with("/api/traces")
    {
        let base = format!("{}://{}", parts.scheme, parts.host);
        c.add(
            KEY,
            format!(
                "{url:?} is Jaeger's old Thrift/model endpoint; Jaeger takes OTLP: use \"{base}:4317\" (grpc) or \"{base}:4318\" (http/protobuf)"
            ),
        );
    }
    let append = protocol == Protocol::HttpProtobuf
        && (c.layered.endpoint_is_base || parts.path.is_empty() || parts.path == "/");
    if append {
        format!("{}/v1/traces", url.trim_end_matches('/'))
    } else {
        url.to_owned()
    }
}

/// The parts of an http(s) URL that matter here.
#[derive(Debug, PartialEq)]
pub(crate) struct UrlParts<'a> {
    pub scheme: &'a str,
    pub host: &'a str,
    pub port: Option<u16>,
    /// From the first `/` on (without query or fragment); may be empty.
    pub path: &'a str,
}

/// `http(s)://host[:port][/path][?query]`; `None` if not that shape.
pub(crate) fn parse_url(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") || url.contains(char::is_whitespace) {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    let path = &tail[..path_end];
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        match after {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) => Some(p.parse::<u16>().ok().filter(|&p| p != 0)?),
    };
    Some(UrlParts {
        scheme,
        host,
        port,
        path,
    })
}

/// A whole number and a unit: ms, s, m or h ("500ms", "10s", "1m", "1h").
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(digits);
    let n: u64 = n.parse().ok()?;
    let secs = match unit {
        "ms" => return Some(Duration::from_millis(n)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return None,
    };
    Some(Duration::from_secs(n.checked_mul(secs)?))
}

fn agent(c: &mut Check) -> AgentSettings {
    let a = &c.layered.raw.agent;
    let capture_bytes = a.capture.bytes.unwrap_or(DEFAULT_CAPTURE_BYTES);
    if capture_bytes > MAX_CAPTURE {
        c.add(
            "agent.capture.bytes",
            format!("{capture_bytes} is more than {MAX_CAPTURE}"),
        );
    }
    let ring_bytes = a.capture.ring_bytes.unwrap_or(DEFAULT_RING_BYTES);
    if !ring_bytes.is_power_of_two() || !(65536..=1 << 30).contains(&ring_bytes) {
        c.add(
            "agent.capture.ring_bytes",
            format!(
                "{ring_bytes} is not a power of two between 65536 (64 KiB) and 1073741824 (1 GiB)"
            ),
        );
    }
    let mut disabled_kernel_features = Vec::new();
    for name in a.capture.disable_kernel_features.iter().flatten() {
        match KernelFeature::parse(name) {
            Some(f) if !disabled_kernel_features.contains(&f) => disabled_kernel_features.push(f),
            Some(_) => {}
            None => c.add(
                "agent.capture.disable_kernel_features",
                format!("unknown kernel feature {name:?} (expected bpf_loop)"),
            ),
        }
    }
    let export_queue = a.export.queue_spans.unwrap_or(DEFAULT_EXPORT_QUEUE);
    if export_queue == 0 {
        c.add("agent.export.queue_spans", "must be at least 1".into());
    }
    let memory_limit = match &a.limits.memory {
        None => DEFAULT_MEMORY_LIMIT,
        Some(m) => match crate::memory::parse_size(&m.0) {
            Some(b) if b >= MIN_MEMORY_LIMIT => b,
            Some(_) => {
                c.add(
                    "agent.limits.memory",
                    format!("{:?} is less than 32MiB, too little to trace anything", m.0),
                );
                DEFAULT_MEMORY_LIMIT
            }
            None => {
                c.add(
                    "agent.limits.memory",
                    format!("{:?} is not a size (bytes, or e.g. 256MiB, 1GiB)", m.0),
                );
                DEFAULT_MEMORY_LIMIT
            }
        },
    };
    let idle_timeout = match a.limits.idle_timeout.as_deref() {
        None => DEFAULT_IDLE_TIMEOUT,
        Some(t) => match parse_duration(t) {
            Some(d) if d >= Duration::from_secs(1) => d,
            _ => {
                c.add(
                    "agent.limits.idle_timeout",
                    format!("{t:?} is not a duration of at least 1s (e.g. 90s, 5m)"),
                );
                DEFAULT_IDLE_TIMEOUT
            }
        },
    };
    let metric_series = match a.limits.metric_series {
        None => DEFAULT_METRIC_SERIES,
        Some(0) => {
            c.add(
                "agent.limits.metric_series",
                "must be at least 1 (e.g. 2000)".into(),
            );
            DEFAULT_METRIC_SERIES
        }
        Some(n) => n,
    };
    let routes = routes(&a.routes, c);
    let console_format = match a.console.format.as_deref().unwrap_or("pretty") {
        "pretty" => ConsoleFormat::Pretty,
        "otlp-json" => ConsoleFormat::OtlpJson,
        other => {
            c.add(
                "agent.console.format",
                format!("unknown format {other:?} (expected pretty or otlp-json)"),
            );
            ConsoleFormat::Pretty
        }
    };
    let metrics_addr = a.metrics_addr.as_deref().and_then(|m| {
        let parsed = m.trim().parse::<std::net::SocketAddr>().ok();
        if parsed.is_none() {
            c.add(
                "agent.metrics_addr",
                format!("{m:?} is not ADDR:PORT (e.g. 127.0.0.1:9464 or [::1]:9464)"),
            );
        }
        parsed
    });
    let interval = a.metrics_export_interval.as_deref().unwrap_or("15s");
    let metrics_export_interval = match parse_duration(interval) {
        Some(d) if d >= Duration::from_millis(100) => d,
        _ => {
            c.add(
                "agent.metrics_export_interval",
                format!("{interval:?} is not a duration of at least 100ms (e.g. \"15s\")"),
            );
            DEFAULT_METRICS_EXPORT_INTERVAL
        }
    };
    let pids = a.targets.pids.clone().unwrap_or_default();
    let mut cgroups = Vec::new();
    for (i, cg) in a
        .targets
        .cgroups
        .clone()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let path = std::path::PathBuf::from(&cg);
        if !path.is_dir() || !path.join("cgroup.procs").exists() {
            c.add(
                &format!("agent.targets.cgroups[{i}]"),
                format!("{cg:?} is not a cgroup directory (e.g. /sys/fs/cgroup/system.slice/nginx.service)"),
            );
            continue;
        }
        cgroups.push(path);
    }
    let exes: Vec<String> = a.targets.exes.clone().unwrap_or_default();
    for (i, e) in exes.iter().enumerate() {
        if e.trim().is_empty() {
            c.add(
                &format!("agent.targets.exes[{i}]"),
                "must not be empty".into(),
            );
        }
    }
    let ports: Vec<u16> = a.targets.ports.clone().unwrap_or_default();
    for (i, p) in ports.iter().enumerate() {
        if *p == 0 {
            c.add(
                &format!("agent.targets.ports[{i}]"),
                "0 is not a port".into(),
            );
        }
    }
    let mut services = Vec::new();
    let rules = a.services.clone().unwrap_or_default();
    for (i, r) in rules.into_iter().enumerate() {
        let m = r.matcher;
        let matcher = match (m.pid, m.exe, m.script) {
            (Some(p), None, None) => ProcessMatch::Pid(p),
            (None, Some(e), None) if !e.is_empty() => ProcessMatch::Exe(e),
            (None, None, Some(s)) if !s.is_empty() => ProcessMatch::Script(s),
            _ => {
                c.add(
                    &format!("agent.services[{i}].match"),
                    "give exactly one of pid, exe or script".into(),
                );
                continue;
            }
        };
        if r.name.trim().is_empty() {
            c.add(
                &format!("agent.services[{i}].name"),
                "must not be empty".into(),
            );
            continue;
        }
        services.push(ServiceRule {
            matcher,
            name: r.name,
        });
    }
    AgentSettings {
        targets: Targets {
            pids,
            cgroups,
            exes,
            ports,
        },
        services,
        capture_bytes,
        ring_bytes,
        console_format,
        export_queue,
        memory_limit,
        idle_timeout,
        hooks_only: false,
        floor: false,
        capture_only: false,
        metrics_addr,
        metrics_export_interval,
        disabled_kernel_features,
        routes,
        metric_series,
    }
}

/// `agent.routes`: every pattern parsed, each bad one reported with what
/// to write instead.
fn routes(r: &super::file::RawRoutes, c: &mut Check) -> RouteSettings {
    let mut parse = |path: String, list: &[String]| -> Vec<Pattern> {
        list.iter()
            .enumerate()
            .filter_map(|(i, p)| match Pattern::parse(p) {
                Ok(p) => Some(p),
                Err(e) => {
                    c.add(&format!("{path}[{i}]"), e);
                    None
                }
            })
            .collect()
    };
    let patterns = parse(
        "agent.routes.patterns".into(),
        r.patterns.as_deref().unwrap_or_default(),
    );
    let services = r
        .services
        .iter()
        .flatten()
        .map(|(name, list)| {
            let p = parse(format!("agent.routes.services.{name}"), list);
            (name.clone(), p)
        })
        .collect();
    let max_per_service = match r.max_per_service {
        None => DEFAULT_MAX_PER_SERVICE,
        Some(0) => {
            c.add(
                "agent.routes.max_per_service",
                "must be at least 1 (e.g. 1000)".into(),
            );
            DEFAULT_MAX_PER_SERVICE
        }
        Some(n) => n,
    };
    RouteSettings {
        patterns,
        services,
        max_per_service,
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
