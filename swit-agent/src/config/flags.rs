//! The flags of `swit-agent run` that override the file and the
//! environment: declared here once, for clap (main.rs flattens them) and
//! for the settings. A flag's doc comment is its `--help` text.
use clap::Args;

use super::{ConsoleFormat, Layered, file::ScalarString};

// No doc comment on the struct: clap would take it as `run`'s description.
#[derive(Debug, Clone, Default, PartialEq, Args)]
pub struct Overrides {
    /// Trace this process and its descendants (repeatable; replaces
    /// agent.targets.pids).
    #[arg(long = "pid", value_name = "PID")]
    pub pids: Vec<u32>,
    /// Trace every process in this cgroup directory and the cgroups below it,
    /// including processes started later (repeatable).
    #[arg(long = "cgroup", value_name = "PATH")]
    pub cgroups: Vec<String>,
    /// Trace processes whose executable path or name matches GLOB, now and
    /// when they start (repeatable; `*` and `?`).
    #[arg(long = "exe", value_name = "GLOB")]
    pub exes: Vec<String>,
    /// Trace processes listening on TCP port N, now and when they start
    /// listening (repeatable).
    #[arg(long = "port", value_name = "N")]
    pub ports: Vec<u16>,
    /// How spans are printed on stdout [default: pretty].
    #[arg(long, value_enum)]
    pub console_format: Option<ConsoleFormat>,
    /// Payload bytes captured per syscall (0..=16384); past it only lengths
    /// [default: 16384].
    #[arg(long)]
    pub capture_bytes: Option<u32>,
    /// Kernel ring buffer size in bytes (a power of two) [default: 8388608].
    #[arg(long)]
    pub ring_bytes: Option<u32>,
    /// The agent's resident size, at most: bytes or e.g. 256MiB, 1GiB
    /// [default: 256MiB].
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
    /// Exporter: otlp, jaeger or console.
    #[arg(long, value_name = "TYPE")]
    pub exporter: Option<String>,
    /// Collector URL, e.g. http://localhost:4317.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// OTLP protocol: grpc or http/protobuf.
    #[arg(long)]
    pub protocol: Option<String>,
    /// tracing.service_name.
    #[arg(long, value_name = "NAME")]
    pub service_name: Option<String>,
    /// Sampler: always_on, always_off, traceidratio, parentbased_always_on,
    /// parentbased_always_off or parentbased_traceidratio.
    #[arg(long, value_name = "NAME")]
    pub sampler: Option<String>,
    /// Ratio for the traceidratio samplers, 0..=1.
    #[arg(long, value_name = "RATIO")]
    pub sample_rate: Option<f64>,
    /// Attach the kernel hooks but capture nothing: measures what the hooks
    /// alone cost (cargo xtask bench).
    #[arg(long)]
    pub hooks_only: bool,
    /// Capture and read every record, then drop it: measures what capture
    /// costs without parsing or export (cargo xtask bench).
    #[arg(long, conflicts_with = "hooks_only")]
    pub capture_only: bool,
    /// Attach the kernel hooks with programs that return at once: what the
    /// kernel's own dispatch of the hooks costs (cargo xtask bench's floor).
    #[arg(long, conflicts_with_all = ["hooks_only", "capture_only"])]
    pub floor: bool,
    /// Serve the agent's metrics (GET /metrics, Prometheus text) and
    /// GET /healthz on ADDR:PORT, e.g. 127.0.0.1:9464 [default: off].
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_addr: Option<String>,
    /// Do not use this kernel feature even where the kernel has it, and
    /// take the path a kernel without it takes: bpf_loop (repeatable).
    #[arg(long = "disable-kernel-feature", value_name = "NAME")]
    pub disable_kernel_features: Vec<String>,
}

/// One row per flag that sets a key: `FLAG VALUE => SLOT, KEY;`. A flag
/// given puts its value in the file's slot, so the file's checks apply to
/// it, and is noted as the key's origin for messages.
macro_rules! rows {
    ($origins:expr; $($flag:literal $value:expr => $slot:expr, $key:literal;)*) => {
        $(if let Some(v) = Given::given(&$value) {
            $slot = Some(v);
            $origins.insert($key, $flag.to_owned());
        })*
    };
}

impl Overrides {
    pub(super) fn apply(&self, l: &mut Layered) {
        let (t, a) = (&mut l.raw.tracing, &mut l.raw.agent);
        let format = self.console_format.map(|f| f.as_str().to_owned());
        let memory = self.memory_limit.clone().map(ScalarString);
        rows! { l.origins;
            "--exporter" self.exporter => t.exporter.kind, "tracing.exporter.type";
            "--endpoint" self.endpoint => t.exporter.endpoint, "tracing.exporter.endpoint";
            "--protocol" self.protocol => t.exporter.protocol, "tracing.exporter.protocol";
            "--service-name" self.service_name => t.service_name, "tracing.service_name";
            "--sampler" self.sampler => t.sampling.kind, "tracing.sampling.type";
            "--sample-rate" self.sample_rate => t.sampling.rate, "tracing.sampling.rate";
            "--console-format" format => a.console.format, "agent.console.format";
            "--metrics-addr" self.metrics_addr => a.metrics_addr, "agent.metrics_addr";
            "--pid" self.pids => a.targets.pids, "agent.targets.pids";
            "--cgroup" self.cgroups => a.targets.cgroups, "agent.targets.cgroups";
            "--exe" self.exes => a.targets.exes, "agent.targets.exes";
            "--port" self.ports => a.targets.ports, "agent.targets.ports";
            "--capture-bytes" self.capture_bytes => a.capture.bytes, "agent.capture.bytes";
            "--ring-bytes" self.ring_bytes => a.capture.ring_bytes, "agent.capture.ring_bytes";
            "--memory-limit" memory => a.limits.memory, "agent.limits.memory";
            "--disable-kernel-feature" self.disable_kernel_features
                => a.capture.disable_kernel_features, "agent.capture.disable_kernel_features";
        }
        // Unlike OTEL_EXPORTER_OTLP_ENDPOINT's, a flag's URL with a path is used as is.
        if self.endpoint.is_some() {
            l.endpoint_is_base = false;
        }
    }
}

/// A flag's value, when it was given: `None` and an empty list (a
/// repeatable flag never given) leave the lower layers alone.
trait Given {
    type Value;
    fn given(&self) -> Option<Self::Value>;
}

impl<T: Clone> Given for Option<T> {
    type Value = T;
    fn given(&self) -> Option<T> {
        self.clone()
    }
}

impl<T: Clone> Given for Vec<T> {
    type Value = Vec<T>;
    fn given(&self) -> Option<Vec<T>> {
        (!self.is_empty()).then(|| self.clone())
    }
}
