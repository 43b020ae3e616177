//! How the planner's default numbers (`schedule::Tuning::DEFAULT`) are
//! chosen: every candidate is played on every population model beside the
//! plain schedules; candidates that spend more than `MAX_ATTEMPTS` per
//! failure on some model or break a network rule are out; of the rest, the
//! one with the smallest worst regret wins (within `TIE_POINTS`: then the
//! fewer attempts). No model
//! is the judge; the worst of them is. Where the winner still recovers less
//! than a plain schedule on some model, `loses_to` says where (the plain
//! schedule then spends more attempts than the cap allows us). Pure;
//! `cargo run --release --example choose_default` prints the ranking.

use super::Scenario;
use super::ensemble::{Ensemble, parallel_map, population_of};
use super::models::Model;
use super::play::{Strategy, play};
use super::report::Tally;
use crate::domain::networks::NetworkCaps;
use crate::domain::policy::Policy;
use crate::domain::schedule::Tuning;

/// The most attempts per failure a default may spend on any model.
pub const MAX_ATTEMPTS: f64 = 2.5;

/// The numbers tried.
pub fn candidates() -> Vec<Tuning> {
    let mut out = Vec::new();
    for spread_tries in [4, 5, 6] {
        for first_retry_days in [1, 2, 3, 4] {
            for generic_short_tries in [0, 1, 2] {
                for generic_backoff_hours in [[24, 48], [4, 12]] {
                    out.push(Tuning {
                        spread_tries,
                        first_retry_days,
                        generic_short_tries,
                        generic_backoff_hours,
                    });
                }
            }
        }
    }
    out
}

/// One candidate's figures on every model.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub tuning: Tuning,
    /// Per model, in the ensemble's order.
    pub tallies: Vec<Tally>,
    /// Per model: points short of the best of the plain schedules and this.
    pub regrets: Vec<f64>,
}

impl Candidate {
    pub fn worst_regret(&self) -> f64 {
        self.regrets.iter().copied().fold(0.0, f64::max)
    }

    pub fn most_attempts(&self) -> f64 {
        self.tallies
            .iter()
            .map(Tally::attempts_per_failure)
            .fold(0.0, f64::max)
    }

    /// Why it cannot be the default, if it cannot.
    pub fn ruled_out(&self) -> Option<String> {
        if self.most_attempts() > MAX_ATTEMPTS {
            return Some(format!("{:.2} attempts per failure", self.most_attempts()));
        }
        if let Some(t) = self.tallies.iter().find(|t| t.violations > 0) {
            return Some(format!("{} network violations", t.violations));
        }
        None
    }

    /// The plain schedules that recover more revenue than this on some
    /// model: "NAME on MODEL (+points, its attempts)".
    pub fn loses_to(&self, plain: &Ensemble) -> Vec<String> {
        let mut out = Vec::new();
        for (on_model, mine) in plain.models.iter().zip(&self.tallies) {
            for other in on_model.tallies.iter().skip(1) {
                let ahead = (other.revenue_share() - mine.revenue_share()) * 100.0;
                if ahead > 0.0 {
                    out.push(format!(
                        "{} on {} (+{ahead:.1} points, {:.2} attempts)",
                        other.name,
                        on_model.model.name,
                        other.attempts_per_failure()
                    ));
                }
            }
        }
        out
    }
}

/// Plays `base` with each of `tunings` on `n` invoices of every model.
/// Returns the plain schedules' ensemble (played once) and the candidates.
pub fn evaluate(
    models: &[&'static Model],
    base: &Policy,
    tunings: &[Tuning],
    seed: u64,
    n: u64,
    threads: usize,
) -> (Ensemble, Vec<Candidate>) {
    let populations = parallel_map(models, threads, |m| population_of(m, seed, n));
    let plain = Ensemble::on(models, &populations, base, threads, &|_| {});
    let candidates = parallel_map(tunings, threads, |tuning| {
        let mut policy = base.clone();
        policy.retries.tuning = *tuning;
        play_candidate(&plain, &populations, &policy)
    });
    (plain, candidates)
}

fn play_candidate(plain: &Ensemble, populations: &[Vec<Scenario>], policy: &Policy) -> Candidate {
    let caps = NetworkCaps::default();
    let strategy = Strategy::Policy(policy);
    let mut tallies = Vec::new();
    let mut regrets = Vec::new();
    for (on_model, scenarios) in plain.models.iter().zip(populations) {
        let mut tally = Tally::new("candidate");
        for scenario in scenarios {
            tally.add(scenario, &play(scenario, &strategy, &caps));
        }
        let best = on_model
            .tallies
            .iter()
            .skip(1)
            .map(Tally::revenue_share)
            .fold(tally.revenue_share(), f64::max);
        regrets.push((best - tally.revenue_share()) * 100.0);
        tallies.push(tally);
    }
    Candidate {
        tuning: policy.retries.tuning,
        tallies,
        regrets,
    }
}

/// Worst regrets closer than this are a tie: 20,000 invoices a model do
/// not tell them apart (the figure is printed to a tenth of a point).
pub const TIE_POINTS: f64 = 0.1;

/// The candidate to make the default: not ruled out, the smallest worst
/// regret (within `TIE_POINTS`), then the fewest attempts on its most
/// expensive model, then the first in `candidates()`' order.
pub fn best(candidates: &[Candidate]) -> Option<&Candidate> {
    let eligible: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.ruled_out().is_none())
        .collect();
    let least = eligible
        .iter()
        .map(|c| c.worst_regret())
        .fold(f64::INFINITY, f64::min);
    eligible
        .into_iter()
        .filter(|c| c.worst_regret() <= least + TIE_POINTS)
        .min_by(|a, b| a.most_attempts().total_cmp(&b.most_attempts()))
}
