//! The stored policy versions: numbered, never changed once written.

use crate::domain::ids::CaseId;
pub use crate::domain::policy_record::{ClosedCase, PolicyVersion};
use sqlx::Row;

use super::{Store, Tx, with_pool, with_tx};

const COLUMNS: &str = "version, created_at, author, reason, source, policy";

macro_rules! version_from_row {
    ($r:expr) => {{
        let r = $r;
        PolicyVersion {
            version: r.try_get("version")?,
            created_at: r.try_get("created_at")?,
            author: r.try_get("author")?,
            reason: r.try_get("reason")?,
            source: r.try_get("source")?,
            policy: r.try_get("policy")?,
        }
    }};
}

/// Serializes writers of versions for the rest of the transaction (SQLite's
/// transaction already holds the one write lock): two processes starting at
/// once with a changed file write one version, not two.
pub async fn lock_versions(tx: &mut Tx) -> anyhow::Result<()> {
    if let Tx::Postgres(t) = tx {
        sqlx::query("LOCK TABLE policy_versions IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut **t)
            .await?;
    }
    Ok(())
}

/// The newest version, or the newest from `source` when given.
pub async fn latest(tx: &mut Tx, source: Option<&str>) -> anyhow::Result<Option<PolicyVersion>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM policy_versions WHERE (CAST($1 AS TEXT) IS NULL OR source = $1) \
         ORDER BY version DESC LIMIT 1"
    );
    let row = with_tx!(tx, conn => {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(source).fetch_optional(conn).await? {
            Some(r) => Some(version_from_row!(r)),
            None => None,
        }
    });
    Ok(row)
}

/// Whether `version` is stored.
pub async fn exists(tx: &mut Tx, version: i64) -> anyhow::Result<bool> {
    let found = with_tx!(tx, conn => {
        sqlx::query_scalar::<_, i64>("SELECT version FROM policy_versions WHERE version = $1")
            .bind(version)
            .fetch_optional(conn)
            .await?
    });
    Ok(found.is_some())
}

/// Writes the next version (the newest plus one) and returns its number.
/// The caller holds `lock_versions`.
pub async fn insert(
    tx: &mut Tx,
    created_at: i64,
    author: &str,
    reason: &str,
    source: &str,
    policy: &str,
) -> anyhow::Result<i64> {
    let version = with_tx!(tx, conn => {
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO policy_versions (version, created_at, author, reason, source, policy) \
             SELECT COALESCE(MAX(version), 0) + 1, $1, $2, $3, $4, $5 FROM policy_versions \
             RETURNING version",
        )
        .bind(created_at)
        .bind(author)
        .bind(reason)
        .bind(source)
        .bind(policy)
        .fetch_one(conn)
        .await?
    });
    Ok(version)
}

/// Puts case `id` on `version` (an operator's explicit move).
pub async fn move_case(tx: &mut Tx, id: CaseId, version: i64) -> anyhow::Result<()> {
    with_tx!(tx, conn => {
        sqlx::query("UPDATE cases SET policy_version = $2 WHERE id = $1")
            .bind(id)
            .bind(version)
            .execute(conn)
            .await?;
    });
    Ok(())
}

impl Store {
    /// Every stored version, newest first.
    pub async fn policy_versions(&self) -> anyhow::Result<Vec<PolicyVersion>> {
        let sql = format!("SELECT {COLUMNS} FROM policy_versions ORDER BY version DESC");
        let rows = with_pool!(self, pool => {
            let mut out = Vec::new();
            for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await? {
                out.push(version_from_row!(r));
            }
            out
        });
        Ok(rows)
    }

    /// Version `version`, if stored.
    pub async fn policy_version(&self, version: i64) -> anyhow::Result<Option<PolicyVersion>> {
        let sql = format!("SELECT {COLUMNS} FROM policy_versions WHERE version = $1");
        let row = with_pool!(self, pool => {
            match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(version).fetch_optional(pool).await? {
                Some(r) => Some(version_from_row!(r)),
                None => None,
            }
        });
        Ok(row)
    }

    /// The newest version's number (0: none stored yet).
    pub async fn newest_policy_version(&self) -> anyhow::Result<i64> {
        let n = with_pool!(self, pool => {
            sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM policy_versions")
                .fetch_one(pool)
                .await?
        });
        Ok(n.unwrap_or(0))
    }
}

