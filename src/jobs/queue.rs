//! The queue apalis's job worker pulls from: dunwell's own leased tables
//! (`case_work`, `notices`, `outgoing_events`), the truth. No worker
//! registers a name and no storage of apalis's is used: any number of
//! processes, restarted cleanly or not, share the tables, and the claim (an
//! atomic lease, `FOR UPDATE SKIP LOCKED` on PostgreSQL) makes each piece
//! of work run once at a time.
//!
//! The backend claims only what can start at once: a claimed row holds a
//! slot (`Slot`) from the claim until its job ends, so a claim never takes
//! more than the slots free, and a row never waits unrenewed behind others.
//! It tops up when half the slots are free. With nothing due it sleeps until
//! the next piece of work falls due (engine time, mapped to real time, so
//! due work runs on time at any `DUNWELL_CLOCK_SPEED`), until this process
//! plans new work, or at most `POLL`, which covers work planned by other
//! processes and leases left behind by a crashed one.

use anyhow::Context as _;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use apalis_core::backend::finalize::Ephemeral;
use apalis_core::backend::{Backend, BackendConfig};
use apalis_core::task::Task;
use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::task_id::{RandomId, TaskId};
use apalis_core::worker::context::WorkerContext;
use futures_util::future::BoxFuture;
use futures_util::task::AtomicWaker;
use tokio::task::JoinHandle;
use tower::layer::util::Identity;

use super::claim::{Budget, Due, OUTGOING_AT_ONCE, claim};
use crate::clock::unix_millis;
use crate::engine::Engine;

/// The longest sleep: how soon work planned by another process is seen.
const POLL: Duration = Duration::from_millis(500);
/// The shortest sleep between rounds that found nothing to claim.
const MIN_SLEEP_MS: i64 = 2;
/// How often the worker says it is alive, busy or not (`/readyz`).
const BEAT: Duration = Duration::from_secs(2);
/// A claim still waiting after this long (a database that does not answer,
/// a write turn never given back) is a problem `/readyz` names.
const CLAIM_STUCK: Duration = Duration::from_secs(10);

/// What one process's queue and its jobs share: the slots, and the leases
/// being given back.
pub struct Shared {
    pub engine: Engine,
    /// Jobs at once.
    pub slots: usize,
    /// Rows claimed and not yet ended (waiting to start or running).
    held: AtomicUsize,
    /// Of which deliveries to the operator's receiver.
    delivering: AtomicUsize,
    /// Claims or worker runs that failed in a row: the backoff before the
    /// next.
    failures: AtomicU32,
    /// Leases being given back (jobs abandoned or timed out), awaited before
    /// the process stops.
    giving_back: Mutex<Vec<JoinHandle<()>>>,
    /// The running worker, told to stop at shutdown.
    worker: Mutex<Option<WorkerContext>>,
    /// The queue waiting for a slot: woken when one is freed, wherever
    /// (a job that ends, one aborted, a claimed row dropped).
    slot_freed: AtomicWaker,
}

impl Shared {
    pub fn new(engine: Engine, slots: usize) -> Arc<Self> {
        Arc::new(Self {
            engine,
            slots,
            held: AtomicUsize::new(0),
            delivering: AtomicUsize::new(0),
            failures: AtomicU32::new(0),
            giving_back: Mutex::new(Vec::new()),
            worker: Mutex::new(None),
            slot_freed: AtomicWaker::new(),
        })
    }

    /// Rows claimed and not yet ended.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// What the next claim may take.
    pub fn budget(&self) -> Budget {
        Budget {
            slots: self.slots.saturating_sub(self.held()),
            outgoing: OUTGOING_AT_ONCE.saturating_sub(self.delivering.load(Ordering::SeqCst)),
        }
    }

