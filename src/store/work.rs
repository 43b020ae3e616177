//! `case_work`: the side effects cases have planned. It is the job queue
//! too: the runner claims due rows with a lease (`jobs::runner`).

use crate::domain::ids::CaseId;
pub use crate::domain::work::NewWork;
use sqlx::Row;

use super::{Store, Tx, with_pool, with_tx};
use crate::domain::work::{Work, WorkStatus};

#[derive(Debug, Clone, PartialEq)]
pub struct WorkRow {
    pub id: i64,
    pub case_id: CaseId,
    pub work: Work,
    pub key: String,
    pub due_at: i64,
    pub status: WorkStatus,
    /// Processor failures so far (not the customer's attempts).
    pub tries: i32,
    pub result: Option<String>,
    /// Bumped each time the (case, key) is planned again after a cancel:
    /// a job finishes only the generation it claimed.
    pub generation: i64,
}

const WORK_COLUMNS: &str =
    "id, case_id, kind, work_key, due_at, status, detail, tries, result, generation";

macro_rules! work_from_row {
    ($r:expr) => {{
        let r = $r;
        let detail: String = r.try_get("detail")?;
        let kind: String = r.try_get("kind")?;
        let status: String = r.try_get("status")?;
        WorkRow {
            id: r.try_get("id")?,
            case_id: r.try_get("case_id")?,
            work: Work::parse(&kind, &serde_json::from_str(&detail)?)?,
            key: r.try_get("work_key")?,
            due_at: r.try_get("due_at")?,
            status: WorkStatus::parse(&status)?,
            tries: r.try_get("tries")?,
            result: r.try_get("result")?,
            generation: r.try_get("generation")?,
        }
    }};
}

/// Plans `works` for the case in one statement. Returns the id and key of
/// each row planned; a (case, key) planned before and not canceled is left
/// alone and not returned: an email stage or an attempt number is planned
/// once. Canceled work (a pause, a new plan) is planned again as a new
/// generation that keeps the row's lease: a job still running the old one
/// holds it until it ends (`finish_work` then gives it back), so the new
/// plan never runs beside it.
pub async fn insert_works(
    tx: &mut Tx,
    case_id: CaseId,
    works: &[NewWork],
    now_ms: i64,
) -> anyhow::Result<Vec<(i64, String)>> {
    if works.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<String> = (0..works.len())
        .map(|i| {
            let p = i * 4;
            format!(
                "($1, ${}, ${}, ${}, 'pending', ${}, $2)",
                p + 3,
                p + 4,
                p + 5,
                p + 6
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO case_work (case_id, kind, work_key, due_at, status, detail, created_at) \
         VALUES {} \
         ON CONFLICT (case_id, work_key) DO UPDATE SET \
           due_at = excluded.due_at, status = 'pending', detail = excluded.detail, \
           finished_at = NULL, result = NULL, \
           generation = case_work.generation + 1 \
         WHERE case_work.status = 'canceled' \
         RETURNING id, work_key",
        rows.join(", ")
    );
    let details: Vec<(String, String)> = works
        .iter()
        .map(|w| (w.work.key(), w.work.detail().to_string()))
        .collect();
    let planned = with_tx!(tx, conn => {
        let mut query = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(sql))
            .bind(case_id)
            .bind(now_ms);
        for (new, (key, detail)) in works.iter().zip(&details) {
            query = query.bind(new.work.kind()).bind(key).bind(new.due_at).bind(detail);
        }
        query.fetch_all(conn).await?
    });
    Ok(planned)
}

/// Cancels the case's pending work (of one kind, or all). Returns how many.
pub async fn cancel_work(
    tx: &mut Tx,
    case_id: CaseId,
    kind: Option<&str>,
    now_ms: i64,
) -> anyhow::Result<u64> {
    let n = with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE case_work SET status = 'canceled', finished_at = $1 \
             WHERE case_id = $2 AND status = 'pending' AND ($3 IS NULL OR kind = $3)",
        )
        .bind(now_ms)
        .bind(case_id)
        .bind(kind)
        .execute(conn)
        .await?
        .rows_affected()
    });
    Ok(n)
}

