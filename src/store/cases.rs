//! `cases` (one row per invoice, holding the state machine's track),
//! `case_timeline` (the audit trail) and `customer_payments` (payday
//! learning).

pub use crate::domain::case_record::{CaseFacts, CaseLink, CaseRow, PaymentFailure};
use crate::domain::ids::CaseId;
use anyhow::Context as _;
use sqlx::Row;

use super::{Store, Tx, with_pool, with_tx};
use crate::domain::case::{CaseState, Track};
use crate::domain::zones::ZoneSource;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TimelineEntry {
    pub at: i64,
    pub kind: String,
    pub detail: serde_json::Value,
}

pub(super) const CASE_COLUMNS: &str = "id, invoice_id, customer_id, subscription_id, subscription_item_id, \
    price_id, charge_id, payment_intent_id, customer_email, customer_name, amount_due, currency, \
    hosted_invoice_url, description, timezone, state, version, track, opened_at, updated_at, \
    amount_paid, needs_attention, invoice_number, ended_at, timezone_source, country, policy_version";

macro_rules! case_from_row {
    ($r:expr) => {{
        let r = $r;
        let track: String = r.try_get("track")?;
        let id: $crate::domain::ids::CaseId = r.try_get("id")?;
        CaseRow {
            id,
            invoice_id: $crate::store::cases::stored_id(&r, id, "invoice_id")?,
            customer_id: $crate::store::cases::stored_id(&r, id, "customer_id")?,
            subscription_id: $crate::store::cases::stored_id_opt(&r, id, "subscription_id")?,
            subscription_item_id: $crate::store::cases::stored_id_opt(
                &r,
                id,
                "subscription_item_id",
            )?,
            price_id: $crate::store::cases::stored_id_opt(&r, id, "price_id")?,
            charge_id: $crate::store::cases::stored_id_opt(&r, id, "charge_id")?,
            payment_intent_id: $crate::store::cases::stored_id_opt(&r, id, "payment_intent_id")?,
            customer_email: r.try_get("customer_email")?,
            customer_name: r.try_get("customer_name")?,
            amount_due: r.try_get("amount_due")?,
            amount_paid: r.try_get("amount_paid")?,
            currency: r.try_get("currency")?,
            hosted_invoice_url: r.try_get("hosted_invoice_url")?,
            invoice_number: r.try_get("invoice_number")?,
            description: r.try_get("description")?,
            timezone: r.try_get("timezone")?,
            timezone_source: r.try_get("timezone_source")?,
            country: r.try_get("country")?,
            needs_attention: r.try_get("needs_attention")?,
            state: $crate::store::cases::stored_state(&r, id)?,
            version: r.try_get("version")?,
            track: $crate::store::cases::stored_track(&track, id)?,
            opened_at: r.try_get("opened_at")?,
            updated_at: r.try_get("updated_at")?,
            ended_at: r.try_get("ended_at")?,
            policy_version: r.try_get("policy_version")?,
        }
    }};
}
pub(super) use case_from_row;

/// A stored id column of case `case`, typed: a value that is not such an
/// id is an error naming the case and the column (it was written typed:
/// the row was changed by hand or broken).
pub(super) fn stored_id<R, T>(r: &R, case: CaseId, column: &str) -> anyhow::Result<T>
where
    R: sqlx::Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    T: TryFrom<String, Error = crate::domain::ids::IdError>,
{
    stored_id_opt(r, case, column)?.ok_or_else(|| anyhow::anyhow!("case {case}: no {column}"))
}

/// `stored_id` of a column that may be empty.
pub(super) fn stored_id_opt<R, T>(r: &R, case: CaseId, column: &str) -> anyhow::Result<Option<T>>
where
    R: sqlx::Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    T: TryFrom<String, Error = crate::domain::ids::IdError>,
{
    let raw: Option<String> = r.try_get(column)?;
    raw.map(T::try_from)
        .transpose()
        .with_context(|| format!("case {case}: stored {column}"))
}

/// The track column of case `case`.
pub(super) fn stored_track(text: &str, case: CaseId) -> anyhow::Result<Track> {
    serde_json::from_str(text).with_context(|| format!("case {case}: stored track"))
}

/// The state column of case `case`, typed.
pub(super) fn stored_state<R>(r: &R, case: CaseId) -> anyhow::Result<Option<CaseState>>
where
    R: sqlx::Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    let raw: Option<String> = r.try_get("state")?;
    raw.map(|s| {
        CaseState::parse(&s).ok_or_else(|| anyhow::anyhow!("case {case}: unknown state {s:?}"))
    })
    .transpose()
}

