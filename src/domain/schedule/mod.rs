//! The smart retry planner: when to try the card again, and why. A pure
//! function of the case's history, the latest decline, the customer's
//! country, time zone and payment history, the policy and `now`.
//!
//! - hard declines (and anything a card network forbids) wait for a new
//!   payment method; authentication waits for the customer;
//! - funds declines aim at the customer's likely paydays (their own, when
//!   their earlier payments show one, and the pay cycles common in their
//!   country): a retry waits until a payday has probably passed since the
//!   last try and lands on that payday's morning; never the same local day
//!   as the last try;
//! - generic declines (`do_not_honor`, `generic_decline`), often funds
//!   declines in disguise, get payday slots (after `Tuning`'s short
//!   back-offs, none by default);
//! - under both lies a floor (`spread`): the budget's tries spread over the
//!   window, one or two more where this install's retries of the refusal
//!   pay well, or pay between paydays (`learned`, `lessons`);
//! - the install's own retries may also bring a first retry forward, stop
//!   a try from waiting for a payday, or give a generic decline short
//!   back-offs (`lessons`), and never against a rule below;
//! - other transient declines back off from hours to days;
//! - every attempt lands in the customer's local morning on a business
//!   day, spread by a per-case jitter, and never past the window, the
//!   final action, `max_attempts` or the card networks' caps (one ledger
//!   per card: every attempt we know of counts);
//! - every charge of a card, whoever asked for it (a schedule, an offer,
//!   an operator's retry-now), keeps `MIN_GAP` from the one before.

mod calendar;
mod funds;
pub mod lessons;
mod spread;
mod tuning;

use chrono::{DateTime, Datelike, Duration, Utc};
use chrono_tz::Tz;

pub use calendar::{local_morning, stage_email_at};
pub use funds::learned_payday;
pub use tuning::{MORE_TRIES_FROM, PRIOR_RETRY_PAYS, Tuning};

use super::decline::{Classification, DeclineCategory, is_generic};
use super::learned::Estimates;
use super::networks::Ledger;
use super::policy::Policy;
use calendar::{first_morning_at_or_after, local_date};

/// The least time between two charges of one card, whatever brings the
/// second (a schedule, an offer, an operator's retry-now). A card the
/// customer just added has no charges yet: it is tried at once.
pub const MIN_GAP: Duration = Duration::minutes(15);

/// One charge attempt already made on the current payment method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PastAttempt {
    pub at: DateTime<Utc>,
    pub category: DeclineCategory,
}

#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    /// Stable per case: seeds the jitter.
    pub case_key: &'a str,
    pub first_failed_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// Attempts on the current payment method, oldest first (the failure
    /// that opened the case and the processor's own included): the card's
    /// ledger.
    pub attempts: &'a [PastAttempt],
    /// Our own retries so far (counts against `max_attempts`).
    pub retries_made: u32,
    pub latest: &'a Classification,
    pub timezone: Tz,
    /// The customer's country (two letters), for the pay cycles common there.
    pub country: Option<&'a str>,
    /// The customer's earlier successful payments.
    pub paid_at: &'a [DateTime<Utc>],
    pub policy: &'a Policy,
    /// Retry outcomes learned from this install's history, if any.
    pub learned: Option<&'a Estimates>,
    /// Attempts on the same card for the customer's other invoices (a
    /// card's ledger spans them all).
    pub card_elsewhere: &'a [DateTime<Utc>],
}

/// Gaps after a transient decline that is not generic (an issuer or
/// processing error), by how many transient declines so far.
const TRANSIENT_BACKOFF_HOURS: [i64; 5] = [4, 12, 24, 48, 72];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextRetry {
    At {
        at: DateTime<Utc>,
        reason: String,
    },
    WaitForNewPaymentMethod {
        reason: String,
    },
    WaitForCustomer {
        reason: String,
    },
    /// No retry fits: budget, window or network cap exhausted.
    NoMore {
        reason: String,
    },
}

/// What the plan says when `MIN_GAP` holds a charge back.
fn min_gap_reason() -> String {
    format!(
        "at least {} minutes between two charges of a card",
        MIN_GAP.num_minutes()
    )
}

