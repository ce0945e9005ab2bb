//! What the agent is asked to do: a YAML file, the standard `OTEL_*`
//! environment variables and command-line flags, resolved into one checked
//! [`Settings`]. docs/configuration.md is the user's reference.
//!
//! Layers, lowest first: built-in defaults < file < environment < CLI.
//!
//! - [`file`]: the raw serde structs, exactly as written (`deny_unknown_fields`
//!   everywhere), and the parse step with `${VAR}` expansion.
//! - [`env`]: `${VAR}` expansion and the `OTEL_*` variables.
//! - [`flags`]: the flags of `run` ([`Overrides`], clap), each with the key
//!   it sets.
//! - [`validate`]: raw layers -> [`Settings`], every problem collected, one
//!   line each, named by key path.
//! - [`reload`]: which keys a SIGHUP applies and which wait for a restart.
//!
//! A new key is a field of its `Raw*` struct in [`file`] (a string one is
//! also expanded in `RawConfig::expand`), its checks and default in
//! [`validate`] with its field in [`Settings`], a row in [`reload::KEYS`]
//! when it is a new key of `tracing:` or `agent:` (a test fails without it),
//! and, if it has them, a row in [`flags`] and a variable in [`env`].
//!
//! YAML is read with `serde_norway`: `serde_yaml` is archived, and of its
//! maintained forks `serde_norway` keeps serde_yaml 0.9's API unchanged,
//! maintains its libyaml port too (`unsafe-libyaml-norway`) and is
//! MIT/Apache-2.0 like this workspace (`serde_yaml_ng` is MIT only and
//! still on the archived `unsafe-libyaml`). Key paths in serde's errors
//! come from `serde_path_to_error`.
//!
//! Durations and URLs are checked by small functions in [`validate`]
//! rather than `humantime`/`url`: the accepted forms are few ("500ms",
//! "10s", "1m", "1h"; http(s) with a host) and the messages must name the key.
use std::{collections::BTreeMap, fmt, path::Path, path::PathBuf, time::Duration};

pub mod env;
pub mod file;
pub mod flags;
pub mod redaction;
pub mod reload;
pub mod routes;
pub mod validate;

#[cfg(test)]
mod messages_tests;
#[cfg(test)]
mod tests;

pub use flags::Overrides;
use swit_ebpf_common::MAX_CAPTURE;

/// Reads one environment variable; `None` when unset.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, for [`Lookup`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// How the console prints spans. Variants' doc comments are `--help` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ConsoleFormat {
    /// One readable block per trace.
    #[default]
    Pretty,
    /// One OTLP/JSON ExportTraceServiceRequest per line.
    OtlpJson,
}

impl ConsoleFormat {
    /// The name used in the file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsoleFormat::Pretty => "pretty",
            ConsoleFormat::OtlpJson => "otlp-json",
        }
    }
}

/// Everything the agent needs, resolved and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub tracing: TracingSettings,
    pub agent: AgentSettings,
}

/// `tracing:` resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct TracingSettings {
    /// `false` makes `run` say so and exit without loading probes.
    pub enabled: bool,
    /// Names the agent's own telemetry; see `service_name_configured`.
    pub service_name: String,
    /// True when the file, OTEL_SERVICE_NAME (or service.name in
    /// OTEL_RESOURCE_ATTRIBUTES) or `--service-name` set `service_name`:
    /// only then is it the service name of traced processes that have no
    /// per-process mapping and no OTEL_SERVICE_NAME of their own.
    pub service_name_configured: bool,
    pub sampler: Sampler,
    pub exporter: Exporter,
    /// Added to every resource (values as text).
    pub resource_attributes: BTreeMap<String, String>,
    /// In order; empty when OTEL_PROPAGATORS=none.
    pub propagators: Vec<Propagator>,
    /// `tracing.redaction`: extra patterns, attribute filters, headers.
    pub redaction: redaction::RedactionSettings,
}

/// The OTel samplers; ratios are in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampler {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio(f64),
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio(f64),
}

impl Sampler {
    /// Whether an incoming sampled flag decides.
    pub fn parent_based(self) -> bool {
        matches!(
            self,
            Sampler::ParentBasedAlwaysOn
                | Sampler::ParentBasedAlwaysOff
                | Sampler::ParentBasedTraceIdRatio(_)
        )
    }
}

