//! Plays one scenario under one strategy: the policy (the production case
//! machine, `Track::apply`, and its planner) or a fixed baseline schedule.
//! The customer answers charges and emails; every attempt is checked
//! against the networks' rules by `networks::violation`.

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use super::Scenario;
use super::customer::Reaction;
use crate::domain::carry_out::{Cancel, Effect, effect_of};
use crate::domain::case::{Command, Context, EventInput, Input, Track, stage_commands};
use crate::domain::decline::{Classification, DeclineCategory, classify};
use crate::domain::events::DeclineDetails;
use crate::domain::learned::{Estimates, Outcome, after_payday};
use crate::domain::mail_kind::MailKind;
use crate::domain::networks::{Ledger, Network, NetworkCaps, violation};
use crate::domain::policy::Policy;
use crate::domain::work::Work;
use crate::domain::zones;

/// Who places the retries.
#[derive(Debug, Clone)]
pub enum Strategy<'a> {
    /// dunwell's planner with this policy.
    Policy(&'a Policy),
    /// A plain schedule (skipping hard declines and requests to
    /// authenticate), with the policy's emails and final action: what a
    /// plain billing system does.
    Plain {
        policy: &'a Policy,
        rule: Plain,
        /// Charge a card the customer adds at once (otherwise at the
        /// schedule's next slot).
        on_new_card: bool,
    },
}

/// Where a plain schedule puts its retries.
#[derive(Debug, Clone)]
pub enum Plain {
    /// At fixed offsets from the failure.
    Offsets(Vec<Duration>),
    /// A plain rule set: funds declines on the next payday-like day (a
    /// Friday, the 1st, the 15th or the month's last day) at 10:00 in the
    /// customer's zone, a day or more after the last try; any other soft
    /// decline every 60 hours; at most `RULE_TRIES`, inside the policy's
    /// window.
    Rules,
}

/// Retries the plain rule set makes at most.
pub const RULE_TRIES: u32 = 4;
/// The rule set's gap after a decline that is not for funds.
const RULE_GAP: Duration = Duration::hours(60);

impl<'a> Strategy<'a> {
    pub fn policy(&self) -> &'a Policy {
        match self {
            Self::Policy(policy) | Self::Plain { policy, .. } => policy,
        }
    }

    /// Days 3, 7, 14 and 21 after the failure; a new card waits for the
    /// next of them (`on_new_card`: charged at once).
    pub fn fixed_days(policy: &'a Policy, on_new_card: bool) -> Self {
        Self::Plain {
            policy,
            rule: Plain::Offsets([3, 7, 14, 21].map(Duration::days).to_vec()),
            on_new_card,
        }
    }

    /// Eight retries evenly spaced over 14 days; a new card is charged at
    /// once.
    pub fn eight_in_fourteen_days(policy: &'a Policy) -> Self {
        Self::Plain {
            policy,
            rule: Plain::Offsets(
                (1..=8)
                    .map(|i| Duration::minutes(i * 14 * 24 * 60 / 8))
                    .collect(),
            ),
            on_new_card: true,
        }
    }

    /// The plain rule set (`Plain::Rules`); a new card is charged at once.
    pub fn rules(policy: &'a Policy) -> Self {
        Self::Plain {
            policy,
            rule: Plain::Rules,
            on_new_card: true,
        }
    }
}

/// What happened to one invoice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Played {
    pub recovered_at: Option<DateTime<Utc>>,
    /// Charges the schedule made (on the old card and any new one).
    pub attempts: u32,
    /// Attempts that broke a network rule.
    pub violations: u32,
    /// The first violation, for the report.
    pub violation: Option<String>,
    /// Each retry of the refused card, when it was made and as the
    /// install would count it.
    pub outcomes: Vec<(DateTime<Utc>, Outcome)>,
}

/// The plain schedule's own little machine, answering the same inputs
/// with the same commands as the case machine.
struct Fixed<'a> {
    rule: &'a Plain,
    on_new_card: bool,
    failed_at: DateTime<Utc>,
    window_end: DateTime<Utc>,
    tz: Tz,
    next_offset: usize,
    retries: u32,
    last_try: DateTime<Utc>,
    latest: Option<Classification>,
    /// A retry is waiting.
    scheduled: bool,
    done: bool,
}