    /// A claimed row, holding its slot until the job is dropped.
    pub fn hold(self: &Arc<Self>, due: Due) -> Job {
        let outgoing = matches!(due, Due::Outgoing(_));
        self.held.fetch_add(1, Ordering::SeqCst);
        if outgoing {
            self.delivering.fetch_add(1, Ordering::SeqCst);
        }
        Job {
            due,
            _slot: Slot {
                shared: self.clone(),
                outgoing,
            },
        }
    }

    /// A failed claim or worker run: the next waits longer.
    pub fn failed(&self) -> Duration {
        let n = self.failures.fetch_add(1, Ordering::SeqCst) + 1;
        backoff(n)
    }

    fn backoff(&self) -> Duration {
        match self.failures.load(Ordering::SeqCst) {
            0 => Duration::ZERO,
            n => backoff(n),
        }
    }

    /// Keeps `task` (a lease being given back) to wait for at shutdown.
    pub fn giving_back(&self, task: JoinHandle<()>) {
        if let Ok(mut tasks) = self.giving_back.lock() {
            tasks.retain(|t| !t.is_finished());
            tasks.push(task);
        }
    }

    /// Waits until every lease being given back is.
    pub async fn settle(&self) {
        loop {
            let tasks: Vec<JoinHandle<()>> = match self.giving_back.lock() {
                Ok(mut tasks) => tasks.drain(..).collect(),
                Err(_) => return,
            };
            if tasks.is_empty() {
                return;
            }
            for task in tasks {
                let _ = task.await;
            }
        }
    }

    /// Remembers the running worker (its start event).
    pub fn started(&self, worker: &WorkerContext) {
        if let Ok(mut w) = self.worker.lock() {
            *w = Some(worker.clone());
        }
    }

    /// Tells the running worker to take no new job (shutdown), and lets go
    /// of it (its listeners hold this).
    pub fn stop_worker(&self) {
        if let Some(worker) = self.worker.lock().ok().and_then(|mut w| w.take()) {
            let _ = worker.stop();
        }
    }
}

/// 500 ms after the first failure, doubling, at most 30 s.
fn backoff(failures: u32) -> Duration {
    let ms = 500u64.saturating_mul(1 << failures.saturating_sub(1).min(6));
    Duration::from_millis(ms.min(30_000))
}

/// A claimed row on its way through the worker: its slot is free again
/// when this is dropped (the job ended, was abandoned, or never started).
pub struct Job {
    pub due: Due,
    _slot: Slot,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (table, id) = (self.due.table(), self.due.id());
        write!(f, "Job({table:?} {id})")
    }
}

struct Slot {
    shared: Arc<Shared>,
    outgoing: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.held.fetch_sub(1, Ordering::SeqCst);
        if self.outgoing {
            self.shared.delivering.fetch_sub(1, Ordering::SeqCst);
        }
        self.shared.slot_freed.wake();
    }
}

/// What the queue tells the worker's listeners (`/readyz`).
#[derive(Debug, Clone)]
pub enum QueueEvent {
    /// A claim went through: the queue is well.
    Claimed(usize),
    /// A claim failed; the queue tries again after a backoff.
    Failing(String),
}

/// The backend: dunwell's leased tables as apalis's task source.
pub struct LeasedQueue {
    shared: Arc<Shared>,
    state: State,
    waiting: VecDeque<Job>,
    /// The last claim took fewer rows than it asked for: nothing more is due
    /// until the next sleep ends.
    drained: bool,
    beat: tokio::time::Interval,
}

