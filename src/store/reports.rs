//! What the operator reads: the case list (filtered, newest first, in
//! pages) and the counts the recovery statistics are made of.

pub use crate::domain::learned::RetryHistory;
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
    /// What recovered cases brought in `currency` between `from` and
    /// `until` (engine ms) by the day they were paid, not by the day their
    /// invoice failed: how many, and the minor units paid.
    pub async fn recovered_between(
        &self,
        currency: &str,
        from: i64,
        until: i64,
    ) -> anyhow::Result<(i64, i64)> {
        let row = with_pool!(self, pool => {
            sqlx::query_as::<_, (i64, i64)>(
                "SELECT COUNT(*), CAST(COALESCE(SUM(COALESCE(amount_paid, amount_due)), 0) AS BIGINT) \
                 FROM cases WHERE state = 'recovered' AND currency = $1 \
                   AND ended_at >= $2 AND ended_at < $3",
            )
            .bind(currency)
            .bind(from)
            .bind(until)
            .fetch_one(pool)
            .await?
        });
        Ok(row)
    }

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
            ("customer_email", &q.email),
            ("decline_category", &q.category),
            ("decline_code", &q.code),
        ] {
            if let Some(value) = value {
                clauses.push(format!("{column} = {}", bind(Bind::Text(value.clone()))));
            }
        }
        // An invoice by the processor's id or by the number people see.
        if let Some(invoice) = &q.invoice_id {
            let value = bind(Bind::Text(invoice.clone()));
            clauses.push(format!(
                "(invoice_id = {value} OR invoice_number = {value})"
            ));
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
    /// apart, and how long the recovered ones took. The window's whole
    /// days are read from the daily running counts, its whole hours at
    /// either end from the hourly ones (a few rows a day or an hour,
    /// however many cases), the rest from the cases themselves; a group
    /// may come more than once (the report adds them up).
    pub async fn recovery_counts(
        &self,
        from: i64,
        to: i64,
    ) -> anyhow::Result<(Vec<Group>, Vec<RecoveryTime>)> {
        let (mut groups, mut times) = (Vec::new(), Vec::new());
        for (scale, span) in parts(from, to) {
            self.counted(scale, span, &mut groups, &mut times).await?;
        }
        Ok((groups, times))
    }

    /// The counts of the cases opened in `span` (ms, hours or days since
    /// 1970, as `scale` says), from the cases or the running counts.
    async fn counted(
        &self,
        scale: Scale,
        (first, end): Span,
        groups: &mut Vec<Group>,
        times: &mut Vec<RecoveryTime>,
    ) -> anyhow::Result<()> {
        let (groups_sql, times_sql) = scale.queries();
        with_pool!(self, pool => {
            for r in sqlx::query(sqlx::AssertSqlSafe(groups_sql.clone()))
                .bind(first)
                .bind(end)
                .fetch_all(pool)
                .await?
            {
                groups.extend(group_from_row!(r));
            }
            for r in sqlx::query(sqlx::AssertSqlSafe(times_sql.clone()))
                .bind(first)
                .bind(end)
                .fetch_all(pool)
                .await?
            {
                times.push(time_from_row!(r));
            }
        });
        Ok(())
    }

    /// [`Self::recovery_counts`] read from the cases alone: what the
    /// running counts must always agree with (tests).
    pub async fn recovery_counts_from_cases(
        &self,
        from: i64,
        to: i64,
    ) -> anyhow::Result<(Vec<Group>, Vec<RecoveryTime>)> {
        let (mut groups, mut times) = (Vec::new(), Vec::new());
        self.counted(Scale::Cases, (from, to), &mut groups, &mut times)
            .await?;
        Ok((groups, times))
    }
}

const HOUR_MS: i64 = 3_600_000;

/// [start, end): unix ms, hours or days since 1970.
type Span = (i64, i64);

/// Where a part of a statistics window is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scale {
    /// The cases themselves (a span in unix ms).
    Cases,
    /// The hourly running counts (hours since 1970).
    Hours,
    /// The daily running counts (days since 1970).
    Days,
}