/// The first payday-like day (a Friday, the 1st, the 15th, the month's
/// last day) on or after `from`'s local date, at 10:00 in `tz`, no sooner
/// than `from`.
fn payday_like_morning(from: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let mut day = from.with_timezone(&tz).date_naive();
    loop {
        let last_of_month = day.succ_opt().is_some_and(|next| next.day() == 1);
        if day.weekday() == Weekday::Fri || matches!(day.day(), 1 | 15) || last_of_month {
            let at = tz
                .from_local_datetime(&day.and_hms_opt(10, 0, 0).expect("valid time"))
                .earliest()
                .map(|t| t.with_timezone(&Utc));
            if let Some(at) = at.filter(|at| *at >= from) {
                return at;
            }
        }
        day = day.succ_opt().expect("valid date");
    }
}

impl Fixed<'_> {
    fn next(&mut self, now: DateTime<Utc>) -> Vec<Command> {
        let retryable = self.latest.as_ref().is_none_or(|l| l.category.retryable());
        if !retryable || self.done {
            return Vec::new();
        }
        let at = match self.rule {
            Plain::Offsets(offsets) => loop {
                let Some(offset) = offsets.get(self.next_offset) else {
                    return Vec::new();
                };
                self.next_offset += 1;
                let at = self.failed_at + *offset;
                if at >= now {
                    break at;
                }
            },
            Plain::Rules => {
                if self.retries >= RULE_TRIES {
                    return Vec::new();
                }
                let funds = self
                    .latest
                    .as_ref()
                    .is_some_and(|l| l.category == DeclineCategory::Funds);
                let at = if funds {
                    payday_like_morning(self.last_try.max(now) + Duration::days(1), self.tz)
                } else {
                    self.last_try.max(now) + RULE_GAP
                };
                if at >= self.window_end {
                    return Vec::new();
                }
                at
            }
        };
        self.scheduled = true;
        vec![Command::ScheduleRetry {
            attempt: self.retries + 1,
            at,
            reason: String::new(),
        }]
    }

    fn apply(&mut self, input: Input, now: DateTime<Utc>, ctx: &Context<'_>) -> Vec<Command> {
        match input {
            Input::Event { what, .. } => match what {
                EventInput::Decline(c) => {
                    self.latest = Some(c);
                    Vec::new()
                }
                EventInput::PaymentFailed { .. } => {
                    // The policy's emails and final action, as a case has them.
                    let mut commands = stage_commands(self.failed_at, now, ctx, true);
                    if self.latest.as_ref().map(|l| l.category)
                        == Some(DeclineCategory::CustomerAction)
                    {
                        commands.push(Command::AskToAuthenticate);
                    }
                    commands.extend(self.next(now));
                    commands
                }
                EventInput::NewPaymentMethod { .. } => {
                    self.latest = None;
                    if self.on_new_card {
                        self.scheduled = true;
                        vec![
                            Command::CancelPendingRetries,
                            Command::ScheduleRetry {
                                attempt: self.retries + 1,
                                at: now,
                                reason: String::new(),
                            },
                        ]
                    } else if self.scheduled {
                        // The new card waits for the retry already planned.
                        Vec::new()
                    } else {
                        self.next(now)
                    }
                }
                EventInput::Paid => {
                    self.done = true;
                    vec![Command::CancelPendingWork]
                }
                _ => Vec::new(),
            },
            Input::RetryDeclined { attempt, decline } => {
                self.retries = attempt;
                self.last_try = now;
                self.scheduled = false;
                self.latest = Some(decline);
                self.next(now)
            }
            Input::RetrySucceeded { .. } | Input::FinalActionDone => {
                self.done = true;
                vec![Command::CancelPendingWork]
            }
            _ => Vec::new(),
        }
    }
}

enum Machine<'a> {
    Case(Box<Track>),
    Fixed(Fixed<'a>),
}

/// A moment something happens, in the order ties are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum What {
    Reaction(u8),
    Retry(u32),
    Email {
        stage: u32,
        final_notice: bool,
        authenticate: bool,
    },
    Final,
}

fn reaction_code(r: Reaction) -> u8 {
    match r {
        Reaction::NewCard => 0,
        Reaction::PaysInvoice => 1,
        Reaction::Authenticates => 2,
    }
}

