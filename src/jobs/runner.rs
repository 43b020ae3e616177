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
//! backoff (`supervisor`), and `/readyz` says so while it is down.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::supervisor::Health;
use super::{deliver_event, perform, send_notice};
use crate::clock::unix_millis;
use crate::engine::Engine;
use crate::store::notices::{self, Notice};
use crate::store::outgoing::{self, OutgoingEvent};
use crate::store::work::{self, Claim, Leased, WorkRow};

/// How long a claim is ours (real time) unless renewed.
pub const LEASE_MS: i64 = 30_000;
/// A running job renews its lease this often.
const RENEW: Duration = Duration::from_secs(10);
/// The longest sleep: how soon work planned by another process is seen.
const POLL: Duration = Duration::from_millis(500);
/// The shortest sleep between rounds that found nothing to claim.
const MIN_SLEEP_MS: i64 = 2;
/// Jobs run at once, each a task of its own: processor round trips
/// (hundreds of milliseconds on Stripe) overlap. On SQLite many, since the
/// more transactions wait for the write turn, the fewer commits
/// (`store::group_commit`), and the intake has its own writer. On PostgreSQL
/// as many as the pool has connections (16), which the event processor and,
/// in `serve`, the webhook intake share: more only queued them behind jobs.
/// Measured with `bench/drain.rs` (`--workers`, `--latency-ms`).
fn concurrency(engine: &Engine) -> usize {
    match engine.store {
        crate::store::Store::Sqlite(..) => 64,
        crate::store::Store::Postgres(_) => 16,
    }
}
/// How often the runner says it is alive while it waits on running jobs.
const BEAT: Duration = Duration::from_secs(2);
/// On shutdown, how long running jobs may take to finish before they are
/// abandoned (their leases given back; the idempotency key makes a rerun
/// safe). Kept well inside a 10 s stop.
const GRACE: Duration = Duration::from_secs(6);

/// Runs the job runner until `shutdown`, restarted with backoff if it dies.
pub async fn supervise(engine: Engine, health: Arc<Health>, shutdown: watch::Receiver<bool>) {
    let (h, stop) = (health.clone(), shutdown.clone());
    super::supervisor::supervise(health, shutdown, move || {
        run(engine.clone(), h.clone(), stop.clone())
    })
    .await;
}

async fn run(engine: Engine, health: Arc<Health>, mut shutdown: watch::Receiver<bool>) {
    tracing::info!("job runner started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        match run_round(&engine, &health, &mut shutdown).await {
            Ok(0) => health.beat(),
            Ok(_) => {
                health.beat();
                continue;
            }
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
    // At least a moment: work due but not claimable (rows another
    // transaction holds for an instant) must not make the runner spin.
    let wait = engine.clock.to_real_ms(due) - real;
    Ok(Duration::from_millis(
        wait.clamp(MIN_SLEEP_MS, POLL.as_millis() as i64) as u64,
    ))
}

/// A claimed piece of due work.
pub enum Due {
    Work(WorkRow),
    Notice(Notice),
    Outgoing(OutgoingEvent),
}

/// How many rows one claim may take: `slots` in all, across every leased
/// table, of which at most `outgoing` deliveries to the operator's
/// receiver (a slow or hanging receiver holds a connection for up to its
/// timeout each: it must not take every slot, file descriptor or the
/// runner's health with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub slots: usize,
    pub outgoing: usize,
}

/// Outgoing deliveries in flight at once in one process.
pub const OUTGOING_AT_ONCE: usize = 8;

/// Claims a batch of due work, notices and outgoing events in one
/// transaction (on SQLite a member of the group commit: no commit of its
/// own), never more than `budget` allows in total. Each table first gets a
/// share (a backlog of one cannot starve the others), then what is left
/// goes to case work, notices and deliveries in that order. Empty: nothing
/// is due.
pub async fn claim(engine: &Engine, budget: Budget) -> anyhow::Result<Vec<Due>> {
    let Budget { slots, outgoing } = budget;
    let outgoing = outgoing.min(slots);
    let share = slots.div_ceil(4);
    let limit = |n: usize| claim_now(engine, None, n as i64);
    let mut tx = engine.store.begin().await?;
    let mut notices = Vec::new();
    let mut events = Vec::new();
    if share > 0 {
        notices = notices::claim_notices(&mut tx, &limit(share)).await?;
        events = outgoing::claim_outgoing(&mut tx, &limit(share.min(outgoing))).await?;
    }
    let mut left = slots.saturating_sub(notices.len() + events.len());
    let mut work = Vec::new();
    if left > 0 {
        work = work::claim_work(&mut tx, &limit(left)).await?;
        left = left.saturating_sub(work.len());
    }
    if left > 0 && notices.len() == share {
        let more = notices::claim_notices(&mut tx, &limit(left)).await?;
        left = left.saturating_sub(more.len());
        notices.extend(more);
    }
    let room = outgoing.saturating_sub(events.len()).min(left);
    if room > 0 && events.len() == share.min(outgoing) {
        events.extend(outgoing::claim_outgoing(&mut tx, &limit(room)).await?);
    }
    tx.commit().await?;
    let notices = notices.into_iter().map(Due::Notice);
    let work = work.into_iter().map(Due::Work);
    Ok(work
        .chain(notices)
        .chain(events.into_iter().map(Due::Outgoing))
        .collect())
}

