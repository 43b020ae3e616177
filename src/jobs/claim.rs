//! Every claim of leased rows: due case work, notices and outgoing events
//! taken with a lease in one transaction, never more than a budget of free
//! slots allows (the job queue, `queue.rs`, and `run_due`), and stored
//! webhook events taken by the event processor (`process_events.rs`) with
//! a budget of their own beside the slots: a webhook (a payment that
//! succeeded above all, which stops the retries) never waits behind jobs.

use anyhow::Context as _;

use crate::clock::unix_millis;
use crate::domain::queued_event::PendingEvent;
use crate::engine::Engine;
use crate::store::notices::{self, Notice};
use crate::store::outgoing::{self, OutgoingEvent};
use crate::store::work::{self, Claim, Leased, WorkRow};

/// How long a claim is ours (real time) unless renewed.
pub const LEASE_MS: i64 = 30_000;

/// Stored events one round of the event processor takes at most, applied
/// in one transaction.
pub const EVENT_BATCH: usize = 100;

/// How long claimed events are ours before another worker may take them
/// (a worker that died mid-batch: they come back after it).
pub const EVENT_LEASE_MS: i64 = 60_000;

/// The settings key where job runners note when one last claimed (real
/// unix ms): the web role, which runs none, reads it to say on the
/// dashboard when no runner is at work.
pub const RUNNER_SEEN: &str = "runner_seen_at";

/// How often a runner notes that it is at work.
const SEEN_EVERY_MS: i64 = 10_000;

/// When no runner has claimed for this long, the dashboard says so.
pub const RUNNER_MISSING_AFTER_MS: i64 = 2 * LEASE_MS;

/// Notes (at most every `SEEN_EVERY_MS` per engine) that a runner is at
/// work: called on the job queue's heartbeat, which beats while jobs run
/// as well as while it waits. A failure to note it is logged.
pub async fn note_runner_seen(engine: &Engine) {
    use std::sync::atomic::Ordering;
    let noted = &engine.runner_noted;
    let now = unix_millis();
    let last = noted.load(Ordering::Relaxed);
    if now - last < SEEN_EVERY_MS
        || noted
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    if let Err(e) = engine
        .store
        .set_setting(RUNNER_SEEN, &now.to_string())
        .await
    {
        tracing::warn!(error = %format!("{e:#}"), "noting that the job runner is at work failed");
    }
}

/// Outgoing deliveries in flight at once in one process.
pub const OUTGOING_AT_ONCE: usize = 8;

/// A claimed piece of due work.
#[derive(Debug, Clone)]
pub enum Due {
    Work(WorkRow),
    Notice(Box<Notice>),
    Outgoing(OutgoingEvent),
}

impl Due {
    /// The claimed row's id in its table.
    pub fn id(&self) -> i64 {
        match self {
            Self::Work(w) => w.id,
            Self::Notice(n) => n.id,
            Self::Outgoing(o) => o.id,
        }
    }

    /// The table the claimed row is leased in.
    pub fn table(&self) -> Leased {
        match self {
            Self::Work(_) => Leased::Work,
            Self::Notice(_) => Leased::Notice,
            Self::Outgoing(_) => Leased::Outgoing,
        }
    }
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
    let mut tx = engine
        .store
        .begin()
        .await
        .context("starting the claim's transaction")?;
    let mut notices = Vec::new();
    let mut events = Vec::new();
    if share > 0 {
        notices = notices::claim_notices(&mut tx, &limit(share))
            .await
            .context("claiming due notices")?;
        events = outgoing::claim_outgoing(&mut tx, &limit(share.min(outgoing)))
            .await
            .context("claiming due outgoing events")?;
    }
    let mut left = slots.saturating_sub(notices.len() + events.len());
    let mut work = Vec::new();
    if left > 0 {
        work = work::claim_work(&mut tx, &limit(left))
            .await
            .context("claiming due case work")?;
        left = left.saturating_sub(work.len());
    }
    if left > 0 && notices.len() == share {
        let more = notices::claim_notices(&mut tx, &limit(left))
            .await
            .context("claiming more due notices")?;
        left = left.saturating_sub(more.len());
        notices.extend(more);
    }
    let room = outgoing.saturating_sub(events.len()).min(left);
    if room > 0 && events.len() == share.min(outgoing) {
        let more = outgoing::claim_outgoing(&mut tx, &limit(room))
            .await
            .context("claiming more due outgoing events")?;
        events.extend(more);
    }
    tx.commit().await.context("committing the claim")?;
    let notices = notices.into_iter().map(|n| Due::Notice(Box::new(n)));
    let work = work.into_iter().map(Due::Work);
    Ok(work
        .chain(notices)
        .chain(events.into_iter().map(Due::Outgoing))
        .collect())
}

/// Claims up to `limit` stored events (at most `EVENT_BATCH`), oldest
/// first, leased for `EVENT_LEASE_MS`; empty: none is waiting.
pub async fn claim_events(engine: &Engine, limit: usize) -> anyhow::Result<Vec<PendingEvent>> {
    let limit = limit.min(EVENT_BATCH) as i64;
    let now = unix_millis();
    engine
        .store
        .claim_pending_events(now, now + EVENT_LEASE_MS, limit)
        .await
        .context("claiming stored events")
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
