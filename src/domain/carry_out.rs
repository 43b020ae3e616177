//! What carrying out a command of the case machine does, said once: the
//! engine (`engine::apply`) writes it to the database, the simulator
//! (`simulate::play`) to its calendar. A new command is a compile error here
//! until it says what it does, and both follow.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::case::Command;
use super::mail_kind::MailKind;
use super::policy::{FinalAction, Tone};
use super::work::{Email, Final, Retry, Work};

/// Which pending work a cancel voids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// Retries, emails and the final action.
    All,
    /// Only retries (the plan changed); emails stand.
    Retries,
}

impl Cancel {
    /// The `kind` of work it voids (`None`: every kind).
    pub fn kind(self) -> Option<&'static str> {
        match self {
            Self::All => None,
            Self::Retries => Some("retry"),
        }
    }

    /// What the timeline says was canceled.
    pub fn what(self) -> &'static str {
        match self {
            Self::All => "all pending work",
            Self::Retries => "pending retries (replanned)",
        }
    }
}

/// One command, carried out.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Plan `work` at `due`, with the timeline line that says so when it is
    /// planned now (not before).
    Plan {
        work: Work,
        due: DateTime<Utc>,
        line: Option<(&'static str, serde_json::Value)>,
    },
    /// Void pending work.
    Cancel(Cancel),
    /// A note for the operator (log and timeline).
    Note(String),
}

/// What `command`, given at `now` with `retries_made` retries behind the
/// case, does.
pub fn effect_of(command: Command, now: DateTime<Utc>, retries_made: u32) -> Effect {
    let email = |kind: MailKind, tone: Tone, stage: u32, due: DateTime<Utc>| Effect::Plan {
        work: Work::Email(Email { kind, tone, stage }),
        due,
        line: None,
    };
    let final_action = |action: FinalAction, due: DateTime<Utc>| Effect::Plan {
        work: Work::Final(Final { action, fresh: 0 }),
        due,
        line: Some((
            "final_action_scheduled",
            json!({"action": action.as_str(), "at": due.to_rfc3339()}),
        )),
    };
    match command {
        Command::ScheduleRetry {
            attempt,
            at,
            reason,
        } => Effect::Plan {
            line: Some((
                "retry_scheduled",
                json!({"attempt": attempt, "at": at.to_rfc3339(), "reason": reason}),
            )),
            work: Work::Retry(Retry {
                attempt,
                reason,
                fresh: 0,
            }),
            due: at,
        },
        Command::SendEmail {
            kind,
            tone,
            stage,
            at,
        } => {
            let kind = MailKind::from(kind);
            Effect::Plan {
                work: Work::Email(Email { kind, tone, stage }),
                due: at,
                line: Some((
                    "email_scheduled",
                    json!({"kind": kind.as_str(), "tone": tone.as_str(), "stage": stage, "at": at.to_rfc3339()}),
                )),
            }
        }
        Command::ScheduleFinalAction { at, action } => final_action(action, at),
        Command::RunFinalAction { action } => final_action(action, now),
        Command::CancelPendingWork => Effect::Cancel(Cancel::All),
        Command::CancelPendingRetries => Effect::Cancel(Cancel::Retries),
        Command::SendThankYou => email(MailKind::ThankYou, Tone::Friendly, 0, now),
        Command::TellTheEnd { action } => {
            let kind = match action {
                FinalAction::Downgrade => MailKind::SubscriptionDowngraded,
                _ => MailKind::SubscriptionCanceled,
            };
            email(kind, Tone::Final, 0, now)
        }
        Command::AskToAuthenticate => {
            email(MailKind::ActionRequired, Tone::Friendly, retries_made, now)
        }
        Command::Note { text } => Effect::Note(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::StageEmail;
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 10, 0, 0).unwrap()
    }

    #[test]
    fn every_command_plans_cancels_or_notes() {
        let now = at(10);
        let retry = effect_of(
            Command::ScheduleRetry {
                attempt: 2,
                at: at(13),
                reason: "payday".into(),
            },
            now,
            1,
        );
        let Effect::Plan { work, due, line } = retry else {
            panic!("{retry:?}")
        };
        assert_eq!(work.key(), "retry:2");
        assert_eq!(due, at(13));
        assert_eq!(line.unwrap().0, "retry_scheduled");

        let reminder = effect_of(
            Command::SendEmail {
                kind: StageEmail::FinalNotice,
                tone: Tone::Final,
                stage: 3,
                at: at(20),
            },
            now,
            1,
        );
        assert!(matches!(&reminder, Effect::Plan { work, due, .. }
            if work.key() == "email:final_notice:3" && *due == at(20)));

        let ran = effect_of(
            Command::RunFinalAction {
                action: FinalAction::Cancel,
            },
            now,
            1,
        );
        assert!(matches!(&ran, Effect::Plan { work: Work::Final(_), due, .. } if *due == now));
        let told = effect_of(
            Command::TellTheEnd {
                action: FinalAction::Downgrade,
            },
            now,
            1,
        );
        assert!(matches!(&told, Effect::Plan { work: Work::Email(e), .. }
            if e.kind == MailKind::SubscriptionDowngraded));
        let asked = effect_of(Command::AskToAuthenticate, now, 2);
        assert!(matches!(&asked, Effect::Plan { work: Work::Email(e), .. }
            if e.kind == MailKind::ActionRequired && e.stage == 2));
        assert!(matches!(
            effect_of(Command::SendThankYou, now, 2),
            Effect::Plan {
                work: Work::Email(Email {
                    kind: MailKind::ThankYou,
                    ..
                }),
                ..
            }
        ));
        assert_eq!(
            effect_of(Command::CancelPendingRetries, now, 0),
            Effect::Cancel(Cancel::Retries)
        );
        assert_eq!(
            effect_of(Command::CancelPendingWork, now, 0),
            Effect::Cancel(Cancel::All)
        );
        assert_eq!(
            effect_of(Command::Note { text: "hi".into() }, now, 0),
            Effect::Note("hi".into())
        );
    }
}
