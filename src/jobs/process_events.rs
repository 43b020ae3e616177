//! Drains the stored-event queue (`event_queue`) oldest first, recording an
//! outcome for each event. Intake wakes it after each commit; a poll covers
//! events committed by other instances and those whose lease expired after a
//! crash.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::clock::unix_millis;
use crate::domain::events::{Event, EventKind};
use crate::store::Store;
use crate::store::events::{Finished, Outcome, PendingEvent};

const BATCH: i64 = 100;
const POLL: Duration = Duration::from_secs(1);
/// How long a claimed event is ours before another worker may take it.
const LEASE_MS: i64 = 60_000;
/// After this many failed attempts an event is parked as `failed`.
const MAX_ATTEMPTS: i32 = 10;

/// What processing an event amounts to at this stage of the product.
fn outcome_of(event: &Event) -> Outcome {
    match event.kind {
        EventKind::Ignored => Outcome::Ignored,
        _ => Outcome::Handled,
    }
}

pub async fn run(store: Store, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
    tracing::info!("event processor started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        let processed = match drain_once(&store).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = ?e, "claiming webhook events failed; will retry");
                0
            }
        };
        if processed == 0 {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
    }
    tracing::info!("event processor stopped");
}

/// Claims and processes one batch; returns how many events it took.
pub async fn drain_once(store: &Store) -> anyhow::Result<usize> {
    let now = unix_millis();
    let events = store
        .claim_pending_events(now, now + LEASE_MS, BATCH)
        .await?;
    let finished: Vec<Finished> = events.iter().map(process).collect();
    if let Err(e) = store.finish_events(&finished, unix_millis()).await {
        let message = format!("{e:#}");
        tracing::error!(error = %message, "recording processed events failed; they will be retried when their lease expires");
        for event in &events {
            if event.attempts >= MAX_ATTEMPTS {
                let failed = [Finished {
                    seq: event.seq,
                    outcome: Outcome::Failed,
                    error: Some(message.clone()),
                }];
                let _ = store.finish_events(&failed, unix_millis()).await;
            } else {
                let _ = store.note_event_error(event.seq, &message).await;
            }
        }
    }
    Ok(events.len())
}

fn process(pending: &PendingEvent) -> Finished {
    let span = tracing::info_span!("event", event_id = %pending.event_id, event_type = %pending.event_type);
    let _enter = span.enter();
    let (outcome, error) = match Event::parse(pending.payload.as_bytes()) {
        Ok(event) => (outcome_of(&event), None),
        Err(e) => {
            tracing::warn!(error = %e, "stored event cannot be interpreted; parked as unparseable");
            (Outcome::Unparseable, Some(e.to_string()))
        }
    };
    Finished {
        seq: pending.seq,
        outcome,
        error,
    }
}