impl PlanInput<'_> {
    fn card_ledger(&self) -> Vec<DateTime<Utc>> {
        let mut ledger: Vec<_> = self
            .attempts
            .iter()
            .map(|a| a.at)
            .chain(self.card_elsewhere.iter().copied())
            .collect();
        ledger.sort_unstable();
        ledger
    }

    fn last_attempt(&self) -> DateTime<Utc> {
        self.attempts.last().map_or(self.first_failed_at, |a| a.at)
    }

    fn window_end(&self) -> DateTime<Utc> {
        let days = self.policy.retries.window_days.min(self.policy.final_.day);
        self.first_failed_at + Duration::days(i64::from(days))
    }

    /// The earliest moment the card's rules allow one more attempt, and
    /// what held it back.
    fn network_floor(&self, from: DateTime<Utc>) -> (DateTime<Utc>, Vec<String>) {
        let mut at = from;
        let mut why = Vec::new();
        if let Some(gap_end) = self.attempts.last().map(|last| last.at + MIN_GAP)
            && gap_end > at
        {
            at = gap_end;
            why.push(min_gap_reason());
        }
        if let Some(wait) = self.latest.retry_after {
            let after = self.last_attempt() + Duration::seconds(wait.as_secs() as i64);
            if after > at {
                at = after;
                why.push(format!(
                    "the card network asked to wait {} h after the last attempt",
                    wait.as_secs() / 3600
                ));
            }
        }
        let ledger = self.card_ledger();
        let (capped, cap) = Ledger {
            network: self.latest.network,
            attempts: &ledger,
        }
        .earliest_allowed(
            &self.policy.networks,
            self.policy.retries.max_per_card_30_days,
            at,
        );
        if capped > at {
            why.push(format!(
                "{}: blocked until {}",
                cap.unwrap_or_default(),
                capped.format("%Y-%m-%d %H:%M UTC")
            ));
            at = capped;
        }
        (at, why)
    }

    /// The floor's next try under any theory (`spread`): from the last
    /// attempt, no sooner than `earliest`, before the window ends; a first
    /// retry within `first_retry_days` when given.
    fn floor(
        &self,
        salt: u32,
        earliest: DateTime<Utc>,
        first_retry_days: Option<i64>,
    ) -> Option<spread::Spread> {
        spread::slot(
            self.timezone,
            self.case_key,
            salt,
            self.first_failed_at,
            self.last_attempt(),
            earliest,
            self.window_end(),
            spread::tries_to_spread(
                self.floor_tries().0,
                self.policy.retries.max_attempts,
                self.retries_made,
            ),
            first_retry_days,
        )
    }

    /// The install's own outcomes, when it has any.
    fn learned(&self) -> Option<&Estimates> {
        self.learned.filter(|l| !l.is_empty())
    }

    /// The tries the floor spreads over the window, and why when the
    /// install's own outcomes moved them: one or two more where this kind
    /// of refusal's retries pay well here, or pay between paydays.
    fn floor_tries(&self) -> (u32, Option<String>) {
        let base = self.policy.retries.tuning.spread_tries;
        let Some(learned) = self.learned() else {
            return (base, None);
        };
        let (category, code) = (self.latest.category, self.latest.code.as_str());
        let seen = learned.category_rate(category, code, PRIOR_RETRY_PAYS);
        let by_rate = MORE_TRIES_FROM.iter().filter(|r| seen.rate >= **r).count() as u32;
        let tries = |more: u32| (base + more).min(self.policy.retries.max_attempts.max(base));
        let between = lessons::more_tries_between_paydays(learned, category, code);
        match between {
            Some(lesson) if lesson.value > by_rate && tries(lesson.value) > base => (
                tries(lesson.value),
                Some(format!(
                    "{}: {} tries spread instead of {base}",
                    lesson.why,
                    tries(lesson.value)
                )),
            ),
            _ if by_rate > 0 && tries(by_rate) > base => (
                tries(by_rate),
                Some(format!(
                    "your retries of `{code}` paid {:.0}% of {} here (shrunk toward {:.0}%): {} tries spread instead of {base}",
                    seen.rate * 100.0,
                    seen.outcomes,
                    PRIOR_RETRY_PAYS * 100.0,
                    tries(by_rate)
                )),
            ),
            _ => (base, None),
        }
    }

    /// A funds (or disguised funds) decline's first retry comes within
    /// these days, and why when the install's early retries moved it.
    fn first_retry_days(&self) -> (i64, Option<String>) {
        let days = self.policy.retries.tuning.first_retry_days;
        self.learned()
            .and_then(|l| {
                lessons::first_retry_days(l, self.latest.category, &self.latest.code, days)
            })
            .map_or((days, None), |lesson| (lesson.value, Some(lesson.why)))
    }

    /// Short back-offs a generic decline gets before paydays, and why when
    /// the install's quick retries moved them.
    fn generic_short_tries(&self) -> (usize, Option<String>) {
        let tuned = self.policy.retries.tuning.generic_short_tries;
        match self
            .learned()
            .and_then(|l| lessons::generic_short_tries(l, self.latest.category, &self.latest.code))
        {
            Some(lesson) if lesson.value > tuned => (lesson.value, Some(lesson.why)),
            _ => (tuned, None),
        }
    }

    /// The invoice's renewal day of month (payments on it are renewals).
    fn renewal_day(&self) -> u32 {
        local_date(self.first_failed_at, self.timezone).day()
    }
}

