//! The recovery case of one invoice, as a pure state machine:
//! `apply(track, input, now, policy) -> commands`. No clock reads, no I/O;
//! the caller stores the track and carries out the commands.
//!
//! States: `open → retrying ⇄ awaiting_customer → recovered | canceled |
//! downgraded | closed`, plus `paused`. An invoice that is settled (paid,
//! voided, uncollectible, its subscription deleted) is settled for good:
//! whatever arrives later, in any order and however often, changes nothing.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::decline::{Classification, DeclineCategory};
use super::policy::{FinalAction, Policy, RetryOwner, StageEmail, Tone};
use super::schedule::{
    NextRetry, PastAttempt, PlanInput, earliest_charge, may_retry_now, next_retry, stage_email_at,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    Open,
    Retrying,
    AwaitingCustomer,
    Paused,
    Recovered,
    Canceled,
    Downgraded,
    Closed,
}

impl CaseState {
    pub const ALL: [Self; 8] = [
        Self::Open,
        Self::Retrying,
        Self::AwaitingCustomer,
        Self::Paused,
        Self::Recovered,
        Self::Canceled,
        Self::Downgraded,
        Self::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Retrying => "retrying",
            Self::AwaitingCustomer => "awaiting_customer",
            Self::Paused => "paused",
            Self::Recovered => "recovered",
            Self::Canceled => "canceled",
            Self::Downgraded => "downgraded",
            Self::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Recovered | Self::Canceled | Self::Downgraded | Self::Closed
        )
    }
}

/// How an invoice was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Settlement {
    Paid,
    Voided,
    Uncollectible,
    SubscriptionDeleted,
}

impl Settlement {
    /// The state a case ends in when its invoice is settled this way.
    pub fn state(self) -> CaseState {
        match self {
            Self::Paid => CaseState::Recovered,
            Self::SubscriptionDeleted => CaseState::Canceled,
            Self::Voided | Self::Uncollectible => CaseState::Closed,
        }
    }
}

/// What the processor told us, already typed.
#[derive(Debug, Clone, PartialEq)]
pub enum EventInput {
    PaymentFailed {
        processor_will_retry: bool,
        /// The invoice's attempts so far (the processor's and ours).
        attempt_count: u32,
    },
    Decline(Classification),
    Paid,
    ActionRequired,
    /// The customer has a new payment method (`pm_...` when known): one
    /// charge for a method not tried yet on this invoice.
    NewPaymentMethod {
        method: Option<String>,
    },
    Voided,
    MarkedUncollectible,
    SubscriptionDeleted,
    DisputeOpened,
    /// The customer's last open dispute was won: a paused case resumes.
    DisputeWon,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Event {
        id: String,
        created: DateTime<Utc>,
        what: EventInput,
    },
    /// The outcome of our retry number `attempt`.
    RetryDeclined {
        attempt: u32,
        decline: Classification,
    },
    RetrySucceeded {
        attempt: u32,
    },
    FinalActionDone,
    /// Charge again now if every rule allows it (the customer changed their
    /// plan, an operator asked): the card's history still counts.
    RetryNow {
        reason: String,
    },
    /// The customer took an offer on their billing page (a plan change):
    /// charge again now if every rule allows it.
    OfferTaken {
        reason: String,
    },
    /// The customer's clock or country became known after the case was
    /// planned: a case not yet retried plans its next retry again.
    Replan {
        reason: String,
    },
    /// An operator moved the case to another policy version (the context
    /// carries it): everything still ahead is planned again under it.
    AdoptPolicy {
        reason: String,
    },
    Pause,
    Resume,
    Close,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    ScheduleRetry {
        attempt: u32,
        at: DateTime<Utc>,
        reason: String,
    },
    SendEmail {
        kind: StageEmail,
        tone: Tone,
        stage: u32,
        at: DateTime<Utc>,
    },
    ScheduleFinalAction {
        at: DateTime<Utc>,
        action: FinalAction,
    },
    RunFinalAction {
        action: FinalAction,
    },
    /// Scheduled retries, emails and the final action are void.
    CancelPendingWork,
    /// Only the scheduled retry is void (the plan changed); emails stand.
    CancelPendingRetries,
    SendThankYou,
    /// The final action was carried out: tell the customer what it was.
    TellTheEnd {
        action: FinalAction,
    },
    AskToAuthenticate,
    /// Something the operator should read in the log and the timeline.
    Note {
        text: String,
    },
}

impl Command {
    /// The command's name, as its JSON tag says it (errors name the step).
    pub fn name(&self) -> &'static str {
        match self {
            Self::ScheduleRetry { .. } => "schedule_retry",
            Self::SendEmail { .. } => "send_email",
            Self::ScheduleFinalAction { .. } => "schedule_final_action",
            Self::RunFinalAction { .. } => "run_final_action",
            Self::CancelPendingWork => "cancel_pending_work",
            Self::CancelPendingRetries => "cancel_pending_retries",
            Self::SendThankYou => "send_thank_you",
            Self::TellTheEnd { .. } => "tell_the_end",
            Self::AskToAuthenticate => "ask_to_authenticate",
            Self::Note { .. } => "note",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub state: CaseState,
    pub paused_from: Option<CaseState>,
    pub opened_at: DateTime<Utc>,
    pub attempts: Vec<PastAttempt>,
    pub retries_made: u32,
    pub latest: Option<Classification>,
    pub thanked: bool,
    /// The refusal the case is about: the opening failure's, for reports
    /// (`latest` is forgotten when a new card comes).
    #[serde(default)]
    pub cause: Option<Classification>,
    /// What the customer last did to pay: a new card, an offer.
    #[serde(default)]
    pub customer_acted: Option<CustomerAct>,
    /// How the money came in, once it did.
    #[serde(default)]
    pub recovered_by: Option<RecoveredBy>,
    /// Which of our retries took it, if one did.
    #[serde(default)]
    pub recovered_on_retry: Option<u32>,
    /// The processor still plans an attempt of its own: we never charge
    /// meanwhile (as the latest failure event said).
    #[serde(default)]
    pub processor_retrying: bool,
    /// The highest `attempt_count` the processor reported.
    #[serde(default)]
    pub invoice_attempts: u32,
    /// Payment methods (`pm_...`) already refused or retried on this
    /// invoice: coming back with one of them is no new card.
    #[serde(default)]
    pub methods: BTreeSet<String>,
}

/// What a customer did on their page (or at the processor) to pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerAct {
    CardUpdate,
    Offer,
}

/// How a recovered invoice was paid, for reports: by one of our retries
/// alone, after the customer gave a new card, after they took an offer, or
/// by the processor (its own retry, or the customer paying the invoice's
/// page) without any of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveredBy {
    Retry,
    CardUpdate,
    Offer,
    Processor,
}