impl Scale {
    /// The statistics groups and the recovery times of the cases opened in
    /// [$1, $2), at this scale.
    fn queries(self) -> (String, String) {
        let (counts, recovered, unit) = match self {
            Self::Cases => {
                return (
                    "SELECT currency, state, decline_category, decline_code, recovered_by, \
                     recovered_on_retry, COUNT(*) AS n, CAST(SUM(amount_due) AS BIGINT) AS due, \
                     CAST(SUM(COALESCE(amount_paid, amount_due)) AS BIGINT) AS paid \
                     FROM cases WHERE state IS NOT NULL AND opened_at >= $1 AND opened_at < $2 \
                     GROUP BY currency, state, decline_category, decline_code, recovered_by, \
                     recovered_on_retry"
                        .into(),
                    "SELECT currency, (ended_at - opened_at) / 3600000 AS hours, COUNT(*) AS n \
                     FROM cases WHERE state = 'recovered' AND ended_at IS NOT NULL \
                     AND opened_at >= $1 AND opened_at < $2 GROUP BY currency, hours"
                        .into(),
                );
            }
            Self::Hours => ("case_counts", "recovery_times", "hour"),
            Self::Days => ("case_counts_daily", "recovery_times_daily", "day"),
        };
        (
            format!(
                "SELECT currency, state, NULLIF(decline_category, '') AS decline_category, \
                 NULLIF(decline_code, '') AS decline_code, NULLIF(recovered_by, '') AS recovered_by, \
                 NULLIF(recovered_on_retry, -1) AS recovered_on_retry, \
                 CAST(SUM(cases) AS BIGINT) AS n, CAST(SUM(due) AS BIGINT) AS due, \
                 CAST(SUM(paid) AS BIGINT) AS paid \
                 FROM {counts} WHERE {unit} >= $1 AND {unit} < $2 \
                 GROUP BY currency, state, decline_category, decline_code, recovered_by, \
                 recovered_on_retry"
            ),
            format!(
                "SELECT currency, hours, CAST(SUM(cases) AS BIGINT) AS n FROM {recovered} \
                 WHERE {unit} >= $1 AND {unit} < $2 GROUP BY currency, hours"
            ),
        )
    }
}

/// [from, to) as the whole `unit`s inside it ([first, end) in units; none
/// when it holds no whole one) and the parts at its ends (empty ones left
/// out). Together they are the window, exactly.
fn whole(from: i64, to: i64, unit: i64) -> (Option<Span>, Vec<Span>) {
    let first = from.div_euclid(unit) + i64::from(from.rem_euclid(unit) != 0);
    let end = to.div_euclid(unit);
    if first >= end {
        return (None, if from < to { vec![(from, to)] } else { vec![] });
    }
    let edges = [(from, first * unit), (end * unit, to)]
        .into_iter()
        .filter(|(a, b)| a < b)
        .collect();
    (Some((first, end)), edges)
}

/// [from, to) (unix ms) as its whole days, the whole hours at either end
/// and the milliseconds left at either end.
fn parts(from: i64, to: i64) -> Vec<(Scale, Span)> {
    let (hours, ms) = whole(from, to, HOUR_MS);
    let mut out: Vec<(Scale, Span)> = ms.into_iter().map(|s| (Scale::Cases, s)).collect();
    if let Some((first, end)) = hours {
        let (days, hours) = whole(first, end, 24);
        out.extend(days.map(|d| (Scale::Days, d)));
        out.extend(hours.into_iter().map(|h| (Scale::Hours, h)));
    }
    out
}

/// A statistics group from a row of either count; `None`: a state this
/// build does not know. (A macro: the row is either backend's.)
macro_rules! group_from_row {
    ($r:expr) => {{
        let r = &$r;
        let state: String = r.try_get("state")?;
        match CaseState::parse(&state) {
            None => None,
            Some(state) => {
                let by: Option<String> = r.try_get("recovered_by")?;
                let retry: Option<i32> = r.try_get("recovered_on_retry")?;
                Some(Group {
                    currency: r.try_get("currency")?,
                    state,
                    category: r.try_get("decline_category")?,
                    code: r.try_get("decline_code")?,
                    recovered_by: by.as_deref().and_then(RecoveredBy::parse),
                    recovered_on_retry: retry.and_then(|n| u32::try_from(n).ok()),
                    count: r.try_get("n")?,
                    due_minor: r.try_get("due")?,
                    paid_minor: r.try_get("paid")?,
                })
            }
        }
    }};
}
use group_from_row;

macro_rules! time_from_row {
    ($r:expr) => {{
        let r = &$r;
        RecoveryTime {
            currency: r.try_get("currency")?,
            hours: r.try_get("hours")?,
            count: r.try_get("n")?,
        }
    }};
}
use time_from_row;

/// A queue's backlog: how many items wait and how late the oldest due one is.
#[derive(Debug, Clone, PartialEq)]
pub struct Backlog {
    pub queue: &'static str,
    pub depth: i64,
    /// Milliseconds the oldest due item is overdue (0: none is).
    pub lag_ms: i64,
}

