//! The `swit-agent` command line. Everything but argument parsing lives in
//! the library.
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use swit_agent::memory::CountingAlloc;
use swit_agent::{
    agent,
    config::{self, Overrides, Settings},
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

#[derive(clap::Args)]
struct RunArgs {
    /// YAML configuration (docs/configuration.md). Without it: every span
    /// (always_on) printed on the console.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
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
            let settings = match Settings::load(a.config.as_deref(), &a.overrides) {
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
            let RunArgs {
                config: file,
                overrides,
            } = *a;
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
