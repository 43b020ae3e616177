//! `simulate --learn`: a model's year replayed month by month, the planner
//! learning as an install would — each month's cases plan with the
//! estimates of every retry finished before the month began — beside the
//! same policy without learning and the best plain schedule of that month.
//! Pure.

use chrono::{DateTime, Datelike, TimeZone, Utc};

use super::Scenario;
use super::ensemble::strategies;
use super::play::{Strategy, play, play_learning};
use super::report::Tally;
use crate::domain::decline::DeclineCategory;
use crate::domain::learned::{Estimates, Outcome};
use crate::domain::networks::NetworkCaps;
use crate::domain::policy::Policy;
use crate::domain::schedule::PRIOR_RETRY_PAYS;

/// One month of the replay.
#[derive(Debug, Clone)]
pub struct Month {
    /// `YYYY-MM`.
    pub month: String,
    /// Retries the estimates were built from.
    pub learned_from: u32,
    /// What an `insufficient_funds` retry paid, as learned (shrunk toward
    /// the prior).
    pub funds_rate: f64,
    pub without: Tally,
    pub learning: Tally,
    /// The plain schedule that recovered the most revenue this month.
    pub best_plain: Tally,
}

fn month_start(at: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0)
        .single()
        .expect("a month's first instant")
}

/// Replays `scenarios` (any order) month by month.
pub fn replay(scenarios: &[Scenario], policy: &Policy) -> Vec<Month> {
    let caps = NetworkCaps::default();
    let mut sorted: Vec<&Scenario> = scenarios.iter().collect();
    sorted.sort_by_key(|s| s.failed_at);
    let plain: Vec<(&str, Strategy<'_>)> = strategies(policy).into_iter().skip(1).collect();
    let mut finished: Vec<(DateTime<Utc>, Outcome)> = Vec::new();
    let mut months = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = month_start(sorted[i].failed_at);
        let end = sorted[i..]
            .iter()
            .position(|s| month_start(s.failed_at) != start)
            .map_or(sorted.len(), |k| i + k);
        let known: Vec<Outcome> = finished
            .iter()
            .filter(|(at, _)| *at < start)
            .map(|(_, o)| o.clone())
            .collect();
        let estimates = Estimates::from_outcomes(known);
        let mut month = Month {
            month: start.format("%Y-%m").to_string(),
            learned_from: estimates.outcomes(),
            funds_rate: estimates
                .category_rate(
                    DeclineCategory::Funds,
                    "insufficient_funds",
                    PRIOR_RETRY_PAYS,
                )
                .rate,
            without: Tally::new("dunwell policy"),
            learning: Tally::new("dunwell policy, learning"),
            best_plain: Tally::default(),
        };
        let mut plain_tallies: Vec<Tally> = plain.iter().map(|(n, _)| Tally::new(n)).collect();
        let policy_strategy = Strategy::Policy(policy);
        for scenario in &sorted[i..end] {
            month
                .without
                .add(scenario, &play(scenario, &policy_strategy, &caps));
            let played = play_learning(scenario, &policy_strategy, &caps, Some(&estimates));
            month.learning.add(scenario, &played);
            finished.extend(played.outcomes);
            for ((_, strategy), tally) in plain.iter().zip(&mut plain_tallies) {
                tally.add(scenario, &play(scenario, strategy, &caps));
            }
        }
        month.best_plain = plain_tallies
            .into_iter()
            .max_by(|a, b| a.revenue_share().total_cmp(&b.revenue_share()))
            .unwrap_or_default();
        months.push(month);
        i = end;
    }
    months
}