/// Moves the claimed generation of pending work to a later time (a
/// processor failure): the tries count says how many times the processor
/// failed us on it; `work` is what the next run needs. A newer generation
/// (planned again meanwhile) is left as planned and given back. Returns
/// whether the claimed generation was moved.
pub async fn reschedule_work(
    tx: &mut Tx,
    claimed: &WorkRow,
    due_at: i64,
    tries: i32,
    work: &Work,
    note: &str,
) -> anyhow::Result<bool> {
    let detail = work.detail().to_string();
    let moved = with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE case_work SET due_at = $1, tries = $2, lease_until = NULL, result = $3, detail = $4 \
             WHERE id = $5 AND status = 'pending' AND generation = $6",
        )
        .bind(due_at)
        .bind(tries)
        .bind(note)
        .bind(&detail)
        .bind(claimed.id)
        .bind(claimed.generation)
        .execute(conn)
        .await?
        .rows_affected()
    });
    if moved == 0 {
        give_back_newer(tx, claimed).await?;
    }
    Ok(moved > 0)
}

/// Ends the claimed generation of a piece of work: `done`, `failed` (with
/// why) or `skipped`. A newer generation (planned again while the job ran)
/// is not the job's to end: it stays pending and its lease is given back.
/// Returns whether the claimed generation was ended.
pub async fn finish_work(
    tx: &mut Tx,
    claimed: &WorkRow,
    status: WorkStatus,
    result: &str,
    now_ms: i64,
) -> anyhow::Result<bool> {
    let ended = with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE case_work SET status = $1, result = $2, finished_at = $3, lease_until = NULL \
             WHERE id = $4 AND status = 'pending' AND generation = $5",
        )
        .bind(status.as_str())
        .bind(result)
        .bind(now_ms)
        .bind(claimed.id)
        .bind(claimed.generation)
        .execute(conn)
        .await?
        .rows_affected()
    });
    if ended == 0 {
        give_back_newer(tx, claimed).await?;
    }
    Ok(ended > 0)
}

/// The lease a job kept over work that is no longer its own, given back:
/// a newer generation (planned again while it ran) or its own generation
/// canceled meanwhile (so a later re-plan does not wait for it).
async fn give_back_newer(tx: &mut Tx, claimed: &WorkRow) -> anyhow::Result<()> {
    with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE case_work SET lease_until = NULL \
             WHERE id = $1 AND (generation > $2 OR status = 'canceled')",
        )
        .bind(claimed.id)
        .bind(claimed.generation)
        .execute(conn)
        .await?;
    });
    Ok(())
}

impl Store {
    /// Pending work due by `due_by_ms` and not leased, oldest first (the
    /// drain benchmark times this lookup).
    pub async fn due_work(
        &self,
        due_by_ms: i64,
        real_now_ms: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<WorkRow>> {
        let sql = format!(
            "SELECT {WORK_COLUMNS} FROM case_work \
             WHERE status = 'pending' AND due_at <= $1 \
               AND (lease_until IS NULL OR lease_until < $2) \
             ORDER BY due_at, id LIMIT $3"
        );
        let rows = with_pool!(self, pool => {
            let mut out = Vec::new();
            for r in sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(due_by_ms)
                .bind(real_now_ms)
                .bind(limit)
                .fetch_all(pool)
                .await?
            {
                out.push(work_from_row!(r));
            }
            out
        });
        Ok(rows)
    }

    /// Every piece of work a case planned, in order.
    pub async fn work_of(&self, case_id: CaseId) -> anyhow::Result<Vec<WorkRow>> {
        let sql = format!("SELECT {WORK_COLUMNS} FROM case_work WHERE case_id = $1 ORDER BY id");
        let rows = with_pool!(self, pool => {
            let mut out = Vec::new();
            for r in sqlx::query(sqlx::AssertSqlSafe(sql)).bind(case_id).fetch_all(pool).await? {
                out.push(work_from_row!(r));
            }
            out
        });
        Ok(rows)
    }
}

/// A claim of due queue rows: pending rows due by `sim_now_ms` (engine
/// clock) whose lease ran out by `real_now_ms`, leased until
/// `lease_until_ms` (real clock); `id` alone or the oldest `limit`.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    pub id: Option<i64>,
    pub sim_now_ms: i64,
    pub real_now_ms: i64,
    pub lease_until_ms: i64,
    pub limit: i64,
}

/// The rows of queue table `$table` that `$claim` takes in `$tx` (leased in
/// one statement, `claim_sql`), each read with the row macro `$from_row`.
macro_rules! claim_rows {
    ($tx:expr, $table:literal, $columns:expr, $claim:expr, $from_row:ident) => {{
        $crate::store::work::claim_rows!($tx, $table, $columns, $claim, $from_row, "")
    }};
    ($tx:expr, $table:literal, $columns:expr, $claim:expr, $from_row:ident, $also:expr) => {{
        let sql = $crate::store::work::claim_sql($tx, $table, $columns, $also);
        let claim: &$crate::store::work::Claim = $claim;
        with_tx!($tx, conn => {
            let mut out = Vec::new();
            for r in sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(claim.lease_until_ms)
                .bind(claim.sim_now_ms)
                .bind(claim.real_now_ms)
                .bind(claim.id)
                .bind(claim.limit)
                .fetch_all(&mut *conn)
                .await?
            {
                out.push($from_row!(r));
            }
            out
        })
    }};
}
pub(crate) use claim_rows;

