//! The `swit-agent` command line. Everything but argument parsing lives in
//! the library.
use clap::{Parser, Subcommand, ValueEnum};
use swit_agent::{
    agent,
    config::{ConsoleFormat, RunConfig},
};

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
    Run(RunArgs),
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
    /// Trace this process and its descendants (repeatable).
    #[arg(long = "pid", value_name = "PID")]
    pids: Vec<u32>,
    /// How spans are printed on stdout.
    #[arg(long, value_enum, default_value = "pretty")]
    console_format: Format,
    /// Payload bytes captured per syscall (0..=16384); past it only lengths.
    #[arg(long, default_value_t = RunConfig::default().capture_bytes)]
    capture_bytes: u32,
    /// Kernel ring buffer size in bytes (a power of two).
    #[arg(long, default_value_t = RunConfig::default().ring_bytes)]
    ring_bytes: u32,
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => agent::run(RunConfig {
            pids: a.pids,
            console_format: match a.console_format {
                Format::Pretty => ConsoleFormat::Pretty,
                Format::OtlpJson => ConsoleFormat::OtlpJson,
            },
            capture_bytes: a.capture_bytes,
            ring_bytes: a.ring_bytes,
            ..RunConfig::default()
        }),
    };
    if let Err(e) = result {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        eprintln!("swit-agent: {msg}");
        std::process::exit(e.exit_code());
    }
}
