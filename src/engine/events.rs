//! Applies a batch of stored events to their cases, in one transaction that
//! also records each event's outcome: an event is acted on exactly when it
//! is marked processed.

use super::Engine;
use super::apply::apply;
use super::route::route;
use crate::domain::case::Input;
use crate::domain::events::{Event, EventKind};
use crate::store::Tx;
use crate::store::cases::{self};
use crate::store::events::{Finished, Outcome, PendingEvent, finish_events_in};

pub async fn handle_batch(engine: &Engine, events: &[PendingEvent]) -> anyhow::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut tx = engine.store.begin().await?;
    let mut finished = Vec::with_capacity(events.len());
    for pending in events {
        let span = tracing::info_span!("event", event_id = %pending.event_id, event_type = %pending.event_type);
        let _enter = span.enter();
        let (outcome, error) = match Event::parse(pending.payload.as_bytes()) {
            Ok(event) => (handle_event(engine, &mut tx, &event).await?, None),
            Err(e) => {
                tracing::warn!(error = %e, "stored event cannot be interpreted; parked as unparseable");
                (Outcome::Unparseable, Some(e.to_string()))
            }
        };
        finished.push(Finished {
            seq: pending.seq,
            outcome,
            error,
        });
    }
    finish_events_in(&mut tx, &finished, crate::clock::unix_millis()).await?;
    tx.commit().await
}

async fn handle_event(engine: &Engine, tx: &mut Tx, event: &Event) -> anyhow::Result<Outcome> {
    if event.kind == EventKind::Ignored {
        return Ok(Outcome::Ignored);
    }
    let routed = route(event);
    let now_ms = engine.clock.now_ms();
    if let Some((invoice, customer)) = &routed.payment {
        let paid_at = event.envelope.created.timestamp_millis();
        cases::record_payment(tx, invoice, customer, paid_at).await?;
    }
    let Some(what) = routed.what else {
        return Ok(Outcome::Handled);
    };
    let ids = match (&routed.facts, &routed.link) {
        (Some(facts), _) => {
            let tz = engine.policy().default_timezone.name();
            vec![cases::upsert_case(tx, facts, tz, now_ms).await?]
        }
        (None, Some((link, value))) => cases::cases_linked(tx, *link, value).await?,
        (None, None) => Vec::new(),
    };
    // The processor's clock is real time; cases run on the engine's clock
    // (simulated when DUNWELL_CLOCK_SPEED is set), so map it across.
    let created_ms = engine
        .clock
        .sim_ms_at(event.envelope.created.timestamp_millis())
        .min(now_ms);
    let created = chrono::DateTime::from_timestamp_millis(created_ms).unwrap_or_default();
    for id in ids {
        let Some(case) = cases::lock_case(tx, id).await? else {
            continue;
        };
        let input = Input::Event {
            id: event.envelope.id.to_string(),
            created,
            what: what.clone(),
        };
        let cause = format!("{} {}", event.envelope.event_type, event.envelope.id);
        apply(engine, tx, &case, input, &cause).await?;
    }
    Ok(Outcome::Handled)
}
