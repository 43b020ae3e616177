//! `outgoing_events`: events for the operator's systems, written with the
//! case change that caused them and leased by the job runner to deliver.

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
}

const COLUMNS: &str = "id, event_id, case_id, type, payload, status, tries, last_error";

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
        }
    }};
}

pub async fn insert_outgoing(
    tx: &mut Tx,
    event: &NewOutgoing<'_>,
    now_ms: i64,
) -> anyhow::Result<()> {
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO outgoing_events (event_id, case_id, type, payload, due_at, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6)",
        )
        .bind(event.event_id)
        .bind(event.case_id)
        .bind(event.kind.as_str())
        .bind(event.payload)
        .bind(event.due_at)
        .bind(now_ms)
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

    /// The receiver did not take it: again at `due_at`, or never (`None`).
    pub async fn outgoing_failed(
        &self,
        id: i64,
        error: &str,
        due_at: Option<i64>,
    ) -> anyhow::Result<()> {
        let status = if due_at.is_some() {
            OutgoingStatus::Pending
        } else {
            OutgoingStatus::Failed
        };
        self.finish_outgoing(id, status, Some(error), due_at, None)
            .await
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

/// Claims due events (`claim`; its `id` is not used) in `tx`.
pub async fn claim_outgoing(tx: &mut Tx, claim: &Claim) -> anyhow::Result<Vec<OutgoingEvent>> {
    let claim = Claim { id: None, ..*claim };
    Ok(claim_rows!(
        tx,
        "outgoing_events",
        COLUMNS,
        &claim,
        outgoing_from_row
    ))
}
