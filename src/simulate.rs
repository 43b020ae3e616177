//! `dunwell simulate`: backtest a policy before turning it on. Plays it
//! against a generated population or the operator's own history of failed
//! invoices, beside four plain schedules, and prints what each would
//! recover; `--model all` every population model with regrets, `--learn` a
//! year of learning (a model's, or the history's own months).

use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::json;

use crate::config::Config;
use crate::domain::policy::Policy;
use crate::domain::simulate::ensemble::{Ensemble, population_of, run_all};
use crate::domain::simulate::models::{self, MODELS, Model};
use crate::domain::simulate::report::{Tally, table};
use crate::domain::simulate::{history, learn, population};

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
    /// The population model to generate (`dunwell simulate --model all`
    /// plays every schedule on every model and prints each one's regret);
    /// default: today.
    #[arg(long, value_name = "NAME|all", conflicts_with = "history")]
    pub model: Option<String>,
    /// Replay the model's year (or your history, with --history) month by
    /// month, the planner learning from the retries finished before each
    /// month, beside the same policy without learning and the month's best
    /// plain schedule.
    #[arg(long, conflicts_with = "json")]
    pub learn: bool,
    /// Print the figures (and the assumptions) as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The models `--model` names: one, or every one for `all`.
fn chosen_models(name: Option<&str>) -> anyhow::Result<Vec<&'static Model>> {
    match name {
        None => Ok(vec![&MODELS[0]]),
        Some("all") => Ok(MODELS.iter().collect()),
        Some(name) => models::by_name(name).map(|m| vec![m]).ok_or_else(|| {
            anyhow::anyhow!(
                "--model: no model called {name:?}; the models are {}, or all",
                models::names()
            )
        }),
    }
}

/// The policy in `path`: a whole configuration file's `[policy]`, or a
/// file holding only the policy's keys. Errors name their keys.
pub fn policy_file(path: &std::path::Path) -> anyhow::Result<Policy> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the policy file {}", path.display()))?;
    crate::domain::policy_text::parse_file(&text)
        .map_err(|errors| anyhow::anyhow!("{}:\n  {}", path.display(), errors.join("\n  ")))
}

pub fn run(config: &Config, args: &SimulateArgs) -> anyhow::Result<()> {
    let (policy, policy_source) = match &args.policy {
        Some(path) => (policy_file(path)?, path.display().to_string()),
        None => (config.policy.clone(), "the configuration".to_owned()),
    };
    let chosen = chosen_models(args.model.as_deref())?;
    let n = args.population.unwrap_or(20_000);
    if args.history.is_none() && !(1..=5_000_000).contains(&n) {
        bail!("--population must be 1 to 5000000, got {n}");
    }
    if args.learn && args.history.is_none() && chosen.len() > 1 {
        bail!("--learn replays one model: name it with --model");
    }
    if chosen.len() > 1 {
        return run_ensemble(&policy, &policy_source, &chosen, args.seed, n, args.json);
    }
    let model = chosen[0];
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
        None => (
            population_of(model, args.seed, n),
            format!(
                "{n} generated failed renewals (seed {}, model {})",
                args.seed, model.name
            ),
        ),
    };
    if args.learn {
        println!("{source}, policy from {policy_source}");
        println!("each month plans with what the retries finished before it taught:\n");
        let replayed = learn::replay(&scenarios, &policy);
        print!("{}", learn::table(&replayed.months));
        print!("\n{}", learn::taught(&replayed.learned));
        return Ok(());
    }
    let bar = progress_bar(
        scenarios.len() as u64,
        !args.json && scenarios.len() >= 5_000,
    );
    let tallies = run_all(&scenarios, &policy, |n| bar.inc(n));
    bar.finish_and_clear();
    let assumptions: Vec<&str> = if args.history.is_some() {
        HISTORY_ASSUMPTIONS.to_vec()
    } else {
        model_assumptions(model)
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

/// A bar counting `total` invoices on stderr, drawn only when `shown`.
fn progress_bar(total: u64, shown: bool) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} invoices, {eta} left")
            .expect("a valid template"),
    );
    if !shown {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

/// `today`'s assumptions, and what `model` changes.
fn model_assumptions(model: &Model) -> Vec<&'static str> {
    let mut all = population::ASSUMPTIONS.to_vec();
    if model.name != models::TODAY.name {
        all.push(model.differs);
    }
    all
}

/// `--model all`: every schedule on every model, with regrets.
fn run_ensemble(
    policy: &Policy,
    policy_source: &str,
    chosen: &[&'static Model],
    seed: u64,
    n: u64,
    json: bool,
) -> anyhow::Result<()> {
    let bar = progress_bar(n * chosen.len() as u64, !json && n >= 5_000);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let ensemble = Ensemble::run(chosen, policy, seed, n, threads, &|k| bar.inc(k));
    bar.finish_and_clear();
    let source = format!("{n} generated failed renewals per model (seed {seed})");
    if json {
        let mut out = ensemble.to_json();
        out["source"] = json!(source);
        out["policy"] = json!(policy_source);
        out["assumptions"] = json!(population::ASSUMPTIONS);
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("{source}, policy from {policy_source}");
    println!("model today assumes:");
    for a in population::ASSUMPTIONS {
        println!("  - {a}");
    }
    println!("the other models change one thing (skeptic: several):");
    for m in chosen.iter().filter(|m| m.name != models::TODAY.name) {
        println!("  - {}: {}", m.name, m.differs);
    }
    println!();
    print!("{}", ensemble.table());
    Ok(())
}

const HISTORY_ASSUMPTIONS: &[&str] = &[
    "money seen when an invoice was paid is taken to be there from the start of that local day for 5 days, never before",
    "a card that could not be retried (hard decline, authentication) was replaced on paid_at",
    "an invoice never paid stays unpaid whatever the schedule; emails change nothing",
];
