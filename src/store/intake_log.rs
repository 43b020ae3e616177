//! SQLite only: the intake log, a database file of its own beside the main
//! one (`dunwell.db` → `dunwell.db-intake`), so the intake's commits never
//! wait for the engine's write lock or WAL, nor the engine for the intake's.
//!
//! The intake appends accepted events to `webhook_log` and reads the
//! engine's tables only to refuse a duplicate (`webhook_events`) and, when
//! it prunes the log, to learn how far the engine has consumed it
//! (`intake_cursor`); it never writes them. The engine consumes the log
//! in order (`pump`): in one transaction of the main database it copies the
//! next events into `webhook_events`, queues them, and moves its position in
//! `intake_cursor` past them. An event is queued exactly when the position
//! passes it, so a crash on either side neither loses nor repeats one. The
//! intake deletes the events the position has passed (`PRUNE`), which is the
//! only write to the log besides appending.
//!
//! The position is kept per log (`log_meta.log_id`, random): a log file
//! that was deleted or replaced starts from its own beginning instead of
//! skipping its first events. `seq` is AUTOINCREMENT so a drained log never
//! hands out a number below the position again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};

use super::SqliteSide;
use super::events::StoredEvent;

/// The log's tables, made by `IntakeLog::open` (every start); idempotent.
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS webhook_log (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id     TEXT    NOT NULL UNIQUE,
        event_type   TEXT    NOT NULL,
        api_version  TEXT,
        created_at   INTEGER NOT NULL,
        livemode     BOOLEAN NOT NULL,
        payload      BLOB    NOT NULL,
        received_at  INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS log_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO log_meta (key, value) VALUES ('log_id', lower(hex(randomblob(12))))
        ON CONFLICT (key) DO NOTHING;";

/// What a log row holds, in `LogRow::read`'s order.
const COLUMNS: &str =
    "seq, event_id, event_type, api_version, created_at, livemode, payload, received_at";
/// The engine's position in the log with id `$1`.
const POSITION: &str = "SELECT position FROM intake_cursor WHERE log_id = $1";

/// The intake writer's append: new unless the id is in the log or was
/// already consumed into the main database (attached as `engine`).
pub(super) const APPEND: &str = "INSERT INTO webhook_log \
    (event_id, event_type, api_version, created_at, livemode, payload, received_at) \
    SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 \
    WHERE NOT EXISTS (SELECT 1 FROM engine.webhook_events WHERE event_id = ?1) \
    ON CONFLICT (event_id) DO NOTHING";

/// The intake writer's clean-up of what the engine has consumed.
pub(super) const PRUNE: &str = "DELETE FROM webhook_log WHERE seq <= COALESCE( \
    (SELECT position FROM engine.intake_cursor \
     WHERE log_id = (SELECT value FROM log_meta WHERE key = 'log_id')), 0)";

/// Where the log of the SQLite database at `main` lives.
pub fn path_for(main: &Path) -> PathBuf {
    let mut name = main.as_os_str().to_owned();
    name.push("-intake");
    PathBuf::from(name)
}

/// The engine side's handle on the log: a small read pool and the log's id.
#[derive(Clone, Debug)]
pub struct IntakeLog {
    pool: SqlitePool,
    id: Arc<str>,
    path: PathBuf,
}

impl IntakeLog {
    /// Creates the log beside the main database when missing and opens it
    /// with the main database's settings (`main`: its connect options).
    pub async fn open(main: &SqliteConnectOptions) -> anyhow::Result<Self> {
        let path = path_for(main.get_filename());
        if !path.to_string_lossy().starts_with("file:") {
            super::private_file::create_private(&path)?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(main.clone().filename(&path))
            .await
            .with_context(|| format!("opening the intake log {}", path.display()))?;
        sqlx::raw_sql(SCHEMA)
            .execute(&pool)
            .await
            .context("preparing the intake log")?;
        let id: String = sqlx::query_scalar("SELECT value FROM log_meta WHERE key = 'log_id'")
            .fetch_one(&pool)
            .await?;
        Ok(Self {
            pool,
            id: id.into(),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The next events after `position`, oldest first, as stored.
    async fn after(&self, position: i64, limit: i64) -> anyhow::Result<Vec<LogRow>> {
        let sql = format!("SELECT {COLUMNS} FROM webhook_log WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(position)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(LogRow::read).collect()
    }

    async fn has_after(&self, position: i64) -> anyhow::Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM webhook_log WHERE seq > $1 LIMIT 1")
                .bind(position)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    /// How many events wait beyond `position`, and when the oldest arrived.
    pub(super) async fn waiting(&self, position: i64) -> anyhow::Result<(i64, Option<i64>)> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(received_at) AS oldest FROM webhook_log WHERE seq > $1",
        )
        .bind(position)
        .fetch_one(&self.pool)
        .await?;
        Ok((r.try_get("n")?, r.try_get("oldest")?))
    }

    /// An event still in the log (not consumed yet), as the operator sees
    /// it: no outcome yet; `seq` is the log's.
    pub(super) async fn event(&self, event_id: &str) -> anyhow::Result<Option<StoredEvent>> {
        let sql = format!("SELECT {COLUMNS} FROM webhook_log WHERE event_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row.as_ref().map(LogRow::read).transpose()? else {
            return Ok(None);
        };
        Ok(Some(StoredEvent {
            seq: row.seq,
            event_id: row.event_id,
            event_type: row.event_type,
            api_version: row.api_version,
            created_at: row.created_at,
            livemode: row.livemode,
            payload: super::payload::decode(row.payload)?,
            received_at_ms: row.received_at,
            processed_at_ms: None,
            outcome: None,
            last_error: None,
        }))
    }

    /// Copies committed WAL frames into the log file (see `wal_checkpoint`).
    pub async fn checkpoint(&self) -> anyhow::Result<()> {
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Moves up to `limit` events from the log into `webhook_events` and
/// `event_queue`, with the position, in one transaction of the main
/// database; returns how many it moved.
pub(super) async fn pump(
    pool: &SqlitePool,
    side: &SqliteSide,
    limit: i64,
) -> anyhow::Result<usize> {
    let log = &side.log;
    // Nothing new: no write turn, no transaction.
    let seen: Option<i64> = sqlx::query_scalar(POSITION)
        .bind(log.id())
        .fetch_optional(pool)
        .await?;
    if !log.has_after(seen.unwrap_or(0)).await? {
        return Ok(0);
    }
    let _turn = side.turn.take().await;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    // Read again under the write lock: another process may have moved it.
    let position: i64 = sqlx::query_scalar(POSITION)
        .bind(log.id())
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or(0);
    let rows = log.after(position, limit).await?;
    let Some(last) = rows.last().map(|r| r.seq) else {
        return Ok(0);
    };
    for r in &rows {
        let seq: Option<i64> = sqlx::query_scalar(
            "INSERT INTO webhook_events \
             (event_id, event_type, api_version, created_at, livemode, payload, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING RETURNING seq",
        )
        .bind(&r.event_id)
        .bind(&r.event_type)
        .bind(&r.api_version)
        .bind(r.created_at)
        .bind(r.livemode)
        .bind(&r.payload)
        .bind(r.received_at)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(seq) = seq {
            sqlx::query("INSERT INTO event_queue (seq) VALUES ($1)")
                .bind(seq)
                .execute(&mut *tx)
                .await?;
        }
    }
    sqlx::query(
        "INSERT INTO intake_cursor (log_id, position) VALUES ($1, $2) \
         ON CONFLICT (log_id) DO UPDATE SET position = excluded.position",
    )
    .bind(log.id())
    .bind(last)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows.len())
}

/// `main` (a read of the main database) and the events in the log the
/// engine has not consumed yet (how many, when the oldest arrived), as of
/// one position of the engine's cursor. The write turn keeps this process's
/// engine still, not another process's: when the position moved while they
/// were read, both are read again, so an event in transit counts once,
/// never twice or not at all.
pub(super) async fn beside_log<T, Fut>(
    pool: &SqlitePool,
    log: &IntakeLog,
    main: impl Fn() -> Fut,
) -> anyhow::Result<(T, (i64, Option<i64>))>
where
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let position = async || -> anyhow::Result<i64> {
        let at: Option<i64> = sqlx::query_scalar(POSITION)
            .bind(log.id())
            .fetch_optional(pool)
            .await?;
        Ok(at.unwrap_or(0))
    };
    loop {
        let before = position().await?;
        let value = main().await?;
        let waiting = log.waiting(before).await?;
        // The log loses rows only at or below the position, so with the
        // position unmoved nothing above it was taken meanwhile.
        if position().await? == before {
            return Ok((value, waiting));
        }
    }
}

/// One event as the log holds it (payload still compressed).
struct LogRow {
    pub seq: i64,
    pub event_id: String,
    pub event_type: String,
    pub api_version: Option<String>,
    pub created_at: i64,
    pub livemode: bool,
    pub payload: Vec<u8>,
    pub received_at: i64,
}

impl LogRow {
    fn read(r: &sqlx::sqlite::SqliteRow) -> anyhow::Result<Self> {
        Ok(Self {
            seq: r.try_get("seq")?,
            event_id: r.try_get("event_id")?,
            event_type: r.try_get("event_type")?,
            api_version: r.try_get("api_version")?,
            created_at: r.try_get("created_at")?,
            livemode: r.try_get("livemode")?,
            payload: r.try_get_unchecked("payload")?,
            received_at: r.try_get("received_at")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_sits_beside_the_database() {
        assert_eq!(
            path_for(Path::new("/data/dunwell.db")),
            PathBuf::from("/data/dunwell.db-intake")
        );
    }
}