/// The earliest moment from `now` that the minimum gap and the card's
/// rules allow a charge, and what held it back (empty: now).
pub fn earliest_charge(input: &PlanInput<'_>) -> (DateTime<Utc>, Vec<String>) {
    input.network_floor(input.now)
}

/// Whether a charge right now obeys every rule: the decline allows another
/// try on this card, the policy's budget is not spent, the network's wait
/// is over and its caps not reached. If not, why.
pub fn may_retry_now(input: &PlanInput<'_>) -> Result<(), String> {
    let policy = input.policy;
    let latest = input.latest;
    if !latest.category.retryable() || latest.network_forbids_retry {
        return Err(format!(
            "{}: the payment method must change first",
            latest.reason
        ));
    }
    if input.retries_made >= policy.retries.max_attempts {
        return Err(format!(
            "all {} retries allowed by the policy were made",
            policy.retries.max_attempts
        ));
    }
    let (floor, why) = input.network_floor(input.now);
    if floor > input.now {
        return Err(why.join("; "));
    }
    Ok(())
}

pub fn next_retry(input: &PlanInput<'_>) -> NextRetry {
    let policy = input.policy;
    let latest = input.latest;
    if latest.network_forbids_retry || latest.category == DeclineCategory::Hard {
        return NextRetry::WaitForNewPaymentMethod {
            reason: format!(
                "{}: no retry until the payment method changes",
                latest.reason
            ),
        };
    }
    if latest.category == DeclineCategory::CustomerAction {
        return NextRetry::WaitForCustomer {
            reason: format!(
                "{}: the customer must authenticate the payment",
                latest.reason
            ),
        };
    }
    if input.retries_made >= policy.retries.max_attempts {
        return NextRetry::NoMore {
            reason: format!(
                "all {} retries allowed by the policy were made",
                policy.retries.max_attempts
            ),
        };
    }
    let window_end = input.window_end();
    let last = input.last_attempt();
    let (earliest, mut why) = input.network_floor(input.now.max(last));
    let salt = input.retries_made + 1;
    let tz = input.timezone;
    let tuning = &policy.retries.tuning;
    if let (_, Some(learned_tries)) = input.floor_tries() {
        why.push(learned_tries);
    }

    // Generic declines: `generic_short_tries` back-offs first in case the
    // block passes (none by default; the install's quick retries may ask
    // for some), then paydays (a funds decline in disguise).
    let (short_tries, short_why) = input.generic_short_tries();
    let generic_retried = input
        .attempts
        .iter()
        .skip(1)
        .filter(|a| a.category == DeclineCategory::Transient)
        .count()
        >= short_tries;
    let generic = latest.category == DeclineCategory::Transient && is_generic(&latest.code);
    let aim_at_payday = latest.category == DeclineCategory::Funds || (generic && generic_retried);

    let slot = if aim_at_payday {
        let learned = learned_payday(input.paid_at, tz, Some(input.renewal_day()));
        let paydays = funds::Paydays::new(input.country, learned);
        let kind = |reason: String| {
            if generic {
                format!(
                    "`{}` is often a funds decline in disguise: {reason}",
                    latest.code
                )
            } else {
                format!("funds decline: {reason}")
            }
        };
        let payday = funds::slot(
            &paydays,
            tz,
            earliest,
            last,
            window_end,
            funds::mornings(tz, input.case_key, salt, window_end),
        );
        let first_retry = input.retries_made == 0;
        let (first_days, early_why) = input.first_retry_days();
        let floor = input.floor(salt, earliest, first_retry.then_some(first_days));
        // The lesson that brought the first retry forward, when it did.
        let early_why = early_why.filter(|_| first_retry).and_then(|why| {
            let at = floor.as_ref()?.at;
            let tuned = Some(tuning.first_retry_days);
            let without = input.floor(salt, earliest, tuned).map(|f| f.at);
            without.is_none_or(|w| at < w).then_some((at, why))
        });
        // Where the install's retries say paydays make little difference,
        // a payday may not hold a try past the spread's morning.
        let flat = input
            .learned()
            .and_then(|l| lessons::paydays_do_not_matter(l, latest.category, &latest.code));
        let chosen = match (payday, floor) {
            (Some((at, reason)), Some(spread))
                if at <= spread.payday_until && (flat.is_none() || at <= spread.at) =>
            {
                (at, reason)
            }
            (payday, Some(spread)) => {
                if let (Some(flat), Some((at, _))) = (&flat, &payday)
                    && *at <= spread.payday_until
                {
                    why.push(flat.why.clone());
                }
                let later = payday.map_or_else(
                    || " (no payday is likely before the window ends)".to_owned(),
                    |(at, _)| {
                        format!(
                            " (the next likely payday, {}, would be later)",
                            at.with_timezone(&tz).format("%a %-d %b")
                        )
                    },
                );
                (spread.at, format!("{}{later}", spread.reason))
            }
            (Some(payday), None) => payday,
            (None, None) => {
                return NextRetry::NoMore {
                    reason: format!(
                        "{} decline: no morning the rules allow is left before the retry window ends ({})",
                        if generic { "generic" } else { "funds" },
                        window_end.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z")
                    ),
                };
            }
        };
        if let Some((_, why_early)) = early_why.filter(|(at, _)| *at == chosen.0) {
            why.push(why_early);
        }
        // The install's own outcomes may pull the slot sooner, never later.
        let sooner = input.learned().and_then(|learned| {
            funds::pull_sooner(
                learned,
                latest.category,
                &latest.code,
                tz,
                chosen.0,
                earliest,
                last,
                window_end,
                funds::mornings(tz, input.case_key, salt, window_end),
            )
        });
        let (at, reason) = match sooner {
            Some((sooner, learned_why)) => (sooner, format!("{}; {learned_why}", chosen.1)),
            None => chosen,
        };
        why.push(kind(reason));
        at
    } else {
        let transient_so_far = input
            .attempts
            .iter()
            .filter(|a| a.category == DeclineCategory::Transient)
            .count()
            .max(1);
        let backoff: &[i64] = if generic {
            &tuning.generic_backoff_hours
        } else {
            &TRANSIENT_BACKOFF_HOURS
        };
        let hours = backoff[(transient_so_far - 1).min(backoff.len() - 1)];
        if let (true, Some(short_why)) = (generic, short_why) {
            why.push(short_why);
        }
        why.push(if generic {
            format!(
                "`{}` says little: a short back-off ({hours} h) in case the block passes, paydays after {short_tries}",
                latest.code
            )
        } else {
            format!("transient decline: backing off {hours} h")
        });
        let backed_off = first_morning_at_or_after(
            earliest.max(last + Duration::hours(hours)),
            tz,
            input.case_key,
            salt,
        );
        // The budget's spread over the window bounds the back-off too.
        match input.floor(salt, earliest, None) {
            Some(spread) if spread.at < backed_off => {
                why.push(format!("sooner: {}", spread.reason));
                spread.at
            }
            _ => backed_off,
        }
    };
    if slot >= window_end {
        return NextRetry::NoMore {
            reason: format!(
                "the next good slot ({}) falls after the retry window ends{}",
                slot.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z"),
                if why.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", why.join("; "))
                }
            ),
        };
    }
    // The gap only explains a slot it decided.
    if slot > last + MIN_GAP {
        let gap = min_gap_reason();
        why.retain(|w| *w != gap);
    }
    why.push(format!(
        "in the customer's local morning ({})",
        slot.with_timezone(&tz).format("%a %Y-%m-%d %H:%M %Z")
    ));
    NextRetry::At {
        at: slot,
        reason: why.join("; "),
    }
}

#[cfg(test)]
mod tests;
