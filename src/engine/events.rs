//! Applies stored events to their cases, each in a transaction that also
//! records its outcome: an event is acted on exactly when it is marked
//! processed.

use crate::domain::ids::CaseId;
use anyhow::Context as _;
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::Engine;
use super::apply::apply;
use super::disputes;
use super::pre_dunning;
use super::route::{Unlinked, route};
use crate::domain::case::{EventInput, Input};
use crate::domain::case_record::PaymentFailure;
use crate::domain::decline::Classification;
use crate::domain::events::{Event, EventKind};
use crate::domain::queued_event::{Finished, Outcome, PendingEvent};
use crate::domain::zones;
use crate::store::Tx;
use crate::store::cases;
use crate::store::events::finish_events_in;
use crate::store::notices;

/// How long one transaction may go on before the events so far are
/// committed and the rest go into the next: on SQLite the intake's group
/// commit waits for the write lock meanwhile, so this bounds its latency.
const TX_BUDGET: Duration = Duration::from_millis(5);

/// Applies `events` in order, each with its outcome in the transaction that
/// applied it. Returns how many were committed, and the error that stopped
/// the rest (their transaction rolled back; they stay queued).
pub async fn handle_batch(engine: &Engine, events: &[PendingEvent]) -> (usize, anyhow::Result<()>) {
    let mut done = 0;
    while done < events.len() {
        match handle_some(engine, &events[done..]).await {
            Ok(n) => done += n,
            Err(e) => return (done, Err(e)),
        }
    }
    (done, Ok(()))
}

/// One transaction's worth of `events` (at least one); returns how many.
async fn handle_some(engine: &Engine, events: &[PendingEvent]) -> anyhow::Result<usize> {
    let started = Instant::now();
    let mut tx = engine
        .store
        .begin()
        .await
        .context("starting the events' transaction")?;
    let mut finished = Vec::new();
    for pending in events {
        let span = tracing::info_span!("event", event_id = %pending.event_id, event_type = %pending.event_type);
        finished.push(
            handle_one(engine, &mut tx, pending)
                .instrument(span)
                .await?,
        );
        if started.elapsed() >= TX_BUDGET {
            break;
        }
    }
    finish_events_in(&mut tx, &finished, crate::clock::unix_millis())
        .await
        .context("marking the events processed")?;
    tx.commit().await.context("committing the events")?;
    engine.wake_runner();
    Ok(finished.len())
}

async fn handle_one(
    engine: &Engine,
    tx: &mut Tx,
    pending: &PendingEvent,
) -> anyhow::Result<Finished> {
    let (outcome, error) = match Event::parse(pending.payload.as_bytes()) {
        Ok(event) => {
            let outcome = handle_event(engine, tx, &event).await.with_context(|| {
                format!(
                    "handling event {} ({})",
                    pending.event_id, pending.event_type
                )
            })?;
            (outcome, None)
        }
        Err(e) => {
            tracing::warn!(error = %e, "stored event cannot be interpreted; parked as unparseable");
            (Outcome::Unparseable, Some(e.to_string()))
        }
    };
    Ok(Finished {
        seq: pending.seq,
        outcome,
        error,
    })
}