impl RecoveredBy {
    pub const ALL: [Self; 4] = [Self::Retry, Self::CardUpdate, Self::Offer, Self::Processor];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::CardUpdate => "card_update",
            Self::Offer => "offer",
            Self::Processor => "processor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl Case {
    /// The latest refusal, or a generic one when none was classified.
    fn latest_or_generic(&self) -> Classification {
        self.latest
            .clone()
            .unwrap_or_else(|| super::decline::classify(&super::events::DeclineDetails::default()))
    }

    /// What the planner needs to place this case's next charge.
    fn plan_input<'a>(
        &'a self,
        latest: &'a Classification,
        now: DateTime<Utc>,
        ctx: &Context<'a>,
    ) -> PlanInput<'a> {
        PlanInput {
            case_key: ctx.case_key,
            first_failed_at: self.opened_at,
            now,
            attempts: &self.attempts,
            retries_made: self.retries_made,
            latest,
            timezone: ctx.timezone,
            country: ctx.country,
            paid_at: ctx.paid_at,
            policy: ctx.policy,
            learned: ctx.learned,
            card_elsewhere: ctx.card_elsewhere,
        }
    }
}

/// Everything known about one invoice's recovery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Track {
    pub case: Option<Case>,
    pub settled: Option<Settlement>,
    /// Event ids already applied: a second delivery is a no-op.
    pub seen: BTreeSet<String>,
    /// Decline details that arrived before the failure opened a case
    /// (`charge.failed` usually comes first).
    pub early_decline: Option<Classification>,
}

/// What a request to authenticate amounts to.
fn authentication_required() -> Classification {
    super::decline::classify(&super::events::DeclineDetails {
        code: Some("authentication_required".into()),
        decline_code: Some("authentication_required".into()),
        ..Default::default()
    })
}

/// The customer and policy facts the machine needs besides the input.
pub struct Context<'a> {
    pub case_key: &'a str,
    pub timezone: Tz,
    /// The customer's country (two letters), when known.
    pub country: Option<&'a str>,
    pub paid_at: &'a [DateTime<Utc>],
    pub policy: &'a Policy,
    /// Retry outcomes learned from this install's history, if any.
    pub learned: Option<&'a crate::domain::learned::Estimates>,
    /// Attempts on the same card for the customer's other invoices.
    pub card_elsewhere: &'a [DateTime<Utc>],
    /// The customer has an open dispute: a case that opens starts paused.
    pub disputed: bool,
}

/// The policy's emails and final action for a case opened at `failed_at`.
/// With `catch_up`, stages already past are sent now; without, skipped.
/// (`simulate`'s plain schedules write the same emails.)
pub fn stage_commands(
    failed_at: DateTime<Utc>,
    now: DateTime<Utc>,
    ctx: &Context<'_>,
    catch_up: bool,
) -> Vec<Command> {
    let mut commands: Vec<Command> = ctx
        .policy
        .stages
        .iter()
        .map(|stage| {
            let at = stage_email_at(failed_at, stage.day, ctx.timezone, ctx.case_key);
            (stage, at)
        })
        .filter(|(_, due)| catch_up || *due >= now)
        .map(|(stage, due)| Command::SendEmail {
            kind: stage.email,
            tone: stage.tone,
            stage: stage.day,
            at: due.max(now),
        })
        .collect();
    commands.push(Command::ScheduleFinalAction {
        at: super::deadline::final_instant(failed_at, ctx.policy.final_.day, ctx.timezone),
        action: ctx.policy.final_.action,
    });
    commands
}

impl Track {
    /// The case's state; `None` while no case was opened. An invoice
    /// settled before it ever failed (a healthy renewal) has no case: only a
    /// case that had a failure can be recovered.
    pub fn outcome(&self) -> Option<CaseState> {
        self.case.as_ref().map(|case| case.state)
    }

    pub fn apply(&mut self, input: Input, now: DateTime<Utc>, ctx: &Context<'_>) -> Vec<Command> {
        if let Input::Event { id, .. } = &input
            && !self.seen.insert(id.clone())
        {
            return Vec::new();
        }
        if let Some(how) = self.settled {
            // A failure delivered after the invoice was settled: it did fail,
            // so there is a case, ended as the settlement says and with
            // nothing left to do or write.
            if let (
                None,
                Input::Event {
                    created,
                    what: EventInput::PaymentFailed { .. },
                    ..
                },
            ) = (&self.case, &input)
            {
                self.case = Some(Case {
                    state: how.state(),
                    paused_from: None,
                    opened_at: *created,
                    attempts: Vec::new(),
                    retries_made: 0,
                    cause: self.early_decline.clone(),
                    latest: self.early_decline.take(),
                    thanked: false,
                    customer_acted: None,
                    recovered_by: (how == Settlement::Paid).then_some(RecoveredBy::Processor),
                    recovered_on_retry: None,
                    processor_retrying: false,
                    invoice_attempts: 0,
                    methods: BTreeSet::new(),
                });
            }
            return Vec::new();
        }
        match input {
            Input::Event { created, what, .. } => self.on_event(what, created, now, ctx),
            Input::RetryDeclined { attempt, decline } => {
                self.on_retry_declined(attempt, decline, now, ctx)
            }
            Input::RetrySucceeded { attempt } => self.settle_paid(Some(attempt)),
            Input::FinalActionDone => self.on_final_done(ctx),
            Input::RetryNow { reason } => self.retry_now(reason, now, ctx),
            Input::OfferTaken { reason } => {
                if let Some(case) = self.case.as_mut().filter(|c| !c.state.is_terminal()) {
                    case.customer_acted = Some(CustomerAct::Offer);
                }
                self.retry_soon(reason, now, ctx)
            }
            Input::Replan { reason } => self.replan(reason, now, ctx),
            Input::AdoptPolicy { reason } => self.adopt_policy(reason, now, ctx),
            Input::Pause => self.pause(),
            Input::Resume => self.resume(now, ctx),
            Input::Close => match &mut self.case {
                Some(case) if !case.state.is_terminal() => {
                    case.state = CaseState::Closed;
                    vec![Command::CancelPendingWork]
                }
                _ => Vec::new(),
            },
        }
    }

