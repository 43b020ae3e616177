//! The whole planned timeline of a case if every retry fails the same way:
//! what `dunwell plan` prints and what operators preview. Pure.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::decline::{Classification, DeclineCategory};
use super::policy::{FinalAction, Policy, RetryOwner, StageEmail, Tone};
use super::schedule::{NextRetry, PastAttempt, PlanInput, next_retry, stage_email_at};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepAction {
    Retry,
    Email,
    Final,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub at: DateTime<Utc>,
    pub action: StepAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<StageEmail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tone: Option<Tone>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_action: Option<FinalAction>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub waits_for_new_payment_method: bool,
    /// Sorted by time.
    pub steps: Vec<Step>,
    /// Why retries stopped (or never started).
    pub retries_end: String,
}

pub struct TimelineInput<'a> {
    pub case_key: &'a str,
    pub failed_at: DateTime<Utc>,
    pub decline: &'a Classification,
    pub timezone: Tz,
    pub country: Option<&'a str>,
    pub paid_at: &'a [DateTime<Utc>],
    pub policy: &'a Policy,
    /// Retry outcomes learned from this install's history, if any.
    pub learned: Option<&'a crate::domain::learned::Estimates>,
}

fn tone_word(tone: Tone) -> &'static str {
    match tone {
        Tone::Friendly => "friendly",
        Tone::Firm => "firmer",
        Tone::Final => "last",
    }
}

/// Plans retries (each failing like the first), the policy's emails and the
/// final action.
pub fn plan(input: &TimelineInput<'_>) -> Timeline {
    let policy = input.policy;
    let mut steps = Vec::new();
    let mut attempts = vec![PastAttempt {
        at: input.failed_at,
        category: input.decline.category,
    }];
    let mut retries_made = 0;
    let retries_end = if policy.retry_owner == RetryOwner::Processor {
        "retry_owner = \"processor\": the processor retries; dunwell only writes".to_owned()
    } else {
        loop {
            let last = attempts.last().expect("the failure").at;
            let next = next_retry(&PlanInput {
                case_key: input.case_key,
                first_failed_at: input.failed_at,
                now: last,
                attempts: &attempts,
                retries_made,
                latest: input.decline,
                timezone: input.timezone,
                country: input.country,
                paid_at: input.paid_at,
                policy,
                learned: input.learned,
                card_elsewhere: &[],
            });
            match next {
                NextRetry::At { at, reason } => {
                    retries_made += 1;
                    steps.push(Step {
                        at,
                        action: StepAction::Retry,
                        kind: None,
                        tone: None,
                        final_action: None,
                        reason: format!("retry {retries_made}: {reason}"),
                    });
                    attempts.push(PastAttempt {
                        at,
                        category: input.decline.category,
                    });
                }
                NextRetry::WaitForNewPaymentMethod { reason }
                | NextRetry::WaitForCustomer { reason }
                | NextRetry::NoMore { reason } => {
                    if policy.retry_owner == RetryOwner::AfterProcessor {
                        break format!(
                            "{reason} (retry_owner = \"after_processor\": the processor retries first; these retries start once it gives up, shown here as if it had at the failure)"
                        );
                    }
                    break reason;
                }
            }
        }
    };
    for stage in &policy.stages {
        let at = stage_email_at(input.failed_at, stage.day, input.timezone, input.case_key);
        let what = match stage.email {
            StageEmail::PaymentFailed => "payment failed",
            StageEmail::FinalNotice => "final notice stating the consequence",
        };
        steps.push(Step {
            at,
            action: StepAction::Email,
            kind: Some(stage.email),
            tone: Some(stage.tone),
            final_action: None,
            reason: format!(
                "policy stage day {}: {} {what} email{}",
                stage.day,
                tone_word(stage.tone),
                if input.decline.category == DeclineCategory::Hard {
                    ", with the card-update link up front"
                } else {
                    ""
                }
            ),
        });
    }
    steps.push(Step {
        at: input.failed_at + Duration::days(i64::from(policy.final_.day)),
        action: StepAction::Final,
        kind: None,
        tone: None,
        final_action: Some(policy.final_.action),
        reason: format!(
            "policy final day {}: nothing recovered by then",
            policy.final_.day
        ),
    });
    steps.sort_by_key(|s| s.at);
    Timeline {
        waits_for_new_payment_method: input.decline.category == DeclineCategory::Hard,
        steps,
        retries_end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::decline::classify;
    use crate::domain::events::DeclineDetails;

    fn timeline(code: &str, policy: &Policy) -> Timeline {
        let decline = classify(&DeclineDetails {
            code: Some("card_declined".into()),
            decline_code: Some(code.into()),
            ..Default::default()
        });
        plan(&TimelineInput {
            case_key: "case_1",
            failed_at: DateTime::parse_from_rfc3339("2026-03-03T10:00:00Z")
                .unwrap()
                .to_utc(),
            decline: &decline,
            timezone: chrono_tz::America::New_York,
            country: Some("US"),
            paid_at: &[],
            policy,
            learned: None,
        })
    }

    #[test]
    fn funds_plan_retries_between_the_emails_and_ends_with_the_final_action() {
        let policy = Policy::default();
        let t = timeline("insufficient_funds", &policy);
        assert!(!t.waits_for_new_payment_method);
        let retries = t
            .steps
            .iter()
            .filter(|s| s.action == StepAction::Retry)
            .count();
        assert!((1..=8).contains(&retries), "{retries}");
        assert_eq!(
            t.steps
                .iter()
                .filter(|s| s.action == StepAction::Email)
                .count(),
            4
        );
        assert_eq!(t.steps.last().unwrap().action, StepAction::Final);
        assert!(t.steps.windows(2).all(|w| w[0].at <= w[1].at));
    }

    #[test]
    fn hard_declines_plan_no_retries() {
        let t = timeline("expired_card", &Policy::default());
        assert!(t.waits_for_new_payment_method);
        assert!(t.steps.iter().all(|s| s.action != StepAction::Retry));
        assert!(t.retries_end.contains("payment method"));
    }

    #[test]
    fn a_processor_owned_policy_plans_no_retries() {
        let policy = Policy {
            retry_owner: RetryOwner::Processor,
            ..Policy::default()
        };
        let t = timeline("insufficient_funds", &policy);
        assert!(t.steps.iter().all(|s| s.action != StepAction::Retry));
    }
}
