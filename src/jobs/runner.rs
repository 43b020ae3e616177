//! The job runner: claims due work (`case_work`) and notices straight from
//! the database, the truth, and runs them. It sleeps until the next piece
//! of work falls due (in engine time, mapped to real time, so due work runs
//! on time at any `DUNWELL_CLOCK_SPEED`), until this process plans new work,
//! or at most `POLL`, which covers work planned by other processes and
//! leases left behind by a crashed one.
//!
//! No worker registers a name: any number of processes, restarted cleanly
//! or not, share the tables; the claim (an atomic lease) makes each piece of
//! work run once at a time, and a lease that is not renewed (its process
//! died) runs out within `LEASE_MS`. A runner that panics is restarted with
//! backoff by `supervise`, and `/readyz` says so while it is down.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::watch;

use super::{perform, send_notice};
use crate::clock::unix_millis;
use crate::engine::Engine;
use crate::store::notices::Notice;
use crate::store::work::{Leased, WorkRow};

/// How long a claim is ours (real time) unless renewed.
pub const LEASE_MS: i64 = 30_000;
/// A running job renews its lease this often.
const RENEW: Duration = Duration::from_secs(10);
/// The longest sleep: how soon work planned by another process is seen.
const POLL: Duration = Duration::from_millis(500);
/// Jobs run at once (processor round trips overlap).
const CONCURRENCY: usize = 16;
/// Pieces of work claimed per round.
const BATCH: i64 = 32;
/// On shutdown, how long running jobs may take to finish before they are
/// abandoned (their leases given back; the idempotency key makes a rerun
/// safe). Kept well inside a 10 s stop.
const GRACE: Duration = Duration::from_secs(6);
/// A runner silent this long is not running (`/readyz`).
const STALE_MS: i64 = 15_000;

/// What `/readyz` reads about the job runner of this process.
#[derive(Debug, Default)]
pub struct RunnerHealth {
    running: AtomicBool,
    beat_ms: AtomicI64,
    problem: std::sync::Mutex<Option<String>>,
}

impl RunnerHealth {
    fn beat(&self) {
        self.running.store(true, Ordering::SeqCst);
        self.beat_ms.store(unix_millis(), Ordering::SeqCst);
        self.set_problem(None);
    }

    fn set_problem(&self, problem: Option<String>) {
        if let Ok(mut p) = self.problem.lock() {
            *p = problem;
        }
    }

    fn down(&self, why: String) {
        self.running.store(false, Ordering::SeqCst);
        self.set_problem(Some(why));
    }

    /// `Err(reason)` while no job runner is running in this process.
    pub fn check(&self) -> Result<(), String> {
        let problem = self.problem.lock().ok().and_then(|p| p.clone());
        if !self.running.load(Ordering::SeqCst) {
            return Err(problem.unwrap_or_else(|| "job runner not started".into()));
        }
        if let Some(problem) = problem {
            return Err(problem);
        }
        let silent = unix_millis() - self.beat_ms.load(Ordering::SeqCst);
        if silent > STALE_MS {
            return Err(format!("job runner silent for {} s", silent / 1000));
        }
        Ok(())
    }
}