/// A claim of what is due now on the engine's clock (work `id` alone, or
/// up to `limit` rows), leased for `LEASE_MS` of real time.
pub fn claim_now(engine: &Engine, id: Option<i64>, limit: i64) -> Claim {
    let real = unix_millis();
    Claim {
        id,
        sim_now_ms: engine.clock.now_ms(),
        real_now_ms: real,
        lease_until_ms: real + LEASE_MS,
        limit,
    }
}

/// Runs one claimed piece of work, renewing its lease while it runs.
pub async fn run_one(engine: &Engine, due: &Due) -> anyhow::Result<()> {
    let job = async {
        match due {
            Due::Work(work) => perform(engine, work.clone()).await,
            Due::Notice(notice) => send_notice::perform(engine, notice).await,
            Due::Outgoing(event) => deliver_event::perform(engine, event).await,
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

/// Runs one claimed piece of work as a task of its own: jobs run on every
/// core, and the one holding the write turn is polled as soon as its
/// statement returns instead of after whatever the others are doing.
pub fn spawn_one(engine: &Engine, due: Due) -> JoinHandle<anyhow::Result<()>> {
    let engine = engine.clone();
    tokio::spawn(async move { run_one(&engine, &due).await })
}

impl Due {
    fn id(&self) -> i64 {
        match self {
            Self::Work(w) => w.id,
            Self::Notice(n) => n.id,
            Self::Outgoing(o) => o.id,
        }
    }

    fn table(&self) -> Leased {
        match self {
            Self::Work(_) => Leased::Work,
            Self::Notice(_) => Leased::Notice,
            Self::Outgoing(_) => Leased::Outgoing,
        }
    }
}

/// Claims and runs due work until none is left; returns how many pieces
/// it claimed. Only what can start at once is claimed (a claimed piece
/// renews its lease only while it runs), topped up whenever half the slots
/// are free. On shutdown no new job starts, running ones get `GRACE`, and
/// the leases of whatever did not finish are given back at once.
async fn run_round(
    engine: &Engine,
    health: &Health,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<usize> {
    let mut running: FuturesUnordered<RunningJob> = FuturesUnordered::new();
    let mut claimed = 0;
    let mut drained = false;
    let mut deadline: Option<tokio::time::Instant> = None;
    let mut beat = tokio::time::interval(BEAT);
    loop {
        let slots = concurrency(engine);
        let free = slots.saturating_sub(running.len());
        if deadline.is_none() && !drained && free >= slots / 2 {
            let delivering = running
                .iter()
                .filter(|job| job.lease.0 == Leased::Outgoing)
                .count();
            let budget = Budget {
                slots: free,
                outgoing: OUTGOING_AT_ONCE.saturating_sub(delivering),
            };
            // The running jobs are tasks of their own: they go on (and give
            // the write turn the claim waits for back) meanwhile.
            let batch = claim(engine, budget).await?;
            // A long backlog is one long round: alive all along.
            health.beat();
            // Nothing more came than fit: the tables are drained for now
            // (deliveries held back by their own bound wait for the next
            // round, which starts as soon as these finish).
            drained = batch.len() < free;
            claimed += batch.len();
            running.extend(batch.into_iter().map(|due| run_owned(engine, due)));
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
            // Waiting on slow jobs is not silence: the runner is alive, and
            // looks again for work due meanwhile.
            _ = beat.tick() => {
                health.beat();
                drained = false;
            }
            _ = stop => {
                if deadline.is_some() {
                    tracing::warn!(jobs = running.len(), "jobs still running at shutdown: abandoned, leases given back");
                    let unfinished: Vec<(Leased, i64)> =
                        running.iter().map(|r: &RunningJob| r.lease).collect();
                    for job in running.iter() {
                        job.task.abort();
                    }
                    // An aborted task lets go of its transaction (and the
                    // write turn) when it is dropped, before the leases go.
                    while running.next().await.is_some() {}
                    for (table, id) in unfinished {
                        let _ = engine.store.release_lease(table, id).await;
                    }
                    break;
                }
                deadline = Some(tokio::time::Instant::now() + GRACE);
            }
        }
    }
    Ok(claimed)
}

/// A job in flight (its own task), with the lease to give back if it is
/// abandoned.
struct RunningJob {
    lease: (Leased, i64),
    task: JoinHandle<anyhow::Result<()>>,
}

impl std::future::Future for RunningJob {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        std::pin::Pin::new(&mut self.task)
            .poll(cx)
            .map(|done| match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %format!("{e:#}"), "job failed; it will run again")
                }
                Err(e) if e.is_cancelled() => {}
                Err(e) => tracing::error!(error = %e, "job panicked; it will run again"),
            })
    }
}

fn run_owned(engine: &Engine, due: Due) -> RunningJob {
    RunningJob {
        lease: (due.table(), due.id()),
        task: spawn_one(engine, due),
    }
}
