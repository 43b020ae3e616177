//! `outgoing_events`: events for the operator's systems, written with the
//! case change that caused them (numbered per case) and leased by the job
//! runner to deliver, a case's events in order; given-up events are kept,
//! listed and replayable.

use crate::domain::ids::CaseId;
pub use crate::domain::outgoing::NewOutgoing;
use anyhow::Context as _;
use sqlx::Row;

use super::work::{Claim, claim_rows};
use super::{Store, Tx, with_pool, with_tx};
use crate::domain::outgoing::{OutgoingStatus, OutgoingType};

#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingEvent {
    pub id: i64,
    pub event_id: String,
    pub case_id: CaseId,
    pub kind: OutgoingType,
    pub payload: String,
    pub status: OutgoingStatus,
    pub tries: i32,
    pub last_error: Option<String>,
    /// The case's 1, 2, 3…; `None` on events written before numbering.
    pub sequence: Option<i64>,
    /// Engine clock, unix ms.
    pub created_at: i64,
    pub due_at: i64,
    pub delivered_at: Option<i64>,
    pub given_up_at: Option<i64>,
}

const COLUMNS: &str = "id, event_id, case_id, type, payload, status, tries, last_error, \
                       sequence, created_at, due_at, delivered_at, given_up_at";

macro_rules! outgoing_from_row {
    ($r:expr) => {{
        let r = $r;
        let id: i64 = r.try_get("id")?;
        let kind: String = r.try_get("type")?;
        let status: String = r.try_get("status")?;
        OutgoingEvent {
            id,
            event_id: r.try_get("event_id")?,
            case_id: r.try_get("case_id")?,
            kind: OutgoingType::parse(&kind)
                .with_context(|| format!("outgoing event {id}: unknown type {kind:?}"))?,
            payload: r.try_get("payload")?,
            status: OutgoingStatus::parse(&status)
                .with_context(|| format!("outgoing event {id}: unknown status {status:?}"))?,
            tries: r.try_get("tries")?,
            last_error: r.try_get("last_error")?,
            sequence: r.try_get("sequence")?,
            created_at: r.try_get("created_at")?,
            due_at: r.try_get("due_at")?,
            delivered_at: r.try_get("delivered_at")?,
            given_up_at: r.try_get("given_up_at")?,
        }
    }};
}

/// The number the case's next event gets (the case is locked in `tx`, so
/// no other transaction numbers its events meanwhile; a unique index
/// would refuse a duplicate anyway).
pub async fn next_sequence(tx: &mut Tx, case_id: CaseId) -> anyhow::Result<i64> {
    let next: i64 = with_tx!(tx, conn => {
        sqlx::query_scalar(
            "SELECT COALESCE(MAX(sequence), 0) + 1 FROM outgoing_events WHERE case_id = $1",
        )
        .bind(case_id)
        .fetch_one(&mut *conn)
        .await?
    });
    Ok(next)
}

pub async fn insert_outgoing(
    tx: &mut Tx,
    event: &NewOutgoing<'_>,
    now_ms: i64,
) -> anyhow::Result<()> {
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO outgoing_events \
             (event_id, case_id, type, payload, due_at, status, created_at, sequence) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)",
        )
        .bind(event.event_id)
        .bind(event.case_id)
        .bind(event.kind.as_str())
        .bind(event.payload)
        .bind(event.due_at)
        .bind(now_ms)
        .bind(event.sequence)
        .execute(conn)
        .await?;
    });
    Ok(())
}

impl Store {
    /// The event reached the receiver.
    pub async fn outgoing_delivered(&self, id: i64, now_ms: i64) -> anyhow::Result<()> {
        self.finish_outgoing(id, OutgoingStatus::Delivered, None, None, Some(now_ms))
            .await
    }

