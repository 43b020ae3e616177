//! Every schedule on every model: the policy beside the plain schedules,
//! played on each named population model, and each schedule's regret —
//! the points of revenue it leaves short of the best schedule on that
//! model — and its worst regret across the models. The default policy is
//! judged by that worst regret, not by its figure on any one model. Pure.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use super::Scenario;
use super::models::Model;
use super::play::{Strategy, play};
use super::population;
use super::report::Tally;
use crate::domain::networks::NetworkCaps;
use crate::domain::policy::Policy;

/// The schedules compared, the policy first.
pub fn strategies(policy: &Policy) -> Vec<(&'static str, Strategy<'_>)> {
    vec![
        ("dunwell policy", Strategy::Policy(policy)),
        ("days 3/7/14/21", Strategy::fixed_days(policy, false)),
        (
            "days 3/7/14/21 + new card",
            Strategy::fixed_days(policy, true),
        ),
        ("8 in 14 days", Strategy::eight_in_fourteen_days(policy)),
        ("plain rule set", Strategy::rules(policy)),
    ]
}

/// The figures, one tally per strategy (in `strategies`' order).
pub fn run_all(
    scenarios: &[Scenario],
    policy: &Policy,
    mut progress: impl FnMut(u64),
) -> Vec<Tally> {
    let caps = NetworkCaps::default();
    let strategies = strategies(policy);
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

/// `f` of every item, in the items' order, on at most `threads` threads.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let result = f(item);
                    done.lock()
                        .expect("a player never panics")
                        .push((i, result));
                }
            });
        }
    });
    let mut done = done.into_inner().expect("a player never panics");
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// `n` invoices of `model`'s population seeded with `seed`.
pub fn population_of(model: &Model, seed: u64, n: u64) -> Vec<Scenario> {
    (0..n)
        .map(|i| population::scenario(model, seed, i))
        .collect()
}

/// One model's figures.
#[derive(Debug, Clone)]
pub struct OnModel {
    pub model: &'static Model,
    pub tallies: Vec<Tally>,
}

impl OnModel {
    /// The best revenue share on this model.
    fn best(&self) -> f64 {
        self.tallies
            .iter()
            .map(Tally::revenue_share)
            .fold(0.0, f64::max)
    }

    /// Points of revenue `tally` leaves short of the best schedule here.
    pub fn regret(&self, strategy: usize) -> f64 {
        (self.best() - self.tallies[strategy].revenue_share()) * 100.0
    }
}

/// Every schedule on every model.
#[derive(Debug, Clone)]
pub struct Ensemble {
    pub models: Vec<OnModel>,
}

