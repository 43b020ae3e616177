//! `sweep`: every half minute, puts back on the job queue any pending work
//! that is overdue by more than a minute (real time) and not leased: the
//! reminder was lost (a job killed after its attempts, a queue row removed
//! by hand). The database is the truth; this keeps it moving.

use std::time::Duration;

use tokio::sync::watch;

use crate::clock::unix_millis;
use crate::engine::Engine;
use crate::engine::apply::queue_of;
use crate::engine::pre_dunning::NOTICE_QUEUE;
use crate::store::work::{self, Reminder};

const EVERY: Duration = Duration::from_secs(30);
const OVERDUE_MS: i64 = 60_000;
const BATCH: i64 = 500;

pub async fn run(engine: Engine, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
        match sweep_once(&engine).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(requeued = n, "sweep put overdue work back on the job queue"),
            Err(e) => tracing::error!(error = ?e, "sweep failed; will try again"),
        }
    }
}

/// Re-enqueues overdue work; returns how many.
pub async fn sweep_once(engine: &Engine) -> anyhow::Result<usize> {
    let real = unix_millis();
    // "A minute overdue" in engine time, whatever the clock speed.
    let overdue_before = engine.clock.sim_ms_at(real - OVERDUE_MS);
    let due = engine.store.due_work(overdue_before, real, BATCH).await?;
    let notices = engine
        .store
        .due_notices(overdue_before, real, BATCH)
        .await?;
    if due.is_empty() && notices.is_empty() {
        return Ok(0);
    }
    let now = (real / 1000) as u64;
    let reminders: Vec<Reminder<'_>> = due
        .iter()
        .map(|w| Reminder {
            queue: queue_of(&w.kind),
            work_id: w.id,
            run_at_secs: now,
        })
        .chain(notices.iter().map(|&id| Reminder {
            queue: NOTICE_QUEUE,
            work_id: id,
            run_at_secs: now,
        }))
        .collect();
    let mut tx = engine.store.begin().await?;
    work::push_jobs(&mut tx, &reminders).await?;
    tx.commit().await?;
    Ok(reminders.len())
}
