//! `card_visits`: a customer's trips to the processor's card page, opened
//! by the billing page's button and spent once by the return.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sqlx::Row as _;

use super::{Store, Tx, with_pool, with_tx};
use crate::domain::card_visit::{CardVisit, Found, Returned};
use crate::domain::ids::CaseId;

const COLUMNS: &str = "id, case_id, customer_id, opened_at, retries_before, known_methods, \
                       returned_at, method, found";

fn instant(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

macro_rules! visit_from_row {
    ($r:expr) => {{
        let r = &$r;
        let id: String = r.try_get("id")?;
        let returned_at: Option<i64> = r.try_get("returned_at")?;
        let found: Option<String> = r.try_get("found")?;
        let returned = match (returned_at, found) {
            (Some(at), Some(found)) => Some(Returned {
                at: instant(at),
                method: r.try_get("method")?,
                found: Found::parse(&found).with_context(|| {
                    format!("card visit {id}: `{found}` is not what a return finds")
                })?,
            }),
            _ => None,
        };
        let known: String = r.try_get("known_methods")?;
        let retries: i64 = r.try_get("retries_before")?;
        CardVisit {
            retries_before: u32::try_from(retries)
                .with_context(|| format!("card visit {id}: {retries} retries"))?,
            known_methods: serde_json::from_str(&known)
                .with_context(|| format!("card visit {id}: the known methods"))?,
            case_id: r.try_get("case_id")?,
            customer_id: r.try_get("customer_id")?,
            opened_at: instant(r.try_get("opened_at")?),
            returned,
            id,
        }
    }};
}

impl Store {
    /// Opens `visit` (its id random, for the return URL; not returned).
    pub async fn open_card_visit(&self, visit: &CardVisit) -> anyhow::Result<()> {
        let known = serde_json::to_string(&visit.known_methods)?;
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO card_visits (id, case_id, customer_id, opened_at, retries_before, known_methods) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&visit.id)
            .bind(visit.case_id)
            .bind(&visit.customer_id)
            .bind(visit.opened_at.timestamp_millis())
            .bind(i64::from(visit.retries_before))
            .bind(&known)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The visit `id`, if there is one.
    pub async fn card_visit(&self, id: &str) -> anyhow::Result<Option<CardVisit>> {
        let sql = format!("SELECT {COLUMNS} FROM card_visits WHERE id = $1");
        let visit = with_pool!(self, pool => {
            match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await? {
                Some(r) => Some(visit_from_row!(r)),
                None => None,
            }
        });
        Ok(visit)
    }
}

/// Spends visit `id` of case `case_id` with what its return found; false:
/// it was spent before (or is not this case's), and nothing changes.
pub async fn spend_card_visit(
    tx: &mut Tx,
    id: &str,
    case_id: CaseId,
    returned: &Returned,
) -> anyhow::Result<bool> {
    let changed = with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE card_visits SET returned_at = $3, method = $4, found = $5 \
             WHERE id = $1 AND case_id = $2 AND returned_at IS NULL",
        )
        .bind(id)
        .bind(case_id)
        .bind(returned.at.timestamp_millis())
        .bind(returned.method.as_deref())
        .bind(returned.found.as_str())
        .execute(conn)
        .await?
        .rows_affected()
    });
    Ok(changed == 1)
}
