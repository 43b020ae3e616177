//! `offer_choices`: the offer a customer took on their billing page, one per
//! case, so posting it twice changes the subscription once.

use super::{Store, Tx, with_pool, with_tx};
use crate::domain::ids::CaseId;

/// The offer that stands for a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferChoice {
    pub offer_id: String,
    /// The processor has carried it out.
    pub done: bool,
    /// A pause's end (engine clock, ms), fixed at the first choice.
    pub resumes_at: Option<i64>,
}

fn choice(row: Option<(String, String, Option<i64>)>) -> Option<OfferChoice> {
    row.map(|(offer_id, status, resumes_at)| OfferChoice {
        offer_id,
        done: status == "done",
        resumes_at,
    })
}

/// Records `offer_id` as the case's choice unless one stands already, and
/// returns the one that stands (the first, whatever was posted later).
pub async fn choose_offer(
    tx: &mut Tx,
    case_id: CaseId,
    offer_id: &str,
    kind: &str,
    now_ms: i64,
    resumes_at: Option<i64>,
) -> anyhow::Result<OfferChoice> {
    let row = with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO offer_choices (case_id, offer_id, kind, status, chosen_at, resumes_at) \
             VALUES ($1, $2, $3, 'pending', $4, $5) ON CONFLICT (case_id) DO NOTHING",
        )
        .bind(case_id)
        .bind(offer_id)
        .bind(kind)
        .bind(now_ms)
        .bind(resumes_at)
        .execute(&mut *conn)
        .await?;
        sqlx::query_as::<_, (String, String, Option<i64>)>(
            "SELECT offer_id, status, resumes_at FROM offer_choices WHERE case_id = $1",
        )
        .bind(case_id)
        .fetch_optional(&mut *conn)
        .await?
    });
    choice(row).ok_or_else(|| anyhow::anyhow!("the offer choice of case {case_id} vanished"))
}

/// The processor carried the choice out. False: it was marked done before.
pub async fn offer_done(tx: &mut Tx, case_id: CaseId, now_ms: i64) -> anyhow::Result<bool> {
    let changed = with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE offer_choices SET status = 'done', done_at = $2 \
             WHERE case_id = $1 AND status = 'pending'",
        )
        .bind(case_id)
        .bind(now_ms)
        .execute(conn)
        .await?
        .rows_affected()
    });
    Ok(changed > 0)
}

/// The processor refused the choice: the customer may choose again.
pub async fn forget_offer(tx: &mut Tx, case_id: CaseId) -> anyhow::Result<()> {
    with_tx!(tx, conn => {
        sqlx::query("DELETE FROM offer_choices WHERE case_id = $1 AND status = 'pending'")
            .bind(case_id)
            .execute(conn)
            .await?;
    });
    Ok(())
}

impl Store {
    /// The offer the customer of case `case_id` took, if any.
    pub async fn offer_choice(&self, case_id: CaseId) -> anyhow::Result<Option<OfferChoice>> {
        let row = with_pool!(self, pool => {
            sqlx::query_as::<_, (String, String, Option<i64>)>(
                "SELECT offer_id, status, resumes_at FROM offer_choices WHERE case_id = $1",
            )
            .bind(case_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(choice(row))
    }
}
