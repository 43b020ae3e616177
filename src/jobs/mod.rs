//! Background work, one job per file. The database is the truth: a job
//! names a `case_work` row, claims it (pending, due, not leased), re-reads
//! the case and does nothing when the world moved on.

pub mod final_action;
pub mod process_events;
pub mod retry_charge;
pub mod send_email;
pub mod send_notice;
pub mod sweep;
pub mod wal_checkpoint;
pub mod workers;

use chrono::Duration;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tracing::Instrument;

use crate::clock::unix_millis;
use crate::domain::case::Input;
use crate::engine::Engine;
use crate::engine::apply::{apply, queue_of, real_secs};
use crate::store::cases::{self, CaseRow};
use crate::store::work::{self, Reminder, WorkRow};

/// Jobs the drain runs at once.
const CONCURRENCY: usize = 16;
/// How long a claimed piece of work is ours (real time).
const LEASE_MS: i64 = 5 * 60_000;
/// Processor failures (5xx, timeouts) on one piece of work before giving up.
pub const MAX_TRIES: i32 = 5;

/// What a job run came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    /// The work was done (or found moot) and recorded.
    Finished,
    /// Nothing to do: done, canceled, not due or held by another worker.
    NotClaimed,
}

/// Claims work `id` and carries it out (a job-queue reminder).
pub async fn run_work(engine: &Engine, id: i64) -> anyhow::Result<Ran> {
    let real = unix_millis();
    let claimed = engine
        .store
        .claim_work(Some(id), engine.clock.now_ms(), real, real + LEASE_MS, 1)
        .await?;
    let Some(work) = claimed.into_iter().next() else {
        tracing::debug!(
            work_id = id,
            "work already done, canceled, not yet due or taken: nothing to do"
        );
        return Ok(Ran::NotClaimed);
    };
    perform(engine, work).await?;
    Ok(Ran::Finished)
}

/// Claims notice `id` and sends it (a job-queue reminder).
pub async fn run_notice(engine: &Engine, id: i64) -> anyhow::Result<Ran> {
    let real = unix_millis();
    let claimed = engine
        .store
        .claim_notices(Some(id), engine.clock.now_ms(), real, real + LEASE_MS, 1)
        .await?;
    let Some(notice) = claimed.into_iter().next() else {
        return Ok(Ran::NotClaimed);
    };
    send_notice::perform(engine, &notice).await?;
    Ok(Ran::Finished)
}

/// Carries out claimed work; on error the lease is given back.
async fn perform(engine: &Engine, work: WorkRow) -> anyhow::Result<()> {
    let span =
        tracing::info_span!("job", job = %work.kind, work_id = work.id, case_id = work.case_id);
    perform_in_span(engine, work).instrument(span).await
}

async fn perform_in_span(engine: &Engine, work: WorkRow) -> anyhow::Result<()> {
    let Some(case) = engine.store.case_by_id(work.case_id).await? else {
        anyhow::bail!("work {} names a missing case {}", work.id, work.case_id);
    };
    let result = match work.kind.as_str() {
        "retry" => retry_charge::perform(engine, &work, &case).await,
        "email" => send_email::perform(engine, &work, &case).await,
        "final" => final_action::perform(engine, &work, &case).await,
        other => Err(anyhow::anyhow!("unknown work kind {other}")),
    };
    if let Err(e) = result {
        tracing::error!(error = ?e, "job failed; the work is released for a later run");
        engine.store.release_work(work.id).await?;
        return Err(e);
    }
    Ok(())
}

/// Runs everything due now, oldest first, until nothing is due, claiming
/// in batches: how tests and the drain benchmark run due work without the
/// job queue.
pub async fn run_due(engine: &Engine) -> anyhow::Result<usize> {
    const BATCH: i64 = 100;
    let mut ran = 0;
    loop {
        let real = unix_millis();
        for notice in engine
            .store
            .claim_notices(None, engine.clock.now_ms(), real, real + LEASE_MS, BATCH)
            .await?
        {
            send_notice::perform(engine, &notice).await?;
            ran += 1;
        }
        let batch = engine
            .store
            .claim_work(None, engine.clock.now_ms(), real, real + LEASE_MS, BATCH)
            .await?;
        if batch.is_empty() {
            return Ok(ran);
        }
        // Several at once, so processor round trips overlap (each job
        // serialises on its case's row where it writes). A failure gives its
        // own lease back; the rest of the batch still runs.
        let mut failed = None;
        let mut running = futures_util::stream::iter(batch)
            .map(|work| perform(engine, work))
            .buffer_unordered(CONCURRENCY);
        while let Some(result) = running.next().await {
            match result {
                Ok(()) => ran += 1,
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
    }
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
    status: &str,
    result: &str,
    lines: Vec<Line>,
) -> anyhow::Result<()> {
    let now = engine.clock.now_ms();
    let mut tx = engine.store.begin().await?;
    for line in &lines {
        cases::add_timeline(&mut tx, work.case_id, now, line.kind, &line.detail).await?;
    }
    if let Some(input) = input {
        if let Some(case) = cases::lock_case(&mut tx, work.case_id).await? {
            let cause = format!("{} job ({})", work.kind, work.key);
            apply(engine, &mut tx, &case, input, &cause).await?;
        }
    }
    work::finish_work(&mut tx, work.id, status, result, now).await?;
    tx.commit().await?;
    if status == "skipped" {
        tracing::info!(result, "the world moved on: nothing done");
    }
    Ok(())
}

/// Puts work off after processor failure number `work.tries + 1` (its
/// backoff), with `detail` for the next run: failures are not the
/// customer's attempts. Gives up (status `failed`) past `MAX_TRIES`.
pub async fn reschedule(
    engine: &Engine,
    work: &WorkRow,
    detail: &Value,
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
        return conclude(engine, work, None, "failed", &text, vec![line]).await;
    }
    let now = engine.clock.now_ms();
    let mut tx = engine.store.begin().await?;
    work::reschedule_work(&mut tx, work.id, at.timestamp_millis(), tries, detail, why).await?;
    let run_at = real_secs(engine, at.timestamp_millis());
    let reminder = Reminder {
        queue: queue_of(&work.kind),
        work_id: work.id,
        run_at_secs: run_at,
    };
    work::push_jobs(&mut tx, &[reminder]).await?;
    let detail =
        json!({"text": format!("{why}; trying again at {}", at.to_rfc3339()), "work": work.key});
    cases::add_timeline(&mut tx, work.case_id, now, "note", &detail).await?;
    tx.commit().await?;
    tracing::warn!(why, at = %at, "work put off");
    Ok(())
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
    let id = crate::domain::ids::InvoiceId::parse(&case.invoice_id)?;
    let invoice = match engine.processor.get_invoice(&id).await {
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
    conclude(engine, work, Some(input), "skipped", &text, vec![line]).await
}
