//! Drains the stored-event queue (`event_queue`) oldest first: applies each
//! event to its case and records its outcome, in one transaction. Intake
//! wakes it after each commit; a poll covers events committed by other
//! instances and those whose lease expired after a crash.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::supervisor::Health;
use crate::clock::unix_millis;
use crate::engine::Engine;
use crate::engine::events::handle_batch;
use crate::store::Store;
use crate::store::events::{Finished, Outcome, PendingEvent};

const POLL: Duration = Duration::from_secs(1);
/// After this many failed attempts an event is parked as `failed`.
const MAX_ATTEMPTS: i32 = 10;

/// Runs the event processor until `shutdown`, restarted with backoff if it
/// dies (`supervisor`).
pub async fn supervise(
    engine: Engine,
    wake: Arc<Notify>,
    health: Arc<Health>,
    shutdown: watch::Receiver<bool>,
) {
    let (h, stop) = (health.clone(), shutdown.clone());
    super::supervisor::supervise(health, shutdown, move || {
        run(engine.clone(), wake.clone(), h.clone(), stop.clone())
    })
    .await;
}

async fn run(
    engine: Engine,
    wake: Arc<Notify>,
    health: Arc<Health>,
    mut shutdown: watch::Receiver<bool>,
) {
    tracing::info!("event processor started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        let processed = match drain_once(&engine).await {
            Ok(n) => {
                health.beat();
                n
            }
            Err(e) => {
                tracing::error!(error = ?e, "claiming webhook events failed; will retry");
                health.set_problem(Some(format!("claiming webhook events failed: {e:#}")));
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

/// Claims and processes one batch; returns how many events it took. If a
/// transaction fails, the rest are tried one by one so one bad event cannot
/// hold the others back.
pub async fn drain_once(engine: &Engine) -> anyhow::Result<usize> {
    let store = &engine.store;
    let events = super::claim::claim_events(engine, super::claim::EVENT_BATCH).await?;
    if events.is_empty() {
        return Ok(0);
    }
    // What the events need from the processor is read before their
    // transaction, never inside it.
    crate::engine::lookups::prefetch(engine, &events).await;
    let (done, result) = handle_batch(engine, &events).await;
    if let Err(e) = result {
        tracing::warn!(error = %format!("{e:#}"), "applying events failed; trying the rest one by one");
        for event in &events[done..] {
            if let (_, Err(e)) = handle_batch(engine, std::slice::from_ref(event)).await {
                give_up_or_retry(store, event, &format!("{e:#}")).await;
            }
        }
    }
    Ok(events.len())
}

async fn give_up_or_retry(store: &Store, event: &PendingEvent, message: &str) {
    tracing::error!(event_id = %event.event_id, error = %message, "processing an event failed");
    if event.attempts >= MAX_ATTEMPTS {
        let failed = [Finished {
            seq: event.seq,
            outcome: Outcome::Failed,
            error: Some(message.to_owned()),
        }];
        let _ = store.finish_events(&failed, unix_millis()).await;
    } else {
        let _ = store.note_event_error(event.seq, message).await;
    }
}
