//! `dunwell policy list|show|diff|apply`: the stored policy versions from
//! the terminal, with the same validation and recording as the API and
//! the dashboard. Running processes take a new version within seconds.

use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::{DateTime, SecondsFormat, Utc};

use crate::config::Config;
use crate::domain::policy_text;
use std::sync::Arc;

use crate::domain::simulate::report::Tally;
use crate::engine::backtest::{self, Backtest};
use crate::engine::policies::{self, Applied, Source};
use crate::simulate::policy_file;
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
    /// Play a policy file beside the running version on your closed cases
    /// and a generated population: recovered revenue, attempts, days.
    Backtest {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
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

/// The backtest as a plain table per source.
fn backtest_table(b: &Backtest, running: i64) -> String {
    let part = |title: String, actual: Option<&Tally>, r: &Tally, p: &Tally| {
        let days = |t: &Tally| t.median_days().map_or("-".into(), |d| format!("{d:.1}"));
        let revenue = |t: &Tally| format!("{:.1}%", t.revenue_share() * 100.0);
        let invoices = |t: &Tally| format!("{} of {}", t.recovered, t.invoices);
        let attempts = |t: &Tally| format!("{:.2}", t.attempts_per_failure());
        let happened = |f: &dyn Fn(&Tally) -> String| actual.map_or(String::new(), f);
        let mut out = format!("{title}\n");
        let head = if actual.is_some() {
            "what happened"
        } else {
            ""
        };
        out.push_str(&format!(
            "  {:<24} {head:>16} {:>16} {:>16}\n",
            "",
            format!("running v{running}"),
            "proposed"
        ));
        let rows = [
            (
                "recovered revenue",
                happened(&revenue),
                revenue(r),
                revenue(p),
            ),
            (
                "invoices recovered",
                happened(&invoices),
                invoices(r),
                invoices(p),
            ),
            (
                "attempts per failure",
                happened(&|_| "-".into()),
                attempts(r),
                attempts(p),
            ),
            ("median days to recover", happened(&days), days(r), days(p)),
        ];
        for (k, h, a, b) in rows {
            out.push_str(&format!("  {k:<24} {h:>16} {a:>16} {b:>16}\n"));
        }
        out.push('\n');
        out
    };
    let mut out = match &b.own {
        Some(c) => part(
            format!(
                "your {} closed cases (their decline codes, countries, amounts, outcomes)",
                b.own_cases
            ),
            Some(&b.actual),
            &c.running,
            &c.proposed,
        ),
        None => "your closed cases: none yet\n\n".to_owned(),
    };
    out += &part(
        format!(
            "{} generated failed renewals (seed {})",
            backtest::POPULATION,
            backtest::SEED
        ),
        None,
        &b.generated.running,
        &b.generated.proposed,
    );
    out
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
        PolicyCommand::Backtest { file } => {
            let proposed = policy_file(file)?;
            let running = version(store, None).await?;
            let running_policy = policies::read_version(&running).map_err(anyhow::Error::msg)?;
            let now = crate::clock::read_timeline(store).await?.now();
            let b = backtest::compare_on(store, now, Arc::new(running_policy), proposed).await?;
            print!("{}", backtest_table(&b, running.version));
        }
        PolicyCommand::Apply {
            file,
            reason,
            author,
        } => {
            let policy = policy_file(file).context("nothing changed")?;
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
