//! The operator's dunning policy (`[policy]` in the TOML file): who retries,
//! the email stages, the final action, the offers. Parsed from the raw shape
//! and validated as a whole; every problem names its key.

use std::collections::HashSet;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::courtesy::Courtesy;
use super::ids::PriceId;
use super::locale::Locale;
use super::networks::NetworkCaps;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryOwner {
    /// dunwell schedules and makes the charge attempts.
    Dunwell,
    /// The processor retries; dunwell only communicates.
    Processor,
    /// The processor retries first; dunwell emails from the first failure
    /// and charges only once the processor has given up.
    AfterProcessor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    Friendly,
    Firm,
    Final,
}

/// Emails a policy stage may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageEmail {
    PaymentFailed,
    FinalNotice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalAction {
    Cancel,
    Downgrade,
    MarkUncollectible,
    Pause,
    None,
}

impl RetryOwner {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dunwell => "dunwell",
            Self::Processor => "processor",
            Self::AfterProcessor => "after_processor",
        }
    }
}

impl Tone {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Friendly => "friendly",
            Self::Firm => "firm",
            Self::Final => "final",
        }
    }
}

impl StageEmail {
    /// The template kind, as written in the policy.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaymentFailed => "payment_failed",
            Self::FinalNotice => "final_notice",
        }
    }
}

impl FinalAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::Downgrade => "downgrade",
            Self::MarkUncollectible => "mark_uncollectible",
            Self::Pause => "pause",
            Self::None => "none",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferKind {
    PlanChange,
    Pause,
}

impl OfferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PlanChange => "plan_change",
            Self::Pause => "pause",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Retries {
    /// Our own charge attempts per invoice.
    pub max_attempts: u32,
    /// Days after the first failure within which retries happen.
    pub window_days: u32,
    /// The policy's own cap on attempts on one card in any 30 days, on
    /// top of the networks' (`[policy.networks]`).
    pub max_per_card_30_days: u32,
    /// The planner's own numbers (not a key: chosen for the worst case
    /// over the population models, see `schedule::Tuning`).
    pub tuning: crate::domain::schedule::Tuning,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// Days since the first failure.
    pub day: u32,
    pub email: StageEmail,
    pub tone: Tone,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Final {
    pub day: u32,
    pub action: FinalAction,
    pub downgrade_price: Option<PriceId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub id: String,
    pub kind: OfferKind,
    pub price: Option<PriceId>,
    /// The operator's words, in the policy's default language.
    pub label: String,
    /// The operator's words in other languages (`[policy.offers.labels]`);
    /// a language without them gets dunwell's own, with the price the
    /// processor states.
    pub labels: Vec<(Locale, String)>,
    /// A pause lasts this many days (`pause_collection[resumes_at]`).
    pub pause_days: u32,
    /// The thank-you may mention this offer ("by the way…"): only for an
    /// offer worth more to the customer, never a downgrade.
    pub thank_you: bool,
    /// How the processor bills a plan change mid-period:
    /// `none` (the default: no extra charge), `create_prorations` or
    /// `always_invoice`.
    pub proration_behavior: &'static str,
}

/// The `proration_behavior` values the processor knows.
pub const PRORATION_BEHAVIORS: [&str; 3] = ["none", "create_prorations", "always_invoice"];

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub retry_owner: RetryOwner,
    pub default_timezone: Tz,
    pub retries: Retries,
    /// Attempt caps per card by network.
    pub networks: NetworkCaps,
    /// Sorted by day.
    pub stages: Vec<Stage>,
    pub final_: Final,
    pub offers: Vec<Offer>,
    /// The language of customers whose own is unknown or not shipped.
    pub default_locale: Locale,
    /// Quiet hours and the gap between reminders.
    pub courtesy: Courtesy,
    /// Days a customer link keeps working after its case ended.
    pub link_days_after_end: u32,
    /// A share of new cases that open under another stored version.
    pub holdout: Option<Holdout>,
}

/// `[policy.holdout]`: a share of new cases opens under another stored
/// policy version (the old one kept as a control, or a challenger), so
/// recovery can be compared on real customers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Holdout {
    pub version: i64,
    /// Percent of new cases, more than 0 and less than 100.
    pub share_percent: f64,
}

