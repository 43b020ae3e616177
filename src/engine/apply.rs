//! Applies one input to a case inside a transaction and carries out the
//! commands the state machine returns: planned work rows plus their job
//! reminders, canceled work, and the timeline, all committed together.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::json;

use super::Engine;
use crate::domain::case::{Command, Context, Input, Track};
use crate::domain::policy::Tone;
use crate::mail::MailKind;
use crate::store::Tx;
use crate::store::cases::{self, CaseRow};
use crate::store::work::{self, NewWork};

/// Job queues, one per job.
pub const RETRY_QUEUE: &str = "retry_charge";
pub const EMAIL_QUEUE: &str = "send_email";
pub const FINAL_QUEUE: &str = "final_action";

pub fn queue_of(kind: &str) -> &'static str {
    match kind {
        "retry" => RETRY_QUEUE,
        "email" => EMAIL_QUEUE,
        _ => FINAL_QUEUE,
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The case's time zone (stored with it), else the policy's default.
pub fn timezone_of(engine: &Engine, case: &CaseRow) -> Tz {
    case.timezone
        .parse()
        .unwrap_or(engine.policy().default_timezone)
}

/// The job queue's run time (real unix seconds, rounded up: a job that
/// starts early finds its work not yet due) for engine time `due_ms`.
pub fn real_secs(engine: &Engine, due_ms: i64) -> u64 {
    (engine.clock.to_real_ms(due_ms).max(0) as u64).div_ceil(1000)
}

/// Applies `input` to the locked `case`; returns whether anything changed.
/// `cause` says, for the timeline, what brought the input.
pub async fn apply(
    engine: &Engine,
    tx: &mut Tx,
    case: &CaseRow,
    input: Input,
    cause: &str,
) -> anyhow::Result<bool> {
    let now = engine.clock.now();
    let paid_at: Vec<DateTime<Utc>> = cases::payments_of(tx, &case.customer_id)
        .await?
        .into_iter()
        .filter_map(DateTime::from_timestamp_millis)
        .collect();
    let case_key = format!("case-{}", case.id);
    let ctx = Context {
        case_key: &case_key,
        timezone: timezone_of(engine, case),
        paid_at: &paid_at,
        policy: engine.policy(),
    };
    let mut track: Track = case.track.clone();
    let before = track.outcome();
    let commands = track.apply(input, now, &ctx);
    if track == case.track && commands.is_empty() {
        return Ok(false);
    }
    let opened_at = track.case.as_ref().map(|c| ms(c.opened_at));
    cases::save_track(tx, case.id, &track, opened_at, ms(now)).await?;
    let after = track.outcome();
    if before != after {
        if let Some(to) = after {
            tracing::info!(case_id = case.id, from = ?before, to = ?to, cause, "case transition");
            let detail = json!({
                "from": before.map(|s| s.as_str()),
                "to": to.as_str(),
                "cause": cause,
            });
            cases::add_timeline(tx, case.id, ms(now), "transition", &detail).await?;
        }
    }
    let retries_made = track.case.as_ref().map_or(0, |c| c.retries_made);
    for command in commands {
        carry_out(engine, tx, case.id, command, now, retries_made).await?;
    }
    Ok(true)
}

/// Plans work and puts its job reminder on the queue in the same transaction.
async fn plan(
    engine: &Engine,
    tx: &mut Tx,
    case_id: i64,
    new: NewWork,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<i64>> {
    let Some(id) = work::insert_work(tx, case_id, &new, ms(now)).await? else {
        return Ok(None);
    };
    let run_at = real_secs(engine, new.due_at);
    work::push_job(tx, queue_of(new.kind), id, run_at).await?;
    Ok(Some(id))
}

fn email_work(kind: MailKind, tone: Tone, stage: u32, at: DateTime<Utc>) -> NewWork {
    NewWork {
        kind: "email",
        key: format!("email:{}:{stage}", kind.as_str()),
        due_at: ms(at),
        detail: json!({"kind": kind.as_str(), "tone": tone.as_str(), "stage": stage}),
    }
}

async fn carry_out(
    engine: &Engine,
    tx: &mut Tx,
    case_id: i64,
    command: Command,
    now: DateTime<Utc>,
    retries_made: u32,
) -> anyhow::Result<()> {
    let at_now = ms(now);
    match command {
        Command::ScheduleRetry {
            attempt,
            at,
            reason,
        } => {
            let new = NewWork {
                kind: "retry",
                key: format!("retry:{attempt}"),
                due_at: ms(at),
                detail: json!({"attempt": attempt, "reason": reason}),
            };
            if plan(engine, tx, case_id, new, now).await?.is_some() {
                let detail = json!({"attempt": attempt, "at": at.to_rfc3339(), "reason": reason});
                cases::add_timeline(tx, case_id, at_now, "retry_scheduled", &detail).await?;
            }
        }
        Command::SendEmail {
            kind,
            tone,
            stage,
            at,
        } => {
            let kind = MailKind::from(kind);
            if plan(engine, tx, case_id, email_work(kind, tone, stage, at), now)
                .await?
                .is_some()
            {
                let detail = json!({"kind": kind.as_str(), "tone": tone.as_str(), "stage": stage, "at": at.to_rfc3339()});
                cases::add_timeline(tx, case_id, at_now, "email_scheduled", &detail).await?;
            }
        }
        Command::ScheduleFinalAction { at, action } => {
            final_action(engine, tx, case_id, action, at, now).await?;
        }
        Command::RunFinalAction { action } => {
            final_action(engine, tx, case_id, action, now, now).await?;
        }
        Command::CancelPendingWork => {
            let n = work::cancel_work(tx, case_id, None, at_now).await?;
            if n > 0 {
                let detail = json!({"canceled": n, "what": "all pending work"});
                cases::add_timeline(tx, case_id, at_now, "canceled", &detail).await?;
            }
        }
        Command::CancelPendingRetries => {
            let n = work::cancel_work(tx, case_id, Some("retry"), at_now).await?;
            if n > 0 {
                let detail = json!({"canceled": n, "what": "pending retries (replanned)"});
                cases::add_timeline(tx, case_id, at_now, "canceled", &detail).await?;
            }
        }
        Command::SendThankYou => {
            let new = email_work(MailKind::ThankYou, Tone::Friendly, 0, now);
            plan(engine, tx, case_id, new, now).await?;
        }
        Command::AskToAuthenticate => {
            let new = email_work(MailKind::ActionRequired, Tone::Friendly, retries_made, now);
            plan(engine, tx, case_id, new, now).await?;
        }
        Command::Note { text } => {
            tracing::warn!(case_id, note = %text, "case note");
            cases::add_timeline(tx, case_id, at_now, "note", &json!({"text": text})).await?;
        }
    }
    Ok(())
}

async fn final_action(
    engine: &Engine,
    tx: &mut Tx,
    case_id: i64,
    action: crate::domain::policy::FinalAction,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let new = NewWork {
        kind: "final",
        key: "final".into(),
        due_at: ms(at),
        detail: json!({"action": action.as_str()}),
    };
    if plan(engine, tx, case_id, new, now).await?.is_some() {
        let detail = json!({"action": action.as_str(), "at": at.to_rfc3339()});
        cases::add_timeline(tx, case_id, ms(now), "final_action_scheduled", &detail).await?;
    }
    Ok(())
}
