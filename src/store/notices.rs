//! `customer_cards` (each customer's latest card) and `notices` (emails
//! outside a case, pre-dunning): planned, claimed and recorded in one row.

pub use crate::domain::notice::{Card, NewNotice};
use anyhow::Context;
use sqlx::Row;

pub use crate::domain::notice::{CardExpiring, NoticeKind, NoticeStatus};

use super::work::{Claim, claim_rows};
use super::{Store, Tx, with_pool, with_tx};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Notice {
    pub id: i64,
    pub customer_id: String,
    pub kind: NoticeKind,
    pub key: String,
    pub recipient: Option<String>,
    pub detail: CardExpiring,
    pub due_at: i64,
    pub status: NoticeStatus,
    pub subject: Option<String>,
    pub body_text: Option<String>,
    pub body_html: Option<String>,
    pub error: Option<String>,
    /// Delivery failures so far.
    pub tries: i32,
}

const COLUMNS: &str = "id, customer_id, kind, notice_key, recipient, detail, due_at, status, \
    subject, body_text, body_html, error, tries";

macro_rules! notice_from_row {
    ($r:expr) => {{
        let r = $r;
        let detail: String = r.try_get("detail")?;
        let id: i64 = r.try_get("id")?;
        Notice {
            id,
            customer_id: r.try_get("customer_id")?,
            kind: {
                let kind: String = r.try_get("kind")?;
                NoticeKind::parse(&kind)
                    .ok_or_else(|| anyhow::anyhow!("notice {id}: unknown kind {kind:?}"))?
            },
            key: r.try_get("notice_key")?,
            recipient: r.try_get("recipient")?,
            detail: serde_json::from_str(&detail)
                .with_context(|| format!("notice {id}: its stored detail"))?,
            due_at: r.try_get("due_at")?,
            status: {
                let status: String = r.try_get("status")?;
                NoticeStatus::parse(&status)
                    .ok_or_else(|| anyhow::anyhow!("notice {id}: unknown status {status:?}"))?
            },
            subject: r.try_get("subject")?,
            body_text: r.try_get("body_text")?,
            body_html: r.try_get("body_html")?,
            error: r.try_get("error")?,
            tries: r.try_get("tries")?,
        }
    }};
}

/// Remembers the customer's latest card, as the processor told us at
/// `seen_ms`; what an earlier event said does not replace a later one.
pub async fn upsert_card(tx: &mut Tx, card: &Card, seen_ms: i64) -> anyhow::Result<()> {
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO customer_cards (customer_id, payment_method_id, brand, last4, exp_month, \
             exp_year, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (customer_id) DO UPDATE SET payment_method_id = excluded.payment_method_id, \
             brand = excluded.brand, last4 = excluded.last4, exp_month = excluded.exp_month, \
             exp_year = excluded.exp_year, updated_at = excluded.updated_at \
             WHERE customer_cards.updated_at <= excluded.updated_at",
        )
        .bind(&card.customer_id)
        .bind(&card.payment_method_id)
        .bind(&card.brand)
        .bind(&card.last4)
        .bind(i32::try_from(card.exp_month)?)
        .bind(card.exp_year)
        .bind(seen_ms)
        .execute(conn)
        .await?;
    });
    Ok(())
}

const CARD_SQL: &str = "SELECT customer_id, payment_method_id, brand, last4, exp_month, exp_year \
     FROM customer_cards WHERE customer_id = $1";

macro_rules! card_from_row {
    ($r:expr) => {{
        let r = $r;
        Card {
            customer_id: r.try_get("customer_id")?,
            payment_method_id: r.try_get("payment_method_id")?,
            brand: r.try_get("brand")?,
            last4: r.try_get("last4")?,
            exp_month: u32::try_from(r.try_get::<i32, _>("exp_month")?)?,
            exp_year: r.try_get("exp_year")?,
        }
    }};
}

pub async fn card_of(tx: &mut Tx, customer_id: &str) -> anyhow::Result<Option<Card>> {
    let card = with_tx!(tx, conn => {
        match sqlx::query(CARD_SQL).bind(customer_id).fetch_optional(conn).await? {
            Some(r) => Some(card_from_row!(r)),
            None => None,
        }
    });
    Ok(card)
}

