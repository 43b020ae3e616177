//! `dunwell policy list|show|diff|apply`: the stored policy versions from
//! the terminal, with the same validation and recording as the API and
//! the dashboard. Running processes take a new version within seconds.

use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::{DateTime, SecondsFormat, Utc};

use crate::config::Config;
use crate::domain::policy_text::{self, Format};
use crate::engine::policies::{self, Applied, Source};
use crate::store::Store;
use crate::store::policies::PolicyVersion;

#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum PolicyCommand {
    /// Every stored version, newest (running) first: who, when, why.
    List,
    /// One version's TOML (default: the running one).
    Show { version: Option<i64> },
    /// What changed from version A to version B (default: the running one).
    Diff { from: i64, to: Option<i64> },
    /// Validate a policy file (a [policy] table or its keys) and store it as
    /// the next version; it runs for new cases, open cases keep theirs.
    Apply {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Why the policy changes (kept with the version).
        #[arg(long)]
        reason: String,
        /// Who changes it (default: $USER).
        #[arg(long)]
        author: Option<String>,
    },
}

fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn version(store: &Store, n: Option<i64>) -> anyhow::Result<PolicyVersion> {
    let n = match n {
        Some(n) => n,
        None => store.newest_policy_version().await?,
    };
    store
        .policy_version(n)
        .await?
        .with_context(|| format!("there is no policy version {n} (see dunwell policy list)"))
}

pub async fn run(config: &Config, args: &PolicyArgs) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url).await?;
    store.migrate().await?;
    // A database no process has started on yet gets the configuration's
    // policy as version 1 first, as a start would. Later the file is only
    // read by the processes (at start-up and on SIGHUP).
    if store.newest_policy_version().await? == 0 {
        policies::store_file_policy(&store, &config.policy).await?;
    }
    let result = command(&store, args).await;
    store.close().await;
    result
}

async fn command(store: &Store, args: &PolicyArgs) -> anyhow::Result<()> {
    match &args.command {
        PolicyCommand::List => {
            let versions = store.policy_versions().await?;
            let running = versions.first().map_or(0, |v| v.version);
            println!(
                "{:<9} {:<21} {:<10} {:<16} reason",
                "version", "created (UTC)", "source", "author"
            );
            for v in &versions {
                let mark = if v.version == running { "*" } else { " " };
                println!(
                    "{:<9} {:<21} {:<10} {:<16} {}",
                    format!("{}{mark}", v.version),
                    time(v.created_at),
                    v.source,
                    v.author,
                    v.reason
                );
            }
            println!("\n* runs for new cases; every case keeps the version it opened under");
        }
        PolicyCommand::Show { version: n } => {
            let v = version(store, *n).await?;
            println!(
                "# policy version {} by {} at {} ({}): {}",
                v.version,
                v.author,
                time(v.created_at),
                v.source,
                v.reason
            );
            print!("{}", v.policy);
        }
        PolicyCommand::Diff { from, to } => {
            let a = version(store, Some(*from)).await?;
            let b = version(store, *to).await?;
            println!("--- version {}\n+++ version {}", a.version, b.version);
            let lines = policy_text::diff(&a.policy, &b.policy);
            if policy_text::changes(&lines) {
                print!("{}", policy_text::diff_hunks(&lines, 3));
            } else {
                println!("(the same policy)");
            }
        }
        PolicyCommand::Apply {
            file,
            reason,
            author,
        } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the policy file {}", file.display()))?;
            let policy = policy_text::parse(&text, Format::Toml).map_err(|errors| {
                anyhow::anyhow!(
                    "{} is not a valid policy; nothing changed:\n  {}",
                    file.display(),
                    errors.join("\n  ")
                )
            })?;
            let author = author
                .clone()
                .or_else(|| std::env::var("USER").ok())
                .filter(|a| !a.trim().is_empty())
                .unwrap_or_else(|| "cli".into());
            match policies::store_policy(store, &policy, &author, reason, Source::Cli).await? {
                Err(errors) => bail!("nothing changed:\n  {}", errors.join("\n  ")),
                Ok(Applied::Unchanged(v)) => {
                    println!("the same as the running version {v}: nothing stored")
                }
                Ok(Applied::New(v)) => println!(
                    "stored as version {v}; it runs for new cases (running processes take it within seconds); open cases keep their version"
                ),
            }
        }
    }
    Ok(())
}