/// Creates the invoice's row when new, merges `facts` into it, and returns
/// its id. The time zone (from `source`) replaces the row's only while no
/// case is open and only with a better source: a schedule already planned
/// keeps its clock.
pub async fn upsert_case(
    tx: &mut Tx,
    facts: &CaseFacts,
    timezone: &str,
    source: ZoneSource,
    country: Option<&str>,
    now_ms: i64,
) -> anyhow::Result<CaseId> {
    const SQL: &str = "INSERT INTO cases (invoice_id, customer_id, subscription_id, \
        subscription_item_id, price_id, charge_id, payment_intent_id, customer_email, customer_name, \
        amount_due, currency, hosted_invoice_url, description, timezone, state, version, track, \
        opened_at, updated_at, amount_paid, invoice_number, timezone_source, country) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULL, 0, '{}', NULL, $15, $17, $18, $19, $21) \
        ON CONFLICT (invoice_id) DO UPDATE SET \
          subscription_id = COALESCE(excluded.subscription_id, cases.subscription_id), \
          subscription_item_id = COALESCE(excluded.subscription_item_id, cases.subscription_item_id), \
          price_id = COALESCE(excluded.price_id, cases.price_id), \
          charge_id = COALESCE(excluded.charge_id, cases.charge_id), \
          payment_intent_id = COALESCE(excluded.payment_intent_id, cases.payment_intent_id), \
          customer_email = COALESCE(excluded.customer_email, cases.customer_email), \
          customer_name = COALESCE(excluded.customer_name, cases.customer_name), \
          hosted_invoice_url = COALESCE(excluded.hosted_invoice_url, cases.hosted_invoice_url), \
          description = COALESCE(excluded.description, cases.description), \
          amount_due = CASE WHEN $16 THEN excluded.amount_due ELSE cases.amount_due END, \
          currency = CASE WHEN $16 THEN excluded.currency ELSE cases.currency END, \
          amount_paid = COALESCE(excluded.amount_paid, cases.amount_paid), \
          invoice_number = COALESCE(excluded.invoice_number, cases.invoice_number), \
          timezone = CASE WHEN cases.state IS NULL AND $20 > ( \
              CASE cases.timezone_source WHEN 'invoice_address' THEN 2 WHEN 'customer_address' THEN 2 WHEN 'card_country' THEN 1 ELSE 0 END) \
            THEN excluded.timezone ELSE cases.timezone END, \
          timezone_source = CASE WHEN cases.state IS NULL AND $20 > ( \
              CASE cases.timezone_source WHEN 'invoice_address' THEN 2 WHEN 'customer_address' THEN 2 WHEN 'card_country' THEN 1 ELSE 0 END) \
            THEN excluded.timezone_source ELSE cases.timezone_source END, \
          country = CASE WHEN cases.state IS NULL AND $20 > ( \
              CASE cases.timezone_source WHEN 'invoice_address' THEN 2 WHEN 'customer_address' THEN 2 WHEN 'card_country' THEN 1 ELSE 0 END) \
            THEN excluded.country ELSE cases.country END \
        RETURNING id";
    let id = with_tx!(tx, conn => {
        sqlx::query_scalar::<_, CaseId>(SQL)
            .bind(facts.invoice_id.as_str())
            .bind(facts.customer_id.as_str())
            .bind(facts.subscription_id.as_deref())
            .bind(facts.subscription_item_id.as_deref())
            .bind(facts.price_id.as_deref())
            .bind(facts.charge_id.as_deref())
            .bind(facts.payment_intent_id.as_deref())
            .bind(&facts.customer_email)
            .bind(&facts.customer_name)
            .bind(facts.amount_due)
            .bind(&facts.currency)
            .bind(&facts.hosted_invoice_url)
            .bind(&facts.description)
            .bind(timezone)
            .bind(now_ms)
            .bind(facts.from_invoice)
            .bind(facts.amount_paid)
            .bind(&facts.invoice_number)
            .bind(source.as_str())
            .bind(i32::from(source.rank()))
            .bind(country)
            .fetch_one(conn)
            .await?
    });
    Ok(id)
}

