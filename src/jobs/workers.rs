//! The job-queue workers (apalis, on the same database): one per queue
//! (`retry_charge`, `send_email`, `final_action`, `send_notice`). A job
//! carries only the id of the row it reminds of (`case_work`, or `notices`
//! on the notice queue); `run_work` / `run_notice` claim it and dispatch to
//! the job's file.

use std::time::Duration;

use apalis::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::engine::Engine;
use crate::engine::apply::{EMAIL_QUEUE, FINAL_QUEUE, RETRY_QUEUE};
use crate::engine::pre_dunning::NOTICE_QUEUE;
use crate::store::Store;

/// The job payload: which planned work (or notice, on the notice queue)
/// to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkReminder {
    pub work_id: i64,
    #[serde(default)]
    pub queue: String,
}

const POLL: Duration = Duration::from_millis(250);
/// apalis 1.0 wakes an idle worker on its heartbeat, so this is also how
/// late a scheduled job may start (it schedules by whole seconds anyway).
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A worker silent this many heartbeats is dead and its jobs are requeued.
const MISSED_HEARTBEATS: usize = 30;
/// Jobs a worker runs at once (processor round trips overlap).
const CONCURRENCY: usize = 16;
/// Due jobs fetched per poll.
const BATCH: usize = 50;

async fn handle(job: WorkReminder, engine: Data<Engine>) -> Result<(), BoxDynError> {
    if job.queue == NOTICE_QUEUE {
        super::run_notice(&engine, job.work_id).await?;
    } else {
        super::run_work(&engine, job.work_id).await?;
    }
    Ok(())
}

/// Runs the workers until `shutdown` turns true.
pub async fn run(engine: Engine, mut shutdown: watch::Receiver<bool>) {
    let mut monitor = Monitor::new();
    for queue in [RETRY_QUEUE, EMAIL_QUEUE, FINAL_QUEUE, NOTICE_QUEUE] {
        let engine = engine.clone();
        // The same worker over either backend's storage.
        macro_rules! worker {
            ($storage:ty, $config:ty, $pool:expr) => {{
                let pool = $pool;
                monitor.register(move |_| {
                    let backend = <$storage>::new(&pool)
                        .with_config(
                            <$config>::default()
                                .queue(queue)
                                .batch_size(BATCH)
                                .heartbeat_interval(HEARTBEAT)
                                .missed_heartbeats(MISSED_HEARTBEATS),
                        )
                        .poll_with_interval(POLL);
                    WorkerBuilder::new(format!("dunwell-{queue}"))
                        .backend(backend)
                        .data(engine.clone())
                        .concurrency(CONCURRENCY)
                        .build(handle)
                })
            }};
        }
        monitor = match engine.store.clone() {
            Store::Sqlite(pool, _) => worker!(
                apalis_sqlite::SqliteStorage<WorkReminder>,
                apalis_sqlite::Config,
                pool
            ),
            Store::Postgres(pool) => worker!(
                apalis_postgres::PostgresStorage<WorkReminder>,
                apalis_postgres::Config,
                pool
            ),
        };
    }
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
        Ok(())
    };
    tracing::info!("job workers started");
    if let Err(e) = monitor
        .shutdown_timeout(Duration::from_secs(20))
        .run_with_signal(stop)
        .await
    {
        tracing::error!(error = ?e, "job workers stopped with an error");
    }
    tracing::info!("job workers stopped");
}
