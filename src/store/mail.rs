//! `outbox`: every email dunwell wrote, one per (case, kind, stage).

use crate::domain::ids::CaseId;
use sqlx::Row;

use super::{Store, Tx, with_pool, with_tx};

#[derive(Debug, Clone)]
pub struct NewMail<'a> {
    pub case_id: CaseId,
    pub kind: &'a str,
    pub stage: i32,
    pub recipient: Option<&'a str>,
    pub subject: &'a str,
    pub body_text: &'a str,
    pub body_html: &'a str,
    pub status: &'a str,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OutboxMail {
    pub id: i64,
    pub case_id: CaseId,
    pub kind: String,
    pub stage: i32,
    pub recipient: Option<String>,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub status: String,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub error: Option<String>,
}

/// Records an email. `None`: this (case, kind, stage) was written before
/// and must not go out again.
pub async fn insert_mail_in(
    tx: &mut Tx,
    mail: &NewMail<'_>,
    now_ms: i64,
) -> anyhow::Result<Option<i64>> {
    let id = with_tx!(tx, conn => {
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO outbox (case_id, kind, stage, recipient, subject, body_text, body_html, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (case_id, kind, stage) DO NOTHING RETURNING id",
        )
        .bind(mail.case_id)
        .bind(mail.kind)
        .bind(mail.stage)
        .bind(mail.recipient)
        .bind(mail.subject)
        .bind(mail.body_text)
        .bind(mail.body_html)
        .bind(mail.status)
        .bind(now_ms)
        .fetch_optional(conn)
        .await?
    });
    Ok(id)
}

impl Store {
    /// When the customer was last written a reminder to pay (unix ms,
    /// engine clock), whatever the case.
    pub async fn last_reminder(&self, customer_id: &str) -> anyhow::Result<Option<i64>> {
        let at = with_pool!(self, pool => {
            sqlx::query_scalar::<_, Option<i64>>(
                "SELECT MAX(o.created_at) FROM outbox o JOIN cases c ON c.id = o.case_id \
                 WHERE c.customer_id = $1 AND o.kind IN ('payment_failed', 'action_required') \
                 AND o.status <> 'no_recipient'",
            )
            .bind(customer_id)
            .fetch_one(pool)
            .await?
        });
        Ok(at)
    }

    /// Records an email before it leaves, in a transaction of its own.
    pub async fn insert_mail(
        &self,
        mail: &NewMail<'_>,
        now_ms: i64,
    ) -> anyhow::Result<Option<i64>> {
        let mut tx = self.begin().await?;
        let id = insert_mail_in(&mut tx, mail, now_ms).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The id and status of the (case, kind, stage) email, if written.
    pub async fn mail_for(
        &self,
        case_id: CaseId,
        kind: &str,
        stage: i32,
    ) -> anyhow::Result<Option<(i64, String)>> {
        let row = with_pool!(self, pool => {
            sqlx::query_as::<_, (i64, String)>(
                "SELECT id, status FROM outbox WHERE case_id = $1 AND kind = $2 AND stage = $3",
            )
            .bind(case_id)
            .bind(kind)
            .bind(stage)
            .fetch_optional(pool)
            .await?
        });
        Ok(row)
    }

    pub async fn mark_mail(
        &self,
        id: i64,
        status: &str,
        error: Option<&str>,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query("UPDATE outbox SET status = $1, error = $2, sent_at = $3 WHERE id = $4")
                .bind(status)
                .bind(error)
                .bind(now_ms)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// One email of the outbox.
    pub async fn outbox_mail(&self, id: i64) -> anyhow::Result<Option<OutboxMail>> {
        let rows = self.outbox_page(None, Some(id + 1), 1).await?;
        Ok(rows.into_iter().find(|m| m.id == id))
    }

    /// The newest emails, optionally of one case.
    pub async fn outbox(
        &self,
        case_id: Option<CaseId>,
        limit: i64,
    ) -> anyhow::Result<Vec<OutboxMail>> {
        self.outbox_page(case_id, None, limit).await
    }

    /// The newest emails (of one case), older than email `before` if given.
    pub async fn outbox_page(
        &self,
        case_id: Option<CaseId>,
        before: Option<i64>,
        limit: i64,
    ) -> anyhow::Result<Vec<OutboxMail>> {
        let rows = with_pool!(self, pool => {
            let mut out = Vec::new();
            for r in sqlx::query(
                "SELECT id, case_id, kind, stage, recipient, subject, body_text, body_html, status, \
                 created_at, sent_at, error FROM outbox \
                 WHERE ($1 IS NULL OR case_id = $1) AND ($2 IS NULL OR id < $2) \
                 ORDER BY id DESC LIMIT $3",
            )
            .bind(case_id)
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await?
            {
                out.push(OutboxMail {
                    id: r.try_get("id")?,
                    case_id: r.try_get("case_id")?,
                    kind: r.try_get("kind")?,
                    stage: r.try_get("stage")?,
                    recipient: r.try_get("recipient")?,
                    subject: r.try_get("subject")?,
                    body_text: r.try_get("body_text")?,
                    body_html: r.try_get("body_html")?,
                    status: r.try_get("status")?,
                    created_at: r.try_get("created_at")?,
                    sent_at: r.try_get("sent_at")?,
                    error: r.try_get("error")?,
                });
            }
            out
        });
        Ok(rows)
    }
}