/// Moves a case to the clock of `country` (from `source`): the planner's
/// time zone and pay cycles. Only the caller knows it is still allowed.
pub async fn relocate(
    tx: &mut Tx,
    id: CaseId,
    timezone: &str,
    source: ZoneSource,
    country: &str,
) -> anyhow::Result<()> {
    with_tx!(tx, conn => {
        sqlx::query("UPDATE cases SET timezone = $1, timezone_source = $2, country = $3 WHERE id = $4")
            .bind(timezone)
            .bind(source.as_str())
            .bind(country)
            .bind(id)
            .execute(conn)
            .await?;
    });
    Ok(())
}

/// The attempts (unix ms, since `since`) on the cards of the customer's
/// other live cases opened up to 30 days before `since` (a case opened
/// earlier may still be charging the card inside the span): each
/// subscription's invoice is a case of its own, but the card they are
/// charged to is one.
pub async fn other_live_attempts(
    tx: &mut Tx,
    customer_id: &str,
    except: CaseId,
    since: i64,
) -> anyhow::Result<Vec<i64>> {
    let tracks: Vec<String> = with_tx!(tx, conn => {
        sqlx::query_scalar(
            "SELECT track FROM cases WHERE customer_id = $1 AND id <> $2 AND opened_at >= $3 \
             AND state IN ('open', 'retrying', 'awaiting_customer', 'paused')",
        )
        .bind(customer_id)
        .bind(except)
        .bind(since - 30 * 86_400_000)
        .fetch_all(conn)
        .await?
    });
    let mut attempts = Vec::new();
    for text in tracks {
        let track: crate::domain::case::Track = serde_json::from_str(&text)?;
        if let Some(case) = track.case {
            attempts.extend(
                case.attempts
                    .iter()
                    .map(|a| a.at.timestamp_millis())
                    .filter(|at| *at >= since),
            );
        }
    }
    attempts.sort_unstable();
    Ok(attempts)
}

/// Flags the case for the operator (`Some(why)`: work was given up) or
/// clears the flag (`None`: work is planned again).
pub async fn flag_attention(tx: &mut Tx, id: CaseId, why: Option<&str>) -> anyhow::Result<()> {
    with_tx!(tx, conn => {
        sqlx::query("UPDATE cases SET needs_attention = $1 WHERE id = $2")
            .bind(why)
            .bind(id)
            .execute(conn)
            .await?;
    });
    Ok(())
}

/// The case row, locked for the rest of the transaction.
pub async fn lock_case(tx: &mut Tx, id: CaseId) -> anyhow::Result<Option<CaseRow>> {
    let sql = format!(
        "SELECT {CASE_COLUMNS} FROM cases WHERE id = $1{}",
        tx.lock_clause()
    );
    let row = with_tx!(tx, conn => {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await? {
            Some(r) => Some(case_from_row!(r)),
            None => None,
        }
    });
    Ok(row)
}

/// Cases with a case opened (state set) that `link` points at.
pub async fn cases_linked(tx: &mut Tx, link: CaseLink, value: &str) -> anyhow::Result<Vec<CaseId>> {
    let sql = match link {
        CaseLink::Customer => {
            "SELECT id FROM cases WHERE customer_id = $1 AND state IS NOT NULL ORDER BY id"
        }
        CaseLink::Subscription => {
            "SELECT id FROM cases WHERE subscription_id = $1 AND state IS NOT NULL ORDER BY id"
        }
        CaseLink::Charge => "SELECT id FROM cases WHERE charge_id = $1 ORDER BY id",
        CaseLink::PaymentIntent => "SELECT id FROM cases WHERE payment_intent_id = $1 ORDER BY id",
    };
    let ids = with_tx!(tx, conn => {
        sqlx::query_scalar::<_, CaseId>(sql).bind(value).fetch_all(conn).await?
    });
    Ok(ids)
}

pub async fn save_track(
    tx: &mut Tx,
    id: CaseId,
    track: &Track,
    opened_at: Option<i64>,
    policy_version: Option<i64>,
    now_ms: i64,
) -> anyhow::Result<()> {
    // No case opened (the invoice was settled before it ever failed): no state.
    let case = track.case.as_ref();
    let state = case.map(|c| c.state.as_str());
    let ended = case.is_some_and(|c| c.state.is_terminal());
    let cause = case.and_then(|c| c.cause.as_ref().or(c.latest.as_ref()));
    let recovered_by = case.and_then(|c| c.recovered_by).map(|r| r.as_str());
    let recovered_on_retry = case
        .and_then(|c| c.recovered_on_retry)
        .map(i32::try_from)
        .transpose()?;
    let json = serde_json::to_string(track)?;
    with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE cases SET state = $1, track = $2, opened_at = $3, updated_at = $4, \
             version = version + 1, decline_category = $6, decline_code = $7, \
             recovered_by = $8, recovered_on_retry = $9, \
             ended_at = CASE WHEN $10 THEN COALESCE(ended_at, $4) END, \
             policy_version = COALESCE($11, policy_version) WHERE id = $5",
        )
        .bind(state)
        .bind(&json)
        .bind(opened_at)
        .bind(now_ms)
        .bind(id)
        .bind(cause.map(|c| c.category.as_str()))
        .bind(cause.map(|c| c.code.as_str()))
        .bind(recovered_by)
        .bind(recovered_on_retry)
        .bind(ended)
        .bind(policy_version)
        .execute(conn)
        .await?;
    });
    Ok(())
}