impl Store {
    /// How many opened cases are in each state (the running counts).
    pub async fn cases_by_state(&self) -> anyhow::Result<Vec<(String, i64)>> {
        let rows = with_pool!(self, pool => {
            let mut out = Vec::new();
            for r in sqlx::query(
                "SELECT state, CAST(SUM(cases) AS BIGINT) AS n FROM case_counts_daily GROUP BY state",
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
    /// they arrived, real clock), and case work, notices and outgoing
    /// events due by now and not done (by when they fell due, engine
    /// clock). Work planned for later is not a backlog: with a million
    /// cases it is most of the table, and counting it would read all of it.
    pub async fn backlogs(
        &self,
        engine_now_ms: i64,
        real_now_ms: i64,
    ) -> anyhow::Result<Vec<Backlog>> {
        let queries: [(&'static str, &str, i64); 4] = [
            (
                "events",
                "SELECT COUNT(*) AS n, MIN(w.received_at) AS oldest FROM event_queue q \
                 JOIN webhook_events w ON w.seq = q.seq WHERE w.received_at <= $1",
                real_now_ms,
            ),
            (
                "case_work",
                "SELECT COUNT(*) AS n, MIN(due_at) AS oldest FROM case_work \
                 WHERE status = 'pending' AND due_at <= $1",
                engine_now_ms,
            ),
            (
                "notices",
                "SELECT COUNT(*) AS n, MIN(due_at) AS oldest FROM notices \
                 WHERE status = 'pending' AND due_at <= $1",
                engine_now_ms,
            ),
            (
                "outgoing_events",
                "SELECT COUNT(*) AS n, MIN(due_at) AS oldest FROM outgoing_events \
                 WHERE status = 'pending' AND due_at <= $1",
                engine_now_ms,
            ),
        ];
        let mut out = Vec::new();
        for (queue, sql, now) in queries {
            let read = || async {
                let counted: (i64, Option<i64>) = with_pool!(self, pool => {
                    let r = sqlx::query(sql).bind(now).fetch_one(pool).await?;
                    (r.try_get("n")?, r.try_get("oldest")?)
                });
                anyhow::Ok(counted)
            };
            let (depth, oldest) = if queue == "events" {
                // With the events still in the intake log (SQLite), not
                // queued yet: under the write turn and as of one log
                // position, so one being moved counts once.
                let _turn = self.write_turn().await;
                let ((queued, oldest), (logged, first)) = self.with_intake_log(read).await?;
                (queued + logged, oldest.into_iter().chain(first).min())
            } else {
                read().await?
            };
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
    /// Cases opened in [from, to), counted per week, currency and state:
    /// whole days and hours from the running counts, the rest from the
    /// cases (a week may come more than once: add them up).
    pub async fn weekly_counts(&self, from: i64, to: i64) -> anyhow::Result<Vec<WeekRow>> {
        let mut out = Vec::new();
        for (scale, span) in parts(from, to) {
            let sql = match scale {
                Scale::Days => {
                    "SELECT ((day - 4) / 7) * 7 + 4 AS week, currency, state, \
                     CAST(SUM(cases) AS BIGINT) AS n, CAST(SUM(due) AS BIGINT) AS due, \
                     CAST(SUM(paid) AS BIGINT) AS paid \
                     FROM case_counts_daily WHERE day >= $1 AND day < $2 \
                     GROUP BY week, currency, state"
                }
                Scale::Hours => {
                    "SELECT ((hour / 24 - 4) / 7) * 7 + 4 AS week, currency, state, \
                     CAST(SUM(cases) AS BIGINT) AS n, CAST(SUM(due) AS BIGINT) AS due, \
                     CAST(SUM(paid) AS BIGINT) AS paid \
                     FROM case_counts WHERE hour >= $1 AND hour < $2 GROUP BY week, currency, state"
                }
                Scale::Cases => {
                    "SELECT ((opened_at / 86400000 - 4) / 7) * 7 + 4 AS week, currency, state, \
                     COUNT(*) AS n, CAST(SUM(amount_due) AS BIGINT) AS due, \
                     CAST(SUM(COALESCE(amount_paid, amount_due)) AS BIGINT) AS paid \
                     FROM cases WHERE state IS NOT NULL AND opened_at >= $1 AND opened_at < $2 \
                     GROUP BY week, currency, state"
                }
            };
            self.weeks_of(sql, span, &mut out).await?;
        }
        out.sort_by_key(|w| w.week);
        Ok(out)
    }

    async fn weeks_of(
        &self,
        sql: &'static str,
        (from, to): (i64, i64),
        out: &mut Vec<WeekRow>,
    ) -> anyhow::Result<()> {
        with_pool!(self, pool => {
            for r in sqlx::query(sql).bind(from).bind(to).fetch_all(pool).await? {
                out.push(WeekRow {
                    week: r.try_get("week")?,
                    currency: r.try_get("currency")?,
                    state: r.try_get("state")?,
                    count: r.try_get("n")?,
                    due_minor: r.try_get("due")?,
                    paid_minor: r.try_get("paid")?,
                });
            }
        });
        Ok(())
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

impl Store {
    /// Our finished retries from the UTC hour of `since` (unix ms, engine
    /// clock) on, counted per refusal, case time zone and country, UTC
    /// hour, days since the failure and hours since the last try: the
    /// running counts the `retry_finished` trigger keeps (`retry_outcomes`),
    /// not every finished retry.
    pub async fn retry_history(&self, since: i64) -> anyhow::Result<Vec<RetryHistory>> {
        let rows = with_pool!(self, pool => {
            let mut out = Vec::new();
            for r in sqlx::query(
                "SELECT decline_category, decline_code, timezone, country, hour, \
                 CAST(days_since_failure AS BIGINT) AS days, CAST(hours_since_last AS BIGINT) AS gap, \
                 CAST(SUM(tries) AS BIGINT) AS n, CAST(SUM(paid) AS BIGINT) AS paid \
                 FROM retry_outcomes WHERE hour >= $1 \
                 GROUP BY decline_category, decline_code, timezone, country, hour, \
                 days_since_failure, hours_since_last",
            )
            .bind(since.div_euclid(HOUR_MS))
            .fetch_all(pool)
            .await?
            {
                let hour: i64 = r.try_get("hour")?;
                let named = |key: &str| -> Result<Option<String>, sqlx::Error> {
                    let value: String = r.try_get(key)?;
                    Ok(Some(value).filter(|v| !v.is_empty()))
                };
                out.push(RetryHistory {
                    category: named("decline_category")?,
                    code: named("decline_code")?,
                    timezone: r.try_get("timezone")?,
                    country: named("country")?,
                    hour_ms: hour * HOUR_MS,
                    days_since_failure: r.try_get("days")?,
                    hours_since_last: r.try_get("gap")?,
                    tries: r.try_get("n")?,
                    paid: r.try_get("paid")?,
                });
            }
            out
        });
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::{HOUR_MS, Scale, parts, whole};

    #[test]
    fn a_window_is_its_whole_units_and_its_edges_exactly() {
        let h = HOUR_MS;
        assert_eq!(whole(0, 3 * h, h), (Some((0, 3)), vec![]));
        assert_eq!(
            whole(h / 2, 3 * h + 5, h),
            (Some((1, 3)), vec![(h / 2, h), (3 * h, 3 * h + 5)])
        );
        assert_eq!(whole(h + 1, 2 * h - 1, h), (None, vec![(h + 1, 2 * h - 1)]));
        assert_eq!(whole(h + 1, 2 * h + 1, h), (None, vec![(h + 1, 2 * h + 1)]));
        assert_eq!(whole(5, 5, h), (None, vec![]));
        // The whole timeline (the metrics): no overflow, nothing left out.
        let (hours, edges) = whole(i64::MIN, i64::MAX, h);
        let (first, end) = hours.expect("whole hours");
        assert_eq!(edges, vec![(i64::MIN, first * h), (end * h, i64::MAX)]);
        let all = parts(i64::MIN, i64::MAX);
        assert!(all.iter().any(|(scale, _)| *scale == Scale::Days));
    }

    #[test]
    fn every_millisecond_is_counted_once() {
        let (h, d) = (HOUR_MS, 24 * HOUR_MS);
        for (from, to) in [
            (0, 1),
            (h - 1, h + 1),
            (17, 5 * h + 3),
            (2 * h, 9 * h - 1),
            (3 * h + 7, 5 * d + 2 * h + 9),
            (d, 90 * d),
            (d - 1, 2 * d + h),
        ] {
            let mut covered: Vec<(i64, i64)> = parts(from, to)
                .into_iter()
                .map(|(scale, (a, b))| match scale {
                    Scale::Cases => (a, b),
                    Scale::Hours => (a * h, b * h),
                    Scale::Days => (a * d, b * d),
                })
                .collect();
            covered.sort();
            assert_eq!(covered.first().map(|c| c.0), Some(from));
            assert_eq!(covered.last().map(|c| c.1), Some(to));
            for pair in covered.windows(2) {
                assert_eq!(pair[0].1, pair[1].0, "{from}..{to}: {covered:?}");
            }
        }
        // A 90-day window reads at most two partial hours of cases and
        // 46 hours of hourly counts.
        let window = parts(17, 90 * d + 5);
        let hours: i64 = window
            .iter()
            .filter(|(s, _)| *s == Scale::Hours)
            .map(|(_, (a, b))| b - a)
            .sum();
        assert!(hours <= 46, "{window:?}");
    }
}
