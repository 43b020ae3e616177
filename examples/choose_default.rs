//! How the planner's default numbers were chosen: every candidate of
//! `choose::candidates()` on every population model, ranked by worst
//! regret, with what rules the others out. `cargo run --release --example
//! choose_default [POPULATION] [SEED]` (default 20000 invoices a model,
//! seed 7).

use dunwell::domain::policy::Policy;
use dunwell::domain::schedule::Tuning;
use dunwell::domain::simulate::choose::{self, MAX_ATTEMPTS};
use dunwell::domain::simulate::models::MODELS;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .map_or(20_000, |a| a.parse().expect("a population"));
    let seed: u64 = args.next().map_or(7, |a| a.parse().expect("a seed"));
    let models: Vec<_> = MODELS.iter().collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (plain, mut candidates) = choose::evaluate(
        &models,
        &Policy::default(),
        &choose::candidates(),
        seed,
        n,
        threads,
    );
    candidates.sort_by(|a, b| a.worst_regret().total_cmp(&b.worst_regret()));
    println!(
        "{n} invoices a model, seed {seed}; at most {MAX_ATTEMPTS} attempts per failure on every model"
    );
    println!("spread first generic backoff  worst regret  most attempts  verdict");
    for c in &candidates {
        let t = c.tuning;
        let verdict = c
            .ruled_out()
            .unwrap_or_else(|| match c.loses_to(&plain).len() {
                0 => "eligible, beats every plain schedule on every model".into(),
                n => format!("eligible, behind a plain schedule {n} times"),
            });
        let mark = if t == Tuning::DEFAULT {
            " (default)"
        } else {
            ""
        };
        println!(
            "{:>6} {:>5} {:>7} {:>7}  {:>12.2}  {:>13.2}  {verdict}{mark}",
            t.spread_tries,
            t.first_retry_days,
            t.generic_short_tries,
            t.generic_backoff_hours[0],
            c.worst_regret(),
            c.most_attempts(),
        );
    }
    println!(
        "\nper model, revenue % (attempts) and regret, the three with the least worst regret, the best of each spread, and the default:"
    );
    let names: Vec<&str> = plain.models.iter().map(|m| m.model.name).collect();
    println!(
        "{:>20}  {}",
        "",
        names.iter().map(|n| format!("{n:>20}")).collect::<String>()
    );
    let mut spreads: Vec<u32> = candidates.iter().map(|c| c.tuning.spread_tries).collect();
    spreads.dedup();
    let shown = candidates
        .iter()
        .take(3)
        .chain(
            spreads
                .iter()
                .filter_map(|s| candidates.iter().find(|c| c.tuning.spread_tries == *s)),
        )
        .chain(candidates.iter().filter(|c| c.tuning == Tuning::DEFAULT));
    for c in shown {
        let t = c.tuning;
        let cells: String = c
            .tallies
            .iter()
            .zip(&c.regrets)
            .map(|(tally, r)| {
                format!(
                    "{:>20}",
                    format!(
                        "{:.1} ({:.2}) -{r:.1}",
                        tally.revenue_share() * 100.0,
                        tally.attempts_per_failure()
                    )
                )
            })
            .collect();
        println!(
            "{:>20}  {cells}",
            format!(
                "{}/{}/{}/{}",
                t.spread_tries,
                t.first_retry_days,
                t.generic_short_tries,
                t.generic_backoff_hours[0]
            )
        );
    }
    match choose::best(&candidates) {
        Some(best) => {
            println!("\nchosen: {:?}", best.tuning);
            for behind in best.loses_to(&plain) {
                println!("  behind {behind}");
            }
        }
        None => println!("\nno candidate meets every rule"),
    }
}