    /// The receiver did not take it: again at `due_at`, or never (`None`:
    /// given up at `now_ms`, kept for the operator to replay).
    pub async fn outgoing_failed(
        &self,
        id: i64,
        error: &str,
        due_at: Option<i64>,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let _turn = self.write_turn().await;
        let status = if due_at.is_some() {
            OutgoingStatus::Pending
        } else {
            OutgoingStatus::Failed
        };
        let given_up_at = due_at.is_none().then_some(now_ms);
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE outgoing_events SET status = $1, last_error = $2, tries = tries + 1, \
                 due_at = COALESCE($3, due_at), given_up_at = $4, lease_until = NULL \
                 WHERE id = $5",
            )
            .bind(status.as_str())
            .bind(error)
            .bind(due_at)
            .bind(given_up_at)
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    async fn finish_outgoing(
        &self,
        id: i64,
        status: OutgoingStatus,
        error: Option<&str>,
        due_at: Option<i64>,
        delivered_at: Option<i64>,
    ) -> anyhow::Result<()> {
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE outgoing_events SET status = $1, last_error = COALESCE($2, last_error), \
                 tries = tries + CASE WHEN $2 IS NULL THEN 0 ELSE 1 END, \
                 due_at = COALESCE($3, due_at), delivered_at = $4, lease_until = NULL \
                 WHERE id = $5",
            )
            .bind(status.as_str())
            .bind(error)
            .bind(due_at)
            .bind(delivered_at)
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Outgoing events, newest first: of `status` (any when `None`), given
    /// up at or after `since` (engine ms; failed events only), older than
    /// event `before` (the previous page's last id); `limit` at most.
    pub async fn outgoing_page(
        &self,
        status: Option<OutgoingStatus>,
        since: Option<i64>,
        before: Option<i64>,
        limit: i64,
    ) -> anyhow::Result<Vec<OutgoingEvent>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM outgoing_events \
             WHERE ($1 IS NULL OR status = $1) \
               AND ($2 IS NULL OR given_up_at >= $2) \
               AND ($3 IS NULL OR id < $3) \
             ORDER BY id DESC LIMIT $4"
        );
        let rows = with_pool!(self, pool => {
            let mut out = Vec::new();
            for r in sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(status.map(OutgoingStatus::as_str))
                .bind(since)
                .bind(before)
                .bind(limit)
                .fetch_all(pool)
                .await?
            {
                out.push(outgoing_from_row!(r));
            }
            out
        });
        Ok(rows)
    }

    /// How many events were given up and not replayed.
    pub async fn outgoing_given_up(&self) -> anyhow::Result<i64> {
        let n: i64 = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM outgoing_events WHERE status = 'failed'")
                .fetch_one(pool)
                .await?
        });
        Ok(n)
    }

    /// Given-up events sent again from `now_ms`, afresh (ten more tries):
    /// event `id`, or (with `id` `None`) every one given up at or after
    /// `since`. The ones it applies to; an event that was not given up is
    /// left as it is.
    pub async fn replay_outgoing(
        &self,
        id: Option<i64>,
        since: Option<i64>,
        now_ms: i64,
    ) -> anyhow::Result<Vec<OutgoingEvent>> {
        let _turn = self.write_turn().await;
        let sql = format!(
            "UPDATE outgoing_events SET status = 'pending', tries = 0, due_at = $1, \
                    given_up_at = NULL, lease_until = NULL \
             WHERE status = 'failed' AND ($2 IS NULL OR id = $2) \
               AND ($3 IS NULL OR given_up_at >= $3) \
             RETURNING {COLUMNS}"
        );
        let mut rows = with_pool!(self, pool => {
            let mut out = Vec::new();
            for r in sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(now_ms)
                .bind(id)
                .bind(since)
                .fetch_all(pool)
                .await?
            {
                out.push(outgoing_from_row!(r));
            }
            out
        });
        rows.sort_by_key(|e| e.id);
        Ok(rows)
    }

    /// Event `id`, if there is one.
    pub async fn outgoing_event(&self, id: i64) -> anyhow::Result<Option<OutgoingEvent>> {
        let sql = format!("SELECT {COLUMNS} FROM outgoing_events WHERE id = $1");
        let row = with_pool!(self, pool => {
            match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await? {
                Some(r) => Some(outgoing_from_row!(r)),
                None => None,
            }
        });
        Ok(row)
    }

    /// A case's outgoing events, oldest first.
    pub async fn outgoing_of(&self, case_id: CaseId) -> anyhow::Result<Vec<OutgoingEvent>> {
        let sql = format!("SELECT {COLUMNS} FROM outgoing_events WHERE case_id = $1 ORDER BY id");
        let rows = with_pool!(self, pool => {
            let mut out = Vec::new();
            for r in sqlx::query(sqlx::AssertSqlSafe(sql)).bind(case_id).fetch_all(pool).await? {
                out.push(outgoing_from_row!(r));
            }
            out
        });
        Ok(rows)
    }
}

/// Only an event whose case has no earlier event still waiting (pending,
/// leased or not): a case's events reach the receiver in order, each after
/// the ones before it were delivered or given up.
const IN_ORDER: &str = " AND NOT EXISTS (SELECT 1 FROM outgoing_events earlier \
                          WHERE earlier.case_id = outgoing_events.case_id \
                            AND earlier.id < outgoing_events.id \
                            AND earlier.status = 'pending')";

/// Claims due events (`claim`; its `id` is not used) in `tx`, a case's in
/// order (`IN_ORDER`).
pub async fn claim_outgoing(tx: &mut Tx, claim: &Claim) -> anyhow::Result<Vec<OutgoingEvent>> {
    let claim = Claim { id: None, ..*claim };
    Ok(claim_rows!(
        tx,
        "outgoing_events",
        COLUMNS,
        &claim,
        outgoing_from_row,
        IN_ORDER
    ))
}
