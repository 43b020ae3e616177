//! The command line: parse, then hand over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::mail::preview::PreviewArgs;
use crate::plan::PlanArgs;
use crate::policy_cli::PolicyArgs;
use crate::simulate::SimulateArgs;
use crate::startup::{Application, Role, shutdown_signal};
use crate::store::Store;
use crate::trigger::{self, TriggerArgs};

#[derive(Debug, Parser)]
#[command(
    name = "dunwell",
    version,
    about = "Self-hosted payment recovery (dunning)"
)]
pub struct Cli {
    /// TOML configuration file (default: dunwell.toml when present).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything in one process: webhook intake, billing pages, operator API and dashboard, event processing and the job runner; applies migrations first.
    Serve,
    /// The HTTP side only: webhook intake, billing pages, operator API and dashboard (and /metrics, /healthz, /readyz).
    Web,
    /// Only event processing and the job runner (and /metrics, /healthz, /readyz).
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Load and validate configuration; print it with secrets redacted and warnings for production.
    CheckConfig,
    /// Build, sign and post a realistic processor event (--dry-run: print it).
    Trigger(Box<TriggerArgs>),
    /// Print the timeline the policy gives a failure (retries, emails, final action).
    Plan(Box<PlanArgs>),
    /// Render an email template with sample data.
    PreviewEmail(PreviewArgs),
    /// Backtest the policy against generated failures (one population model or all of them) or your own history, beside four plain schedules.
    Simulate(Box<SimulateArgs>),
    /// The stored policy versions: list, show N, diff A B, backtest FILE, apply FILE --reason TEXT.
    Policy(PolicyArgs),
    /// A scripted story in a temporary database at a fast clock: two failed renewals, one recovered by a retry, one canceled; each step printed.
    Demo(crate::demo::DemoArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(why) = crate::telemetry::init() {
        eprintln!("error: {why}");
        return ExitCode::from(2);
    }
    // The demo brings its own configuration and database.
    if let Command::Demo(args) = &cli.command {
        let outcome = tokio::runtime::Runtime::new()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(crate::demo::run(args)));
        return match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::from(2);
        }
    };
    if let Command::Plan(args) = &cli.command {
        return match crate::plan::run(&config, args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        };
    }
    if let Command::Simulate(args) = &cli.command {
        return match crate::simulate::run(&config, args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        };
    }
    if let Command::PreviewEmail(args) = &cli.command {
        return match crate::mail::preview::run(
            &config.policy,
            &config.brand,
            &config.mail_overrides,
            args,
        ) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        };
    }
    if let Command::CheckConfig = cli.command {
        print!("{}", config.redacted());
        // The same warnings `serve` logs at start.
        let warnings = config.warnings();
        let metrics = config.metrics_access();
        if !warnings.iter().any(|(key, _)| *key == "metrics_token") {
            println!("note: {}", metrics.describe(config.bind));
        }
        for (_, warning) in &warnings {
            println!("warning: {warning}");
        }
        match warnings.len() {
            0 => println!("configuration OK"),
            n => println!("configuration valid, with {n} warning(s) for production"),
        }
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let role = match command {
        Command::Serve => Role::Serve,
        Command::Web => Role::Web,
        Command::Worker => Role::Worker,
        Command::Migrate => {
            let store = Store::connect(&config.database_url).await?;
            store.migrate().await?;
            store.close().await;
            println!("migrations applied ({})", store.backend());
            return Ok(());
        }
        Command::Trigger(args) => return trigger::run(&config, &args).await,
        Command::Policy(args) => return crate::policy_cli::run(&config, &args).await,
        Command::CheckConfig
        | Command::Plan(_)
        | Command::PreviewEmail(_)
        | Command::Simulate(_)
        | Command::Demo(_) => {
            unreachable!("handled before the runtime starts")
        }
    };
    let app = Application::build(config, role).await?;
    app.run(shutdown_signal()).await
}