impl Policy {
    /// The effective policy, one line per key, as `check-config` prints it
    /// and the dashboard shows it.
    pub fn summary(&self) -> Vec<(&'static str, String)> {
        let offers = if self.offers.is_empty() {
            "none".to_owned()
        } else {
            self.offers
                .iter()
                .map(|o| format!("{} ({}: {})", o.id, o.kind.as_str(), o.label))
                .collect::<Vec<_>>()
                .join(", ")
        };
        vec![
            ("retry_owner", self.retry_owner.as_str().to_owned()),
            ("default_timezone", self.default_timezone.name().to_owned()),
            (
                "retries",
                format!(
                    "max_attempts {}, window {} days, at most {} per card in 30 days",
                    self.retries.max_attempts,
                    self.retries.window_days,
                    self.retries.max_per_card_30_days
                ),
            ),
            (
                "networks",
                format!(
                    "Visa {} per card in 30 days, Mastercard {} in 30 days and {} in 24 hours, other cards {} in 30 days",
                    self.networks.visa_per_30_days,
                    self.networks.mastercard_per_30_days,
                    self.networks.mastercard_per_24_hours,
                    self.networks.other_per_30_days
                ),
            ),
            (
                "stages",
                self.stages
                    .iter()
                    .map(|s| format!("day {} {} ({})", s.day, s.email.as_str(), s.tone.as_str()))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            (
                "final",
                format!("day {} {}", self.final_.day, self.final_.action.as_str()),
            ),
            ("offers", offers),
            ("default_locale", self.default_locale.as_str().to_owned()),
            (
                "quiet_hours",
                self.courtesy
                    .quiet_hours
                    .map_or_else(|| "off".to_owned(), |(a, b)| format!("{a}-{b}")),
            ),
            (
                "min_hours_between_emails",
                self.courtesy.min_gap_hours.to_string(),
            ),
            ("link_days_after_end", self.link_days_after_end.to_string()),
            (
                "holdout",
                self.holdout.map_or_else(
                    || "none".to_owned(),
                    |h| {
                        format!(
                            "{}% of new cases open under version {}",
                            h.share_percent, h.version
                        )
                    },
                ),
            ),
        ]
    }
}

/// The `[policy]` table as written; `None` means "use the default".
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_owner: Option<RetryOwner>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<RawRetries>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networks: Option<RawNetworks>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<RawStage>>,
    #[serde(rename = "final", skip_serializing_if = "Option::is_none")]
    pub final_: Option<RawFinal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offers: Option<Vec<RawOffer>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_locale: Option<String>,
    /// Local hours without email, `"21-8"`; `"off"`: any time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<String>,
    /// Hours between two reminders to one customer; 0: no limit.
    #[serde(
        default,
        deserialize_with = "whole_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub min_hours_between_emails: Option<u32>,
    /// Days a customer link keeps working after its case ended.
    #[serde(
        default,
        deserialize_with = "whole_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub link_days_after_end: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdout: Option<RawHoldout>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHoldout {
    /// The stored policy version the share opens under.
    pub version: Option<i64>,
    /// Percent of new cases (e.g. 10).
    pub share_percent: Option<f64>,
}

