//! Planned work: the side effects a case has planned, typed. A row of
//! `case_work` is one `Work` (its `kind` column names the variant, its
//! `detail` column holds the fields) with a `WorkStatus`. One place says
//! which job runs which work: `jobs::perform` matches on `Work`.

use serde::{Deserialize, Serialize};

use super::mail_kind::MailKind;
use super::policy::{FinalAction, Tone};

/// A charge attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retry {
    /// The customer's attempt number (1-based).
    pub attempt: u32,
    /// Why this slot was chosen.
    #[serde(default)]
    pub reason: String,
    /// Answers the processor stored under this attempt's keys that call for
    /// a fresh key (5xx, idempotency errors): not the customer's attempts.
    #[serde(default)]
    pub fresh: u32,
}

/// An email of the case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Email {
    pub kind: MailKind,
    pub tone: Tone,
    pub stage: u32,
}

/// The end of the schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Final {
    pub action: FinalAction,
    #[serde(default)]
    pub fresh: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    Retry(Retry),
    Email(Email),
    Final(Final),
}

impl Work {
    /// The `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Retry(_) => "retry",
            Self::Email(_) => "email",
            Self::Final(_) => "final",
        }
    }

    /// Unique per case: one retry per attempt number, one email per (kind,
    /// stage), one final action.
    pub fn key(&self) -> String {
        match self {
            Self::Retry(r) => format!("retry:{}", r.attempt),
            Self::Email(e) => format!("email:{}:{}", e.kind.as_str(), e.stage),
            Self::Final(_) => "final".into(),
        }
    }

    /// The `detail` column.
    pub fn detail(&self) -> serde_json::Value {
        let value = match self {
            Self::Retry(r) => serde_json::to_value(r),
            Self::Email(e) => serde_json::to_value(e),
            Self::Final(f) => serde_json::to_value(f),
        };
        value.unwrap_or_default()
    }

    /// From the `kind` and `detail` columns; anything else is an error, never
    /// a default.
    pub fn parse(kind: &str, detail: &serde_json::Value) -> anyhow::Result<Self> {
        let detail = detail.clone();
        Ok(match kind {
            "retry" => Self::Retry(serde_json::from_value(detail)?),
            "email" => Self::Email(serde_json::from_value(detail)?),
            "final" => Self::Final(serde_json::from_value(detail)?),
            other => anyhow::bail!("unknown work kind {other:?}"),
        })
    }
}

/// Where a piece of work stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkStatus {
    /// Planned; the runner claims it when due.
    Pending,
    /// Carried out (its result says how it came out).
    Done,
    /// Found moot when due (the world moved on).
    Skipped,
    /// Taken off the plan before it was due.
    Canceled,
    /// Given up on: the case is flagged `needs_attention`.
    Failed,
}

impl WorkStatus {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Done,
        Self::Skipped,
        Self::Canceled,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Done => "done",
            Self::Skipped => "skipped",
            Self::Canceled => "canceled",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| anyhow::anyhow!("unknown work status {text:?}"))
    }
}

/// A side effect to plan.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWork {
    pub work: Work,
    /// Unix ms, simulated clock.
    pub due_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_round_trips_through_its_columns() {
        let all = [
            Work::Retry(Retry {
                attempt: 2,
                reason: "payday".into(),
                fresh: 1,
            }),
            Work::Email(Email {
                kind: MailKind::FinalNotice,
                tone: Tone::Final,
                stage: 3,
            }),
            Work::Final(Final {
                action: FinalAction::Downgrade,
                fresh: 0,
            }),
        ];
        for work in all {
            assert_eq!(Work::parse(work.kind(), &work.detail()).unwrap(), work);
        }
    }

    #[test]
    fn rows_written_before_fresh_existed_still_parse() {
        let old = serde_json::json!({"attempt": 1, "reason": "r"});
        let Work::Retry(r) = Work::parse("retry", &old).unwrap() else {
            panic!("a retry");
        };
        assert_eq!(r.fresh, 0);
        let email = serde_json::json!({"kind": "payment_failed", "tone": "firm", "stage": 1});
        assert!(Work::parse("email", &email).is_ok());
    }

    #[test]
    fn unknown_kinds_and_bad_details_are_errors() {
        assert!(Work::parse("sms", &serde_json::json!({})).is_err());
        assert!(Work::parse("final", &serde_json::json!({"action": "explode"})).is_err());
        assert!(Work::parse("retry", &serde_json::json!({})).is_err());
        assert!(WorkStatus::parse("lost").is_err());
    }
}
