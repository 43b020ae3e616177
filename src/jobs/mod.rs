//! Background work, one job per file. The database is the truth and the
//! queue: the runner (`runner.rs`, an apalis worker over `queue.rs`) claims
//! due rows (pending, due, not leased: `claim.rs`); each job re-reads the
//! case and does nothing when the world moved on.

pub mod claim;
pub mod customer;
pub mod deliver_event;
pub mod final_action;
pub mod learn;
pub mod lease;
pub mod policy_watch;
pub mod process_events;
pub mod queue;
pub mod retry_charge;
pub mod runner;
pub mod send_email;
pub mod send_notice;
pub mod supervisor;
pub mod wal_checkpoint;

use anyhow::Context;
use chrono::Duration;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tracing::Instrument;

use crate::domain::case::Input;
use crate::domain::work::{Work, WorkStatus};
use crate::engine::Engine;
use crate::engine::apply::apply_after;
use crate::engine::outgoing;
use crate::processor::ProcessorError;
use crate::store::cases::{self, CaseRow};
use crate::store::work::{self, WorkRow};

/// Processor failures (5xx, timeouts) on one piece of work before giving up.
pub const MAX_TRIES: i32 = 5;

/// Claims work `id` and carries it out if it is due and free; returns
/// whether it ran (tests of concurrent runs of one piece of work).
pub async fn run_work(engine: &Engine, id: i64) -> anyhow::Result<bool> {
    let claim = claim::claim_now(engine, Some(id), 1);
    let mut tx = engine
        .store
        .begin()
        .await
        .with_context(|| format!("starting the claim of work {id}"))?;
    let claimed = work::claim_work(&mut tx, &claim)
        .await
        .with_context(|| format!("claiming work {id}"))?;
    tx.commit()
        .await
        .with_context(|| format!("committing the claim of work {id}"))?;
    let Some(work) = claimed.into_iter().next() else {
        return Ok(false);
    };
    perform(engine, work)
        .await
        .with_context(|| format!("running work {id}"))?;
    Ok(true)
}

/// Carries out claimed work; on error it is put off with backoff.
async fn perform(engine: &Engine, work: WorkRow) -> anyhow::Result<()> {
    let span =
        tracing::info_span!("job", job = %work.key, work_id = work.id, case_id = %work.case_id);
    perform_in_span(engine, work).instrument(span).await
}

async fn perform_in_span(engine: &Engine, work: WorkRow) -> anyhow::Result<()> {
    let case = engine
        .store
        .case_by_id(work.case_id)
        .await
        .with_context(|| format!("reading case {} for work {}", work.case_id, work.key))?;
    let Some(case) = case else {
        anyhow::bail!("work {} names a missing case {}", work.id, work.case_id);
    };
    let result = match &work.work {
        Work::Retry(retry) => retry_charge::perform(engine, &work, retry, &case).await,
        Work::Email(email) => send_email::perform(engine, &work, email, &case).await,
        Work::Final(last) => final_action::perform(engine, &work, last, &case).await,
    };
    let result = result.with_context(|| format!("work {} of case {}", work.key, work.case_id));
    if let Err(e) = result {
        // A bug or a database fault: tried again after the same backoff as
        // a processor failure, given up (and flagged) after as many; never
        // a hot loop. If even that cannot be written, the lease runs out.
        tracing::error!(error = ?e, "job failed; it is put off");
        let why = format!("the job failed: {e:#}");
        if let Err(again) = reschedule(engine, &work, &work.work, &why).await {
            tracing::error!(error = ?again, "putting the failed job off failed too; its lease will run out");
        }
        return Err(e);
    }
    Ok(())
}