enum State {
    /// After a restart: the backoff before the first claim.
    Starting(Pin<Box<tokio::time::Sleep>>),
    Idle,
    /// A claim runs as a task of its own: it ends (and gives the write
    /// turn and its row locks back) even while the worker, shutting down,
    /// polls nothing but its running jobs.
    Claiming(
        usize,
        tokio::time::Instant,
        JoinHandle<anyhow::Result<Vec<Due>>>,
    ),
    Sleeping(BoxFuture<'static, ()>),
    Closing(BoxFuture<'static, ()>),
    Closed,
}

impl LeasedQueue {
    pub fn new(shared: Arc<Shared>) -> Self {
        let delay = shared.backoff();
        let mut beat = tokio::time::interval(BEAT);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        Self {
            shared,
            state: State::Starting(Box::pin(tokio::time::sleep(delay))),
            waiting: VecDeque::new(),
            drained: false,
            beat,
        }
    }

    /// Whether a claim may start now: slots free (half of them while jobs
    /// run, so claims come in batches), and something may be due.
    fn may_claim(&self) -> Option<Budget> {
        let budget = self.shared.budget();
        let room =
            budget.slots > 0 && (budget.slots * 2 >= self.shared.slots || self.shared.held() == 0);
        (room && !self.drained).then_some(budget)
    }
}

impl Backend for LeasedQueue {
    type Task = Task<Job>;
    type Error = std::convert::Infallible;

    fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        // Alive while jobs run long: the tick wakes the worker. A claim that
        // hangs is not alive.
        while self.beat.poll_tick(cx).is_ready() {
            match &self.state {
                State::Claiming(_, since, _) if since.elapsed() > CLAIM_STUCK => {
                    let waited = since.elapsed().as_secs();
                    let why = format!("claiming due work has waited {waited} s");
                    worker.emit(QueueEvent::Failing(why));
                }
                _ => {
                    worker.heartbeat(cx);
                    // In the database too, so a web role's dashboard knows
                    // a runner is at work (at most every few seconds).
                    let engine = self.shared.engine.clone();
                    tokio::spawn(async move { super::claim::note_runner_seen(&engine).await });
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Option<Result<Self::Task, Self::Error>>> {
        loop {
            if let Some(job) = self.waiting.pop_front() {
                // Named by its row: the tracing span says which.
                let id = format!("{}/{}", job.due.table().table(), job.due.id());
                let task = TaskBuilder::new(job)
                    .task_id(TaskId::from_string(id))
                    .build();
                return Poll::Ready(Some(Ok(task)));
            }
            match &mut self.state {
                State::Starting(delay) => {
                    std::task::ready!(delay.as_mut().poll(cx));
                    self.state = State::Idle;
                }
                State::Claiming(asked, _, claiming) => {
                    let asked = *asked;
                    let claimed = std::task::ready!(Pin::new(claiming).poll(cx))
                        .unwrap_or_else(|e| Err(anyhow::anyhow!("the claim task ended: {e}")));
                    match claimed {
                        Ok(rows) => {
                            self.shared.failures.store(0, Ordering::SeqCst);
                            worker.emit(QueueEvent::Claimed(rows.len()));
                            self.drained = rows.len() < asked;
                            let jobs = rows.into_iter().map(|due| self.shared.hold(due));
                            self.waiting.extend(jobs);
                            self.state = State::Idle;
                        }
                        Err(e) => {
                            let wait = self.shared.failed();
                            let why = format!("claiming due work failed: {e:#}");
                            tracing::error!("{why}; trying again in {wait:?}");
                            worker.emit(QueueEvent::Failing(why));
                            self.drained = false;
                            self.state = State::Sleeping(Box::pin(tokio::time::sleep(wait)));
                        }
                    }
                }
                State::Sleeping(sleeping) => {
                    std::task::ready!(sleeping.as_mut().poll(cx));
                    self.drained = false;
                    self.state = State::Idle;
                }
                State::Idle => {
                    if let Some(budget) = self.may_claim() {
                        let engine = self.shared.engine.clone();
                        let claiming = tokio::spawn(async move { claim(&engine, budget).await });
                        let since = tokio::time::Instant::now();
                        self.state = State::Claiming(budget.slots, since, claiming);
                    } else if self.drained {
                        let (engine, busy) = (self.shared.engine.clone(), self.shared.held() > 0);
                        self.state = State::Sleeping(Box::pin(until_work(engine, busy)));
                    } else {
                        // Too few slots free: a slot freed wakes the worker.
                        self.shared.slot_freed.register(cx.waker());
                        if self.may_claim().is_some() {
                            continue;
                        }
                        return Poll::Pending;
                    }
                }
                State::Closing(_) | State::Closed => return Poll::Ready(None),
            }
        }
    }

    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        loop {
            match &mut self.state {
                State::Closing(giving_back) => {
                    std::task::ready!(giving_back.as_mut().poll(cx));
                    self.state = State::Closed;
                }
                State::Closed => return Poll::Ready(Ok(())),
                _ => self.state = State::Closing(self.give_back()),
            }
        }
    }
}

impl LeasedQueue {
    /// What this queue holds and no job runs (claimed rows waiting, and
    /// what a claim still under way takes), given back.
    fn give_back(&mut self) -> BoxFuture<'static, ()> {
        let jobs: Vec<Job> = self.waiting.drain(..).collect();
        let claiming = match std::mem::replace(&mut self.state, State::Closed) {
            State::Claiming(_, _, claiming) => Some(claiming),
            _ => None,
        };
        let engine = self.shared.engine.clone();
        Box::pin(async move {
            let mut rows: Vec<Due> = jobs.iter().map(|job| job.due.clone()).collect();
            if let Some(claiming) = claiming
                && let Ok(Ok(claimed)) = claiming.await
            {
                rows.extend(claimed);
            }
            for due in &rows {
                if let Err(e) = engine.store.release_lease(due.table(), due.id()).await {
                    tracing::warn!(error = %format!("{e:#}"), "giving a lease back failed; it runs out");
                }
            }
            drop(jobs);
        })
    }
}

/// Dropped without closing (the monitor's grace ran out, or the worker
/// restarts): what it held is given back all the same, before the runner
/// returns (`Shared::settle`).
impl Drop for LeasedQueue {
    fn drop(&mut self) {
        let holds = !self.waiting.is_empty() || matches!(self.state, State::Claiming(..));
        if holds && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let giving_back = self.give_back();
            self.shared.giving_back(runtime.spawn(giving_back));
        }
    }
}

impl BackendConfig for LeasedQueue {
    type Args = Job;
    type Id = RandomId;
    type Kind = Ephemeral;
    type Config = ();
    type Layer = Identity;

    fn config(&self) -> &Self::Config {
        &()
    }

    fn middleware(&mut self, _: &mut WorkerContext) -> Self::Layer {
        Identity::new()
    }
}

/// Sleeps until the next due work (real time), new work planned here, or
/// `POLL`. While jobs run (`busy`), until new work or `POLL`: what is due
/// then may be held back on purpose (deliveries past `OUTGOING_AT_ONCE`),
/// and claiming it again at once would only spin.
async fn until_work(engine: Engine, busy: bool) {
    let sleep = if busy {
        POLL
    } else {
        match next_wake(&engine).await {
            Ok(sleep) => sleep,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "looking up the next due work failed");
                POLL
            }
        }
    };
    tokio::select! {
        _ = tokio::time::sleep(sleep) => {}
        _ = engine.work_planned.notified() => {}
    }
}

/// How long to sleep: until the next due work (real time), at most `POLL`.
async fn next_wake(engine: &Engine) -> anyhow::Result<Duration> {
    let real = unix_millis();
    let next = engine
        .store
        .next_due(real)
        .await
        .context("reading when the next work falls due")?;
    let Some(due) = next else {
        return Ok(POLL);
    };
    // At least a moment: work due but not claimable (rows another
    // transaction holds for an instant) must not make the queue spin.
    let wait = engine.clock.to_real_ms(due) - real;
    Ok(Duration::from_millis(
        wait.clamp(MIN_SLEEP_MS, POLL.as_millis() as i64) as u64,
    ))
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_grows_to_half_a_minute() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(4), Duration::from_secs(4));
        assert_eq!(backoff(7), Duration::from_secs(30));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(30));
    }
}
