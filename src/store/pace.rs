//! PostgreSQL: the slots of a pace shared by every process on the database
//! (`crate::pace`). One row per paced service; a call moves it on by one
//! spacing, a hold moves it past the wait. The database's clock is the one
//! clock, so hosts need not agree on the time.

use super::Store;

/// `now.us` is the database's clock in microseconds.
const TAKE: &str = "WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS us) \
    INSERT INTO pace_slots AS p (name, next_at) SELECT $1, now.us + $2 FROM now \
    ON CONFLICT (name) DO UPDATE SET next_at = GREATEST(p.next_at, (SELECT us FROM now)) + $2 \
    RETURNING p.next_at - $2 - (SELECT us FROM now) AS wait_us";
const HOLD: &str = "WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS us) \
    INSERT INTO pace_slots AS p (name, next_at) SELECT $1, now.us + $2 FROM now \
    ON CONFLICT (name) DO UPDATE SET next_at = GREATEST(p.next_at, (SELECT us FROM now) + $2)";

impl Store {
    /// Takes the next slot of `name`'s pace, `spacing_us` after the last
    /// one taken (or now); returns how long to wait for it (microseconds).
    /// `None` on SQLite, whose pace is the process's own.
    pub async fn take_pace_slot(&self, name: &str, spacing_us: i64) -> anyhow::Result<Option<i64>> {
        let Store::Postgres(pool) = self else {
            return Ok(None);
        };
        let wait: i64 = sqlx::query_scalar(TAKE)
            .bind(name)
            .bind(spacing_us)
            .fetch_one(pool)
            .await?;
        Ok(Some(wait.max(0)))
    }

    /// Nobody on this database calls `name` for `wait_us` from now.
    pub async fn hold_pace(&self, name: &str, wait_us: i64) -> anyhow::Result<()> {
        let Store::Postgres(pool) = self else {
            return Ok(());
        };
        sqlx::query(HOLD)
            .bind(name)
            .bind(wait_us)
            .execute(pool)
            .await?;
        Ok(())
    }
}
