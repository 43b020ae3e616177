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
use crate::domain::learned::{Estimates, Outcome, Stood};
use crate::domain::networks::NetworkCaps;
use crate::domain::policy::Policy;
use crate::domain::schedule::{PRIOR_RETRY_PAYS, Tuning, lessons};

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

/// The replay: its months, and what every retry it finished teaches.
#[derive(Debug, Clone)]
pub struct Replay {
    pub months: Vec<Month>,
    pub learned: Estimates,
}

/// Replays `scenarios` (any order) month by month.
pub fn replay(scenarios: &[Scenario], policy: &Policy) -> Replay {
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
    Replay {
        months,
        learned: Estimates::from_outcomes(finished.into_iter().map(|(_, o)| o)),
    }
}

/// A README row for `model`: revenue recovered (attempts per failure)
/// without learning, learning and by the month's best plain schedule,
/// averaged over the months after the first (which knows nothing yet).
pub fn mean_row(model: &str, months: &[Month]) -> String {
    let later = &months[1.min(months.len())..];
    let mean = |pick: fn(&Month) -> &Tally| {
        let n = later.len().max(1) as f64;
        let share = later.iter().map(|m| pick(m).revenue_share()).sum::<f64>() / n;
        let attempts = later
            .iter()
            .map(|m| pick(m).attempts_per_failure())
            .sum::<f64>()
            / n;
        format!("{:.1}% ({attempts:.2})", share * 100.0)
    };
    format!(
        "| `{model}` | {} | {} | {} |",
        mean(|m| &m.without),
        mean(|m| &m.learning),
        mean(|m| &m.best_plain)
    )
}

