//! How cases read in the API's JSON.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::stats::major;
use crate::store::cases::{CaseRow, TimelineEntry};
use crate::store::work::WorkRow;

/// Unix ms (engine clock) as RFC 3339.
pub fn instant(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseSummary {
    pub id: i64,
    pub invoice_id: String,
    pub invoice_number: Option<String>,
    pub customer_id: String,
    pub customer_email: Option<String>,
    pub customer_name: Option<String>,
    pub state: Option<String>,
    pub currency: String,
    /// What was owed, minor units.
    pub amount_due: i64,
    /// What the payment took, once paid.
    pub amount_paid: Option<i64>,
    /// `amount_due` in the currency's major unit ("49.00").
    pub amount: String,
    pub decline_category: Option<String>,
    pub decline_code: Option<String>,
    pub retries_made: u32,
    pub recovered_by: Option<String>,
    pub recovered_on_retry: Option<u32>,
    pub needs_attention: Option<String>,
    pub opened_at: Option<String>,
    pub ended_at: Option<String>,
    pub updated_at: String,
}

impl From<&CaseRow> for CaseSummary {
    fn from(c: &CaseRow) -> Self {
        let case = c.track.case.as_ref();
        let cause = case.and_then(|k| k.cause.as_ref().or(k.latest.as_ref()));
        Self {
            id: c.id.get(),
            invoice_id: c.invoice_id.to_string(),
            invoice_number: c.invoice_number.clone(),
            customer_id: c.customer_id.to_string(),
            customer_email: c.customer_email.clone(),
            customer_name: c.customer_name.clone(),
            state: c.state.map(|s| s.as_str().to_owned()),
            currency: c.currency.clone(),
            amount_due: c.amount_due,
            amount_paid: c.amount_paid,
            amount: major(c.amount_due, &c.currency),
            decline_category: cause.map(|d| d.category.as_str().to_owned()),
            decline_code: cause.map(|d| d.code.clone()),
            retries_made: case.map_or(0, |k| k.retries_made),
            recovered_by: case
                .and_then(|k| k.recovered_by)
                .map(|r| r.as_str().to_owned()),
            recovered_on_retry: case.and_then(|k| k.recovered_on_retry),
            needs_attention: c.needs_attention.clone(),
            opened_at: c.opened_at.map(instant),
            ended_at: c.ended_at.map(instant),
            updated_at: instant(c.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlannedWork {
    pub kind: &'static str,
    pub key: String,
    pub due_at: String,
    pub status: &'static str,
    /// Processor failures so far (not the customer's attempts).
    pub tries: i32,
    pub result: Option<String>,
    #[schema(value_type = Object)]
    pub detail: Value,
}

impl From<&WorkRow> for PlannedWork {
    fn from(w: &WorkRow) -> Self {
        Self {
            kind: w.work.kind(),
            key: w.key.clone(),
            due_at: instant(w.due_at),
            status: w.status.as_str(),
            tries: w.tries,
            result: w.result.clone(),
            detail: w.work.detail(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Line {
    pub at: String,
    pub kind: String,
    #[schema(value_type = Object)]
    pub detail: Value,
}

impl From<&TimelineEntry> for Line {
    fn from(t: &TimelineEntry) -> Self {
        Self {
            at: instant(t.at),
            kind: t.kind.clone(),
            detail: t.detail.clone(),
        }
    }
}

/// One case in full: the case, its planned work, its timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseDetail {
    #[serde(flatten)]
    pub summary: CaseSummary,
    pub subscription_id: Option<String>,
    pub price_id: Option<String>,
    pub hosted_invoice_url: Option<String>,
    pub description: Option<String>,
    pub timezone: String,
    /// Where the time zone came from: invoice_address, card_country or
    /// policy_default.
    pub timezone_source: String,
    /// The latest refusal as classified (category, code, why), if any.
    #[schema(value_type = Option<Object>)]
    pub latest_decline: Option<Value>,
    pub work: Vec<PlannedWork>,
    pub timeline: Vec<Line>,
}
