//! Applies one input to a case inside a transaction and carries out the
//! commands the state machine returns: planned work, canceled work and the
//! timeline, all committed together.

use crate::domain::ids::CaseId;
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::json;

use super::Engine;
use super::outgoing;
use crate::domain::carry_out::{Effect, effect_of};
use crate::domain::case::{Command, Context, Input, Track};
use crate::domain::case_record::CaseRow;
use crate::domain::outgoing::OutgoingType;
use crate::domain::work::NewWork;
use crate::store::Tx;
use crate::store::cases;
use crate::store::customers;
use crate::store::work;

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The case's time zone (stored with it), else the policy's default.
pub fn timezone_of(engine: &Engine, case: &CaseRow) -> Tz {
    case.timezone
        .parse()
        .unwrap_or(engine.policy().default_timezone)
}

/// What applying an input did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Anything changed (the track, planned work or the timeline).
    pub changed: bool,
    /// The notes the machine wrote (why nothing was charged, say).
    pub notes: Vec<String>,
}

/// Applies `input` to the locked `case`; says what it did. `cause` says,
/// for the timeline, what brought the input.
pub async fn apply(
    engine: &Engine,
    tx: &mut Tx,
    case: &CaseRow,
    input: Input,
    cause: &str,
) -> anyhow::Result<Applied> {
    apply_after(engine, tx, case, input, cause, Vec::new()).await
}

