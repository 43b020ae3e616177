//! `webhook_events` (append-only), `event_queue` (what is still to be
//! processed) and `event_outcomes`: group-committed inserts at intake, and the
//! claim / finish cycle of the event processor.

pub use crate::domain::queued_event::{Finished, Outcome, PendingEvent};
use std::sync::OnceLock;

use sqlx::{PgPool, Row};

use super::payload::PayloadColumn;
use super::{Store, Tx, with_pool, with_tx};

/// An accepted event, ready to be stored.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: String,
    pub event_type: String,
    pub api_version: Option<String>,
    pub created_at: i64,
    pub livemode: bool,
    pub payload: String,
    pub received_at_ms: i64,
}

/// A stored event as the operator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: i64,
    pub event_id: String,
    pub event_type: String,
    pub api_version: Option<String>,
    pub created_at: i64,
    pub livemode: bool,
    pub payload: String,
    pub received_at_ms: i64,
    pub processed_at_ms: Option<i64>,
    pub outcome: Option<String>,
    pub last_error: Option<String>,
}

const COLUMNS: usize = 7;
/// Rows per INSERT statement; a batch is split greedily into these sizes so
/// only four statement texts ever reach the prepared-statement cache.
const CHUNKS: [usize; 4] = [64, 16, 4, 1];

/// PostgreSQL: inserts the events and queues the new ones in one statement,
/// returning the ids that were new.
fn insert_sql(rows: usize) -> &'static str {
    static SQL: OnceLock<Vec<String>> = OnceLock::new();
    let all = SQL.get_or_init(|| {
        CHUNKS
            .iter()
            .map(|&n| {
                let values: Vec<String> = (0..n)
                    .map(|r| {
                        let p: Vec<String> =
                            (1..=COLUMNS).map(|c| format!("${}", r * COLUMNS + c)).collect();
                        format!("({})", p.join(","))
                    })
                    .collect();
                format!(
                    "WITH ins AS (INSERT INTO webhook_events \
                     (event_id, event_type, api_version, created_at, livemode, payload, received_at) \
                     VALUES {} ON CONFLICT (event_id) DO NOTHING RETURNING seq, event_id), \
                     queued AS (INSERT INTO event_queue (seq) SELECT seq FROM ins) \
                     SELECT event_id FROM ins",
                    values.join(",")
                )
            })
            .collect()
    });
    let i = CHUNKS.iter().position(|&n| n == rows).expect("chunk size");
    &all[i]
}

