//! What the operator reads: the case list (filtered, newest first, in
//! pages) and the counts the recovery statistics are made of.

use sqlx::Row;

use super::cases::{CASE_COLUMNS, CaseRow, case_from_row};
use super::{Store, with_pool};
use crate::domain::case::{CaseState, RecoveredBy};
use crate::domain::stats::{Group, RecoveryTime};

/// Which cases to list. Every filter is optional; `after` continues a list
/// after the case it names (opened_at, id).
#[derive(Debug, Clone, Default)]
pub struct CaseQuery {
    pub state: Option<String>,
    pub customer_id: Option<String>,
    pub invoice_id: Option<String>,
    pub email: Option<String>,
    pub category: Option<String>,
    pub code: Option<String>,
    /// Opened at or after (unix ms, engine clock).
    pub opened_from: Option<i64>,
    /// Opened before.
    pub opened_to: Option<i64>,
    pub after: Option<(i64, i64)>,
    pub limit: i64,
}

enum Bind {
    Text(String),
    Int(i64),
}

impl Store {
    /// Opened cases matching `q`, newest first (by opening time, then id).
    pub async fn find_cases(&self, q: &CaseQuery) -> anyhow::Result<Vec<CaseRow>> {
        let mut clauses = vec!["state IS NOT NULL".to_owned()];
        let mut binds: Vec<Bind> = Vec::new();
        // Each value's placeholder: its position among the binds.
        let mut bind = |value: Bind| {
            binds.push(value);
            format!("${}", binds.len())
        };
        for (column, value) in [
            ("state", &q.state),
            ("customer_id", &q.customer_id),
            ("invoice_id", &q.invoice_id),
            ("customer_email", &q.email),
            ("decline_category", &q.category),
            ("decline_code", &q.code),
        ] {
            if let Some(value) = value {
                clauses.push(format!("{column} = {}", bind(Bind::Text(value.clone()))));
            }
        }
        if let Some(from) = q.opened_from {
            clauses.push(format!("opened_at >= {}", bind(Bind::Int(from))));
        }
        if let Some(to) = q.opened_to {
            clauses.push(format!("opened_at < {}", bind(Bind::Int(to))));
        }
        if let Some((opened, id)) = q.after {
            let (opened, id) = (bind(Bind::Int(opened)), bind(Bind::Int(id)));
            clauses.push(format!(
                "(opened_at < {opened} OR (opened_at = {opened} AND id < {id}))"
            ));
        }
        let limit = bind(Bind::Int(q.limit));
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE {} ORDER BY opened_at DESC, id DESC LIMIT {limit}",
            clauses.join(" AND "),
        );
        let rows = with_pool!(self, pool => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for bind in binds {
                query = match bind {
                    Bind::Text(t) => query.bind(t),
                    Bind::Int(i) => query.bind(i),
                };
            }
            let mut out = Vec::new();
            for r in query.fetch_all(pool).await? {
                out.push(case_from_row!(r));
            }
            out
        });
        Ok(rows)
    }

    /// Cases opened in [from, to) counted by what the statistics tell
    /// apart, and how long the recovered ones took.
    pub async fn recovery_counts(
        &self,
        from: i64,
        to: i64,
    ) -> anyhow::Result<(Vec<Group>, Vec<RecoveryTime>)> {
        let (groups, times) = with_pool!(self, pool => {
            let mut groups = Vec::new();
            for r in sqlx::query(
                "SELECT currency, state, decline_category, decline_code, recovered_by, \
                 recovered_on_retry, COUNT(*) AS n, CAST(SUM(amount_due) AS BIGINT) AS due, \
                 CAST(SUM(COALESCE(amount_paid, amount_due)) AS BIGINT) AS paid \
                 FROM cases WHERE state IS NOT NULL AND opened_at >= $1 AND opened_at < $2 \
                 GROUP BY currency, state, decline_category, decline_code, recovered_by, \
                 recovered_on_retry",
            )
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?
            {
                let state: String = r.try_get("state")?;
                let Some(state) = CaseState::parse(&state) else { continue };
                let by: Option<String> = r.try_get("recovered_by")?;
                let retry: Option<i32> = r.try_get("recovered_on_retry")?;
                groups.push(Group {
                    currency: r.try_get("currency")?,
                    state,
                    category: r.try_get("decline_category")?,
                    code: r.try_get("decline_code")?,
                    recovered_by: by.as_deref().and_then(RecoveredBy::parse),
                    recovered_on_retry: retry.and_then(|n| u32::try_from(n).ok()),
                    count: r.try_get("n")?,
                    due_minor: r.try_get("due")?,
                    paid_minor: r.try_get("paid")?,
                });
            }
            let mut times = Vec::new();
            for r in sqlx::query(
                "SELECT currency, (ended_at - opened_at) / 3600000 AS hours, COUNT(*) AS n \
                 FROM cases WHERE state = 'recovered' AND ended_at IS NOT NULL \
                 AND opened_at >= $1 AND opened_at < $2 GROUP BY currency, hours",
            )
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?
            {
                times.push(RecoveryTime {
                    currency: r.try_get("currency")?,
                    hours: r.try_get("hours")?,
                    count: r.try_get("n")?,
                });
            }
            (groups, times)
        });
        Ok((groups, times))
    }
}