/// `tracing.exporter` resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Exporter {
    pub kind: ExporterKind,
    /// The final URL: for http/protobuf the full traces URL (…/v1/traces).
    /// Set for every kind; used by otlp and jaeger.
    pub endpoint: String,
    pub protocol: Protocol,
    pub headers: BTreeMap<String, String>,
    pub timeout: Duration,
    /// gzip request bodies (`compression: gzip`) or not (`none`, the
    /// default: see docs/configuration.md).
    pub gzip: bool,
    pub tls: Tls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExporterKind {
    Otlp,
    /// OTLP to Jaeger's collector, which takes OTLP natively.
    Jaeger,
    /// Spans on stdout, in `agent.console.format`.
    Console,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

impl Protocol {
    /// The OTLP default endpoint for this protocol (no path).
    pub fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::Grpc => "http://localhost:4317",
            Protocol::HttpProtobuf => "http://localhost:4318",
        }
    }
}

/// `tracing.exporter.tls`; empty paths become `None`. Files were readable
/// when the settings were resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tls {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Plain text (or unchecked certificates) even for https.
    pub insecure: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagator {
    TraceContext,
    Baggage,
    B3,
    B3Multi,
    Jaeger,
}

/// `agent:` resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSettings {
    pub targets: Targets,
    /// Per-process service names; the first rule that matches wins.
    pub services: Vec<ServiceRule>,
    /// Payload bytes captured per syscall chunk (0..=MAX_CAPTURE).
    pub capture_bytes: u32,
    /// Kernel ring buffer size in bytes (power of two, 64 KiB..=1 GiB).
    pub ring_bytes: u32,
    /// Used when the exporter is `console`.
    pub console_format: ConsoleFormat,
    /// Spans queued for export, at most.
    pub export_queue: usize,
    /// `agent.limits.memory`: the agent's whole resident size, in bytes.
    pub memory_limit: u64,
    /// `agent.limits.idle_timeout`: a connection silent this long is
    /// forgotten.
    pub idle_timeout: Duration,
    /// Attach the kernel hooks but capture nothing (`--hooks-only`): what
    /// the hooks alone cost, for the benchmark. Command line only.
    pub hooks_only: bool,
    /// Capture and read records, then drop them (`--capture-only`): what
    /// capture costs without parsing or export, for the benchmark.
    /// Command line only.
    pub capture_only: bool,
    /// Attach the hooks with programs that return at once (`--floor`): the
    /// kernel's dispatch cost, for the benchmark. Command line only.
    pub floor: bool,
    /// Where `/metrics` and `/healthz` are served; off when `None`.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// How often the agent's own metrics are pushed to an OTLP collector.
    pub metrics_export_interval: std::time::Duration,
    /// `agent.capture.disable_kernel_features`: the portable path even
    /// where the kernel offers the faster one.
    pub disabled_kernel_features: Vec<KernelFeature>,
    /// `agent.routes`: how server spans and metrics get `http.route`.
    pub routes: routes::RouteSettings,
    /// `agent.limits.metric_series`: series per request metric.
    pub metric_series: usize,
}

/// A kernel feature the programs use when the kernel has it, and that an
/// operator may turn off (a distribution kernel's bug, or to see what a
/// kernel without it gives). Only features some supported kernel lacks:
/// `bpf_task_pt_regs` is 5.15, the minimum, so its fallback is not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelFeature {
    /// `bpf_loop` (5.17): iovecs walked by one verified step.
    BpfLoop,
}

impl KernelFeature {
    pub const ALL: [KernelFeature; 1] = [KernelFeature::BpfLoop];

    pub fn name(self) -> &'static str {
        match self {
            KernelFeature::BpfLoop => "bpf_loop",
        }
    }

    pub fn parse(s: &str) -> Option<KernelFeature> {
        Self::ALL.into_iter().find(|f| f.name() == s.trim())
    }
}

/// Which processes to trace. More selectors (cgroups, executables, ports)
/// become fields here; `is_empty` then covers them all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Targets {
    /// Processes to trace, with their descendants at start.
    pub pids: Vec<u32>,
    /// cgroup directories whose processes (and sub-cgroups') are traced.
    pub cgroups: Vec<PathBuf>,
    /// Executable globs: a process whose executable path or name matches.
    pub exes: Vec<String>,
    /// Processes listening on one of these TCP ports.
    pub ports: Vec<u16>,
}

impl Targets {
    pub fn is_empty(&self) -> bool {
        self.pids.is_empty()
            && self.cgroups.is_empty()
            && self.exes.is_empty()
            && self.ports.is_empty()
    }
}

/// `{ match: {...}, name: "..." }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRule {
    pub matcher: ProcessMatch,
    pub name: String,
}