pub async fn add_timeline(
    tx: &mut Tx,
    case_id: CaseId,
    at_ms: i64,
    kind: &str,
    detail: &serde_json::Value,
) -> anyhow::Result<()> {
    add_timelines(tx, case_id, &[(at_ms, kind, detail.clone())]).await
}

/// Adds timeline entries `(at, kind, detail)`, in order, in one statement.
pub async fn add_timelines(
    tx: &mut Tx,
    case_id: CaseId,
    entries: &[(i64, &str, serde_json::Value)],
) -> anyhow::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..entries.len())
        .map(|i| format!("($1, ${}, ${}, ${})", i * 3 + 2, i * 3 + 3, i * 3 + 4))
        .collect();
    let sql = format!(
        "INSERT INTO case_timeline (case_id, at, kind, detail) VALUES {}",
        rows.join(", ")
    );
    let details: Vec<String> = entries.iter().map(|(_, _, d)| d.to_string()).collect();
    with_tx!(tx, conn => {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(case_id);
        for ((at, kind, _), detail) in entries.iter().zip(&details) {
            query = query.bind(*at).bind(*kind).bind(detail);
        }
        query.execute(conn).await?;
    });
    Ok(())
}

/// Remembers a successful payment (once per invoice).
pub async fn record_payment(
    tx: &mut Tx,
    invoice_id: &str,
    customer_id: &str,
    paid_at_ms: i64,
) -> anyhow::Result<()> {
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO customer_payments (invoice_id, customer_id, paid_at) VALUES ($1, $2, $3) \
             ON CONFLICT (invoice_id) DO NOTHING",
        )
        .bind(invoice_id)
        .bind(customer_id)
        .bind(paid_at_ms)
        .execute(conn)
        .await?;
    });
    Ok(())
}

/// The customer's latest successful payments (unix ms), oldest first.
pub async fn payments_of(tx: &mut Tx, customer_id: &str) -> anyhow::Result<Vec<i64>> {
    let mut paid = with_tx!(tx, conn => {
        sqlx::query_scalar::<_, i64>(
            "SELECT paid_at FROM customer_payments WHERE customer_id = $1 ORDER BY paid_at DESC LIMIT 24",
        )
        .bind(customer_id)
        .fetch_all(conn)
        .await?
    });
    paid.reverse();
    Ok(paid)
}

impl Store {
    pub async fn case_by_id(&self, id: CaseId) -> anyhow::Result<Option<CaseRow>> {
        let sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = $1");
        let row = with_pool!(self, pool => {
            match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await? {
                Some(r) => Some(case_from_row!(r)),
                None => None,
            }
        });
        Ok(row)
    }

    pub async fn case_by_invoice(&self, invoice_id: &str) -> anyhow::Result<Option<CaseRow>> {
        let sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE invoice_id = $1");
        let row = with_pool!(self, pool => {
            match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(invoice_id).fetch_optional(pool).await? {
                Some(r) => Some(case_from_row!(r)),
                None => None,
            }
        });
        Ok(row)
    }

    /// Cases that have been opened, newest first.
    pub async fn list_cases(&self, limit: i64) -> anyhow::Result<Vec<CaseRow>> {
        self.select_cases("state IS NOT NULL ORDER BY id DESC", limit)
            .await
    }

    /// Cases whose work was given up (`needs_attention`), latest change
    /// first: what the operator must look at.
    pub async fn cases_needing_attention(&self, limit: i64) -> anyhow::Result<Vec<CaseRow>> {
        self.select_cases(
            "needs_attention IS NOT NULL ORDER BY updated_at DESC",
            limit,
        )
        .await
    }