    fn on_event(
        &mut self,
        what: EventInput,
        created: DateTime<Utc>,
        now: DateTime<Utc>,
        ctx: &Context<'_>,
    ) -> Vec<Command> {
        match what {
            EventInput::Paid => self.settle_paid(None),
            EventInput::Voided => self.settle(Settlement::Voided),
            EventInput::MarkedUncollectible => self.settle(Settlement::Uncollectible),
            EventInput::SubscriptionDeleted => self.settle(Settlement::SubscriptionDeleted),
            EventInput::PaymentFailed {
                processor_will_retry,
                attempt_count,
            } => {
                if self.case.is_some() {
                    return self.on_processor_attempt(
                        created,
                        processor_will_retry,
                        attempt_count,
                        now,
                        ctx,
                    );
                }
                self.open(created, processor_will_retry, attempt_count, now, ctx)
            }
            EventInput::Decline(decline) => self.on_decline(decline, now, ctx),
            // The bank wants the customer to authenticate: the same as an
            // `authentication_required` decline, whichever comes first.
            EventInput::ActionRequired => self.on_decline(authentication_required(), now, ctx),
            EventInput::NewPaymentMethod { method } => self.on_new_payment_method(method, now, ctx),
            EventInput::DisputeOpened => self.pause(),
            EventInput::DisputeWon => self.resume(now, ctx),
        }
    }

    /// A new payment method: the old card's ledger (its caps and `MIN_GAP`)
    /// no longer limits us, and a retry planned for later moves up, through
    /// the same gate as every charge (the policy's budget, the card's caps
    /// and gap). A method already refused or retried on this invoice is no
    /// new card, and brings nothing.
    fn on_new_payment_method(
        &mut self,
        method: Option<String>,
        now: DateTime<Utc>,
        ctx: &Context<'_>,
    ) -> Vec<Command> {
        let Some(case) = &mut self.case else {
            return Vec::new();
        };
        if case.state.is_terminal() || case.state == CaseState::Paused {
            return Vec::new();
        }
        if let Some(method) = &method
            && !case.methods.insert(method.clone())
        {
            return vec![Command::Note {
                text: format!(
                    "payment method {method} was already tried on this invoice: no new charge"
                ),
            }];
        }
        case.customer_acted = Some(CustomerAct::CardUpdate);
        if ctx.policy.retry_owner == RetryOwner::Processor {
            return Vec::new();
        }
        if case.processor_retrying {
            return vec![Command::Note {
                text: "a new payment method was added: the processor still plans an attempt of its own and will charge it".into(),
            }];
        }
        let max = ctx.policy.retries.max_attempts;
        if case.retries_made >= max {
            return vec![Command::Note {
                text: format!(
                    "a new payment method was added, but all {max} retries allowed by the policy were made: no charge (the customer can still pay the invoice's own page)"
                ),
            }];
        }
        case.attempts.clear();
        case.latest = None;
        case.state = CaseState::Retrying;
        let latest = case.latest_or_generic();
        let (at, why) = earliest_charge(&case.plan_input(&latest, now, ctx));
        let reason = if why.is_empty() {
            "a new payment method was added: retrying now".to_owned()
        } else {
            format!(
                "a new payment method was added: retrying at {} ({})",
                at.format("%Y-%m-%d %H:%M UTC"),
                why.join("; ")
            )
        };
        vec![
            Command::CancelPendingRetries,
            Command::ScheduleRetry {
                attempt: case.retries_made + 1,
                at,
                reason,
            },
        ]
    }

    fn open(
        &mut self,
        failed_at: DateTime<Utc>,
        processor_will_retry: bool,
        attempt_count: u32,
        now: DateTime<Utc>,
        ctx: &Context<'_>,
    ) -> Vec<Command> {
        let latest = self.early_decline.take();
        let methods = latest.iter().filter_map(|l| l.method.clone()).collect();
        let category = latest
            .as_ref()
            .map_or(DeclineCategory::Transient, |l| l.category);
        // Every attempt the processor reports counts on the card's ledger
        // (earlier ones we never heard of at the failure's time: on the
        // safe side).
        let attempts = (0..attempt_count.max(1))
            .map(|_| PastAttempt {
                at: failed_at,
                category,
            })
            .collect();
        self.case = Some(Case {
            cause: latest.clone(),
            customer_acted: None,
            recovered_by: None,
            recovered_on_retry: None,
            state: CaseState::Open,
            paused_from: None,
            opened_at: failed_at,
            attempts,
            retries_made: 0,
            latest,
            thanked: false,
            processor_retrying: processor_will_retry,
            invoice_attempts: attempt_count.max(1),
            methods,
        });
        if ctx.disputed {
            if let Some(case) = &mut self.case {
                case.paused_from = Some(CaseState::Open);
                case.state = CaseState::Paused;
            }
            return vec![Command::Note {
                text: "the customer has an open dispute: no charge or email until it is won".into(),
            }];
        }
        let mut commands = Vec::new();
        match (processor_will_retry, ctx.policy.retry_owner) {
            (true, RetryOwner::Dunwell) => commands.push(Command::Note {
                text: "the processor will retry this invoice by itself while dunwell owns retries: turn off the processor's automatic retries; dunwell does not double up and charges only once the processor gives up".into(),
            }),
            (true, RetryOwner::AfterProcessor) => commands.push(Command::Note {
                text: "retry_owner = \"after_processor\": the processor retries first; dunwell charges once it gives up".into(),
            }),
            _ => {}
        }
        // Stages already due when the case opens (a late event) go out now.
        commands.extend(stage_commands(failed_at, now, ctx, true));
        commands.extend(self.schedule_next(now, ctx));
        commands
    }

    /// A failure event on an open case: the processor's own attempt (or
    /// the echo of ours). New attempts go on the card's ledger; when the
    /// latest says the processor plans no more, dunwell takes over.
    fn on_processor_attempt(
        &mut self,
        created: DateTime<Utc>,
        processor_will_retry: bool,
        attempt_count: u32,
        now: DateTime<Utc>,
        ctx: &Context<'_>,
    ) -> Vec<Command> {
        let Some(case) = &mut self.case else {
            return Vec::new();
        };
        if attempt_count < case.invoice_attempts {
            // An older event delivered late: already counted, and not the
            // processor's latest word.
            return Vec::new();
        }
        // Ours echo back as failure events too: only attempts beyond every
        // one we know of are the processor's.
        let known = case.invoice_attempts.max(1 + case.retries_made);
        let category = case
            .latest
            .as_ref()
            .map_or(DeclineCategory::Transient, |l| l.category);
        for _ in known..attempt_count {
            case.attempts.push(PastAttempt {
                at: created,
                category,
            });
        }
        case.invoice_attempts = attempt_count;
        let gave_up = case.processor_retrying && !processor_will_retry;
        case.processor_retrying = processor_will_retry;
        if !gave_up
            || case.state.is_terminal()
            || case.state == CaseState::Paused
            || ctx.policy.retry_owner == RetryOwner::Processor
        {
            return Vec::new();
        }
        let mut commands = vec![Command::Note {
            text: format!(
                "the processor gave up after {attempt_count} attempts: dunwell retries from here, its attempts counted on the card"
            ),
        }];
        commands.extend(self.schedule_next(now, ctx));
        commands
    }