impl Ensemble {
    /// Plays `policy` and the plain schedules on `n` invoices of each of
    /// `models` (one thread per model, at most `threads` at once).
    pub fn run(
        models: &[&'static Model],
        policy: &Policy,
        seed: u64,
        n: u64,
        threads: usize,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Self {
        let populations = parallel_map(models, threads, |m| population_of(m, seed, n));
        Self::on(models, &populations, policy, threads, progress)
    }

    /// `run` on populations already generated, one per model.
    pub fn on(
        models: &[&'static Model],
        populations: &[Vec<Scenario>],
        policy: &Policy,
        threads: usize,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Self {
        let pairs: Vec<_> = models.iter().zip(populations).collect();
        let models = parallel_map(&pairs, threads, |(model, scenarios)| OnModel {
            model,
            tallies: run_all(scenarios, policy, progress),
        });
        Self { models }
    }

    /// The strategies' names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.models
            .first()
            .map(|m| m.tallies.iter().map(|t| t.name.as_str()).collect())
            .unwrap_or_default()
    }

    /// The most points of revenue `strategy` leaves short of the best
    /// schedule on any model.
    pub fn worst_regret(&self, strategy: usize) -> f64 {
        self.models
            .iter()
            .map(|m| m.regret(strategy))
            .fold(0.0, f64::max)
    }

    /// The tables `dunwell simulate --model all` prints.
    pub fn table(&self) -> String {
        let names = self.names();
        let width = names.iter().map(|n| n.len()).max().unwrap_or(8).max(8);
        let cell = 14;
        let header = |out: &mut String, last: &str| {
            out.push_str(&format!("{:width$}", "strategy"));
            for m in &self.models {
                out.push_str(&format!("  {:>cell$}", m.model.name));
            }
            if !last.is_empty() {
                out.push_str(&format!("  {last:>cell$}"));
            }
            out.push('\n');
        };
        let mut out = String::from("revenue recovered (attempts per failure):\n");
        header(&mut out, "violations");
        for (i, name) in names.iter().enumerate() {
            out.push_str(&format!("{name:width$}"));
            let mut violations = 0;
            for m in &self.models {
                let t = &m.tallies[i];
                violations += t.violations;
                let figure = format!(
                    "{:.1}% ({:.2})",
                    t.revenue_share() * 100.0,
                    t.attempts_per_failure()
                );
                out.push_str(&format!("  {figure:>cell$}"));
            }
            out.push_str(&format!("  {violations:>cell$}\n"));
        }
        out.push_str("\nmedian days to recovery:\n");
        header(&mut out, "");
        for (i, name) in names.iter().enumerate() {
            out.push_str(&format!("{name:width$}"));
            for m in &self.models {
                let days = m.tallies[i]
                    .median_days()
                    .map_or("-".to_owned(), |d| format!("{d:.1}"));
                out.push_str(&format!("  {days:>cell$}"));
            }
            out.push('\n');
        }
        out.push_str("\nregret (points of revenue short of the best schedule on the model):\n");
        header(&mut out, "worst");
        for (i, name) in names.iter().enumerate() {
            out.push_str(&format!("{name:width$}"));
            for m in &self.models {
                out.push_str(&format!("  {:>cell$.1}", m.regret(i)));
            }
            out.push_str(&format!("  {:>cell$.1}\n", self.worst_regret(i)));
        }
        out
    }

    /// The figures as `--json` prints them.
    pub fn to_json(&self) -> serde_json::Value {
        let names = self.names();
        json!({
            "models": self.models.iter().map(|m| json!({
                "name": m.model.name,
                "assumes": m.model.differs,
                "strategies": m.tallies.iter().enumerate().map(|(i, t)| {
                    let mut value = t.to_json();
                    value["regret_points"] = json!(m.regret(i));
                    value
                }).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "worst_regret_points": names.iter().enumerate()
                .map(|(i, name)| (name.to_string(), json!(self.worst_regret(i))))
                .collect::<serde_json::Map<_, _>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::simulate::models::MODELS;

    #[test]
    fn regret_is_measured_from_the_best_schedule_on_each_model() {
        let policy = Policy::default();
        let models: Vec<&'static Model> = MODELS.iter().take(2).collect();
        let e = Ensemble::run(&models, &policy, 5, 300, 2, &|_| {});
        assert_eq!(e.models.len(), 2);
        assert_eq!(e.names()[0], "dunwell policy");
        for m in &e.models {
            let regrets: Vec<f64> = (0..m.tallies.len()).map(|i| m.regret(i)).collect();
            assert!(regrets.iter().all(|r| *r >= 0.0), "{regrets:?}");
            assert!(regrets.contains(&0.0), "{regrets:?}");
        }
        for i in 0..e.names().len() {
            let worst = e.models.iter().map(|m| m.regret(i)).fold(0.0, f64::max);
            assert_eq!(e.worst_regret(i), worst);
        }
        let table = e.table();
        assert!(
            table.contains("today") && table.contains("off-payday"),
            "{table}"
        );
        assert!(table.contains("worst"), "{table}");
        let json = e.to_json();
        assert_eq!(json["models"].as_array().unwrap().len(), 2);
    }

    /// The README's `--model all` table is this run's, and the default
    /// keeps the rules it was chosen by (`choose`): within the attempts cap
    /// and every network rule on every model, at least as much revenue as
    /// each plain schedule that keeps within the same cap, and recoveries
    /// no slower (median) than days 3/7/14/21.
    #[test]
    fn the_default_holds_on_every_model_and_the_readme_shows_it() {
        use crate::domain::simulate::choose::MAX_ATTEMPTS;
        let policy = Policy::default();
        let models: Vec<&'static Model> = MODELS.iter().collect();
        let e = Ensemble::run(&models, &policy, 7, 20_000, 2, &|_| {});
        crate::readme_claims::assert_readme_says(&[e.table()]);
        for m in &e.models {
            let name = m.model.name;
            let mine = &m.tallies[0];
            assert!(
                mine.attempts_per_failure() <= MAX_ATTEMPTS,
                "{name}: {mine:?}"
            );
            assert_eq!(mine.violations, 0, "{name}");
            for other in &m.tallies[1..] {
                if other.attempts_per_failure() <= MAX_ATTEMPTS {
                    assert!(
                        mine.revenue_share() >= other.revenue_share(),
                        "{name}: {} beats the default",
                        other.name
                    );
                }
            }
            let fixed = &m.tallies[1];
            assert_eq!(fixed.name, "days 3/7/14/21");
            assert!(mine.median_days() <= fixed.median_days(), "{name}");
        }
        crate::readme_claims::assert_readme_says(&[format!(
            "worst regret is {:.1} points",
            e.worst_regret(0)
        )]);
    }
}
