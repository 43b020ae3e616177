//! What a simulated customer really is (hidden from the planner) and how
//! they answer a charge or an email. Every draw comes from the invoice's own
//! seeded streams keyed by *what* is drawn (the n-th payday, the n-th
//! attempt, the email of stage d), so two schedules played against the same
//! customer meet the same luck and differ only by their timing.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::rng::Rng;
use crate::domain::paydays::PayCycle;

/// The truth behind a refusal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Truth {
    /// Short of money until a payday; after each one the balance covers
    /// the invoice with probability `p_cover`, for a few days.
    Funds { cycle: PayCycle, p_cover: f64 },
    /// The issuer's passing trouble: each later attempt succeeds with `p`.
    Passing { p: f64 },
    /// An issuer block until `until`: a try inside it pays with `p / 20`,
    /// after it with `p`.
    Blocked { until: DateTime<Utc>, p: f64 },
    /// This card will never be approved again.
    Dead,
    /// The bank wants the customer to authenticate the payment.
    Authenticate,
    /// From an operator's history: the money was there from `from` (when
    /// the invoice was in fact paid) until `until`, never before.
    Window {
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

/// One simulated customer.
#[derive(Debug, Clone)]
pub struct Customer {
    pub truth: Truth,
    /// Where they really live (the case may only guess it).
    pub tz: Tz,
    /// How readily they act on an email; 0 = never reads them.
    pub responsiveness: f64,
    /// Seed of this customer's streams.
    pub seed: u64,
    /// Chance a card the customer adds is approved.
    pub new_card_approved: f64,
    /// Chance a funds-short customer has the money on a local day that is
    /// not right after a payday (a transfer, a refund, a top-up).
    pub off_payday: f64,
}

/// What a customer does after reading an email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// Adds a new card (the product then charges it at once).
    NewCard,
    /// Pays the invoice's page with the money they have (or not).
    PaysInvoice,
    /// Confirms the payment with their bank.
    Authenticates,
}

/// The hour salaries are available on payday, local time.
const DEPOSIT_HOUR: u32 = 5;
/// The mean number of days a payday's balance still covers the invoice.
const COVER_DAYS_MEAN: f64 = 5.0;

fn salt(kind: u64, n: u64) -> u64 {
    kind.wrapping_mul(0x1000_0000_01b3) ^ n
}

impl Customer {
    fn draw(&self, kind: u64, n: u64) -> Rng {
        Rng::stream(self.seed, salt(kind, n))
    }

    /// Whether a charge on the refused card at `at` goes through.
    /// `failed_at` is the first refusal, `attempt` the charge's number on
    /// this card, `since_last` the time since the card's previous attempt.
    pub fn charge_old_card(
        &self,
        failed_at: DateTime<Utc>,
        at: DateTime<Utc>,
        attempt: u32,
        since_last: Duration,
    ) -> bool {
        match self.truth {
            Truth::Dead | Truth::Authenticate => false,
            Truth::Passing { p } => {
                // Hammering within two hours rarely helps.
                let p = if since_last < Duration::hours(2) {
                    p * 0.3
                } else {
                    p
                };
                self.draw(1, u64::from(attempt)).chance(p)
            }
            Truth::Blocked { until, p } => {
                let p = if at < until { p / 20.0 } else { p };
                self.draw(1, u64::from(attempt)).chance(p)
            }
            Truth::Funds { cycle, p_cover } => self.has_money(failed_at, at, cycle, p_cover),
            Truth::Window { from, until } => from <= at && at < until,
        }
    }

    /// A payday's money covers the invoice for a drawn number of hours
    /// (the earlier after the deposit, the likelier); off-payday luck is
    /// drawn once per local day.
    fn has_money(
        &self,
        failed_at: DateTime<Utc>,
        at: DateTime<Utc>,
        cycle: PayCycle,
        p_cover: f64,
    ) -> bool {
        let local = at.with_timezone(&self.tz);
        let deposit = NaiveTime::from_hms_opt(DEPOSIT_HOUR, 0, 0).expect("valid time");
        let mut day = local.date_naive();
        if local.time() < deposit {
            day = day.pred_opt().expect("valid date");
        }
        let failed_day = failed_at.with_timezone(&self.tz).date_naive();
        if let Some(payday) = cycle.last_on_or_before(day).filter(|p| *p > failed_day) {
            let ordinal = (payday - failed_day).num_days() as u64;
            let mut luck = self.draw(2, ordinal);
            if luck.chance(p_cover) {
                let lasts_hours = -COVER_DAYS_MEAN * 24.0 * (1.0 - luck.unit()).ln();
                let paid = self
                    .tz
                    .from_local_datetime(&payday.and_time(deposit))
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or(at);
                if (at - paid).num_minutes() as f64 <= lasts_hours * 60.0 {
                    return true;
                }
            }
        }
        let ordinal = (local.date_naive() - failed_day).num_days().max(0) as u64;
        self.draw(3, ordinal).chance(self.off_payday)
    }