    /// Decline details (from a charge, a payment intent, or the processor's
    /// request to authenticate) for the case. Before the case opens they
    /// wait in `early_decline` (a request to authenticate is never
    /// overwritten by a plain decline). A changed category re-plans a case
    /// not yet retried, and a request to authenticate re-plans any live one.
    fn on_decline(
        &mut self,
        decline: Classification,
        now: DateTime<Utc>,
        ctx: &Context<'_>,
    ) -> Vec<Command> {
        let Some(case) = &mut self.case else {
            let keep = self
                .early_decline
                .as_ref()
                .is_some_and(|e| e.category == DeclineCategory::CustomerAction);
            if !keep {
                self.early_decline = Some(decline);
            }
            return Vec::new();
        };
        if case.state.is_terminal() || case.state == CaseState::Paused {
            return Vec::new();
        }
        let asks = decline.category == DeclineCategory::CustomerAction;
        let already_asked = case.latest.as_ref().map(|l| l.category) == Some(decline.category)
            && case.state == CaseState::AwaitingCustomer;
        if case
            .latest
            .as_ref()
            .is_some_and(|l| l.category == DeclineCategory::CustomerAction)
            && !asks
            && case.retries_made == 0
        {
            // The request to authenticate stands until the customer acts.
            return Vec::new();
        }
        if let Some(first) = case.attempts.first_mut() {
            first.category = decline.category;
        }
        if let Some(method) = &decline.method {
            case.methods.insert(method.clone());
        }
        if case.retries_made == 0 && case.customer_acted.is_none() {
            case.cause = Some(decline.clone());
        }
        let replan = case.latest.as_ref().map(|l| l.category) != Some(decline.category);
        case.latest = Some(decline);
        if (replan && case.retries_made == 0) || (asks && !already_asked) {
            let mut commands = vec![Command::CancelPendingRetries];
            commands.extend(self.schedule_next(now, ctx));
            commands
        } else {
            Vec::new()
        }
    }

    /// After a pause: the emails still ahead, the final action, the next retry.
    fn schedule_all(&mut self, now: DateTime<Utc>, ctx: &Context<'_>) -> Vec<Command> {
        let Some(case) = &self.case else {
            return Vec::new();
        };
        let mut commands = stage_commands(case.opened_at, now, ctx, false);
        commands.extend(self.schedule_next(now, ctx));
        commands
    }

    fn schedule_next(&mut self, now: DateTime<Utc>, ctx: &Context<'_>) -> Vec<Command> {
        let Some(case) = &mut self.case else {
            return Vec::new();
        };
        if ctx.policy.retry_owner == RetryOwner::Processor || case.processor_retrying {
            // The processor retries; a request to authenticate is still ours to pass on.
            if case
                .latest
                .as_ref()
                .is_some_and(|l| l.category == DeclineCategory::CustomerAction)
            {
                case.state = CaseState::AwaitingCustomer;
                return vec![Command::AskToAuthenticate];
            }
            case.state = CaseState::Retrying;
            return Vec::new();
        }
        let latest = case.latest_or_generic();
        match next_retry(&case.plan_input(&latest, now, ctx)) {
            NextRetry::At { at, reason } => {
                case.state = CaseState::Retrying;
                vec![Command::ScheduleRetry {
                    attempt: case.retries_made + 1,
                    at,
                    reason,
                }]
            }
            NextRetry::WaitForNewPaymentMethod { reason } => {
                case.state = CaseState::AwaitingCustomer;
                vec![Command::Note { text: reason }]
            }
            NextRetry::WaitForCustomer { reason } => {
                case.state = CaseState::AwaitingCustomer;
                vec![Command::Note { text: reason }, Command::AskToAuthenticate]
            }
            NextRetry::NoMore { reason } => vec![Command::Note { text: reason }],
        }
    }

    fn on_retry_declined(
        &mut self,
        attempt: u32,
        decline: Classification,
        now: DateTime<Utc>,
        ctx: &Context<'_>,
    ) -> Vec<Command> {
        let Some(case) = &mut self.case else {
            return Vec::new();
        };
        // Only the outcome of the attempt we are waiting for counts, and
        // only an attempt the policy's budget allows was ever planned (a
        // spent budget leaves the case `retrying` until its final action).
        if case.state != CaseState::Retrying
            || attempt != case.retries_made + 1
            || attempt > ctx.policy.retries.max_attempts
        {
            return Vec::new();
        }
        case.retries_made = attempt;
        case.attempts.push(PastAttempt {
            at: now,
            category: decline.category,
        });
        if let Some(method) = &decline.method {
            case.methods.insert(method.clone());
        }
        case.latest = Some(decline);
        self.schedule_next(now, ctx)
    }

    fn replan(&mut self, reason: String, now: DateTime<Utc>, ctx: &Context<'_>) -> Vec<Command> {
        let Some(case) = &self.case else {
            return Vec::new();
        };
        let waiting_for_first_retry = case.state == CaseState::Retrying
            && case.retries_made == 0
            && !case.processor_retrying
            && ctx.policy.retry_owner != RetryOwner::Processor;
        if !waiting_for_first_retry {
            return Vec::new();
        }
        let mut commands = vec![
            Command::Note { text: reason },
            Command::CancelPendingRetries,
        ];
        commands.extend(self.schedule_next(now, ctx));
        commands
    }

    /// The emails still ahead, the final action and the next retry, planned
    /// again under the context's policy; a paused case plans on resume.
    fn adopt_policy(
        &mut self,
        reason: String,
        now: DateTime<Utc>,
        ctx: &Context<'_>,
    ) -> Vec<Command> {
        match &self.case {
            Some(case) if !case.state.is_terminal() => {
                let mut commands = vec![Command::Note { text: reason }];
                if case.state != CaseState::Paused {
                    commands.push(Command::CancelPendingWork);
                    commands.extend(self.schedule_all(now, ctx));
                }
                commands
            }
            _ => Vec::new(),
        }
    }

    fn retry_now(&mut self, reason: String, now: DateTime<Utc>, ctx: &Context<'_>) -> Vec<Command> {
        let Some(case) = &mut self.case else {
            return Vec::new();
        };
        if case.state.is_terminal()
            || case.state == CaseState::Paused
            || ctx.policy.retry_owner == RetryOwner::Processor
        {
            return Vec::new();
        }
        if case.processor_retrying {
            return vec![Command::Note {
                text: format!(
                    "no charge now ({reason}): the processor still plans an attempt of its own"
                ),
            }];
        }
        let latest = case.latest_or_generic();
        if let Err(why) = may_retry_now(&case.plan_input(&latest, now, ctx)) {
            return vec![Command::Note {
                text: format!("no charge now ({reason}): {why}"),
            }];
        }
        case.state = CaseState::Retrying;
        vec![
            Command::CancelPendingRetries,
            Command::ScheduleRetry {
                attempt: case.retries_made + 1,
                at: now,
                reason,
            },
        ]
    }