/// The customer's email as their latest invoice gave it.
pub async fn email_of(tx: &mut Tx, customer_id: &str) -> anyhow::Result<Option<String>> {
    let email = with_tx!(tx, conn => {
        sqlx::query_scalar::<_, String>(
            "SELECT customer_email FROM cases WHERE customer_id = $1 AND customer_email IS NOT NULL \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(customer_id)
        .fetch_optional(conn)
        .await?
    });
    Ok(email)
}

/// Plans a notice; `None` when this (customer, kind, key) exists already.
pub async fn insert_notice(
    tx: &mut Tx,
    notice: &NewNotice,
    now_ms: i64,
) -> anyhow::Result<Option<i64>> {
    let detail = serde_json::to_string(&notice.detail)?;
    let id = with_tx!(tx, conn => {
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO notices (customer_id, kind, notice_key, recipient, detail, due_at, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7) \
             ON CONFLICT (customer_id, kind, notice_key) DO NOTHING RETURNING id",
        )
        .bind(&notice.customer_id)
        .bind(notice.kind.as_str())
        .bind(&notice.key)
        .bind(&notice.recipient)
        .bind(&detail)
        .bind(notice.due_at)
        .bind(now_ms)
        .fetch_optional(conn)
        .await?
    });
    Ok(id)
}

impl Store {
    /// The customer's latest card.
    pub async fn current_card(&self, customer_id: &str) -> anyhow::Result<Option<Card>> {
        let card = with_pool!(self, pool => {
            match sqlx::query(CARD_SQL).bind(customer_id).fetch_optional(pool).await? {
                Some(r) => Some(card_from_row!(r)),
                None => None,
            }
        });
        Ok(card)
    }

    /// Records what was written and where it stands, letting go of the
    /// lease.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_notice(
        &self,
        id: i64,
        status: NoticeStatus,
        subject: &str,
        body_text: &str,
        body_html: &str,
        error: Option<&str>,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE notices SET status = $1, subject = $2, body_text = $3, body_html = $4, \
                 error = $5, sent_at = $6, lease_until = NULL WHERE id = $7",
            )
            .bind(status.as_str())
            .bind(subject)
            .bind(body_text)
            .bind(body_html)
            .bind(error)
            .bind(now_ms)
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Puts a notice off after delivery failure number `tries` (or after
    /// the customer could not be read): pending again at `due_at`.
    pub async fn reschedule_notice(
        &self,
        id: i64,
        due_at: i64,
        tries: i32,
        error: &str,
    ) -> anyhow::Result<()> {
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE notices SET status = 'pending', due_at = $1, tries = $2, error = $3, \
                 lease_until = NULL WHERE id = $4",
            )
            .bind(due_at)
            .bind(tries)
            .bind(error)
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The address a notice goes to, once learned from the processor.
    pub async fn set_notice_recipient(&self, id: i64, email: &str) -> anyhow::Result<()> {
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query("UPDATE notices SET recipient = $1 WHERE id = $2")
                .bind(email)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Ends a notice as `failed`, keeping what was written.
    pub async fn give_up_notice(&self, id: i64, error: &str) -> anyhow::Result<()> {
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE notices SET status = 'failed', error = $1, lease_until = NULL WHERE id = $2",
            )
            .bind(error)
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn notices_of(&self, customer_id: &str) -> anyhow::Result<Vec<Notice>> {
        let sql = format!("SELECT {COLUMNS} FROM notices WHERE customer_id = $1 ORDER BY id");
        let rows = with_pool!(self, pool => {
            let mut out = Vec::new();
            for r in sqlx::query(sqlx::AssertSqlSafe(sql)).bind(customer_id).fetch_all(pool).await? {
                out.push(notice_from_row!(r));
            }
            out
        });
        Ok(rows)
    }
}

/// Claims due notices (`claim`) in `tx`.
pub async fn claim_notices(tx: &mut Tx, claim: &Claim) -> anyhow::Result<Vec<Notice>> {
    Ok(claim_rows!(tx, "notices", COLUMNS, claim, notice_from_row))
}
