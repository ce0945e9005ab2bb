//! The `swit-agent` command line. Everything but argument parsing lives in
//! the library.
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use swit_agent::memory::CountingAlloc;
use swit_agent::{
    agent,
    config::{self, ConsoleFormat, Overrides, Settings},
};

// The memory bound (agent.limits.memory) is kept by the heap's exact size.
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[derive(Parser)]
#[command(
    name = "swit-agent",
    version,
    about = "Zero-instrumentation distributed tracing with eBPF"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Trace processes and print their spans until Ctrl-C.
    Run(Box<RunArgs>),
    /// Work with configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Report what this host offers swit; exit 0 if swit can run, 2 if not.
    Check,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check FILE (with the OTEL_* environment): prints `FILE: ok` and
    /// exits 0, or one line per problem and exits 2.
    Validate {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// One readable block per trace.
    Pretty,
    /// One OTLP/JSON ExportTraceServiceRequest per line.
    OtlpJson,
}

#[derive(clap::Args)]
struct RunArgs {
    /// YAML configuration (docs/configuration.md). Without it: every span
    /// (always_on) printed on the console.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Trace this process and its descendants (repeatable; replaces
    /// agent.targets.pids).
    #[arg(long = "pid", value_name = "PID")]
    pids: Vec<u32>,
    /// Trace every process in this cgroup directory and the cgroups below it,
    /// including processes started later (repeatable).
    #[arg(long = "cgroup", value_name = "PATH")]
    cgroups: Vec<String>,
    /// Trace processes whose executable path or name matches GLOB, now and
    /// when they start (repeatable; `*` and `?`).
    #[arg(long = "exe", value_name = "GLOB")]
    exes: Vec<String>,
    /// Trace processes listening on TCP port N, now and when they start
    /// listening (repeatable).
    #[arg(long = "port", value_name = "N")]
    ports: Vec<u16>,
    /// How spans are printed on stdout [default: pretty].
    #[arg(long, value_enum)]
    console_format: Option<Format>,
    /// Payload bytes captured per syscall (0..=16384); past it only lengths
    /// [default: 16384].
    #[arg(long)]
    capture_bytes: Option<u32>,
    /// Kernel ring buffer size in bytes (a power of two) [default: 16777216].
    #[arg(long)]
    ring_bytes: Option<u32>,
    /// The agent's resident size, at most: bytes or e.g. 256MiB, 1GiB
    /// [default: 256MiB].
    #[arg(long, value_name = "SIZE")]
    memory_limit: Option<String>,
    /// Exporter: otlp, jaeger or console.
    #[arg(long, value_name = "TYPE")]
    exporter: Option<String>,
    /// Collector URL, e.g. http://localhost:4317.
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// OTLP protocol: grpc or http/protobuf.
    #[arg(long)]
    protocol: Option<String>,
    /// tracing.service_name.
    #[arg(long, value_name = "NAME")]
    service_name: Option<String>,
    /// Sampler: always_on, always_off, traceidratio, parentbased_always_on,
    /// parentbased_always_off or parentbased_traceidratio.
    #[arg(long, value_name = "NAME")]
    sampler: Option<String>,
    /// Ratio for the traceidratio samplers, 0..=1.
    #[arg(long, value_name = "RATIO")]
    sample_rate: Option<f64>,
    /// Attach the kernel hooks but capture nothing: measures what the hooks
    /// alone cost (cargo xtask bench).
    #[arg(long)]
    hooks_only: bool,
    /// Capture and read every record, then drop it: measures what capture
    /// costs without parsing or export (cargo xtask bench).
    #[arg(long, conflicts_with = "hooks_only")]
    capture_only: bool,
    /// Serve the agent's metrics (GET /metrics, Prometheus text) and
    /// GET /healthz on ADDR:PORT, e.g. 127.0.0.1:9464 [default: off].
    #[arg(long, value_name = "ADDR:PORT")]
    metrics_addr: Option<String>,
    /// Do not use this kernel feature even where the kernel has it, and
    /// take the path a kernel without it takes: bpf_loop (repeatable).
    #[arg(long = "disable-kernel-feature", value_name = "NAME")]
    disable_kernel_features: Vec<String>,
}

impl RunArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            pids: self.pids.clone(),
            cgroups: self.cgroups.clone(),
            exes: self.exes.clone(),
            ports: self.ports.clone(),
            console_format: self.console_format.map(|f| match f {
                Format::Pretty => ConsoleFormat::Pretty,
                Format::OtlpJson => ConsoleFormat::OtlpJson,
            }),
            capture_bytes: self.capture_bytes,
            ring_bytes: self.ring_bytes,
            memory_limit: self.memory_limit.clone(),
            exporter: self.exporter.clone(),
            endpoint: self.endpoint.clone(),
            protocol: self.protocol.clone(),
            service_name: self.service_name.clone(),
            sampler: self.sampler.clone(),
            sample_rate: self.sample_rate,
            hooks_only: self.hooks_only,
            capture_only: self.capture_only,
            metrics_addr: self.metrics_addr.clone(),
            disable_kernel_features: self.disable_kernel_features.clone(),
        }
    }
}

/// Prints each line of a user's mistake and exits 2.
fn fail(msg: &str) -> ! {
    for line in msg.lines() {
        eprintln!("swit-agent: {line}");
    }
    std::process::exit(2);
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Config(ConfigCommand::Validate { file }) => {
            let (lines, code) = config::validate_file(&file);
            for l in lines {
                println!("{l}");
            }
            std::process::exit(code);
        }
        Command::Check => std::process::exit(swit_agent::check::report(&mut std::io::stdout())),
        Command::Run(a) => {
            let settings = match Settings::load(a.config.as_deref(), &a.overrides()) {
                Ok(s) => s,
                Err(e) => fail(&e.to_string()),
            };
            if !settings.tracing.enabled {
                let file = a.config.as_deref().unwrap_or("the configuration".as_ref());
                // stderr: stdout carries spans, and scripts may parse it.
                eprintln!(
                    "swit-agent: tracing is disabled in {} (tracing.enabled: false); nothing to do",
                    file.display()
                );
                return;
            }
            let (file, overrides) = (a.config.clone(), a.overrides());
            let reload: Option<agent::Reload> = file
                .map(|f| Box::new(move || Settings::load(Some(&f), &overrides)) as agent::Reload);
            agent::run(settings, reload)
        }
    };
    if let Err(e) = result {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            // Some errors already name their cause in their own text.
            let cause = s.to_string();
            if !msg.contains(&cause) {
                msg.push_str(": ");
                msg.push_str(&cause);
            }
            src = s.source();
        }
        eprintln!("swit-agent: {msg}");
        std::process::exit(e.exit_code());
    }
}