async fn handle_event(engine: &Engine, tx: &mut Tx, event: &Event) -> anyhow::Result<Outcome> {
    if event.kind == EventKind::Ignored {
        return Ok(Outcome::Ignored);
    }
    let routed = route(event);
    let now_ms = engine.clock.now_ms();
    // The processor's clock is real time; cases run on the engine's clock
    // (simulated when DUNWELL_CLOCK_SPEED is set), so map it across.
    let created_ms = engine
        .clock
        .sim_ms_at(event.envelope.created.timestamp_millis())
        .min(now_ms);
    if let Some((invoice, customer)) = &routed.payment {
        // On the engine's clock too: paydays are read from these beside
        // the failures' times.
        cases::record_payment(tx, invoice, customer, created_ms)
            .await
            .with_context(|| format!("recording the payment of {invoice}"))?;
    }
    if let Some(card) = &routed.card {
        // As of the event's time: an older event arriving late does not
        // undo a newer card.
        notices::upsert_card(tx, card, created_ms)
            .await
            .with_context(|| format!("remembering the card of {}", card.customer_id))?;
    }
    if let Some(pre) = &routed.pre_dunning {
        pre_dunning::consider(engine, tx, pre, routed.card.as_ref())
            .await
            .context("planning a pre-dunning notice")?;
    }
    let created = chrono::DateTime::from_timestamp_millis(created_ms).unwrap_or_default();
    let cause = format!("{} {}", event.envelope.event_type, event.envelope.id);
    if let Some(news) = &routed.dispute {
        let event_id = event.envelope.id.to_string();
        disputes::handle(engine, tx, news, &event_id, &cause, created)
            .await
            .context("handling the dispute")?;
        return Ok(Outcome::Handled);
    }
    let Some(what) = routed.what else {
        return Ok(Outcome::Handled);
    };
    if let EventInput::Decline(decline) = &what
        && decline.unknown
    {
        tracing::warn!(code = %decline.code, "unknown decline code: treated as transient");
    }
    let mut ids = match (&routed.facts, &routed.link) {
        (Some(facts), _) => {
            let signal = facts.country.as_ref().map(|(c, s)| (Some(c.as_str()), *s));
            let (tz, source) = zones::pick(signal.as_slice(), engine.policy().default_timezone);
            let country = facts
                .country
                .as_ref()
                .filter(|_| source != zones::ZoneSource::Policy)
                .map(|(c, _)| c.to_ascii_uppercase());
            vec![
                cases::upsert_case(tx, facts, tz.name(), source, country.as_deref(), now_ms)
                    .await
                    .context("opening or updating the case")?,
            ]
        }
        (None, Some((link, value))) => cases::cases_linked(tx, *link, value)
            .await
            .context("finding the cases the event names")?,
        (None, None) => Vec::new(),
    };
    if let (true, Some(unlinked), EventInput::Decline(decline)) =
        (ids.is_empty(), &routed.unlinked, &what)
    {
        let event_id = event.envelope.id.to_string();
        ids.extend(
            place_unlinked(tx, unlinked, decline, event_id, now_ms)
                .await
                .context("placing a failed charge that names no invoice")?,
        );
    }
    for id in ids {
        let Some(case) = cases::lock_case(tx, id)
            .await
            .with_context(|| format!("locking case {id}"))?
        else {
            continue;
        };
        let input = Input::Event {
            id: event.envelope.id.to_string(),
            created,
            what: what.clone(),
        };
        let opening = matches!(what, EventInput::PaymentFailed { .. });
        apply(engine, tx, &case, input, &cause)
            .await
            .with_context(|| format!("applying {cause} to case {id}"))?;
        if opening {
            claim_early_failures(engine, tx, id, now_ms)
                .await
                .with_context(|| format!("applying the earlier failed charges to case {id}"))?;
        }
    }
    Ok(Outcome::Handled)
}

/// An invoice-less failed charge: the customer's case for the same amount,
/// if one is open (and now knows its charge), else kept for the case to
/// claim when it opens.
async fn place_unlinked(
    tx: &mut Tx,
    unlinked: &Unlinked,
    decline: &Classification,
    event_id: String,
    now_ms: i64,
) -> anyhow::Result<Option<CaseId>> {
    let failure = PaymentFailure {
        customer_id: unlinked.customer_id.clone(),
        charge_id: unlinked.charge_id.clone(),
        payment_intent_id: unlinked.payment_intent_id.clone(),
        amount: unlinked.amount,
        currency: unlinked.currency.clone(),
        decline: decline.clone(),
        event_id,
        at: now_ms,
    };
    match cases::case_for_failure(tx, &failure, now_ms - MATCH_WINDOW_MS)
        .await
        .context("matching the charge to a case by amount")?
    {
        Some(id) => {
            let (charge, intent) = (
                failure.charge_id.as_deref(),
                failure.payment_intent_id.as_deref(),
            );
            cases::link_payment(tx, id, charge, intent)
                .await
                .with_context(|| format!("linking the charge to case {id}"))?;
            Ok(Some(id))
        }
        None => {
            cases::keep_failure(tx, &failure)
                .await
                .context("keeping the failed charge for its case")?;
            Ok(None)
        }
    }
}

/// How far apart an invoice-less failed charge and its invoice's failure
/// may be to be matched (same customer, same amount).
const MATCH_WINDOW_MS: i64 = 2 * 86_400_000;

/// Applies the invoice-less failures that came before the case opened.
async fn claim_early_failures(
    engine: &Engine,
    tx: &mut Tx,
    case_id: CaseId,
    now_ms: i64,
) -> anyhow::Result<()> {
    let Some(case) = cases::lock_case(tx, case_id)
        .await
        .with_context(|| format!("locking case {case_id}"))?
    else {
        return Ok(());
    };
    let failures = cases::claim_failures(tx, &case, now_ms - MATCH_WINDOW_MS)
        .await
        .context("claiming the earlier failed charges")?;
    for failure in failures {
        let (charge, intent) = (
            failure.charge_id.as_deref(),
            failure.payment_intent_id.as_deref(),
        );
        cases::link_payment(tx, case_id, charge, intent)
            .await
            .context("linking an earlier failed charge")?;
        let Some(case) = cases::lock_case(tx, case_id)
            .await
            .with_context(|| format!("locking case {case_id} again"))?
        else {
            return Ok(());
        };
        let input = Input::Event {
            id: failure.event_id.clone(),
            created: engine.clock.now(),
            what: EventInput::Decline(failure.decline),
        };
        let cause = format!("earlier failed charge {}", failure.event_id);
        apply(engine, tx, &case, input, &cause)
            .await
            .with_context(|| format!("applying {cause}"))?;
    }
    Ok(())
}
