//! `dunwell simulate`: backtest a policy before turning it on. Plays it
//! against a generated population or the operator's own history of failed
//! invoices, beside two baselines, and prints what each would recover.

use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::json;

use crate::config::Config;
use crate::domain::networks::NetworkCaps;
use crate::domain::policy::Policy;
use crate::domain::simulate::play::{Strategy, play};
use crate::domain::simulate::report::{Tally, table};
use crate::domain::simulate::{Scenario, history, population};

#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// How many failed renewals to generate (default 20000; not with --history).
    #[arg(long)]
    pub population: Option<u64>,
    /// Seed of the generated population: the same seed, the same figures.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Your own failed invoices instead (CSV with failed_at, decline_code,
    /// amount, currency, and optionally country, paid_at, card_brand).
    #[arg(long, value_name = "FILE.csv", conflicts_with = "population")]
    pub history: Option<PathBuf>,
    /// The policy to test (a TOML file with a [policy] table, or the
    /// policy's keys alone); default: the configured policy.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Print the figures (and the assumptions) as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The policy in `path`: a whole configuration file's `[policy]`, or a
/// file holding only the policy's keys. Errors name their keys.
pub fn policy_file(path: &std::path::Path) -> anyhow::Result<Policy> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the policy file {}", path.display()))?;
    crate::domain::policy_text::parse_file(&text)
        .map_err(|errors| anyhow::anyhow!("{}:\n  {}", path.display(), errors.join("\n  ")))
}

/// The figures, one tally per strategy: the policy, then the baselines.
pub fn run_all(
    scenarios: &[Scenario],
    policy: &Policy,
    mut progress: impl FnMut(u64),
) -> Vec<Tally> {
    let caps = NetworkCaps::default();
    let strategies = [
        ("dunwell policy", Strategy::Policy(policy)),
        ("days 3/7/14/21", Strategy::fixed_days(policy)),
        ("8 in 14 days", Strategy::eight_in_fourteen_days(policy)),
    ];
    let mut tallies: Vec<Tally> = strategies
        .iter()
        .map(|(name, _)| Tally::new(name))
        .collect();
    for (i, scenario) in scenarios.iter().enumerate() {
        for ((_, strategy), tally) in strategies.iter().zip(&mut tallies) {
            tally.add(scenario, &play(scenario, strategy, &caps));
        }
        if i % 256 == 255 {
            progress(256);
        }
    }
    progress(scenarios.len() as u64 % 256);
    tallies
}

pub fn run(config: &Config, args: &SimulateArgs) -> anyhow::Result<()> {
    let (policy, policy_source) = match &args.policy {
        Some(path) => (policy_file(path)?, path.display().to_string()),
        None => (config.policy.clone(), "the configuration".to_owned()),
    };
    let (scenarios, source) = match &args.history {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the history file {}", path.display()))?;
            let rows = history::read(&text).map_err(|errors| {
                anyhow::anyhow!("{}:\n  {}", path.display(), errors.join("\n  "))
            })?;
            if rows.is_empty() {
                bail!("{}: no invoices in the file", path.display());
            }
            let source = format!("{} failed invoices from {}", rows.len(), path.display());
            (rows, source)
        }
        None => {
            let n = args.population.unwrap_or(20_000);
            if !(1..=5_000_000).contains(&n) {
                bail!("--population must be 1 to 5000000, got {n}");
            }
            let rows: Vec<Scenario> = (0..n).map(|i| population::scenario(args.seed, i)).collect();
            (
                rows,
                format!("{n} generated failed renewals (seed {})", args.seed),
            )
        }
    };
    let bar = indicatif::ProgressBar::new(scenarios.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} invoices, {eta} left")
            .expect("a valid template"),
    );
    if args.json || scenarios.len() < 5_000 {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let tallies = run_all(&scenarios, &policy, |n| bar.inc(n));
    bar.finish_and_clear();
    let assumptions: Vec<&str> = if args.history.is_some() {
        HISTORY_ASSUMPTIONS.to_vec()
    } else {
        population::ASSUMPTIONS.to_vec()
    };
    if args.json {
        let out = json!({
            "source": source,
            "policy": policy_source,
            "assumptions": assumptions,
            "strategies": tallies.iter().map(Tally::to_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("{source}, policy from {policy_source}");
    println!("assumptions:");
    for a in assumptions {
        println!("  - {a}");
    }
    println!();
    print!("{}", table(&tallies));
    Ok(())
}

const HISTORY_ASSUMPTIONS: &[&str] = &[
    "money seen when an invoice was paid is taken to be there from the start of that local day for 5 days, never before",
    "a card that could not be retried (hard decline, authentication) was replaced on paid_at",
    "an invoice never paid stays unpaid whatever the schedule; emails change nothing",
];