/// How a service rule picks processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessMatch {
    Pid(u32),
    /// Executable file name (not path), `*` and `?` globs.
    Exe(String),
    /// Script run by an interpreter (file name), `*` and `?` globs.
    Script(String),
}

impl ProcessMatch {
    /// Whether a process with this pid, executable name and (for
    /// interpreters) script name matches.
    pub fn matches(&self, pid: u32, exe: &str, script: Option<&str>) -> bool {
        match self {
            ProcessMatch::Pid(p) => *p == pid,
            ProcessMatch::Exe(g) => glob(g.as_bytes(), exe.as_bytes()),
            ProcessMatch::Script(g) => script.is_some_and(|s| glob(g.as_bytes(), s.as_bytes())),
        }
    }
}

impl AgentSettings {
    /// Bytes of spans the export queue holds at most, and the OTLP retry
    /// buffer again: an eighth of `agent.limits.memory` each, so that spans
    /// waiting for a slow or absent collector cannot take the agent past
    /// its bound however large they are. An HTTP span is about 1.2 KiB: the
    /// default 256 MiB holds some 27,000 in each.
    pub fn span_queue_bytes(&self) -> usize {
        usize::try_from(self.memory_limit / 8).unwrap_or(usize::MAX)
    }

    /// The configured service name for a process, if a rule matches.
    pub fn service_for(&self, pid: u32, exe: &str, script: Option<&str>) -> Option<&str> {
        self.services
            .iter()
            .find(|r| r.matcher.matches(pid, exe, script))
            .map(|r| r.name.as_str())
    }
}

/// `*` any run, `?` one byte, everything else literal.
pub(crate) fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((b'?', rest)) => !s.is_empty() && glob(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

/// Where no layer gives a value: a file's defaults, or the friendlier ones
/// of `run` without a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// The documented defaults of a configuration file: disabled,
    /// traceidratio 0.1, console.
    File,
    /// `run` without `--config`: enabled, always_on, console, so a newcomer
    /// sees every span.
    NoFile,
}

/// The raw layers merged, with what set each overridden key.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layered {
    pub raw: file::RawConfig,
    /// Key path -> the variable or flag that set it, for messages.
    pub origins: BTreeMap<&'static str, String>,
    /// The endpoint came from OTEL_EXPORTER_OTLP_ENDPOINT: a base URL to
    /// which http/protobuf appends `/v1/traces` (OTel spec).
    pub endpoint_is_base: bool,
}

/// One thing wrong with the configuration, named by key path (or by the
/// variable when the variable itself cannot be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `tracing.sampling.rate`, `agent.services[0].name`, `OTEL_...`.
    pub path: String,
    pub message: String,
    /// The variable or flag that set the value, when not the file.
    pub origin: Option<String>,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
}

impl Problem {
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
            origin: None,
            line: None,
        }
    }

    pub(crate) fn with_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)?;
        if let Some(o) = &self.origin {
            write!(f, " (from {o})")?;
        }
        Ok(())
    }
}

/// Why no [`Settings`] could be made, or why they cannot run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: {message}")]
    Read { file: PathBuf, message: String },
    /// One or more problems; `Display` gives one line each, prefixed with
    /// `FILE:LINE:` (or `FILE:`) when the value came from the file.
    #[error("{}", render(.file.as_deref(), .problems))]
    Invalid {
        file: Option<PathBuf>,
        problems: Vec<Problem>,
    },
    #[error(
        "nothing to trace: name processes with --pid PID, --cgroup PATH, --exe GLOB or --port N (or agent.targets in the file)"
    )]
    NoTargets,
}