    /// Like `retry_now`, but a charge held back only by the gap between
    /// charges or the card's wait is planned for when they allow it (the
    /// customer who took an offer is not left without the retry promised).
    fn retry_soon(
        &mut self,
        reason: String,
        now: DateTime<Utc>,
        ctx: &Context<'_>,
    ) -> Vec<Command> {
        let commands = self.retry_now(reason.clone(), now, ctx);
        let Some(case) = &mut self.case else {
            return commands;
        };
        let latest = case.latest_or_generic();
        let input = case.plan_input(&latest, now, ctx);
        let (at, why) = earliest_charge(&input);
        let held_by_time_only = latest.category.retryable()
            && !latest.network_forbids_retry
            && case.retries_made < ctx.policy.retries.max_attempts
            && at > now;
        if !held_by_time_only
            || case.state.is_terminal()
            || case.processor_retrying
            || case.state == CaseState::Paused
            || ctx.policy.retry_owner == RetryOwner::Processor
        {
            return commands;
        }
        case.state = CaseState::Retrying;
        vec![
            Command::Note {
                text: format!("retry at {at} ({reason}): {}", why.join("; ")),
            },
            Command::CancelPendingRetries,
            Command::ScheduleRetry {
                attempt: case.retries_made + 1,
                at,
                reason,
            },
        ]
    }

    fn on_final_done(&mut self, ctx: &Context<'_>) -> Vec<Command> {
        let Some(case) = &mut self.case else {
            return Vec::new();
        };
        if case.state.is_terminal() || case.state == CaseState::Paused {
            return Vec::new();
        }
        let action = ctx.policy.final_.action;
        case.state = match action {
            FinalAction::Cancel => CaseState::Canceled,
            FinalAction::Downgrade => CaseState::Downgraded,
            FinalAction::MarkUncollectible | FinalAction::None => CaseState::Closed,
            FinalAction::Pause => CaseState::Paused,
        };
        let mut commands = vec![Command::CancelPendingWork];
        if matches!(action, FinalAction::Cancel | FinalAction::Downgrade) {
            commands.push(Command::TellTheEnd { action });
        }
        commands
    }

    /// The invoice was paid: by our retry number `retry`, or (None) outside
    /// our retries.
    fn settle_paid(&mut self, retry: Option<u32>) -> Vec<Command> {
        if let Some(case) = self.case.as_mut().filter(|c| !c.state.is_terminal()) {
            case.recovered_by = Some(match (case.customer_acted, retry) {
                (Some(CustomerAct::CardUpdate), _) => RecoveredBy::CardUpdate,
                (Some(CustomerAct::Offer), _) => RecoveredBy::Offer,
                (None, Some(_)) => RecoveredBy::Retry,
                (None, None) => RecoveredBy::Processor,
            });
            case.recovered_on_retry = retry;
        }
        self.settle(Settlement::Paid)
    }

    fn settle(&mut self, how: Settlement) -> Vec<Command> {
        self.settled = Some(how);
        let Some(case) = &mut self.case else {
            return Vec::new();
        };
        if case.state.is_terminal() {
            return Vec::new();
        }
        let mut commands = vec![Command::CancelPendingWork];
        if how == Settlement::Paid && !case.thanked {
            case.thanked = true;
            commands.push(Command::SendThankYou);
        }
        case.state = how.state();
        commands
    }

    fn pause(&mut self) -> Vec<Command> {
        match &mut self.case {
            Some(case) if !case.state.is_terminal() && case.state != CaseState::Paused => {
                case.paused_from = Some(case.state);
                case.state = CaseState::Paused;
                vec![Command::CancelPendingWork]
            }
            _ => Vec::new(),
        }
    }