/// A whole number written as a number (TOML, a parsed environment value)
/// or as text (an override given as a string).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        Number(u32),
        Text(String),
    }
    match Option::<Given>::deserialize(d)? {
        None => Ok(None),
        Some(Given::Number(n)) => Ok(Some(n)),
        Some(Given::Text(t)) => {
            t.trim().parse().map(Some).map_err(|_| {
                serde::de::Error::custom(format!("expected a whole number, got {t:?}"))
            })
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetries {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_per_card_30_days: Option<u32>,
}

/// `[policy.networks]`: lower the networks' caps (never raise them).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNetworks {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visa_per_30_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mastercard_per_30_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mastercard_per_24_hours: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_per_30_days: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub day: u32,
    pub email: StageEmail,
    pub tone: Tone,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFinal {
    /// Missing: the default policy's.
    pub day: Option<u32>,
    pub action: Option<FinalAction>,
    pub downgrade_price: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOffer {
    pub id: String,
    pub kind: OfferKind,
    pub price: Option<String>,
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proration_behavior: Option<String>,
    /// The label in other languages: `{ de = "…", fr = "…" }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
    /// How long a pause lasts, in days (1 to 90; kind = "pause").
    #[serde(
        default,
        deserialize_with = "whole_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub pause_days: Option<u32>,
    /// The thank-you may mention this offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thank_you: Option<bool>,
}

/// How long a pause lasts when the offer does not say.
pub const DEFAULT_PAUSE_DAYS: u32 = 30;

/// Visa allows at most 20 reattempts in 30 days (since May 2025).
pub const NETWORK_MAX_PER_CARD_30_DAYS: u32 = 20;

impl Default for Policy {
    /// A friendly note at the first failure, firmer reminders on days 3 and 7
    /// (most recoveries happen in the first week, while the customer still
    /// remembers the service), a final notice on day 14 that states the
    /// consequence a full week ahead, and cancellation on day 21: three weeks
    /// cover a monthly payday cycle and a half without keeping an unpaid
    /// account open for most of the next billing period.
    fn default() -> Self {
        let stage = |day, email, tone| Stage { day, email, tone };
        Self {
            retry_owner: RetryOwner::Dunwell,
            default_timezone: Tz::UTC,
            retries: Retries {
                max_attempts: 8,
                window_days: 21,
                max_per_card_30_days: NETWORK_MAX_PER_CARD_30_DAYS,
                tuning: crate::domain::schedule::Tuning::DEFAULT,
            },
            networks: NetworkCaps::PUBLISHED,
            stages: vec![
                stage(0, StageEmail::PaymentFailed, Tone::Friendly),
                stage(3, StageEmail::PaymentFailed, Tone::Firm),
                stage(7, StageEmail::PaymentFailed, Tone::Firm),
                stage(14, StageEmail::FinalNotice, Tone::Final),
            ],
            final_: Final {
                day: 21,
                action: FinalAction::Cancel,
                downgrade_price: None,
            },
            offers: Vec::new(),
            default_locale: Locale::En,
            courtesy: Courtesy::default(),
            link_days_after_end: 14,
            holdout: None,
        }
    }
}

impl RawPolicy {
    /// Fills what is not given from the default policy, then checks the
    /// whole. Errors are `policy.<key>: what is wrong`.
    pub fn validate(self) -> Result<Policy, Vec<String>> {
        let default = Policy::default();
        let mut errors = Vec::new();
        let mut error =
            |key: &str, message: String| errors.push(format!("policy.{key}: {message}"));

        let default_timezone = match self.default_timezone.as_deref() {
            None => default.default_timezone,
            Some(name) => name.parse::<Tz>().unwrap_or_else(|_| {
                error(
                    "default_timezone",
                    format!("{name:?} is not an IANA time zone (e.g. \"Europe/Lisbon\")"),
                );
                default.default_timezone
            }),
        };

        let raw = self.retries.unwrap_or_default();
        let retries = Retries {
            max_attempts: raw.max_attempts.unwrap_or(default.retries.max_attempts),
            window_days: raw.window_days.unwrap_or(default.retries.window_days),
            max_per_card_30_days: raw
                .max_per_card_30_days
                .unwrap_or(default.retries.max_per_card_30_days),
            tuning: default.retries.tuning,
        };
        if !(1..=60).contains(&retries.window_days) {
            error(
                "retries.window_days",
                format!("must be 1 to 60 days, got {}", retries.window_days),
            );
        }
        if !(1..=NETWORK_MAX_PER_CARD_30_DAYS).contains(&retries.max_per_card_30_days) {
            error(
                "retries.max_per_card_30_days",
                format!(
                    "must be 1 to {NETWORK_MAX_PER_CARD_30_DAYS} (the card networks' cap), got {}",
                    retries.max_per_card_30_days
                ),
            );
        }
        if retries.max_attempts == 0 || retries.max_attempts > retries.max_per_card_30_days {
            error(
                "retries.max_attempts",
                format!(
                    "must be 1 to {} (max_per_card_30_days), got {}",
                    retries.max_per_card_30_days, retries.max_attempts
                ),
            );
        }

        let raw = self.networks.unwrap_or_default();
        let published = NetworkCaps::PUBLISHED;
        let mut cap = |key: &str, given: Option<u32>, limit: u32| {
            let value = given.unwrap_or(limit);
            if !(1..=limit).contains(&value) {
                error(
                    &format!("networks.{key}"),
                    format!("must be 1 to {limit} (the network's published cap), got {value}"),
                );
            }
            value.clamp(1, limit)
        };
        let networks = NetworkCaps {
            visa_per_30_days: cap(
                "visa_per_30_days",
                raw.visa_per_30_days,
                published.visa_per_30_days,
            ),
            mastercard_per_30_days: cap(
                "mastercard_per_30_days",
                raw.mastercard_per_30_days,
                published.mastercard_per_30_days,
            ),
            mastercard_per_24_hours: cap(
                "mastercard_per_24_hours",
                raw.mastercard_per_24_hours,
                published.mastercard_per_24_hours,
            ),
            other_per_30_days: cap(
                "other_per_30_days",
                raw.other_per_30_days,
                published.other_per_30_days,
            ),
        };

        let final_ = match self.final_ {
            None => default.final_.clone(),
            Some(raw) => {
                let downgrade_price = match raw.downgrade_price {
                    Some(p) => PriceId::parse(&p)
                        .map_err(|e| error("final.downgrade_price", e.to_string()))
                        .ok(),
                    None => None,
                };
                let action = raw.action.unwrap_or(default.final_.action);
                if action == FinalAction::Downgrade && downgrade_price.is_none() {
                    error(
                        "final.downgrade_price",
                        "required when action = \"downgrade\" (the price to move the subscription to)".into(),
                    );
                }
                Final {
                    day: raw.day.unwrap_or(default.final_.day),
                    action,
                    downgrade_price,
                }
            }
        };
        if final_.day == 0 || final_.day > 90 {
            error("final.day", format!("must be 1 to 90, got {}", final_.day));
        }

        let mut stages: Vec<Stage> = match self.stages {
            None => default.stages.clone(),
            Some(raw) => raw
                .into_iter()
                .map(|s| Stage {
                    day: s.day,
                    email: s.email,
                    tone: s.tone,
                })
                .collect(),
        };
        stages.sort_by_key(|s| s.day);
        let mut seen_days = HashSet::new();
        for (i, stage) in stages.iter().enumerate() {
            if stage.day >= final_.day {
                error(
                    &format!("stages[{i}].day"),
                    format!(
                        "day {} is not before the final action on day {}",
                        stage.day, final_.day
                    ),
                );
            }
            if !seen_days.insert(stage.day) {
                error(
                    &format!("stages[{i}].day"),
                    format!("two stages on day {}", stage.day),
                );
            }
        }

        let mut offers = Vec::new();
        let mut seen_ids = HashSet::new();
        for (i, raw) in self.offers.unwrap_or_default().into_iter().enumerate() {
            let slug = !raw.id.is_empty()
                && raw.id.len() <= 40
                && raw.id.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if !slug {
                error(
                    &format!("offers[{i}].id"),
                    format!(
                        "must be a short lower-case slug like \"yearly\", got {:?}",
                        raw.id
                    ),
                );
            }
            if !seen_ids.insert(raw.id.clone()) {
                error(
                    &format!("offers[{i}].id"),
                    format!("{:?} is used twice", raw.id),
                );
            }
            if raw.label.trim().is_empty() {
                error(&format!("offers[{i}].label"), "must not be empty".into());
            }
            let price = match raw.price {
                Some(p) => PriceId::parse(&p)
                    .map_err(|e| error(&format!("offers[{i}].price"), e.to_string()))
                    .ok(),
                None => None,
            };
            if raw.kind == OfferKind::PlanChange && price.is_none() {
                error(
                    &format!("offers[{i}].price"),
                    "required for kind = \"plan_change\"".into(),
                );
            }
            let proration = raw.proration_behavior.as_deref().unwrap_or("none");
            let proration_behavior = PRORATION_BEHAVIORS
                .into_iter()
                .find(|p| *p == proration)
                .unwrap_or_else(|| {
                    error(
                        &format!("offers[{i}].proration_behavior"),
                        format!(
                            "must be one of {}, got {proration:?}",
                            PRORATION_BEHAVIORS.join(", ")
                        ),
                    );
                    "none"
                });
            let mut labels = Vec::new();
            for (tag, text) in raw.labels.unwrap_or_default() {
                match Locale::parse(&tag).filter(|l| l.as_str() == tag) {
                    _ if text.trim().is_empty() => error(
                        &format!("offers[{i}].labels.{tag}"),
                        "must not be empty".into(),
                    ),
                    Some(locale) => labels.push((locale, text)),
                    None => error(
                        &format!("offers[{i}].labels.{tag}"),
                        format!(
                            "{tag:?} is not a language dunwell writes (en, de, fr, es, pt, pt-BR)"
                        ),
                    ),
                }
            }
            let pause_days = raw.pause_days.unwrap_or(DEFAULT_PAUSE_DAYS);
            if raw.pause_days.is_some() && raw.kind != OfferKind::Pause {
                error(
                    &format!("offers[{i}].pause_days"),
                    "only for kind = \"pause\"".into(),
                );
            }
            if !(1..=90).contains(&pause_days) {
                error(
                    &format!("offers[{i}].pause_days"),
                    format!("must be 1 to 90, got {pause_days}"),
                );
            }
            let thank_you = raw.thank_you.unwrap_or(false);
            if thank_you && raw.kind != OfferKind::PlanChange {
                error(
                    &format!("offers[{i}].thank_you"),
                    "only a plan change can be offered in the thank-you".into(),
                );
            }
            offers.push(Offer {
                id: raw.id,
                kind: raw.kind,
                price,
                label: raw.label,
                labels,
                pause_days,
                thank_you,
                proration_behavior,
            });
        }

        let default_locale = match self.default_locale.as_deref() {
            None => default.default_locale,
            Some(tag) => Locale::parse(tag).unwrap_or_else(|| {
                error(
                    "default_locale",
                    format!("must be one of en, de, fr, es, pt, pt-BR, got {tag:?}"),
                );
                default.default_locale
            }),
        };
        let quiet_hours = match self.quiet_hours.as_deref().map(str::trim) {
            None => default.courtesy.quiet_hours,
            Some("off") => None,
            Some(text) => {
                let hours = text
                    .split_once('-')
                    .and_then(|(a, b)| {
                        Some((a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?))
                    })
                    .filter(|(a, b)| *a < 24 && *b < 24 && a != b);
                if hours.is_none() {
                    error(
                        "quiet_hours",
                        format!(
                            "must be local hours like \"21-8\" (no email from 21:00 to 08:00) or \"off\", got {text:?}"
                        ),
                    );
                }
                hours
            }
        };
        let min_gap_hours = self
            .min_hours_between_emails
            .unwrap_or(default.courtesy.min_gap_hours);
        if min_gap_hours > 24 * 14 {
            error(
                "min_hours_between_emails",
                format!("must be at most 336 (two weeks), got {min_gap_hours}"),
            );
        }
        let holdout = self.holdout.and_then(|raw| {
            let version = raw.version.filter(|v| *v >= 1);
            if version.is_none() {
                error(
                    "holdout.version",
                    format!(
                        "must name a stored policy version (1, 2…), got {}",
                        raw.version
                            .map_or_else(|| "nothing".to_owned(), |v| v.to_string())
                    ),
                );
            }
            let share = raw.share_percent.filter(|s| *s > 0.0 && *s < 100.0);
            if share.is_none() {
                error(
                    "holdout.share_percent",
                    format!(
                        "must be a percent of new cases above 0 and below 100 (e.g. 10), got {}",
                        raw.share_percent
                            .map_or_else(|| "nothing".to_owned(), |v| v.to_string())
                    ),
                );
            }
            Some(Holdout {
                version: version?,
                share_percent: share?,
            })
        });
        if errors.is_empty() {
            Ok(Policy {
                holdout,
                link_days_after_end: self
                    .link_days_after_end
                    .unwrap_or(default.link_days_after_end),
                courtesy: Courtesy {
                    quiet_hours,
                    min_gap_hours,
                },
                default_locale,
                retry_owner: self.retry_owner.unwrap_or(default.retry_owner),
                default_timezone,
                retries,
                networks,
                stages,
                final_,
                offers,
            })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<Policy, Vec<String>> {
        #[derive(Deserialize)]
        struct File {
            policy: RawPolicy,
        }
        let file: File = toml::from_str(toml_text).map_err(|e| vec![e.to_string()])?;
        file.policy.validate()
    }

    #[test]
    fn names_match_the_toml_spelling() {
        for action in [
            FinalAction::Cancel,
            FinalAction::MarkUncollectible,
            FinalAction::None,
        ] {
            assert_eq!(serde_json::to_value(action).unwrap(), action.as_str());
        }
        for email in [StageEmail::PaymentFailed, StageEmail::FinalNotice] {
            assert_eq!(serde_json::to_value(email).unwrap(), email.as_str());
        }
        for tone in [Tone::Friendly, Tone::Firm, Tone::Final] {
            assert_eq!(serde_json::to_value(tone).unwrap(), tone.as_str());
        }
        assert_eq!(
            serde_json::to_value(RetryOwner::Processor).unwrap(),
            RetryOwner::Processor.as_str()
        );
    }

    #[test]
    fn an_empty_policy_is_the_default() {
        assert_eq!(RawPolicy::default().validate().unwrap(), Policy::default());
        let p = Policy::default();
        assert_eq!(p.stages.len(), 4);
        assert_eq!(p.final_.day, 21);
        assert!(p.stages.iter().all(|s| s.day < p.final_.day));
    }

    #[test]
    fn reads_the_design_shape() {
        let p = parse(
            r#"
[policy]
retry_owner = "processor"
default_timezone = "Europe/Lisbon"
[policy.retries]
max_attempts = 6
window_days = 14
[[policy.stages]]
day = 3
email = "payment_failed"
tone = "firm"
[[policy.stages]]
day = 0
email = "payment_failed"
tone = "friendly"
[policy.final]
day = 14
action = "downgrade"
downgrade_price = "price_basic"
[[policy.offers]]
id = "yearly"
kind = "plan_change"
price = "price_yearly"
label = "Switch to yearly and save 20%"
"#,
        )
        .unwrap();
        assert_eq!(p.retry_owner, RetryOwner::Processor);
        assert_eq!(p.default_timezone, chrono_tz::Europe::Lisbon);
        assert_eq!(p.retries.max_attempts, 6);
        assert_eq!(p.stages[0].day, 0, "sorted by day");
        assert_eq!(p.final_.action, FinalAction::Downgrade);
        assert_eq!(p.final_.downgrade_price.unwrap().as_str(), "price_basic");
        assert_eq!(p.offers[0].price.as_ref().unwrap().as_str(), "price_yearly");
    }

    #[test]
    fn every_problem_is_named_by_its_key() {
        let errors = parse(
            r#"
[policy]
default_timezone = "Mars/Olympus"
[policy.retries]
max_attempts = 30
[[policy.stages]]
day = 25
email = "payment_failed"
tone = "firm"
[policy.final]
day = 21
action = "downgrade"
[[policy.offers]]
id = "Yearly Plan"
kind = "plan_change"
label = ""
"#,
        )
        .unwrap_err();
        let text = errors.join("\n");
        for key in [
            "policy.default_timezone",
            "policy.retries.max_attempts",
            "policy.stages[0].day",
            "policy.final.downgrade_price",
            "policy.offers[0].id",
            "policy.offers[0].label",
            "policy.offers[0].price",
        ] {
            assert!(text.contains(key), "{key} missing in:\n{text}");
        }
    }

    #[test]
    fn unknown_keys_and_values_are_refused() {
        let err = parse("[policy]\nretry_ownr = \"dunwell\"\n")
            .unwrap_err()
            .join("");
        assert!(err.contains("retry_ownr"), "{err}");
        let err = parse(
            "[policy]\n[[policy.stages]]\nday = 1\nemail = \"payment_failed\"\ntone = \"angry\"\n",
        )
        .unwrap_err()
        .join("");
        assert!(err.contains("angry"), "{err}");
    }
}
