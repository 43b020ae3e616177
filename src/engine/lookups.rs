//! Reads from the processor what some events need and do not carry, made
//! before the events' transaction (no network call holds a database lock):
//! whose charge a disputed charge is (`GET /v1/charges/{id}`). What is read
//! is cached in the database; a failed read leaves nothing, and the event
//! that needed it fails in its transaction and is tried again later.

use anyhow::Context as _;

use super::Engine;
use crate::domain::events::{Event, EventKind};
use crate::domain::ids::ChargeId;
use crate::domain::queued_event::PendingEvent;

/// Makes the reads `events` need; failures are logged, never fatal here.
pub async fn prefetch(engine: &Engine, events: &[PendingEvent]) {
    for pending in events {
        if !pending.event_type.starts_with("charge.dispute.") {
            continue;
        }
        let Ok(event) = Event::parse(pending.payload.as_bytes()) else {
            continue;
        };
        let (EventKind::ChargeDisputeCreated(dispute) | EventKind::ChargeDisputeClosed(dispute)) =
            &event.kind
        else {
            continue;
        };
        let Some(charge) = &dispute.charge else {
            continue;
        };
        if let Err(e) = learn_charge(engine, charge).await {
            tracing::warn!(charge = %charge, error = %format!("{e:#}"), "reading a disputed charge failed; its event will be tried again");
        }
    }
}

/// Caches whose charge `charge` is, unless known already.
async fn learn_charge(engine: &Engine, charge: &ChargeId) -> anyhow::Result<()> {
    let store = &engine.store;
    if store
        .charge_owner(charge.as_str())
        .await
        .with_context(|| format!("looking up the cached owner of charge {charge}"))?
        .is_some()
    {
        return Ok(());
    }
    let read = engine
        .processor
        .get_charge(charge)
        .await
        .with_context(|| format!("reading charge {charge} from the processor"))?;
    let owner = read.and_then(|c| c.customer).map(|c| c.to_string());
    store
        .remember_charge(charge.as_str(), owner.as_deref(), engine.clock.now_ms())
        .await
}