    fn resume(&mut self, now: DateTime<Utc>, ctx: &Context<'_>) -> Vec<Command> {
        match &mut self.case {
            Some(case) if case.state == CaseState::Paused => {
                case.state = case.paused_from.take().unwrap_or(CaseState::Open);
                self.schedule_all(now, ctx)
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::decline::classify;
    use crate::domain::events::DeclineDetails;
    use chrono::Duration;
    use proptest::prelude::*;

    fn t(hours: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-03T10:00:00Z")
            .unwrap()
            .to_utc()
            + Duration::hours(hours)
    }

    fn decline(code: &str) -> Classification {
        classify(&DeclineDetails {
            code: Some("card_declined".into()),
            decline_code: Some(code.into()),
            ..Default::default()
        })
    }

    fn event(id: &str, hours: i64, what: EventInput) -> Input {
        Input::Event {
            id: id.into(),
            created: t(hours),
            what,
        }
    }

    fn failed() -> Input {
        event(
            "evt_failed",
            0,
            EventInput::PaymentFailed {
                processor_will_retry: false,
                attempt_count: 1,
            },
        )
    }

    /// A customer with no history, on UTC, under `policy`.
    fn ctx<'a>(policy: &'a Policy, case_key: &'a str) -> Context<'a> {
        Context {
            case_key,
            timezone: Tz::UTC,
            country: None,
            paid_at: &[],
            policy,
            learned: None,
            card_elsewhere: &[],
            disputed: false,
        }
    }

    fn run(policy: &Policy, inputs: Vec<Input>) -> (Track, Vec<Command>) {
        let ctx = ctx(policy, "case_1");
        let mut track = Track::default();
        let mut all = Vec::new();
        for (i, input) in inputs.into_iter().enumerate() {
            all.extend(track.apply(input, t(i as i64), &ctx));
        }
        (track, all)
    }

    fn retries(commands: &[Command]) -> usize {
        commands
            .iter()
            .filter(|c| matches!(c, Command::ScheduleRetry { .. }))
            .count()
    }

    fn notes(commands: &[Command]) -> Vec<&str> {
        commands
            .iter()
            .filter_map(|c| match c {
                Command::Note { text } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn how_a_recovery_came_is_kept_for_reports() {
        let policy = Policy::default();
        let funds = || {
            event(
                "evt_ch",
                0,
                EventInput::Decline(decline("insufficient_funds")),
            )
        };
        let how = |inputs: Vec<Input>| {
            let (track, _) = run(&policy, inputs);
            let case = track.case.unwrap();
            (case.state, case.recovered_by, case.recovered_on_retry)
        };
        assert_eq!(
            how(vec![
                failed(),
                funds(),
                Input::RetrySucceeded { attempt: 1 }
            ]),
            (CaseState::Recovered, Some(RecoveredBy::Retry), Some(1))
        );
        assert_eq!(
            how(vec![
                failed(),
                funds(),
                event("evt_pm", 1, EventInput::NewPaymentMethod { method: None }),
                Input::RetrySucceeded { attempt: 1 },
            ]),
            (CaseState::Recovered, Some(RecoveredBy::CardUpdate), Some(1))
        );
        assert_eq!(
            how(vec![
                failed(),
                funds(),
                Input::OfferTaken {
                    reason: "yearly".into()
                },
                event("evt_paid", 3, EventInput::Paid),
            ]),
            (CaseState::Recovered, Some(RecoveredBy::Offer), None)
        );
        assert_eq!(
            how(vec![
                failed(),
                funds(),
                event("evt_paid", 3, EventInput::Paid)
            ]),
            (CaseState::Recovered, Some(RecoveredBy::Processor), None)
        );
        // A later webhook for the same payment changes nothing.
        assert_eq!(
            how(vec![
                failed(),
                funds(),
                Input::RetrySucceeded { attempt: 1 },
                event("evt_paid", 3, EventInput::Paid),
            ]),
            (CaseState::Recovered, Some(RecoveredBy::Retry), Some(1))
        );
        assert_eq!(
            how(vec![failed(), funds(), Input::Close]),
            (CaseState::Closed, None, None)
        );
    }

    #[test]
    fn the_cause_outlives_a_new_card() {
        let policy = Policy::default();
        let (track, _) = run(
            &policy,
            vec![
                event("evt_ch", 0, EventInput::Decline(decline("expired_card"))),
                failed(),
                event("evt_pm", 1, EventInput::NewPaymentMethod { method: None }),
            ],
        );
        let case = track.case.unwrap();
        assert!(case.latest.is_none());
        assert_eq!(case.cause.unwrap().code, "expired_card");
    }

    #[test]
    fn a_refused_retry_now_says_why() {
        let policy = Policy::default();
        let (_, commands) = run(
            &policy,
            vec![
                failed(),
                event("evt_ch", 0, EventInput::Decline(decline("stolen_card"))),
                Input::RetryNow {
                    reason: "the operator asked".into(),
                },
            ],
        );
        let note = commands.iter().rev().find_map(|c| match c {
            Command::Note { text } => Some(text.clone()),
            _ => None,
        });
        assert!(
            note.as_deref()
                .is_some_and(|n| n.starts_with("no charge now (the operator asked)")),
            "{commands:?}"
        );
    }

    #[test]
    fn soft_declines_then_success_recover_with_one_thank_you() {
        let policy = Policy::default();
        let (track, commands) = run(
            &policy,
            vec![
                failed(),
                event(
                    "evt_charge",
                    0,
                    EventInput::Decline(decline("insufficient_funds")),
                ),
                Input::RetryDeclined {
                    attempt: 1,
                    decline: decline("insufficient_funds"),
                },
                Input::RetrySucceeded { attempt: 2 },
                event("evt_paid", 300, EventInput::Paid),
            ],
        );
        assert_eq!(track.outcome(), Some(CaseState::Recovered));
        assert!(retries(&commands) >= 2);
        let thanks = commands
            .iter()
            .filter(|c| matches!(c, Command::SendThankYou))
            .count();
        assert_eq!(thanks, 1);
        let emails = commands
            .iter()
            .filter(|c| matches!(c, Command::SendEmail { .. }))
            .count();
        assert_eq!(emails, policy.stages.len());
    }

    #[test]
    fn emails_go_out_when_dunwell_plan_says() {
        let policy = Policy::default();
        let (_, commands) = run(&policy, vec![failed()]);
        let sent: Vec<_> = commands
            .iter()
            .filter_map(|c| match c {
                Command::SendEmail { at, .. } => Some(*at),
                _ => None,
            })
            .collect();
        let decline = classify(&DeclineDetails::default());
        let planned: Vec<_> =
            crate::domain::timeline::plan(&crate::domain::timeline::TimelineInput {
                case_key: "case_1",
                failed_at: t(0),
                decline: &decline,
                timezone: Tz::UTC,
                country: None,
                paid_at: &[],
                policy: &policy,
                learned: None,
            })
            .steps
            .into_iter()
            .filter(|s| s.kind.is_some())
            .map(|s| s.at)
            .collect();
        assert_eq!(sent, planned);
    }

    #[test]
    fn a_healthy_renewal_opens_no_case() {
        let (track, commands) = run(
            &Policy::default(),
            vec![event("evt_paid", 1, EventInput::Paid)],
        );
        assert!(track.case.is_none());
        assert_eq!(track.outcome(), None, "a healthy renewal is no recovery");
        assert!(commands.is_empty(), "{commands:?}");
    }

    #[test]
    fn a_failure_delivered_after_the_payment_is_recovered_quietly() {
        let (track, commands) = run(
            &Policy::default(),
            vec![event("evt_paid", 1, EventInput::Paid), failed()],
        );
        assert_eq!(track.outcome(), Some(CaseState::Recovered));
        assert!(commands.is_empty(), "nothing to do or write: {commands:?}");
    }

    #[test]
    fn a_repeated_event_is_a_no_op() {
        let (track, commands) = run(&Policy::default(), vec![failed(), failed(), failed()]);
        let (once, first) = run(&Policy::default(), vec![failed()]);
        assert_eq!(track.case, once.case);
        assert_eq!(commands.len(), first.len());
    }

    #[test]
    fn hard_declines_wait_for_a_new_card_then_retry_at_once() {
        let (track, commands) = run(
            &Policy::default(),
            vec![
                failed(),
                event(
                    "evt_charge",
                    0,
                    EventInput::Decline(decline("expired_card")),
                ),
            ],
        );
        assert_eq!(track.outcome(), Some(CaseState::AwaitingCustomer));
        // Opening planned a retry before the decline code was known; the
        // decline cancels it and plans none.
        let after_decline: Vec<_> = commands
            .iter()
            .skip_while(|c| !matches!(c, Command::CancelPendingRetries))
            .collect();
        assert!(
            !after_decline
                .iter()
                .any(|c| matches!(c, Command::ScheduleRetry { .. }))
        );
        let mut track = track;
        let policy = Policy::default();
        let ctx = ctx(&policy, "case_1");
        let commands = track.apply(
            event("evt_pm", 5, EventInput::NewPaymentMethod { method: None }),
            t(5),
            &ctx,
        );
        assert!(matches!(
            commands.as_slice(),
            [Command::CancelPendingRetries, Command::ScheduleRetry { at, .. }] if *at == t(5)
        ));
        assert_eq!(track.outcome(), Some(CaseState::Retrying));
    }

    #[test]
    fn the_final_action_ends_the_case() {
        let (track, _) = run(&Policy::default(), vec![failed(), Input::FinalActionDone]);
        assert_eq!(track.outcome(), Some(CaseState::Canceled));
    }

    #[test]
    fn processor_owned_retries_are_never_scheduled_by_us() {
        let policy = Policy {
            retry_owner: RetryOwner::Processor,
            ..Policy::default()
        };
        let (_, commands) = run(
            &policy,
            vec![
                failed(),
                event(
                    "evt_charge",
                    0,
                    EventInput::Decline(decline("insufficient_funds")),
                ),
                event("evt_pm", 1, EventInput::NewPaymentMethod { method: None }),
            ],
        );
        assert_eq!(retries(&commands), 0, "{commands:?}");
    }

    #[test]
    fn a_dispute_pauses_and_resume_replans() {
        let policy = Policy::default();
        let ctx = ctx(&policy, "case_1");
        let mut track = Track::default();
        track.apply(failed(), t(0), &ctx);
        track.apply(event("evt_dp", 1, EventInput::DisputeOpened), t(1), &ctx);
        assert_eq!(track.outcome(), Some(CaseState::Paused));
        let commands = track.apply(Input::Resume, t(2), &ctx);
        assert_eq!(track.outcome(), Some(CaseState::Retrying));
        assert!(retries(&commands) == 1, "{commands:?}");
    }

    fn lifecycle() -> impl Strategy<Value = (Vec<Input>, CaseState)> {
        prop_oneof![
            Just((
                vec![
                    failed(),
                    event(
                        "evt_ch",
                        0,
                        EventInput::Decline(decline("insufficient_funds"))
                    ),
                    event("evt_paid", 30, EventInput::Paid),
                ],
                CaseState::Recovered
            )),
            Just((
                vec![
                    failed(),
                    event("evt_ch", 0, EventInput::Decline(decline("expired_card"))),
                    event("evt_void", 40, EventInput::Voided),
                ],
                CaseState::Closed
            )),
            Just((
                vec![
                    failed(),
                    event("evt_pi", 0, EventInput::Decline(decline("do_not_honor"))),
                    event("evt_del", 500, EventInput::SubscriptionDeleted),
                ],
                CaseState::Canceled
            )),
        ]
    }

    /// What the customer is sent (or planned to be), as a set.
    fn emails(commands: &[Command]) -> BTreeSet<String> {
        commands
            .iter()
            .filter_map(|c| match c {
                Command::SendEmail { kind, stage, .. } => {
                    Some(format!("{}:{stage}", kind.as_str()))
                }
                Command::AskToAuthenticate => Some("action_required".into()),
                Command::SendThankYou => Some("thank_you".into()),
                _ => None,
            })
            .collect()
    }

    fn authentication_inputs() -> Vec<Input> {
        vec![
            failed(),
            event("evt_ar", 0, EventInput::ActionRequired),
            event(
                "evt_ch",
                0,
                EventInput::Decline(decline("authentication_required")),
            ),
        ]
    }

    #[test]
    fn a_request_to_authenticate_asks_the_customer_in_either_order() {
        let policy = Policy::default();
        let (first, a) = run(&policy, authentication_inputs());
        let mut reversed = authentication_inputs();
        reversed.reverse();
        let (then, b) = run(&policy, reversed);
        assert_eq!(first.outcome(), Some(CaseState::AwaitingCustomer));
        assert_eq!(then.outcome(), Some(CaseState::AwaitingCustomer));
        assert_eq!(emails(&a), emails(&b));
        assert!(emails(&a).contains("action_required"), "{a:?}");
        // Only the action-required one alone, before the failure, too.
        let (alone, c) = run(
            &policy,
            vec![event("evt_ar", 0, EventInput::ActionRequired), failed()],
        );
        assert_eq!(alone.outcome(), Some(CaseState::AwaitingCustomer));
        assert_eq!(
            retries(&c),
            0,
            "no charge while the bank waits for the customer"
        );
        assert!(emails(&c).contains("action_required"), "{c:?}");
    }

    fn processor_failed(id: &str, hours: i64, will_retry: bool, attempt_count: u32) -> Input {
        event(
            id,
            hours,
            EventInput::PaymentFailed {
                processor_will_retry: will_retry,
                attempt_count,
            },
        )
    }

    fn after_processor() -> Policy {
        Policy {
            retry_owner: RetryOwner::AfterProcessor,
            ..Policy::default()
        }
    }

    #[test]
    fn after_processor_emails_at_once_and_charges_when_the_processor_gives_up() {
        let policy = after_processor();
        let (track, commands) = run(
            &policy,
            vec![
                event(
                    "evt_decline",
                    0,
                    EventInput::Decline(decline("insufficient_funds")),
                ),
                processor_failed("evt_1", 0, true, 1),
            ],
        );
        assert_eq!(retries(&commands), 0, "{commands:?}");
        assert!(
            !emails(&commands).is_empty(),
            "emails go out from the first failure"
        );
        assert!(
            notes(&commands)
                .iter()
                .any(|n| n.contains("after_processor")),
            "{commands:?}"
        );
        assert_eq!(track.outcome(), Some(CaseState::Retrying));

        // The processor's attempts 2 and 3 fail; it still plans one more.
        let (track, commands) = run(
            &policy,
            vec![
                event(
                    "evt_decline",
                    0,
                    EventInput::Decline(decline("insufficient_funds")),
                ),
                processor_failed("evt_1", 0, true, 1),
                processor_failed("evt_3", 72, true, 3),
            ],
        );
        assert_eq!(retries(&commands), 0, "{commands:?}");
        let case = track.case.as_ref().unwrap();
        assert_eq!(
            case.attempts.len(),
            3,
            "the ledger counts the processor's attempts"
        );
        assert!(case.processor_retrying);
        // A new card meanwhile: the processor charges it, not us.
        let mut track = track;
        let commands = track.apply(
            event("evt_pm", 80, EventInput::NewPaymentMethod { method: None }),
            t(80),
            &ctx(&policy, "case_1"),
        );
        assert_eq!(retries(&commands), 0, "{commands:?}");
        assert!(
            notes(&commands)
                .iter()
                .any(|n| n.contains("processor still plans"))
        );

        // It gives up on its 4th: dunwell takes over, all four counted.
        let (track, commands) = run(
            &policy,
            vec![
                event(
                    "evt_decline",
                    0,
                    EventInput::Decline(decline("insufficient_funds")),
                ),
                processor_failed("evt_1", 0, true, 1),
                processor_failed("evt_3", 72, true, 3),
                processor_failed("evt_4", 120, false, 4),
                // A late, older event changes nothing.
                processor_failed("evt_2", 24, true, 2),
            ],
        );
        assert_eq!(retries(&commands), 1, "{commands:?}");
        assert!(
            notes(&commands)
                .iter()
                .any(|n| n.contains("gave up after 4")),
            "{commands:?}"
        );
        let case = track.case.as_ref().unwrap();
        assert_eq!(case.attempts.len(), 4);
        assert!(!case.processor_retrying);
        assert_eq!(
            case.retries_made, 0,
            "the processor's attempts are not our budget"
        );
    }

    #[test]
    fn our_own_attempts_echoed_by_the_processor_count_once() {
        let policy = Policy::default();
        let (track, _) = run(
            &policy,
            vec![
                event(
                    "evt_decline",
                    0,
                    EventInput::Decline(decline("processing_error")),
                ),
                failed(),
                Input::RetryDeclined {
                    attempt: 1,
                    decline: decline("processing_error"),
                },
                processor_failed("evt_echo", 5, false, 2),
            ],
        );
        let case = track.case.as_ref().unwrap();
        assert_eq!(case.attempts.len(), 2);
        assert_eq!(case.invoice_attempts, 2);
    }

    #[test]
    fn a_full_ledger_from_the_processor_blocks_our_first_retry() {
        // The processor tried a Visa card 15 times before giving up: the
        // network's 30-day cap leaves no slot in the window.
        let mut visa = decline("processing_error");
        visa.network = crate::domain::networks::Network::Visa;
        let policy = after_processor();
        let mut inputs = vec![
            event("evt_decline", 0, EventInput::Decline(visa)),
            processor_failed("evt_1", 0, true, 1),
        ];
        inputs.push(processor_failed("evt_15", 100, false, 15));
        let (track, commands) = run(&policy, inputs);
        assert_eq!(retries(&commands), 0, "{commands:?}");
        assert!(
            notes(&commands)
                .iter()
                .any(|n| n.contains("Visa allows 15")),
            "{commands:?}"
        );
        assert_eq!(track.case.as_ref().unwrap().attempts.len(), 15);
    }

    proptest! {
        /// A failure with a request to authenticate, in any order and
        /// duplication: the same end state and the same emails.
        #[test]
        fn authentication_requests_converge(
            order in proptest::collection::vec(0usize..3, 0..6),
        ) {
            let inputs = authentication_inputs();
            let mut sequence: Vec<Input> = order.iter().map(|&i| inputs[i].clone()).collect();
            sequence.extend(inputs.iter().cloned());
            let (track, commands) = run(&Policy::default(), sequence);
            let (canonical, expected) = run(&Policy::default(), authentication_inputs());
            prop_assert_eq!(track.outcome(), canonical.outcome());
            prop_assert_eq!(emails(&commands), emails(&expected));
        }

        /// Any order and any duplication of a lifecycle's settling events
        /// ends in the same state.
        #[test]
        fn events_in_any_order_converge(
            (events, expected) in lifecycle(),
            order in Just(()).prop_perturb(|_, mut rng| {
                let mut idx: Vec<usize> = (0..6).map(|i| i % 3).collect();
                for i in (1..idx.len()).rev() {
                    let j = (rng.next_u32() as usize) % (i + 1);
                    idx.swap(i, j);
                }
                let keep = 3 + (rng.next_u32() as usize) % 4;
                idx.truncate(keep);
                idx
            }),
        ) {
            let mut sequence: Vec<Input> = order.iter().map(|&i| events[i].clone()).collect();
            // Every event is delivered at least once.
            sequence.extend(events.iter().cloned());
            let (track, _) = run(&Policy::default(), sequence);
            prop_assert_eq!(track.outcome(), Some(expected));
        }

        /// Nothing is charged after recovery, the final action or closing.
        #[test]
        fn nothing_is_charged_once_the_case_has_ended(steps in proptest::collection::vec(0u8..9, 1..40)) {
            let policy = Policy::default();
            let ctx = ctx(&policy, "case_p");
            let mut track = Track::default();
            track.apply(failed(), t(0), &ctx);
            for (i, step) in steps.iter().enumerate() {
                let now = t(i as i64 + 1);
                let attempt = track.case.as_ref().map_or(1, |c| c.retries_made + 1);
                let input = match step {
                    0 => Input::RetryDeclined { attempt, decline: decline("insufficient_funds") },
                    1 => Input::RetryDeclined { attempt, decline: decline("processing_error") },
                    2 => Input::RetrySucceeded { attempt },
                    3 => Input::FinalActionDone,
                    4 => event(&format!("evt_pm{i}"), i as i64, EventInput::NewPaymentMethod { method: None }),
                    5 => Input::Pause,
                    6 => Input::Resume,
                    7 => event(&format!("evt_paid{i}"), i as i64, EventInput::Paid),
                    _ => Input::Close,
                };
                let was_terminal = track.outcome().is_some_and(CaseState::is_terminal);
                let commands = track.apply(input, now, &ctx);
                if was_terminal {
                    prop_assert_eq!(retries(&commands), 0, "retry after the end: {:?}", commands);
                }
                let made = track.case.as_ref().map_or(0, |c| c.retries_made);
                prop_assert!(made <= policy.retries.max_attempts);
            }
        }

        /// Whatever arrives in whatever order, no retry is planned while
        /// the processor's latest failure event says it will retry itself.
        #[test]
        fn never_charges_while_the_processor_plans_a_retry(
            owner in proptest::sample::select(vec![RetryOwner::AfterProcessor, RetryOwner::Dunwell]),
            steps in proptest::collection::vec((0u8..8, 1u32..12, proptest::bool::ANY), 1..30),
        ) {
            let policy = Policy { retry_owner: owner, ..Policy::default() };
            let ctx = ctx(&policy, "case_p");
            let mut track = Track::default();
            // (attempt_count, will_retry) of the processor's latest word.
            let mut latest_word = (0u32, false);
            for (i, (step, count, will_retry)) in steps.iter().enumerate() {
                let now = t(i as i64 + 1);
                let attempt = track.case.as_ref().map_or(1, |c| c.retries_made + 1);
                let input = match step {
                    0 | 1 => {
                        if *count >= latest_word.0 {
                            latest_word = (*count, *will_retry);
                        }
                        processor_failed(&format!("evt_f{i}"), i as i64, *will_retry, *count)
                    }
                    2 => Input::RetryDeclined { attempt, decline: decline("insufficient_funds") },
                    3 => event(&format!("evt_pm{i}"), i as i64, EventInput::NewPaymentMethod { method: None }),
                    4 => Input::RetryNow { reason: "operator".into() },
                    5 => Input::OfferTaken { reason: "offer".into() },
                    6 => event(&format!("evt_d{i}"), i as i64, EventInput::Decline(decline(if *will_retry { "do_not_honor" } else { "insufficient_funds" }))),
                    _ => Input::Resume,
                };
                let commands = track.apply(input, now, &ctx);
                if latest_word.1 {
                    prop_assert_eq!(retries(&commands), 0, "charged while the processor retries: {:?}", commands);
                }
            }
        }
    }
}