fn render(file: Option<&Path>, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| {
            // A value from a variable or flag is not the file's fault.
            let from_file = p.origin.is_none() && !p.path.starts_with("OTEL_");
            match (file, p.line) {
                (Some(f), Some(l)) if from_file => format!("{}:{l}: {p}", f.display()),
                (Some(f), None) if from_file => format!("{}: {p}", f.display()),
                _ => p.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Settings {
    /// The defaults of a configuration file that sets nothing.
    #[cfg(test)]
    pub fn file_defaults() -> Settings {
        validate::resolve(&Layered::default(), Base::File, None).expect("defaults are valid")
    }

    /// `run` without `--config` (and without environment or flags).
    #[cfg(test)]
    pub fn no_file() -> Settings {
        validate::resolve(&Layered::default(), Base::NoFile, None).expect("defaults are valid")
    }

    /// Resolves YAML `text` (`None`: no file) with the environment and the
    /// CLI overrides. `file` names the file in messages only.
    pub fn from_parts(
        text: Option<&str>,
        file: Option<&Path>,
        lookup: Lookup,
        cli: &Overrides,
    ) -> Result<Settings, ConfigError> {
        let invalid = |problems| ConfigError::Invalid {
            file: file.map(Path::to_path_buf),
            problems,
        };
        let mut layered = Layered::default();
        let mut problems = Vec::new();
        let base = match text {
            Some(text) => {
                (layered.raw, problems) = file::parse(text, lookup).map_err(invalid)?;
                Base::File
            }
            None => Base::NoFile,
        };
        env::apply(&mut layered, lookup, &mut problems);
        cli.apply(&mut layered);
        match validate::resolve(&layered, base, text) {
            Ok(mut s) if problems.is_empty() => {
                s.agent.hooks_only = cli.hooks_only;
                s.agent.capture_only = cli.capture_only;
                s.agent.floor = cli.floor;
                Ok(s)
            }
            Ok(_) => Err(invalid(problems)),
            Err(more) => {
                problems.extend(more);
                Err(invalid(problems))
            }
        }
    }

    /// Reads `file` (if any), the process environment and `cli`.
    pub fn load(file: Option<&Path>, cli: &Overrides) -> Result<Settings, ConfigError> {
        Settings::load_with(file, &process_env, cli)
    }

    /// [`Settings::load`] with an explicit environment.
    pub fn load_with(
        file: Option<&Path>,
        lookup: Lookup,
        cli: &Overrides,
    ) -> Result<Settings, ConfigError> {
        let text = match file {
            Some(f) => Some(std::fs::read_to_string(f).map_err(|e| ConfigError::Read {
                file: f.to_path_buf(),
                message: format!("cannot read: {e}"),
            })?),
            None => None,
        };
        Settings::from_parts(text.as_deref(), file, lookup, cli)
    }

    /// What `run` needs beyond a valid file: something to trace.
    pub fn check_runnable(&self) -> Result<(), ConfigError> {
        if self.agent.targets.is_empty() {
            return Err(ConfigError::NoTargets);
        }
        Ok(())
    }

    /// One line for `config validate`: exporter, endpoint, sampler.
    pub fn summary(&self) -> String {
        let t = &self.tracing;
        let exporter = match t.exporter.kind {
            ExporterKind::Console => format!("console ({})", self.agent.console_format.as_str()),
            k => format!(
                "{} {} {}",
                if k == ExporterKind::Jaeger {
                    "jaeger"
                } else {
                    "otlp"
                },
                match t.exporter.protocol {
                    Protocol::Grpc => "grpc",
                    Protocol::HttpProtobuf => "http/protobuf",
                },
                t.exporter.endpoint
            ),
        };
        format!(
            "tracing {}, service {:?}, sampler {:?}, exporter {exporter}",
            if t.enabled { "enabled" } else { "disabled" },
            t.service_name,
            t.sampler
        )
    }
}

/// `swit-agent config validate FILE`: the lines to print and the exit code
/// (0 valid, 2 not). Reads the process environment, as `run` would.
pub fn validate_file(file: &Path) -> (Vec<String>, i32) {
    match Settings::load(Some(file), &Overrides::default()) {
        Ok(s) => (vec![format!("{}: ok ({})", file.display(), s.summary())], 0),
        Err(e) => (e.to_string().lines().map(str::to_owned).collect(), 2),
    }
}

/// Builds [`AgentSettings`] defaults; shared by `validate` and tests.
///
/// The ring (`agent.capture.ring_bytes`) only has to hold what the kernel
/// writes between two passes of the reader, which looks every 5 ms and is
/// woken at an eighth full; the kernel maps its pages twice into the agent,
/// all resident from the start, so every MiB here is 2 MiB of RSS. Against
/// nginx (GET, 10 to 10,000 connections) one pass never found more than
/// 1.3 MiB waiting; 12 KB request bodies on a machine so loaded that the
/// reader waited 100 ms for a CPU, 3.2 MiB. 8 MiB keeps 2.5 times the
/// worst, with no record lost.
pub(crate) const DEFAULT_RING_BYTES: u32 = 8 * 1024 * 1024;
/// The agent's resident size, at most (`agent.limits.memory`).
pub(crate) const DEFAULT_MEMORY_LIMIT: u64 = 256 << 20;
/// A connection silent this long is forgotten (`agent.limits.idle_timeout`).
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
pub(crate) const DEFAULT_EXPORT_QUEUE: usize = 65536;
pub(crate) const DEFAULT_CAPTURE_BYTES: u32 = MAX_CAPTURE;