/// Cases of one version opened in a window, by state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VersionCounts {
    /// (state, cases).
    pub states: Vec<(String, i64)>,
}

impl Store {
    /// Up to `limit` ended cases opened since `since` (engine ms), newest
    /// first: the operator's own history for a backtest.
    pub async fn closed_cases(&self, since: i64, limit: i64) -> anyhow::Result<Vec<ClosedCase>> {
        let rows = with_pool!(self, pool => {
            let mut out = Vec::new();
            let rows = sqlx::query(
                "SELECT id, opened_at, ended_at, state, decline_code, amount_due, currency, country \
                 FROM cases WHERE opened_at >= $1 AND ended_at IS NOT NULL AND state IS NOT NULL \
                 ORDER BY opened_at DESC, id DESC LIMIT $2",
            )
            .bind(since)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            for r in rows {
                out.push(ClosedCase {
                    id: r.try_get("id")?,
                    opened_at: r.try_get("opened_at")?,
                    ended_at: r.try_get("ended_at")?,
                    state: r.try_get("state")?,
                    decline_code: r.try_get("decline_code")?,
                    amount_due: r.try_get("amount_due")?,
                    currency: r.try_get("currency")?,
                    country: r.try_get("country")?,
                });
            }
            out
        });
        Ok(rows)
    }

    /// Cases of `version` opened on the days from `from` to `until`
    /// (engine ms, whole UTC days), by state, from the running counts.
    pub async fn version_counts(
        &self,
        version: i64,
        from: i64,
        until: i64,
    ) -> anyhow::Result<VersionCounts> {
        let states = with_pool!(self, pool => {
            sqlx::query_as::<_, (String, i64)>(
                "SELECT state, CAST(SUM(cases) AS BIGINT) FROM case_counts_daily \
                 WHERE policy_version = $1 AND day >= $2 AND day <= $3 \
                 GROUP BY state ORDER BY state",
            )
            .bind(version)
            .bind(from.div_euclid(86_400_000))
            .bind((until - 1).div_euclid(86_400_000))
            .fetch_all(pool)
            .await?
        });
        Ok(VersionCounts { states })
    }

    /// A version's cases opened in [`from`, `until`): how many, how many
    /// opened at or before `cutoff` (old enough to judge), and how many of
    /// those were recovered within `age_ms` of opening.
    pub async fn version_at_age(
        &self,
        version: i64,
        from: i64,
        until: i64,
        cutoff: i64,
        age_ms: i64,
    ) -> anyhow::Result<AgeCounts> {
        let counts = with_pool!(self, pool => {
            let (cases, mature, recovered) = sqlx::query_as::<_, (i64, i64, i64)>(
                "SELECT COUNT(*), \
                        COALESCE(SUM(CASE WHEN opened_at <= $4 THEN 1 ELSE 0 END), 0), \
                        COALESCE(SUM(CASE WHEN opened_at <= $4 AND state = 'recovered' \
                                           AND ended_at IS NOT NULL AND ended_at <= opened_at + $5 \
                                      THEN 1 ELSE 0 END), 0) \
                 FROM cases WHERE policy_version = $1 AND opened_at >= $2 AND opened_at < $3",
            )
            .bind(version)
            .bind(from)
            .bind(until)
            .bind(cutoff)
            .bind(age_ms)
            .fetch_one(pool)
            .await?;
            AgeCounts { cases, mature, recovered }
        });
        Ok(counts)
    }

    /// The start (engine ms) of the first UTC day a case under `version`
    /// opened on, from the running counts.
    pub async fn version_first_day(&self, version: i64) -> anyhow::Result<Option<i64>> {
        let day = with_pool!(self, pool => {
            sqlx::query_scalar::<_, Option<i64>>(
                "SELECT MIN(day) FROM case_counts_daily WHERE policy_version = $1",
            )
            .bind(version)
            .fetch_one(pool)
            .await?
        });
        Ok(day.map(|d| d * 86_400_000))
    }
}

/// A version's cases at a fixed age (`Store::version_at_age`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgeCounts {
    pub cases: i64,
    /// Opened long enough ago to be judged.
    pub mature: i64,
    /// Of those, recovered within the age.
    pub recovered: i64,
}