/// What `learned` says of the two refusals most cases meet, group by
/// group, and the lessons the planner takes from it.
pub fn taught(learned: &Estimates) -> String {
    let mut out = format!(
        "what the {} finished retries teach (thin figures lean toward the planner's prior: a refusal's toward {:.0}%, a group's toward its refusal's):\n",
        learned.outcomes(),
        PRIOR_RETRY_PAYS * 100.0
    );
    for (category, code) in [
        (DeclineCategory::Funds, "insufficient_funds"),
        (DeclineCategory::Transient, "do_not_honor"),
    ] {
        let overall = learned.category_rate(category, code, PRIOR_RETRY_PAYS);
        let pair = |a: fn(Stood) -> bool, b: fn(Stood) -> bool| {
            let (a, b) = (
                learned.rate_where(category, code, overall.rate, a),
                learned.rate_where(category, code, overall.rate, b),
            );
            format!(
                "{:.0}% of {} / {:.0}% of {}",
                a.rate * 100.0,
                a.outcomes,
                b.rate * 100.0,
                b.outcomes
            )
        };
        out.push_str(&format!(
            "  {code}: paid {:.0}% of {}\n    first 3 days / later: {}\n    after a likely payday / between paydays: {}\n    within 48 h of the try before / later: {}\n",
            overall.rate * 100.0,
            overall.outcomes,
            pair(|s| s == Stood::Age(0), |s| matches!(s, Stood::Age(1..))),
            pair(|s| s == Stood::AfterPayday(true), |s| s == Stood::AfterPayday(false)),
            pair(|s| s == Stood::Gap(0), |s| matches!(s, Stood::Gap(1..))),
        ));
        let lessons = [
            lessons::first_retry_days(learned, category, code, Tuning::DEFAULT.first_retry_days)
                .map(|l| l.why),
            lessons::more_tries_between_paydays(learned, category, code).map(|l| {
                let more = l.value;
                format!(
                    "{}: {more} more {} spread",
                    l.why,
                    if more == 1 { "try" } else { "tries" }
                )
            }),
            lessons::paydays_do_not_matter(learned, category, code).map(|l| l.why),
            // Short back-offs are for generic declines only.
            lessons::generic_short_tries(learned, category, code)
                .filter(|_| category == DeclineCategory::Transient)
                .map(|l| l.why),
        ];
        let mut any = false;
        for why in lessons.into_iter().flatten() {
            out.push_str(&format!("    → {why}\n"));
            any = true;
        }
        if !any {
            out.push_str("    → nothing clear enough to move a plan yet\n");
        }
    }
    out
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
        let replayed = replay(&population_of(model, 3, 2_400), &Policy::default());
        let months = replayed.months;
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
        // What the year taught, group by group: here money comes between
        // paydays, and the planner says it will spread more tries.
        let taught = taught(&replayed.learned);
        assert!(
            taught.contains("after a likely payday / between paydays")
                && taught.contains("money comes between paydays here"),
            "{taught}"
        );
    }

    /// The retries a US `insufficient_funds` failing Tue 10 Nov 2026 gets
    /// (each assumed declined), planned with `learned`, and the last plan's
    /// reason.
    fn walk(learned: &Estimates) -> (Vec<DateTime<Utc>>, String) {
        let (at, reasons) = walk_code(learned, "insufficient_funds");
        (at, reasons.last().cloned().unwrap_or_default())
    }

    /// The same for a refusal `code`, with every plan's reason.
    fn walk_code(learned: &Estimates, code: &str) -> (Vec<DateTime<Utc>>, Vec<String>) {
        use crate::domain::decline::classify;
        use crate::domain::events::DeclineDetails;
        use crate::domain::schedule::{NextRetry, PastAttempt, PlanInput, next_retry};
        let policy = Policy::default();
        let failed = Utc.with_ymd_and_hms(2026, 11, 10, 15, 0, 0).unwrap();
        let latest = classify(&DeclineDetails {
            code: Some("card_declined".into()),
            decline_code: Some(code.into()),
            ..Default::default()
        });
        let mut attempts = vec![PastAttempt {
            at: failed,
            category: latest.category,
        }];
        let mut reasons = Vec::new();
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
            reasons.push(why);
            attempts.push(PastAttempt {
                at,
                category: latest.category,
            });
        }
        (attempts[1..].iter().map(|a| a.at).collect(), reasons)
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

    /// The README's learning table is these runs'.
    #[test]
    fn the_readme_shows_what_learning_recovers_on_four_models() {
        use crate::domain::simulate::ensemble::parallel_map;
        let names = ["off-payday", "skeptic", "today", "mixed-cycles"];
        let rows = parallel_map(&names, 2, |name| {
            let months = replay(
                &population_of(by_name(name).unwrap(), 7, 20_000),
                &Policy::default(),
            )
            .months;
            mean_row(name, &months)
        });
        crate::readme_claims::assert_readme_says(&rows);
    }

    #[test]
    fn quick_retries_that_paid_bring_a_short_back_off_and_long_blocks_do_not() {
        // On `today`, a quarter of `do_not_honor` blocks pass within a day;
        // on `long-blocks` a try inside a block pays 3%.
        let passing = history_of("today");
        let lasting = history_of("long-blocks");
        let (quick, quick_reasons) = walk_code(&passing, "do_not_honor");
        let (slow, slow_reasons) = walk_code(&lasting, "do_not_honor");
        let failed = Utc.with_ymd_and_hms(2026, 11, 10, 15, 0, 0).unwrap();
        // The first retry: a back-off of about a day where blocks passed
        // quickly, said with its figures; a payday otherwise.
        assert!(
            quick[0] - failed <= chrono::Duration::hours(48),
            "{quick:?}"
        );
        assert!(
            quick_reasons[0].contains("within 48 h of the try before paid")
                && quick_reasons[0].contains("a short back-off before paydays"),
            "{}",
            quick_reasons[0]
        );
        assert!(
            slow_reasons.iter().all(|r| !r.contains("short back-off (")),
            "{slow_reasons:?}"
        );
        assert_ne!(quick[0], slow[0]);
    }
}