/// Runs the job runner until `shutdown`, restarting it with backoff if it
/// dies, so the process never goes on without one.
pub async fn supervise(
    engine: Engine,
    health: Arc<RunnerHealth>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(500);
    loop {
        let task = tokio::spawn(run(engine.clone(), health.clone(), shutdown.clone()));
        match task.await {
            Ok(()) => break,
            Err(e) => {
                let why = format!("job runner died ({e}); restarting in {backoff:?}");
                tracing::error!("{why}");
                health.down(why);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
    health.down("stopped".into());
}

async fn run(engine: Engine, health: Arc<RunnerHealth>, mut shutdown: watch::Receiver<bool>) {
    tracing::info!("job runner started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        health.beat();
        match run_round(&engine, &mut shutdown).await {
            Ok(0) => {}
            Ok(_) => continue,
            Err(e) => {
                let why = format!("claiming due work failed: {e:#}");
                tracing::error!("{why}; trying again");
                health.set_problem(Some(why));
            }
        }
        let sleep = match next_wake(&engine).await {
            Ok(sleep) => sleep,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "looking up the next due work failed");
                POLL
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = engine.work_planned.notified() => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
    }
    tracing::info!("job runner stopped");
}

/// How long to sleep: until the next due work (real time), at most `POLL`.
async fn next_wake(engine: &Engine) -> anyhow::Result<Duration> {
    let real = unix_millis();
    let Some(due) = engine.store.next_due(real).await? else {
        return Ok(POLL);
    };
    let wait = engine.clock.to_real_ms(due) - real;
    Ok(Duration::from_millis(
        wait.clamp(0, POLL.as_millis() as i64) as u64,
    ))
}

/// A claimed piece of due work.
pub enum Due {
    Work(WorkRow),
    Notice(Notice),
}

/// Claims a batch of due work and notices. Empty: nothing is due.
pub async fn claim(engine: &Engine, limit: i64) -> anyhow::Result<Vec<Due>> {
    let real = unix_millis();
    let now = engine.clock.now_ms();
    let lease = real + LEASE_MS;
    let store = &engine.store;
    let mut due: Vec<Due> = store
        .claim_notices(None, now, real, lease, limit)
        .await?
        .into_iter()
        .map(Due::Notice)
        .collect();
    due.extend(
        store
            .claim_work(None, now, real, lease, limit)
            .await?
            .into_iter()
            .map(Due::Work),
    );
    Ok(due)
}

/// Runs one claimed piece of work, renewing its lease while it runs.
pub async fn run_one(engine: &Engine, due: &Due) -> anyhow::Result<()> {
    let job = async {
        match due {
            Due::Work(work) => perform(engine, work.clone()).await,
            Due::Notice(notice) => send_notice::perform(engine, notice).await,
        }
    };
    let renew = async {
        loop {
            tokio::time::sleep(RENEW).await;
            let until = unix_millis() + LEASE_MS;
            if let Err(e) = engine.store.renew_lease(due.table(), due.id(), until).await {
                tracing::warn!(error = %format!("{e:#}"), "renewing a job lease failed");
            }
        }
    };
    tokio::select! {
        result = job => result,
        never = renew => never,
    }
}

impl Due {
    fn id(&self) -> i64 {
        match self {
            Self::Work(w) => w.id,
            Self::Notice(n) => n.id,
        }
    }

    fn table(&self) -> Leased {
        match self {
            Self::Work(_) => Leased::Work,
            Self::Notice(_) => Leased::Notice,
        }
    }
}

/// Claims and runs one round; returns how many pieces it claimed. On
/// shutdown no new job starts, running ones get `GRACE`, and the leases of
/// whatever did not finish are given back at once.
async fn run_round(engine: &Engine, shutdown: &mut watch::Receiver<bool>) -> anyhow::Result<usize> {
    let batch = claim(engine, BATCH).await?;
    let claimed = batch.len();
    let mut waiting = batch.into_iter();
    let mut running = FuturesUnordered::new();
    let mut unfinished: Vec<(Leased, i64)> = Vec::new();
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        if deadline.is_none() {
            while running.len() < CONCURRENCY {
                let Some(due) = waiting.next() else { break };
                running.push(run_owned(engine, due));
            }
        }
        if running.is_empty() {
            break;
        }
        let stop = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => {
                    let _ = shutdown.wait_for(|stop| *stop).await;
                }
            }
        };
        tokio::select! {
            Some(_) = running.next() => {}
            _ = stop => {
                if deadline.is_some() {
                    tracing::warn!(jobs = running.len(), "jobs still running at shutdown: abandoned, leases given back");
                    unfinished.extend(running.iter().map(|r: &RunningJob<'_>| r.lease));
                    break;
                }
                deadline = Some(tokio::time::Instant::now() + GRACE);
                unfinished.extend(waiting.by_ref().map(|due| (due.table(), due.id())));
            }
        }
    }
    drop(running);
    for (table, id) in unfinished {
        let _ = engine.store.release_lease(table, id).await;
    }
    Ok(claimed)
}

/// A job in flight, with the lease to give back if it is abandoned.
struct RunningJob<'a> {
    lease: (Leased, i64),
    job: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>,
}

impl std::future::Future for RunningJob<'_> {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.job.as_mut().poll(cx)
    }
}

fn run_owned(engine: &Engine, due: Due) -> RunningJob<'_> {
    let lease = (due.table(), due.id());
    RunningJob {
        lease,
        job: Box::pin(async move {
            if let Err(e) = run_one(engine, &due).await {
                tracing::error!(error = %format!("{e:#}"), "job failed; it will run again");
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_the_runner() {
        let health = RunnerHealth::default();
        assert!(health.check().unwrap_err().contains("not started"));
        health.beat();
        assert!(health.check().is_ok());
        health.set_problem(Some("claiming due work failed: db gone".into()));
        assert!(health.check().unwrap_err().contains("db gone"));
        health.beat();
        assert!(health.check().is_ok());
        health.down("job runner died (panic); restarting in 1s".into());
        assert!(health.check().unwrap_err().contains("died"));
        health.beat();
        health
            .beat_ms
            .store(unix_millis() - STALE_MS - 1, Ordering::SeqCst);
        assert!(health.check().unwrap_err().contains("silent"));
    }
}