fn chunks(events: &[NewEvent]) -> impl Iterator<Item = &[NewEvent]> {
    let mut rest = events;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = CHUNKS.iter().copied().find(|&n| n <= rest.len())?;
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

/// Stores a batch on PostgreSQL in one transaction and queues the new
/// events. Returns, per event, whether it was new (`false`: the event id was
/// already stored, or earlier in the batch). SQLite's intake goes through
/// `sqlite_writer` instead.
pub async fn insert_events_postgres(
    pool: &PgPool,
    events: &[NewEvent],
) -> anyhow::Result<Vec<bool>> {
    let mut inserted_ids = std::collections::HashSet::with_capacity(events.len());
    let mut tx = pool.begin().await?;
    for chunk in chunks(events) {
        let mut query = sqlx::query_scalar::<_, String>(insert_sql(chunk.len()));
        for e in chunk {
            query = query
                .bind(&e.event_id)
                .bind(&e.event_type)
                .bind(&e.api_version)
                .bind(e.created_at)
                .bind(e.livemode)
                .bind(&e.payload)
                .bind(e.received_at_ms);
        }
        inserted_ids.extend(query.fetch_all(&mut *tx).await?);
    }
    tx.commit().await?;
    // The first request in the batch with an id gets the "new" answer.
    Ok(events
        .iter()
        .map(|e| inserted_ids.remove(e.event_id.as_str()))
        .collect())
}

/// Records outcomes and takes the events off the queue, inside `tx` (the
/// one that applied them to their cases): two statements whatever the
/// batch size, the batch travelling as one JSON parameter.
pub async fn finish_events_in(
    tx: &mut Tx,
    finished: &[Finished],
    now_ms: i64,
) -> anyhow::Result<()> {
    const SQLITE: [&str; 2] = [
        "DELETE FROM event_queue WHERE seq IN (SELECT json_extract(value, '$.seq') FROM json_each($1))",
        "INSERT INTO event_outcomes (seq, processed_at, outcome, error) \
         SELECT json_extract(value, '$.seq'), $2, json_extract(value, '$.outcome'), \
                json_extract(value, '$.error') \
         FROM json_each($1) WHERE true ON CONFLICT (seq) DO NOTHING",
    ];
    const POSTGRES: [&str; 2] = [
        "DELETE FROM event_queue WHERE seq IN \
         (SELECT (e->>'seq')::bigint FROM jsonb_array_elements($1::jsonb) e)",
        "INSERT INTO event_outcomes (seq, processed_at, outcome, error) \
         SELECT (e->>'seq')::bigint, $2, e->>'outcome', e->>'error' \
         FROM jsonb_array_elements($1::jsonb) e ON CONFLICT (seq) DO NOTHING",
    ];
    if finished.is_empty() {
        return Ok(());
    }
    let batch = serde_json::to_string(
        &finished
            .iter()
            .map(|f| serde_json::json!({"seq": f.seq, "outcome": f.outcome.as_str(), "error": f.error}))
            .collect::<Vec<_>>(),
    )?;
    let [delete, record] = match tx {
        Tx::Sqlite(..) => SQLITE,
        Tx::Postgres(_) => POSTGRES,
    };
    with_tx!(tx, conn => {
        sqlx::query(delete).bind(&batch).execute(&mut *conn).await?;
        sqlx::query(record)
            .bind(&batch)
            .bind(now_ms)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

impl Store {
    /// Leases up to `limit` queued events until `lease_until_ms`, oldest
    /// first. Another dispatcher (another instance) skips leased rows.
    pub async fn claim_pending_events(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<PendingEvent>> {
        // Picked once (a materialized CTE), never past `LIMIT`.
        const CLAIM: &str = "WITH picked AS MATERIALIZED (SELECT seq FROM event_queue \
                          WHERE lease_until IS NULL OR lease_until < $3 \
                          ORDER BY seq LIMIT $4) \
            UPDATE event_queue SET lease_until = $1, claim = $2, attempts = attempts + 1 \
            WHERE seq IN (SELECT seq FROM picked) \
              AND (lease_until IS NULL OR lease_until < $3) \
            RETURNING seq";
        const READ: &str = "SELECT e.seq, e.event_id, e.event_type, e.payload, q.attempts \
            FROM event_queue q JOIN webhook_events e ON e.seq = q.seq \
            WHERE q.seq BETWEEN $1 AND $2 AND q.claim = $3 ORDER BY e.seq";
        if let Store::Sqlite(pool, side) = self {
            // What the intake has appended to its log since comes first.
            super::intake_log::pump(pool, side, limit).await?;
        }
        let token = crate::random::hex(12);
        let _turn = self.write_turn().await;
        let events = with_pool!(self, pool => {
            let seqs: Vec<i64> = sqlx::query_scalar(CLAIM)
                .bind(lease_until_ms)
                .bind(&token)
                .bind(now_ms)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            match (seqs.iter().min(), seqs.iter().max()) {
                (Some(&first), Some(&last)) => sqlx::query(READ)
                    .bind(first)
                    .bind(last)
                    .bind(&token)
                    .fetch_all(pool)
                    .await?
                    .into_iter()
                    .map(|r| {
                        Ok(PendingEvent {
                            seq: r.get("seq"),
                            event_id: r.get("event_id"),
                            event_type: r.get("event_type"),
                            payload: r.payload()?,
                            attempts: r.get("attempts"),
                        })
                    })
                    .collect::<anyhow::Result<_>>()?,
                _ => Vec::new(),
            }
        });
        Ok(events)
    }

    /// Records outcomes and takes the events off the queue in a transaction
    /// of its own.
    pub async fn finish_events(&self, finished: &[Finished], now_ms: i64) -> anyhow::Result<()> {
        if finished.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        finish_events_in(&mut tx, finished, now_ms).await?;
        tx.commit().await
    }

    /// Records a failed attempt; the lease expiring makes the event due again.
    pub async fn note_event_error(&self, seq: i64, error: &str) -> anyhow::Result<()> {
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query("UPDATE event_queue SET last_error = $1 WHERE seq = $2")
                .bind(error)
                .bind(seq)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// A stored event, with its outcome once processed (on SQLite, one
    /// still in the intake log has none yet).
    pub async fn event_by_id(&self, event_id: &str) -> anyhow::Result<Option<StoredEvent>> {
        let queued = self.event_in_main(event_id).await?;
        if let (None, Store::Sqlite(_, side)) = (&queued, self) {
            if let Some(logged) = side.log.event(event_id).await? {
                return Ok(Some(logged));
            }
            // Taken from the log (and pruned) between the two reads.
            return self.event_in_main(event_id).await;
        }
        Ok(queued)
    }

    async fn event_in_main(&self, event_id: &str) -> anyhow::Result<Option<StoredEvent>> {
        let row = with_pool!(self, pool => {
            sqlx::query(
                "SELECT e.seq, e.event_id, e.event_type, e.api_version, e.created_at, e.livemode, \
                 e.payload, e.received_at, o.processed_at, o.outcome, \
                 COALESCE(o.error, q.last_error) AS last_error \
                 FROM webhook_events e \
                 LEFT JOIN event_outcomes o ON o.seq = e.seq \
                 LEFT JOIN event_queue q ON q.seq = e.seq \
                 WHERE e.event_id = $1",
            )
            .bind(event_id)
            .fetch_optional(pool)
            .await?
            .map(|r| -> anyhow::Result<StoredEvent> { Ok(StoredEvent {
                seq: r.get("seq"),
                event_id: r.get("event_id"),
                event_type: r.get("event_type"),
                api_version: r.get("api_version"),
                created_at: r.get("created_at"),
                livemode: r.get("livemode"),
                payload: r.payload()?,
                received_at_ms: r.get("received_at"),
                processed_at_ms: r.get("processed_at"),
                outcome: r.get("outcome"),
                last_error: r.get("last_error"),
            }) })
            .transpose()?
        });
        Ok(row)
    }

    pub async fn count_events(&self) -> anyhow::Result<i64> {
        self.count_with_log("SELECT COUNT(*) FROM webhook_events")
            .await
    }

    /// Events stored but not yet processed.
    pub async fn count_pending_events(&self) -> anyhow::Result<i64> {
        self.count_with_log("SELECT COUNT(*) FROM event_queue")
            .await
    }

    /// `sql`'s count plus the events still in the intake log, read under
    /// the write turn and as of one log position, so that an event being
    /// moved from the log counts once.
    async fn count_with_log(&self, sql: &'static str) -> anyhow::Result<i64> {
        let _turn = self.write_turn().await;
        let (n, (logged, _)) = self.with_intake_log(|| self.count(sql)).await?;
        Ok(n + logged)
    }

    /// `main`, and on SQLite the events the intake has logged that the
    /// engine has not taken yet (how many, when the oldest arrived), as of
    /// one position of the engine's cursor (`intake_log::beside_log`).
    pub(super) async fn with_intake_log<T, Fut>(
        &self,
        main: impl Fn() -> Fut,
    ) -> anyhow::Result<(T, (i64, Option<i64>))>
    where
        Fut: std::future::Future<Output = anyhow::Result<T>>,
    {
        match self {
            Store::Sqlite(pool, side) => super::intake_log::beside_log(pool, &side.log, main).await,
            Store::Postgres(_) => Ok((main().await?, (0, None))),
        }
    }

    async fn count(&self, sql: &'static str) -> anyhow::Result<i64> {
        let n = with_pool!(self, pool => {
            sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await?
        });
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: usize) -> NewEvent {
        NewEvent {
            event_id: format!("evt_{i}"),
            event_type: "x".into(),
            api_version: None,
            created_at: 0,
            livemode: false,
            payload: "{}".into(),
            received_at_ms: 0,
        }
    }

    #[test]
    fn chunks_cover_the_batch_in_allowed_sizes() {
        for n in [0, 1, 3, 5, 63, 64, 65, 200, 517] {
            let events: Vec<_> = (0..n).map(ev).collect();
            let sizes: Vec<usize> = chunks(&events).map(<[_]>::len).collect();
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes.iter().all(|s| CHUNKS.contains(s)));
        }
    }

    #[test]
    fn insert_sql_numbers_every_placeholder() {
        let sql = insert_sql(4);
        assert!(sql.contains("$28") && !sql.contains("$29"), "{sql}");
        assert!(sql.contains("INSERT INTO event_queue"), "{sql}");
    }
}