/// Takes pending, due, unleased work (`claim`) in `tx`, oldest first.
/// Empty: done, canceled, not due yet or held by another worker; the world
/// moved on.
pub async fn claim_work(tx: &mut Tx, claim: &Claim) -> anyhow::Result<Vec<WorkRow>> {
    let mut rows = claim_rows!(tx, "case_work", WORK_COLUMNS, claim, work_from_row);
    rows.sort_by_key(|w| (w.due_at, w.id));
    Ok(rows)
}

/// The claim of every leased queue table (`case_work`, `notices`,
/// `outgoing_events`): the rows of a `Claim` leased in one statement. On
/// PostgreSQL concurrent claimers skip each other's rows instead of
/// queueing behind them.
/// `also`: a further condition on the rows picked (` AND …`), or nothing.
pub(crate) fn claim_sql(tx: &Tx, table: &str, columns: &str, also: &str) -> String {
    let skip_locked = match tx {
        Tx::Sqlite(_) => "",
        Tx::Postgres(_) => " FOR UPDATE SKIP LOCKED",
    };
    // The rows are picked once (a materialized CTE): as a plain `IN`
    // subquery PostgreSQL may scan it again per row and lease past `LIMIT`.
    format!(
        "WITH picked AS MATERIALIZED (SELECT id FROM {table} \
                      WHERE status = 'pending' AND due_at <= $2 \
                        AND (lease_until IS NULL OR lease_until < $3) \
                        AND ($4 IS NULL OR id = $4){also} \
                      ORDER BY due_at, id LIMIT $5{skip_locked}) \
         UPDATE {table} SET lease_until = $1 \
         WHERE id IN (SELECT id FROM picked) \
           AND status = 'pending' AND (lease_until IS NULL OR lease_until < $3) \
         RETURNING {columns}"
    )
}

/// The tables whose rows the job runner leases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leased {
    Work,
    Notice,
    Outgoing,
}

impl Leased {
    pub fn table(self) -> &'static str {
        match self {
            Self::Work => "case_work",
            Self::Notice => "notices",
            Self::Outgoing => "outgoing_events",
        }
    }
}

impl Store {
    /// The engine time (ms) at which the earliest pending, unleased work or
    /// notice falls due: what the job runner sleeps until.
    pub async fn next_due(&self, real_now_ms: i64) -> anyhow::Result<Option<i64>> {
        let due = with_pool!(self, pool => {
            sqlx::query_scalar::<_, Option<i64>>(
                "SELECT MIN(due_at) FROM ( \
                   SELECT MIN(due_at) AS due_at FROM case_work WHERE status = 'pending' \
                     AND (lease_until IS NULL OR lease_until < $1) \
                   UNION ALL \
                   SELECT MIN(due_at) AS due_at FROM notices WHERE status = 'pending' \
                     AND (lease_until IS NULL OR lease_until < $1) \
                   UNION ALL \
                   SELECT MIN(due_at) AS due_at FROM outgoing_events WHERE status = 'pending' \
                     AND (lease_until IS NULL OR lease_until < $1)) AS due",
            )
            .bind(real_now_ms)
            .fetch_one(pool)
            .await?
        });
        Ok(due)
    }

    /// Keeps a running job's claim until `until_ms` (real clock), whatever
    /// became of the row meanwhile: work canceled and planned again while
    /// the job still runs must stay held until the job ends.
    pub async fn renew_lease(&self, table: Leased, id: i64, until_ms: i64) -> anyhow::Result<()> {
        let sql = format!(
            "UPDATE {} SET lease_until = $1 WHERE id = $2",
            table.table()
        );
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(until_ms).bind(id).execute(pool).await?;
        });
        Ok(())
    }

    /// Gives a claim back so the work may run again at once (a job that
    /// failed, or did not finish before shutdown).
    pub async fn release_lease(&self, table: Leased, id: i64) -> anyhow::Result<()> {
        let sql = format!(
            "UPDATE {} SET lease_until = NULL WHERE id = $1 AND status = 'pending'",
            table.table()
        );
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).execute(pool).await?;
        });
        Ok(())
    }
}