/// Runs everything due now, oldest first, until nothing is due: what the
/// runner does, without its sleeps (tests and the drain benchmark), each
/// job a task of its own as there. A failure gives its own lease back; the
/// rest of the batch still runs.
pub async fn run_due(engine: &Engine) -> anyhow::Result<usize> {
    const BATCH: usize = 200;
    const CONCURRENCY: usize = 32;
    let mut ran = 0;
    loop {
        let budget = claim::Budget {
            slots: BATCH,
            outgoing: BATCH,
        };
        let batch = claim::claim(engine, budget)
            .await
            .context("claiming what is due")?;
        if batch.is_empty() {
            return Ok(ran);
        }
        let mut failed = None;
        let mut running = futures_util::stream::iter(batch)
            .map(|due| runner::spawn_one(engine, due))
            .buffer_unordered(CONCURRENCY);
        while let Some(result) = running.next().await {
            match result.context("a job panicked")? {
                Ok(()) => ran += 1,
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
    }
}

/// A transaction for what became of `work`; its error names the work and
/// its case.
async fn begin_for(engine: &Engine, work: &WorkRow) -> anyhow::Result<crate::store::Tx> {
    engine.store.begin().await.with_context(|| {
        format!(
            "starting a transaction for {} of case {}",
            work.key, work.case_id
        )
    })
}

/// A timeline line to add when the work concludes.
pub struct Line {
    pub kind: &'static str,
    pub detail: Value,
}

/// Ends work: records its lines, feeds `input` to the case (if any) and
/// marks the work `status`, all in one transaction.
pub async fn conclude(
    engine: &Engine,
    work: &WorkRow,
    input: Option<Input>,
    status: WorkStatus,
    result: &str,
    lines: Vec<Line>,
) -> anyhow::Result<()> {
    let now = engine.clock.now_ms();
    let case_id = work.case_id;
    let mut tx = begin_for(engine, work).await?;
    // Lock order: the case row, then its work rows (as every input's
    // cancels take them), or two jobs of one case deadlock on PostgreSQL.
    let case = cases::lock_case(&mut tx, case_id)
        .await
        .with_context(|| format!("locking case {case_id} to end {}", work.key))?;
    // The work ends before the input is applied, so the input's own cancels
    // (a recovery cancels all pending work) leave it as it came out.
    let ended = work::finish_work(&mut tx, work, status, result, now)
        .await
        .with_context(|| format!("ending {} of case {case_id}", work.key))?;
    let lines: Vec<(&'static str, Value)> = lines.into_iter().map(|l| (l.kind, l.detail)).collect();
    if let (Some(input), Some(case)) = (input, case) {
        // The job's lines go in with the input's, in one statement.
        let cause = format!("{} job ({})", work.work.kind(), work.key);
        apply_after(engine, &mut tx, &case, input, &cause, lines)
            .await
            .context("applying the job's outcome to its case")?;
    } else {
        let lines: Vec<(i64, &str, Value)> = lines.into_iter().map(|(k, d)| (now, k, d)).collect();
        cases::add_timelines(&mut tx, case_id, &lines)
            .await
            .with_context(|| format!("adding the job's lines to case {case_id}"))?;
    }
    if status == WorkStatus::Failed && ended {
        // Given up: the operator must look (a live case always has planned
        // work or this flag). Work planned again while the job ran is not
        // given up: the newer plan goes on.
        let why = format!("{}: {result}", work.key);
        let detail = json!({"work": work.key, "reason": result});
        let locked = cases::lock_case(&mut tx, work.case_id)
            .await
            .with_context(|| format!("locking case {case_id} to flag it"))?;
        if let Some(row) = locked {
            outgoing::needs_attention(engine, &mut tx, &row, &why, detail)
                .await
                .with_context(|| format!("flagging case {case_id} for attention"))?;
        }
        tracing::error!(reason = %why, "work given up: the case needs attention");
    }
    tx.commit().await.context("committing the job's outcome")?;
    engine.wake_runner();
    if status == WorkStatus::Skipped {
        tracing::info!(result, "the world moved on: nothing done");
    }
    Ok(())
}

/// Puts work off after processor failure number `work.tries + 1` (its
/// backoff), with `next` for the next run: failures are not the
/// customer's attempts. Gives up (status `failed`) past `MAX_TRIES`.
pub async fn reschedule(
    engine: &Engine,
    work: &WorkRow,
    next: &Work,
    why: &str,
) -> anyhow::Result<()> {
    let tries = work.tries + 1;
    let at = engine.clock.now() + backoff(tries);
    if tries > MAX_TRIES {
        let text = format!("{why}; gave up after {MAX_TRIES} processor failures");
        let line = Line {
            kind: "note",
            detail: json!({"text": text}),
        };
        return conclude(engine, work, None, WorkStatus::Failed, &text, vec![line]).await;
    }
    let now = engine.clock.now_ms();
    let case_id = work.case_id;
    let mut tx = begin_for(engine, work).await?;
    let moved = work::reschedule_work(&mut tx, work, at.timestamp_millis(), tries, next, why)
        .await
        .with_context(|| format!("putting off {} of case {case_id}", work.key))?;
    // Planned again while the job ran: the newer plan stands, and the
    // timeline does not say "trying again" of what was not put off.
    if moved {
        let text = format!("{why}; trying again at {}", at.to_rfc3339());
        let detail = json!({"text": text, "work": work.key});
        cases::add_timeline(&mut tx, case_id, now, "note", &detail)
            .await
            .with_context(|| format!("noting the put-off on case {case_id}"))?;
    }
    tx.commit()
        .await
        .with_context(|| format!("committing the put-off of case {case_id}"))?;
    engine.wake_runner();
    tracing::warn!(why, at = %at, "work put off");
    Ok(())
}

/// Holds work back until `at` (quiet hours, spacing): not a failure, no
/// try counted; the timeline says why.
pub async fn defer(
    engine: &Engine,
    work: &WorkRow,
    at: chrono::DateTime<chrono::Utc>,
    why: &str,
) -> anyhow::Result<()> {
    let now = engine.clock.now_ms();
    let mut tx = begin_for(engine, work).await?;
    let moved = work::reschedule_work(
        &mut tx,
        work,
        at.timestamp_millis(),
        work.tries,
        &work.work,
        why,
    )
    .await
    .with_context(|| format!("holding {} of case {}", work.key, work.case_id))?;
    if moved {
        let text = format!("held until {}: {why}", at.to_rfc3339());
        let detail = json!({"text": text, "work": work.key});
        cases::add_timeline(&mut tx, work.case_id, now, "note", &detail)
            .await
            .with_context(|| format!("noting the hold on case {}", work.case_id))?;
    }
    tx.commit()
        .await
        .with_context(|| format!("committing the hold of case {}", work.case_id))?;
    engine.wake_runner();
    Ok(())
}

/// What a processor failure other than a refusal calls for. After a
/// timeout, connection error or 429 the processor may have acted: the same
/// key again later, and it replays. After an answer it stored for the key
/// (5xx) the invoice is re-read (settled meanwhile ends the case instead),
/// then `fresh` (the work with its next key) follows after a backoff; a key
/// used before for another request (a bug) goes on under a fresh key too.
/// Never counted against the customer's attempts.
pub async fn after_processor_failure(
    engine: &Engine,
    work: &WorkRow,
    case: &CaseRow,
    error: ProcessorError,
    key: &str,
    fresh: Work,
    what: &str,
) -> anyhow::Result<()> {
    match error {
        ProcessorError::Unreachable(e) => {
            let why = format!(
                "{what}: the processor did not answer ({e}); the same idempotency key is reused"
            );
            reschedule(engine, work, &work.work, &why).await
        }
        e @ ProcessorError::KeyReused(_) => {
            tracing::error!(key, error = %e, "BUG: an idempotency key was reused; going on under a fresh key");
            let why = format!("{what}: {e}; a fresh attempt with a new key follows");
            reschedule(engine, work, &fresh, &why).await
        }
        e => {
            let reread = reread_invoice(engine, work, case)
                .await
                .with_context(|| format!("reading the invoice of case {} again", case.id))?;
            if let Reread::Settled(input, word) = reread {
                return settled_meanwhile(engine, work, input, word).await;
            }
            let why =
                format!("{what}: processor failure ({e}); a fresh attempt with a new key follows");
            reschedule(engine, work, &fresh, &why).await
        }
    }
}

/// Backoff after processor failure number `tries` (1-based): 15 min,
/// 30 min, 1 h, 2 h, 4 h of engine time.
pub fn backoff(tries: i32) -> Duration {
    Duration::minutes(15) * 2_i32.pow(tries.clamp(1, 5) as u32 - 1)
}

/// The case's latest known state, for the "world moved on" checks.
pub fn case_is_live(case: &CaseRow) -> bool {
    case.track.case.as_ref().is_some_and(|c| {
        !c.state.is_terminal() && c.state != crate::domain::case::CaseState::Paused
    }) && case.track.settled.is_none()
}

/// What re-reading the invoice before acting found.
pub enum Reread {
    /// Still open: go ahead.
    Open(Box<crate::domain::events::Invoice>),
    /// Settled meanwhile: this input ends the case instead.
    Settled(Input, &'static str),
    /// The processor could not tell us.
    Unavailable(crate::processor::ProcessorError),
}

pub async fn reread_invoice(
    engine: &Engine,
    work: &WorkRow,
    case: &CaseRow,
) -> anyhow::Result<Reread> {
    use crate::domain::case::EventInput;
    use crate::domain::events::InvoiceStatus;
    let invoice = match engine.processor.get_invoice(&case.invoice_id).await {
        Ok(invoice) => invoice,
        Err(e) => return Ok(Reread::Unavailable(e)),
    };
    let (what, word) = match invoice.status {
        InvoiceStatus::Paid => (EventInput::Paid, "paid"),
        InvoiceStatus::Void => (EventInput::Voided, "void"),
        InvoiceStatus::Uncollectible => (EventInput::MarkedUncollectible, "uncollectible"),
        _ => return Ok(Reread::Open(Box::new(invoice))),
    };
    let input = Input::Event {
        id: format!("read:{}:{}:{word}", work.id, work.tries),
        created: engine.clock.now(),
        what,
    };
    Ok(Reread::Settled(input, word))
}

/// Ends `work` because the invoice was found settled on re-read.
pub async fn settled_meanwhile(
    engine: &Engine,
    work: &WorkRow,
    input: Input,
    word: &str,
) -> anyhow::Result<()> {
    let text = format!("the invoice was found {word} before acting: nothing charged or changed");
    let line = Line {
        kind: "note",
        detail: json!({"text": text}),
    };
    conclude(
        engine,
        work,
        Some(input),
        WorkStatus::Skipped,
        &text,
        vec![line],
    )
    .await
}