    /// Whether the `n`-th charge on a card the customer added is approved.
    pub fn charge_new_card(&self, n: u32) -> bool {
        self.draw(4, u64::from(n)).chance(self.new_card_approved)
    }

    /// What the customer does after the email of stage `stage_day`
    /// (`final_notice` is the last one, the firmest), and when.
    pub fn react(
        &self,
        stage_day: u32,
        final_notice: bool,
        asked_to_authenticate: bool,
        sent_at: DateTime<Utc>,
    ) -> Option<(Reaction, DateTime<Utc>)> {
        let mut rng = self.draw(
            5,
            u64::from(stage_day) * 2 + u64::from(asked_to_authenticate),
        );
        let urgency = if final_notice {
            1.3
        } else if stage_day == 0 {
            1.0
        } else {
            0.7
        };
        let (reaction, base) = match self.truth {
            Truth::Authenticate => (Reaction::Authenticates, 0.35),
            Truth::Dead => (Reaction::NewCard, 0.16),
            Truth::Funds { .. } => {
                if rng.chance(0.5) {
                    (Reaction::NewCard, 0.05)
                } else {
                    (Reaction::PaysInvoice, 0.05)
                }
            }
            Truth::Passing { .. } | Truth::Blocked { .. } => (Reaction::NewCard, 0.04),
            Truth::Window { .. } => return None,
        };
        if !rng.chance((base * urgency * self.responsiveness).min(0.95)) {
            return None;
        }
        let delay_hours = rng.log_normal(4.0, 1.1).min(72.0);
        Some((
            reaction,
            sent_at + Duration::minutes((delay_hours * 60.0) as i64),
        ))
    }

    /// Whether paying the invoice's page at `at` works (their own money).
    pub fn pays_invoice(&self, failed_at: DateTime<Utc>, at: DateTime<Utc>) -> bool {
        match self.truth {
            Truth::Funds { cycle, p_cover } => self.has_money(failed_at, at, cycle, p_cover),
            Truth::Window { from, until } => from <= at && at < until,
            Truth::Passing { .. } | Truth::Blocked { .. } | Truth::Authenticate => true,
            Truth::Dead => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn funds_come_after_a_payday_and_fade() {
        let friday = PayCycle::Weeks {
            weeks: 1,
            weekday: Weekday::Fri,
            phase: 0,
        };
        let failed = utc("2026-03-03T15:00:00Z"); // a Tuesday
        let (mut before, mut on_payday, mut week_later) = (0, 0, 0);
        for seed in 0..2000 {
            let c = Customer {
                truth: Truth::Funds {
                    cycle: friday,
                    p_cover: 0.8,
                },
                tz: chrono_tz::UTC,
                responsiveness: 1.0,
                new_card_approved: 0.9,
                off_payday: 0.03,
                seed,
            };
            let gap = Duration::days(1);
            before += c.charge_old_card(failed, utc("2026-03-05T09:00:00Z"), 1, gap) as u32;
            on_payday += c.charge_old_card(failed, utc("2026-03-06T09:00:00Z"), 1, gap) as u32;
            week_later += c.charge_old_card(failed, utc("2026-03-12T20:00:00Z"), 1, gap) as u32;
        }
        assert!(before < 150, "{before}");
        assert!(on_payday > 1400, "{on_payday}");
        assert!(week_later < on_payday / 2, "{week_later} {on_payday}");
        // The same customer, the same moment: the same answer.
        let c = Customer {
            truth: Truth::Funds {
                cycle: friday,
                p_cover: 0.5,
            },
            tz: chrono_tz::UTC,
            responsiveness: 1.0,
            new_card_approved: 0.9,
            off_payday: 0.03,
            seed: 9,
        };
        let at = utc("2026-03-06T11:00:00Z");
        assert_eq!(
            c.charge_old_card(failed, at, 1, Duration::days(3)),
            c.charge_old_card(failed, at, 2, Duration::days(1))
        );
    }

    #[test]
    fn dead_cards_never_pay_and_their_owners_may_bring_a_new_one() {
        let mut new_cards = 0;
        for seed in 0..1000 {
            let c = Customer {
                truth: Truth::Dead,
                tz: chrono_tz::UTC,
                responsiveness: 1.0,
                new_card_approved: 0.9,
                off_payday: 0.03,
                seed,
            };
            assert!(!c.charge_old_card(
                utc("2026-03-03T15:00:00Z"),
                utc("2026-03-06T15:00:00Z"),
                1,
                Duration::days(3)
            ));
            if let Some((Reaction::NewCard, at)) =
                c.react(0, false, false, utc("2026-03-03T15:00:00Z"))
            {
                assert!(at > utc("2026-03-03T15:00:00Z"));
                new_cards += 1;
            }
        }
        assert!((100..230).contains(&new_cards), "{new_cards}");
    }
}