/// A queue's backlog: how many items wait and how late the oldest due one is.
#[derive(Debug, Clone, PartialEq)]
pub struct Backlog {
    pub queue: &'static str,
    pub depth: i64,
    /// Milliseconds the oldest due item is overdue (0: none is).
    pub lag_ms: i64,
}

impl Store {
    /// How many opened cases are in each state.
    pub async fn cases_by_state(&self) -> anyhow::Result<Vec<(String, i64)>> {
        let rows = with_pool!(self, pool => {
            let mut out = Vec::new();
            for r in sqlx::query(
                "SELECT state, COUNT(*) AS n FROM cases WHERE state IS NOT NULL GROUP BY state",
            )
            .fetch_all(pool)
            .await?
            {
                out.push((r.try_get("state")?, r.try_get("n")?));
            }
            out
        });
        Ok(rows)
    }

    /// The backlog of each queue: stored events not yet processed (by when
    /// they arrived, real clock), planned case work and notices (by when
    /// they are due, engine clock).
    pub async fn backlogs(
        &self,
        engine_now_ms: i64,
        real_now_ms: i64,
    ) -> anyhow::Result<Vec<Backlog>> {
        let queries: [(&'static str, &str, i64); 4] = [
            (
                "events",
                "SELECT COUNT(*) AS n, MIN(w.received_at) AS oldest FROM event_queue q \
                 JOIN webhook_events w ON w.seq = q.seq",
                real_now_ms,
            ),
            (
                "case_work",
                "SELECT COUNT(*) AS n, MIN(due_at) AS oldest FROM case_work WHERE status = 'pending'",
                engine_now_ms,
            ),
            (
                "notices",
                "SELECT COUNT(*) AS n, MIN(due_at) AS oldest FROM notices WHERE status = 'pending'",
                engine_now_ms,
            ),
            (
                "outgoing_events",
                "SELECT COUNT(*) AS n, MIN(due_at) AS oldest FROM outgoing_events \
                 WHERE status = 'pending'",
                engine_now_ms,
            ),
        ];
        let mut out = Vec::new();
        for (queue, sql, now) in queries {
            // Events: read with the intake log under the write turn, so one
            // being moved from the log to the queue counts once.
            let _turn = if queue == "events" {
                self.write_turn().await
            } else {
                None
            };
            let (mut depth, mut oldest): (i64, Option<i64>) = with_pool!(self, pool => {
                let r = sqlx::query(sql).fetch_one(pool).await?;
                (r.try_get("n")?, r.try_get("oldest")?)
            });
            if queue == "events" {
                // Still in the intake log (SQLite), not queued yet.
                let (logged, first) = self.in_intake_log().await?;
                depth += logged;
                oldest = oldest.into_iter().chain(first).min();
            }
            out.push(Backlog {
                queue,
                depth,
                lag_ms: oldest.map_or(0, |o| (now - o).max(0)),
            });
        }
        Ok(out)
    }
}

/// Cases opened in one week (of one currency), by how they stand.
#[derive(Debug, Clone, PartialEq)]
pub struct WeekRow {
    /// The week's Monday (UTC), as days since 1970-01-01.
    pub week: i64,
    pub currency: String,
    pub state: String,
    pub count: i64,
    pub due_minor: i64,
    pub paid_minor: i64,
}

impl Store {
    /// Cases opened in [from, to), counted per week, currency and state.
    pub async fn weekly_counts(&self, from: i64, to: i64) -> anyhow::Result<Vec<WeekRow>> {
        let rows = with_pool!(self, pool => {
            let mut out = Vec::new();
            for r in sqlx::query(
                "SELECT ((opened_at / 86400000 - 4) / 7) * 7 + 4 AS week, currency, state, COUNT(*) AS n, \
                 CAST(SUM(amount_due) AS BIGINT) AS due, \
                 CAST(SUM(COALESCE(amount_paid, amount_due)) AS BIGINT) AS paid \
                 FROM cases WHERE state IS NOT NULL AND opened_at >= $1 AND opened_at < $2 \
                 GROUP BY week, currency, state ORDER BY week",
            )
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?
            {
                out.push(WeekRow {
                    week: r.try_get("week")?,
                    currency: r.try_get("currency")?,
                    state: r.try_get("state")?,
                    count: r.try_get("n")?,
                    due_minor: r.try_get("due")?,
                    paid_minor: r.try_get("paid")?,
                });
            }
            out
        });
        Ok(rows)
    }
}

impl Store {
    /// Our charge attempts in [from, to) (engine clock), counted per case
    /// time zone and UTC hour: (time zone, hour start in unix ms, attempts,
    /// paid). Few rows however many attempts.
    pub async fn retry_outcomes(
        &self,
        from: i64,
        to: i64,
    ) -> anyhow::Result<Vec<(String, i64, i64, i64)>> {
        let rows = with_pool!(self, pool => {
            let mut out = Vec::new();
            for r in sqlx::query(
                "SELECT c.timezone, w.due_at / 3600000 AS hour, COUNT(*) AS n, \
                 SUM(CASE WHEN w.result = 'paid' THEN 1 ELSE 0 END) AS paid \
                 FROM case_work w JOIN cases c ON c.id = w.case_id \
                 WHERE w.kind = 'retry' AND w.status = 'done' \
                 AND w.due_at >= $1 AND w.due_at < $2 \
                 GROUP BY c.timezone, hour",
            )
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?
            {
                let hour: i64 = r.try_get("hour")?;
                out.push((
                    r.try_get("timezone")?,
                    hour * 3_600_000,
                    r.try_get("n")?,
                    r.try_get("paid")?,
                ));
            }
            out
        });
        Ok(rows)
    }
}

/// Our finished retries in one UTC hour, by the case's opening refusal and
/// time zone: what the planner learns from.
#[derive(Debug, Clone)]
pub struct RetryHistory {
    pub category: Option<String>,
    pub code: Option<String>,
    pub timezone: String,
    /// The hour's start, unix ms.
    pub hour_ms: i64,
    pub tries: i64,
    pub paid: i64,
}

impl Store {
    /// Our finished retries since `since` (unix ms, engine clock), counted
    /// per refusal, case time zone and UTC hour.
    pub async fn retry_history(&self, since: i64) -> anyhow::Result<Vec<RetryHistory>> {
        let rows = with_pool!(self, pool => {
            let mut out = Vec::new();
            for r in sqlx::query(
                "SELECT c.decline_category, c.decline_code, c.timezone, \
                 w.due_at / 3600000 AS hour, COUNT(*) AS n, \
                 SUM(CASE WHEN w.result = 'paid' THEN 1 ELSE 0 END) AS paid \
                 FROM case_work w JOIN cases c ON c.id = w.case_id \
                 WHERE w.kind = 'retry' AND w.status = 'done' AND w.due_at >= $1 \
                 GROUP BY c.decline_category, c.decline_code, c.timezone, hour",
            )
            .bind(since)
            .fetch_all(pool)
            .await?
            {
                let hour: i64 = r.try_get("hour")?;
                out.push(RetryHistory {
                    category: r.try_get("decline_category")?,
                    code: r.try_get("decline_code")?,
                    timezone: r.try_get("timezone")?,
                    hour_ms: hour * 3_600_000,
                    tries: r.try_get("n")?,
                    paid: r.try_get("paid")?,
                });
            }
            out
        });
        Ok(rows)
    }
}
