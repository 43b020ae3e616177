//! The job runner: an apalis worker over dunwell's own leased queue
//! (`queue.rs`), run by apalis's `Monitor`. The layers, outermost first:
//! a timeout (`JOB_TIMEOUT`), tracing (a span per job, failures and
//! timeouts logged), catch-panic (a panicking job is an error, not a dead
//! runner), a concurrency limit (the slots), and the lease layer
//! (`lease.rs`: each job a task of its own that renews its lease, and gives
//! it back when it times out, panics or is abandoned).
//!
//! The monitor starts the worker and starts it again with a growing
//! backoff if it dies; `/readyz` follows the worker's events (started,
//! alive, claims failing, restarted, stopped). On shutdown no new job
//! starts, running ones get `GRACE`, and whatever did not finish is
//! stopped and its lease given back before the runner returns.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use apalis::layers::WorkerBuilderExt;
use apalis_core::error::BoxDynError;
use apalis_core::monitor::Monitor;
use apalis_core::task::Task;
use apalis_core::worker::builder::WorkerBuilder;
use apalis_core::worker::context::WorkerContext;
use apalis_core::worker::event::Event;
use futures_util::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::claim::Due;
use super::lease::LeaseLayer;
use super::queue::{Job, LeasedQueue, QueueEvent, Shared};
use super::supervisor::Health;
use super::{deliver_event, send_notice};
use crate::engine::Engine;

/// Jobs run at once, each a task of its own: processor round trips
/// (hundreds of milliseconds on Stripe) overlap. On SQLite many, since the
/// more transactions wait for the write turn, the fewer commits
/// (`store::group_commit`), and the intake has its own writer. On PostgreSQL
/// as many as the pool has connections (16), which the event processor and,
/// in `serve`, the webhook intake share: more only queued them behind jobs.
/// Measured with `bench/drain.rs` (`--workers`, `--latency-ms`).
pub fn concurrency(engine: &Engine) -> usize {
    match engine.store {
        crate::store::Store::Sqlite(..) => SQLITE_SLOTS,
        crate::store::Store::Postgres(_) => POSTGRES_SLOTS,
    }
}
const SQLITE_SLOTS: usize = 64;
const POSTGRES_SLOTS: usize = 16;

/// The longest a job may run; past it, it is stopped and its lease given
/// back. Far beyond any job's own network timeouts (a processor call, an
/// SMTP send, a delivery): only a job stuck for good reaches it.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(300);

/// On shutdown, how long running jobs may take to finish before they are
/// abandoned (their leases given back; the idempotency key makes a rerun
/// safe). Kept well inside a 10 s stop.
const GRACE: Duration = Duration::from_secs(6);

/// Runs the job runner until `shutdown`.
pub async fn supervise(engine: Engine, health: Arc<Health>, mut shutdown: watch::Receiver<bool>) {
    let shared = Shared::new(engine.clone(), concurrency(&engine));
    let (events, restarts) = (health.clone(), health.clone());
    let (on_event, on_restart, stop) = (shared.clone(), shared.clone(), shared.clone());
    let factory = {
        let shared = shared.clone();
        move |_restarts: usize| {
            WorkerBuilder::new("dunwell-jobs")
                .backend(LeasedQueue::new(shared.clone()))
                .timeout(JOB_TIMEOUT)
                .enable_tracing()
                .catch_panic()
                .concurrency(shared.slots)
                .layer(LeaseLayer::new(shared.clone()))
                .build(Jobs {
                    engine: shared.engine.clone(),
                })
        }
    };
    let monitor = Monitor::new()
        .register(factory)
        .on_event(move |worker, event| follow(&events, &on_event, worker, event))
        .should_restart(move |_, error| {
            let wait = on_restart.failed();
            let why = format!("died ({error}); restarting in {wait:?}");
            tracing::error!(task = restarts.name(), "{why}");
            restarts.down(why);
            true
        })
        .with_terminator(async { tokio::time::sleep(GRACE).await });
    let signal = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
        stop.stop_worker();
        Ok(())
    };
    tracing::info!("job runner started");
    if let Err(e) = monitor.run_with_signal(signal).await {
        tracing::error!(error = %e, "the job runner ended with an error");
    }
    shared.stop_worker();
    if shared.held() > 0 {
        tracing::warn!(
            jobs = shared.held(),
            "jobs still running at shutdown: abandoned, leases given back"
        );
    }
    // The abandoned jobs let go of their transactions (and the write turn)
    // before their leases go.
    shared.settle().await;
    health.down("stopped".into());
    tracing::info!("job runner stopped");
}

/// `/readyz` follows the worker's events.
fn follow(health: &Health, shared: &Shared, worker: &WorkerContext, event: &Event) {
    match event {
        Event::Start => {
            // Running; a restart's reason stands until a claim goes through.
            shared.started(worker);
            health.alive();
        }
        Event::HeartBeat => health.alive(),
        Event::Custom(custom) => match custom.downcast_ref::<QueueEvent>() {
            Some(QueueEvent::Claimed(_)) => health.beat(),
            Some(QueueEvent::Failing(why)) => health.set_problem(Some(why.clone())),
            None => {}
        },
        _ => {}
    }
}

/// The job service: carries out one claimed row.
#[derive(Clone)]
struct Jobs {
    engine: Engine,
}

impl tower::Service<Task<Job>> for Jobs {
    type Response = ();
    type Error = BoxDynError;
    type Future = BoxFuture<'static, Result<(), BoxDynError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, task: Task<Job>) -> Self::Future {
        let engine = self.engine.clone();
        Box::pin(async move {
            // The job holds its slot until it ends.
            let job = task.args;
            perform(&engine, &job.due).await.map_err(Into::into)
        })
    }
}

/// Carries out one claimed row.
pub async fn perform(engine: &Engine, due: &Due) -> anyhow::Result<()> {
    match due {
        Due::Work(work) => super::perform(engine, work.clone()).await,
        Due::Notice(notice) => send_notice::perform(engine, notice).await,
        Due::Outgoing(event) => deliver_event::perform(engine, event).await,
    }
}

/// Runs one claimed row as a task of its own, renewing its lease while it
/// runs (`run_due`, which drains without the runner's sleeps).
pub fn spawn_one(engine: &Engine, due: Due) -> JoinHandle<anyhow::Result<()>> {
    let engine = engine.clone();
    tokio::spawn(async move {
        let lease = (due.table(), due.id());
        tokio::select! {
            result = perform(&engine, &due) => result,
            never = super::lease::renew(engine.clone(), lease) => match never {},
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_says_what_the_runner_keeps() {
        let minutes = JOB_TIMEOUT.as_secs() / 60;
        assert_eq!(JOB_TIMEOUT.as_secs() % 60, 0);
        assert!(GRACE < Duration::from_secs(10), "inside a 10 s stop");
        crate::readme_claims::assert_readme_says(&[
            format!("a timeout ({minutes} minutes)"),
            format!(
                "up to {SQLITE_SLOTS} on SQLite, and {POSTGRES_SLOTS} per process on PostgreSQL"
            ),
            format!(
                "a lease a dead process left behind runs out within {} s",
                super::super::claim::LEASE_MS / 1000
            ),
        ]);
    }
}