fn reaction_of(code: u8) -> Reaction {
    match code {
        0 => Reaction::NewCard,
        1 => Reaction::PaysInvoice,
        _ => Reaction::Authenticates,
    }
}

/// Plays `scenario` under `strategy` until the invoice is paid or the
/// final action ran.
pub fn play(scenario: &Scenario, strategy: &Strategy<'_>, caps: &NetworkCaps) -> Played {
    play_learning(scenario, strategy, caps, None)
}

/// `play`, with the planner knowing what the install learned so far.
pub fn play_learning(
    scenario: &Scenario,
    strategy: &Strategy<'_>,
    caps: &NetworkCaps,
    learned: Option<&Estimates>,
) -> Played {
    let policy = strategy.policy();
    let (tz, _) = zones::pick(
        &[(
            scenario.country.as_deref(),
            zones::ZoneSource::InvoiceAddress,
        )],
        policy.default_timezone,
    );
    let ctx = Context {
        case_key: &scenario.key,
        timezone: tz,
        country: scenario.country.as_deref(),
        paid_at: &scenario.paid_before,
        policy,
        learned,
        card_elsewhere: &[],
        disputed: false,
    };
    let mut machine = match strategy {
        Strategy::Policy(_) => Machine::Case(Box::default()),
        Strategy::Plain {
            rule, on_new_card, ..
        } => Machine::Fixed(Fixed {
            rule,
            on_new_card: *on_new_card,
            failed_at: scenario.failed_at,
            window_end: scenario.failed_at
                + Duration::days(i64::from(policy.retries.window_days.min(policy.final_.day))),
            tz,
            next_offset: 0,
            retries: 0,
            last_try: scenario.failed_at,
            latest: None,
            scheduled: false,
            done: false,
        }),
    };
    let failed_at = scenario.failed_at;
    let first = classify(&scenario.decline);
    let network = Network::of(scenario.decline.card_brand.as_deref());
    let mut pending: Vec<(DateTime<Utc>, What)> = Vec::new();
    let mut played = Played::default();
    // The card being charged: 0 the refused one, n the n-th new card.
    let mut card = 0u32;
    let mut card_attempts: Vec<DateTime<Utc>> = vec![failed_at];
    let mut latest: Option<Classification> = Some(first.clone());
    let mut events = 0u32;
    let step = |machine: &mut Machine<'_>, input: Input, now: DateTime<Utc>| -> Vec<Command> {
        match machine {
            Machine::Case(track) => track.apply(input, now, &ctx),
            Machine::Fixed(fixed) => fixed.apply(input, now, &ctx),
        }
    };
    let mut event = |what: EventInput, at: DateTime<Utc>| {
        events += 1;
        Input::Event {
            id: format!("ev_{events}"),
            created: at,
            what,
        }
    };
    // The commands carried out as the engine carries them out
    // (`carry_out::effect_of`), onto the simulation's calendar.
    let carry_out = |commands: Vec<Command>,
                     pending: &mut Vec<(DateTime<Utc>, What)>,
                     now: DateTime<Utc>,
                     retries_made: u32| {
        for command in commands {
            match effect_of(command, now, retries_made) {
                Effect::Plan { work, due, .. } => match work {
                    Work::Retry(retry) => {
                        pending.retain(|(_, w)| !matches!(w, What::Retry(_)));
                        pending.push((due.max(now), What::Retry(retry.attempt)));
                    }
                    Work::Email(email) => match email.kind {
                        MailKind::PaymentFailed | MailKind::FinalNotice => pending.push((
                            due.max(now),
                            What::Email {
                                stage: email.stage,
                                final_notice: email.kind == MailKind::FinalNotice,
                                authenticate: false,
                            },
                        )),
                        // Its number counts requests; the customer reads it
                        // as a first message.
                        MailKind::ActionRequired => pending.push((
                            due.max(now),
                            What::Email {
                                stage: 0,
                                final_notice: false,
                                authenticate: true,
                            },
                        )),
                        // Told after the end (or outside a case): the
                        // customer model answers no such email.
                        MailKind::ThankYou
                        | MailKind::CardExpiring
                        | MailKind::SubscriptionCanceled
                        | MailKind::SubscriptionDowngraded
                        | MailKind::OfferTaken => {}
                    },
                    Work::Final(_) => pending.push((due, What::Final)),
                },
                Effect::Cancel(Cancel::All) => {
                    pending.retain(|(_, w)| matches!(w, What::Reaction(_)))
                }
                Effect::Cancel(Cancel::Retries) => {
                    pending.retain(|(_, w)| !matches!(w, What::Retry(_)))
                }
                // A note is for the operator: nothing happens.
                Effect::Note(_) => {}
            }
        }
    };

    let opening = [
        event(EventInput::Decline(first.clone()), failed_at),
        event(
            EventInput::PaymentFailed {
                processor_will_retry: false,
                attempt_count: 1,
            },
            failed_at,
        ),
    ];
    for input in opening {
        let commands = step(&mut machine, input, failed_at);
        carry_out(commands, &mut pending, failed_at, played.attempts);
    }
    if let Some((reaction, at)) = scenario.scripted {
        pending.push((at, What::Reaction(reaction_code(reaction))));
    }
    let horizon = failed_at + Duration::days(i64::from(policy.final_.day) + 1);
    while let Some(index) = (0..pending.len()).min_by_key(|i| (pending[*i].0, pending[*i].1)) {
        let (now, what) = pending.swap_remove(index);
        if now > horizon {
            break;
        }
        let commands = match what {
            What::Email {
                stage,
                final_notice,
                authenticate,
            } => {
                if let Some((reaction, at)) =
                    scenario
                        .customer
                        .react(stage, final_notice, authenticate, now)
                {
                    pending.push((at, What::Reaction(reaction_code(reaction))));
                }
                Vec::new()
            }
            What::Retry(attempt) => {
                played.attempts += 1;
                let ledger = Ledger {
                    network: if card == 0 { network } else { Network::Other },
                    attempts: &card_attempts,
                };
                if let Some(why) = violation(caps, &ledger, latest.as_ref(), now) {
                    played.violations += 1;
                    played.violation.get_or_insert(why);
                }
                let since_last = now - card_attempts.last().copied().unwrap_or(failed_at);
                let n_on_card = card_attempts.len() as u32;
                card_attempts.push(now);
                let approved = if card == 0 {
                    scenario
                        .customer
                        .charge_old_card(failed_at, now, n_on_card, since_last)
                } else {
                    scenario.customer.charge_new_card(card * 100 + n_on_card)
                };
                if card == 0 {
                    played.outcomes.push((
                        now,
                        Outcome {
                            category: first.category,
                            code: Some(first.code.clone()),
                            local: now.with_timezone(&tz).naive_local(),
                            days_since_failure: (now - failed_at).num_days().clamp(0, 60) as u32,
                            hours_since_last: since_last.num_hours().clamp(0, 720) as u32,
                            after_payday: after_payday(
                                scenario.country.as_deref(),
                                tz,
                                now - since_last,
                                now,
                            ),
                            tries: 1,
                            paid: u32::from(approved),
                        },
                    ));
                }
                if approved {
                    played.recovered_at = Some(now);
                    step(&mut machine, Input::RetrySucceeded { attempt }, now)
                } else {
                    let decline = if card == 0 {
                        first.clone()
                    } else {
                        classify(&DeclineDetails::default())
                    };
                    latest = Some(decline.clone());
                    step(&mut machine, Input::RetryDeclined { attempt, decline }, now)
                }
            }
            What::Reaction(code) => match reaction_of(code) {
                Reaction::NewCard => {
                    card += 1;
                    card_attempts.clear();
                    latest = None;
                    let input = event(EventInput::NewPaymentMethod { method: None }, now);
                    step(&mut machine, input, now)
                }
                Reaction::PaysInvoice | Reaction::Authenticates => {
                    if scenario.customer.pays_invoice(failed_at, now) {
                        played.recovered_at = Some(now);
                        let input = event(EventInput::Paid, now);
                        step(&mut machine, input, now)
                    } else {
                        Vec::new()
                    }
                }
            },
            What::Final => {
                let commands = step(&mut machine, Input::FinalActionDone, now);
                carry_out(commands, &mut pending, now, played.attempts);
                break;
            }
        };
        carry_out(commands, &mut pending, now, played.attempts);
        if played.recovered_at.is_some() {
            break;
        }
    }
    played
}