    /// Up to `limit` cases `WHERE {filter}` (a fixed clause of ours).
    async fn select_cases(&self, filter: &str, limit: i64) -> anyhow::Result<Vec<CaseRow>> {
        let sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE {filter} LIMIT $1");
        let rows = with_pool!(self, pool => {
            let mut out = Vec::new();
            for r in sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(pool).await? {
                out.push(case_from_row!(r));
            }
            out
        });
        Ok(rows)
    }

    pub async fn timeline(&self, case_id: CaseId) -> anyhow::Result<Vec<TimelineEntry>> {
        let rows = with_pool!(self, pool => {
            let mut out = Vec::new();
            for r in sqlx::query("SELECT at, kind, detail FROM case_timeline WHERE case_id = $1 ORDER BY id")
                .bind(case_id)
                .fetch_all(pool)
                .await?
            {
                let detail: String = r.try_get("detail")?;
                out.push(TimelineEntry {
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    detail: serde_json::from_str(&detail)?,
                });
            }
            out
        });
        Ok(rows)
    }
}

/// The customer's live case for this amount, opened since `since_ms`, whose
/// charge is not known yet: where an invoice-less failure belongs.
pub async fn case_for_failure(
    tx: &mut Tx,
    failure: &PaymentFailure,
    since_ms: i64,
) -> anyhow::Result<Option<CaseId>> {
    let id = with_tx!(tx, conn => {
        sqlx::query_scalar::<_, CaseId>(
            "SELECT id FROM cases WHERE customer_id = $1 AND amount_due = $2 AND currency = $3 \
             AND state IN ('open', 'retrying', 'awaiting_customer') AND opened_at >= $4 \
             AND charge_id IS NULL AND payment_intent_id IS NULL \
             ORDER BY opened_at DESC LIMIT 1",
        )
        .bind(failure.customer_id.as_str())
        .bind(failure.amount)
        .bind(&failure.currency)
        .bind(since_ms)
        .fetch_optional(conn)
        .await?
    });
    Ok(id)
}

/// Records which charge / payment intent a case's invoice was tried with.
pub async fn link_payment(
    tx: &mut Tx,
    case_id: CaseId,
    charge_id: Option<&str>,
    payment_intent_id: Option<&str>,
) -> anyhow::Result<()> {
    with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE cases SET charge_id = COALESCE(charge_id, $2), \
             payment_intent_id = COALESCE(payment_intent_id, $3) WHERE id = $1",
        )
        .bind(case_id)
        .bind(charge_id)
        .bind(payment_intent_id)
        .execute(conn)
        .await?;
    });
    Ok(())
}

pub async fn keep_failure(tx: &mut Tx, failure: &PaymentFailure) -> anyhow::Result<()> {
    let decline = serde_json::to_string(&failure.decline)?;
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO payment_failures (customer_id, charge_id, payment_intent_id, amount, \
             currency, decline, event_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(failure.customer_id.as_str())
        .bind(failure.charge_id.as_deref())
        .bind(failure.payment_intent_id.as_deref())
        .bind(failure.amount)
        .bind(&failure.currency)
        .bind(&decline)
        .bind(&failure.event_id)
        .bind(failure.at)
        .execute(conn)
        .await?;
    });
    Ok(())
}

/// Gives the case the unclaimed failures of its customer for its amount
/// since `since_ms`.
pub async fn claim_failures(
    tx: &mut Tx,
    case: &CaseRow,
    since_ms: i64,
) -> anyhow::Result<Vec<PaymentFailure>> {
    let rows = with_tx!(tx, conn => {
        let mut out = Vec::new();
        for r in sqlx::query(
            "UPDATE payment_failures SET case_id = $1 \
             WHERE case_id IS NULL AND customer_id = $2 AND amount = $3 AND currency = $4 AND at >= $5 \
             RETURNING customer_id, charge_id, payment_intent_id, amount, currency, decline, event_id, at",
        )
        .bind(case.id)
        .bind(case.customer_id.as_str())
        .bind(case.amount_due)
        .bind(&case.currency)
        .bind(since_ms)
        .fetch_all(conn)
        .await?
        {
            let decline: String = r.try_get("decline")?;
            out.push(PaymentFailure {
                customer_id: stored_id(&r, case.id, "customer_id")?,
                charge_id: stored_id_opt(&r, case.id, "charge_id")?,
                payment_intent_id: stored_id_opt(&r, case.id, "payment_intent_id")?,
                amount: r.try_get("amount")?,
                currency: r.try_get("currency")?,
                decline: serde_json::from_str(&decline)?,
                event_id: r.try_get("event_id")?,
                at: r.try_get("at")?,
            });
        }
        out
    });
    Ok(rows)
}