/// The replay as `simulate --learn` prints it.
pub fn table(months: &[Month]) -> String {
    let mut out = format!(
        "{:7}  {:>12}  {:>10}  {:>17}  {:>17}  {:>30}\n",
        "month",
        "learned from",
        "funds pays",
        "without learning",
        "learning",
        "best plain schedule"
    );
    for m in months {
        let cell = |t: &Tally| {
            format!(
                "{:.1}% ({:.2})",
                t.revenue_share() * 100.0,
                t.attempts_per_failure()
            )
        };
        out.push_str(&format!(
            "{:7}  {:>12}  {:>9.1}%  {:>17}  {:>17}  {:>30}\n",
            m.month,
            m.learned_from,
            m.funds_rate * 100.0,
            cell(&m.without),
            cell(&m.learning),
            format!("{} {}", m.best_plain.name, cell(&m.best_plain)),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::simulate::ensemble::population_of;
    use crate::domain::simulate::models::by_name;

    #[test]
    fn the_replay_learns_month_by_month_from_finished_retries_only() {
        let model = by_name("off-payday").unwrap();
        let months = replay(&population_of(model, 3, 2_400), &Policy::default());
        assert_eq!(months.len(), 12);
        assert_eq!(months[0].month, "2026-01");
        // January knows nothing yet: learning changes nothing.
        assert_eq!(months[0].learned_from, 0);
        assert_eq!(
            months[0].learning.revenue_share(),
            months[0].without.revenue_share()
        );
        // Later months learn from more and more retries, and on this model
        // a funds retry pays more than the prior says.
        assert!(
            months
                .windows(2)
                .all(|w| w[0].learned_from <= w[1].learned_from)
        );
        assert!(
            months[11].learned_from > 1_000,
            "{}",
            months[11].learned_from
        );
        assert!(
            months[11].funds_rate > PRIOR_RETRY_PAYS + 0.05,
            "{}",
            months[11].funds_rate
        );
        let table = table(&months);
        assert!(table.contains("2026-12") && table.contains("best plain schedule"));
    }

    /// The retries a US `insufficient_funds` failing Tue 10 Nov 2026 gets
    /// (each assumed declined), planned with `learned`, and the last plan's
    /// reason.
    fn walk(learned: &Estimates) -> (Vec<DateTime<Utc>>, String) {
        use crate::domain::decline::classify;
        use crate::domain::events::DeclineDetails;
        use crate::domain::schedule::{NextRetry, PastAttempt, PlanInput, next_retry};
        let policy = Policy::default();
        let failed = Utc.with_ymd_and_hms(2026, 11, 10, 15, 0, 0).unwrap();
        let latest = classify(&DeclineDetails {
            code: Some("card_declined".into()),
            decline_code: Some("insufficient_funds".into()),
            ..Default::default()
        });
        let mut attempts = vec![PastAttempt {
            at: failed,
            category: latest.category,
        }];
        let mut reason = String::new();
        loop {
            let now = attempts.last().unwrap().at;
            let plan = next_retry(&PlanInput {
                case_key: "case_learn",
                first_failed_at: failed,
                now,
                attempts: &attempts,
                retries_made: attempts.len() as u32 - 1,
                latest: &latest,
                timezone: chrono_tz::America::New_York,
                country: Some("US"),
                paid_at: &[],
                policy: &policy,
                learned: Some(learned),
                card_elsewhere: &[],
            });
            let NextRetry::At { at, reason: why } = plan else {
                break;
            };
            reason = why;
            attempts.push(PastAttempt {
                at,
                category: latest.category,
            });
        }
        (attempts[1..].iter().map(|a| a.at).collect(), reason)
    }

    /// What an install on `model` would have learned from a year of the
    /// default's finished retries.
    fn history_of(model: &str) -> Estimates {
        let model = by_name(model).unwrap();
        let policy = Policy::default();
        let caps = NetworkCaps::default();
        let outcomes = population_of(model, 5, 6_000)
            .iter()
            .flat_map(|s| play(s, &Strategy::Policy(&policy), &caps).outcomes)
            .map(|(_, outcome)| outcome)
            .collect::<Vec<_>>();
        Estimates::from_outcomes(outcomes)
    }

    #[test]
    fn contrasting_histories_give_different_plans_each_nearer_what_paid() {
        let payday_install = history_of("today");
        let off_payday_install = history_of("off-payday");
        let rate = |e: &Estimates| {
            e.category_rate(
                DeclineCategory::Funds,
                "insufficient_funds",
                PRIOR_RETRY_PAYS,
            )
            .rate
        };
        // Where money comes outside paydays, funds retries paid more often.
        assert!(rate(&off_payday_install) > rate(&payday_install) + 0.05);
        let (payday_plan, _) = walk(&payday_install);
        let (off_plan, off_reason) = walk(&off_payday_install);
        // The install whose retries paid on any day tries more often, and
        // its plan says so and from how many outcomes.
        assert!(
            off_plan.len() > payday_plan.len(),
            "{off_plan:?} vs {payday_plan:?}"
        );
        assert!(
            off_reason.contains("your retries of `insufficient_funds` paid"),
            "{off_reason}"
        );
        let seen = off_payday_install
            .category_rate(
                DeclineCategory::Funds,
                "insufficient_funds",
                PRIOR_RETRY_PAYS,
            )
            .outcomes;
        assert!(
            off_reason.contains(&format!("of {seen} here")),
            "{off_reason}"
        );
        // Nothing breaks a rule: the window and the budget hold.
        let policy = Policy::default();
        let end = Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap();
        assert!(off_plan.iter().all(|at| *at < end));
        assert!(off_plan.len() as u32 <= policy.retries.max_attempts);
    }
}