/// `apply`, with timeline `lines` that come before the input's own (what
/// the job that brought it did), written in the same statement.
pub async fn apply_after(
    engine: &Engine,
    tx: &mut Tx,
    case: &CaseRow,
    input: Input,
    cause: &str,
    lines: Vec<(&'static str, serde_json::Value)>,
) -> anyhow::Result<Applied> {
    let now = engine.clock.now();
    let id = case.id;
    let paid_at: Vec<DateTime<Utc>> = cases::payments_of(tx, &case.customer_id)
        .await
        .with_context(|| format!("reading the customer's payments, case {id}"))?
        .into_iter()
        .filter_map(DateTime::from_timestamp_millis)
        .collect();
    let case_key = format!("case-{}", case.id);
    // Only a case about to open asks: the others were paused by the dispute.
    let disputed = case.track.case.is_none()
        && customers::has_open_dispute(tx, &case.customer_id)
            .await
            .with_context(|| format!("looking for an open dispute, case {id}"))?;
    let learned = engine.learned.current();
    // The card's ledger spans the customer's other live invoices.
    let month_ago = (now - chrono::Duration::days(30)).timestamp_millis();
    let card_elsewhere: Vec<DateTime<Utc>> =
        cases::other_live_attempts(tx, &case.customer_id, case.id, month_ago)
            .await
            .with_context(|| format!("reading the card's other attempts, case {id}"))?
            .into_iter()
            .filter_map(DateTime::from_timestamp_millis)
            .collect();
    // A case keeps the version it opened under; one about to open takes
    // the running version (or its holdout's).
    let (new_version, policy) = match case.policy_version {
        Some(v) => (None, engine.policy_at(v).await),
        None if case.track.case.is_none() => {
            let (v, p) = engine.policy_for_new_case(&case.invoice_id).await;
            (Some(v).filter(|v| *v > 0), p)
        }
        None => (None, engine.policy()),
    };
    let ctx = Context {
        case_key: &case_key,
        timezone: timezone_of(engine, case),
        country: case.country.as_deref(),
        paid_at: &paid_at,
        policy: &policy,
        learned: Some(&learned),
        card_elsewhere: &card_elsewhere,
        disputed,
    };
    let mut track: Track = case.track.clone();
    let before = track.outcome();
    // A refused retry, for the operator's systems.
    let declined = match &input {
        Input::RetryDeclined { attempt, decline } => Some(json!({
            "attempt": attempt,
            "decline_code": decline.code,
            "decline_category": decline.category.as_str(),
        })),
        _ => None,
    };
    let commands = track.apply(input, now, &ctx);
    let mut effects = Effects::new(case, ms(now));
    for (kind, detail) in lines {
        effects.line(kind, detail);
    }
    if track == case.track && commands.is_empty() {
        effects
            .flush(tx)
            .await
            .with_context(|| format!("writing the timeline lines, case {id}"))?;
        return Ok(Applied::default());
    }
    let notes = commands
        .iter()
        .filter_map(|c| match c {
            Command::Note { text } => Some(text.clone()),
            _ => None,
        })
        .collect();
    let opened_at = track.case.as_ref().map(|c| ms(c.opened_at));
    let pin = new_version.filter(|_| track.case.is_some());
    cases::save_track(tx, case.id, &track, opened_at, pin, ms(now))
        .await
        .with_context(|| format!("saving the case's state, case {id}"))?;
    let after = track.outcome();
    if before != after
        && let Some(to) = after
    {
        tracing::info!(case_id = %case.id, from = ?before, to = ?to, cause, "case transition");
        let mut detail = json!({
            "from": before.map(|s| s.as_str()),
            "to": to.as_str(),
            "cause": cause,
        });
        if before.is_none() {
            // The clock the case's schedule runs on, and why.
            detail["timezone"] = json!(case.timezone);
            detail["timezone_source"] =
                json!(case.timezone_source.as_deref().unwrap_or("policy_default"));
            // The policy version the case runs under to its end.
            detail["policy_version"] = json!(pin.or(case.policy_version));
        }
        effects.line("transition", detail);
        if let Some(kind) = OutgoingType::of_transition(before, to) {
            let detail = json!({
                "previous_state": before.map(|s| s.as_str()),
                "cause": cause,
            });
            outgoing::record(engine, tx, case, &track, kind, detail)
                .await
                .with_context(|| format!("recording the {kind:?} event, case {id}"))?;
        }
    }
    if let Some(detail) = declined {
        outgoing::record(
            engine,
            tx,
            case,
            &track,
            OutgoingType::AttemptFailed,
            detail,
        )
        .await
        .with_context(|| format!("recording the attempt_failed event, case {id}"))?;
    }
    let retries_made = track.case.as_ref().map_or(0, |c| c.retries_made);
    for command in commands {
        let what = command.name();
        carry_out(tx, &mut effects, command, now, retries_made)
            .await
            .with_context(|| format!("carrying out {what}, case {id}"))?;
    }
    effects
        .flush(tx)
        .await
        .with_context(|| format!("writing the planned work and timeline, case {id}"))?;
    Ok(Applied {
        changed: true,
        notes,
    })
}

/// What an input's commands add up to, written with as few statements as
/// possible: planned work in one insert (then its reminders), timeline
/// lines in one insert, in command order.
struct Effects {
    case_id: CaseId,
    /// The case's flag is up: planning work takes it down.
    flagged: bool,
    now_ms: i64,
    work: Vec<NewWork>,
    lines: Vec<Line>,
}

enum Line {
    Always(&'static str, serde_json::Value),
    /// Only when the work with this key was planned now (not before).
    IfPlanned(String, &'static str, serde_json::Value),
}

impl Effects {
    fn new(case: &CaseRow, now_ms: i64) -> Self {
        Self {
            case_id: case.id,
            flagged: case.needs_attention.is_some(),
            now_ms,
            work: Vec::new(),
            lines: Vec::new(),
        }
    }

    fn line(&mut self, kind: &'static str, detail: serde_json::Value) {
        self.lines.push(Line::Always(kind, detail));
    }

    fn plan(&mut self, work: NewWork, line: Option<(&'static str, serde_json::Value)>) {
        let key = work.work.key();
        if let Some((kind, detail)) = line {
            self.lines.push(Line::IfPlanned(key.clone(), kind, detail));
        }
        if !self.work.iter().any(|w| w.work.key() == key) {
            self.work.push(work);
        }
    }

    /// Writes the planned work, then the timeline.
    async fn flush(&mut self, tx: &mut Tx) -> anyhow::Result<()> {
        let planned = work::insert_works(tx, self.case_id, &self.work, self.now_ms)
            .await
            .context("planning the work")?;
        if !planned.is_empty() && self.flagged {
            // Work is planned again: whatever was given up before is behind us.
            cases::flag_attention(tx, self.case_id, None)
                .await
                .context("clearing the attention flag")?;
            self.flagged = false;
        }
        let lines: Vec<(i64, &str, serde_json::Value)> = std::mem::take(&mut self.lines)
            .into_iter()
            .filter_map(|line| match line {
                Line::Always(kind, detail) => Some((self.now_ms, kind, detail)),
                Line::IfPlanned(key, kind, detail) => planned
                    .iter()
                    .any(|(_, k)| *k == key)
                    .then_some((self.now_ms, kind, detail)),
            })
            .collect();
        cases::add_timelines(tx, self.case_id, &lines)
            .await
            .context("adding the timeline lines")?;
        self.work.clear();
        Ok(())
    }
}

async fn carry_out(
    tx: &mut Tx,
    effects: &mut Effects,
    command: Command,
    now: DateTime<Utc>,
    retries_made: u32,
) -> anyhow::Result<()> {
    let case_id = effects.case_id;
    match effect_of(command, now, retries_made) {
        Effect::Plan { work, due, line } => {
            effects.plan(
                NewWork {
                    work,
                    due_at: ms(due),
                },
                line,
            );
        }
        Effect::Cancel(cancel) => {
            // What was planned before the cancel is written first, so the
            // cancel applies to it as the state machine meant.
            effects
                .flush(tx)
                .await
                .context("writing what was planned before the cancel")?;
            let n = work::cancel_work(tx, case_id, cancel.kind(), effects.now_ms)
                .await
                .with_context(|| format!("canceling {}", cancel.what()))?;
            if n > 0 {
                effects.line("canceled", json!({"canceled": n, "what": cancel.what()}));
            }
        }
        Effect::Note(text) => {
            tracing::info!(case_id = %case_id, note = %text, "case note");
            effects.line("note", json!({"text": text}));
        }
    }
    Ok(())
}
