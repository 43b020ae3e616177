//! Two policies played against the same invoices (the operator's own
//! closed cases, or a generated population): what each would have
//! recovered, with how many attempts and how fast. Pure.

use super::Scenario;
use super::play::{Strategy, play};
use super::report::Tally;
use crate::domain::networks::NetworkCaps;
use crate::domain::policy::Policy;

/// The running policy's figures beside the proposed one's.
#[derive(Debug, Clone)]
pub struct Compared {
    pub running: Tally,
    pub proposed: Tally,
}

/// Plays every scenario under `running` and under `proposed`.
pub fn compare(scenarios: &[Scenario], running: &Policy, proposed: &Policy) -> Compared {
    let caps = NetworkCaps::default();
    let mut out = Compared {
        running: Tally::new("running"),
        proposed: Tally::new("proposed"),
    };
    let sides = [
        (Strategy::Policy(running), &mut out.running),
        (Strategy::Policy(proposed), &mut out.proposed),
    ];
    for (strategy, tally) in sides {
        for scenario in scenarios {
            tally.add(scenario, &play(scenario, &strategy, &caps));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, Utc};

    use super::*;
    use crate::domain::policy_text::{Format, parse};
    use crate::domain::simulate::history::{Row, scenario};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Three closed cases, figured by hand (`dunwell plan` shows both
    /// schedules for a US customer failing Mon 2026-03-02 10:00 EST).
    /// Money came back for the first (a funds refusal) on Fri 13 Mar at
    /// 17:00 UTC: it counts as there from that local morning for five days.
    /// The second's card had expired; a new one came on day 2. The third
    /// (do_not_honor) never paid.
    fn history() -> Vec<Scenario> {
        let failed = at("2026-03-02T15:00:00Z");
        let rows = [
            ("insufficient_funds", 4_900, Some(11)),
            ("expired_card", 1_900, Some(2)),
            ("do_not_honor", 9_900, None),
        ];
        rows.iter()
            .enumerate()
            .map(|(i, (code, amount, paid_day))| {
                let row = Row {
                    failed_at: failed,
                    decline_code: (*code).into(),
                    amount_minor: *amount,
                    currency: "usd".into(),
                    country: Some("US".into()),
                    paid_at: paid_day.map(|d| failed + Duration::days(d) + Duration::hours(2)),
                    card_brand: Some("visa".into()),
                };
                scenario(&row, format!("case_{i}"), i as u64)
            })
            .collect()
    }

    #[test]
    fn two_policies_on_closed_cases_give_the_hand_checked_figures() {
        let running = Policy::default();
        // Two retries in the first three days at most.
        let short = parse(
            "[policy.retries]\nwindow_days = 3\nmax_attempts = 2\n",
            Format::Toml,
        )
        .unwrap();
        let c = compare(&history(), &running, &short);
        // Running: funds retries on the paydays Fri 6 Mar 13:35 UTC (no
        // money yet) and Fri 13 Mar 12:04 UTC (08:04 EDT: this case's
        // jitter for its second retry is 4 minutes; paid: 10 days 21 h
        // 4 min); the new card charged on arrival (2 days 2 h);
        // do_not_honor tried 5 times (6, 13, 18, 20, 23 Mar: paydays, the
        // floor's spread and its last morning) and never paid.
        assert_eq!(c.running.invoices, 3);
        assert_eq!(c.running.recovered, 2, "{:?}", c.running);
        assert_eq!(c.running.revenue["usd"].recovered_minor, 4_900 + 1_900);
        assert_eq!(c.running.revenue["usd"].total_minor, 16_700);
        assert_eq!(c.running.attempts, 2 + 1 + 5, "{:?}", c.running);
        let mean = c.running.mean_days().unwrap();
        let by_hand = ((10.0 + (21.0 + 4.0 / 60.0) / 24.0) + (2.0 + 2.0 / 24.0)) / 2.0;
        assert!((mean - by_hand).abs() < 0.01, "{mean} vs {by_hand}");
        // Proposed: no payday inside three days, yet the funds refusal
        // still gets both tries the budget allows (spread over the window's
        // mornings; the money comes later); two do_not_honor retries (3 and
        // 4 Mar); the new card pays on day 2.
        assert_eq!(c.proposed.recovered, 1, "{:?}", c.proposed);
        assert_eq!(c.proposed.revenue["usd"].recovered_minor, 1_900);
        assert_eq!(c.proposed.attempts, 2 + 2 + 1, "{:?}", c.proposed);
        let days = c.proposed.median_days().unwrap();
        assert!((days - (2.0 + 2.0 / 24.0)).abs() < 0.01, "{days}");
    }
}
