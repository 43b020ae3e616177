//! `GET /api/cases.csv`: every case the list's filters select, as CSV for a
//! spreadsheet, streamed page by page (any number of cases, little memory).
//! Cells a spreadsheet would run as a formula are defused.

use actix_web::{HttpResponse, web};
use futures_util::stream;

use super::cases::ListParams;
use super::error::ApiError;
use super::views::CaseSummary;
use crate::state::AppState;
use crate::store::Store;
use crate::store::reports::CaseQuery;

/// Cases read per page of the export.
const PAGE: i64 = 1000;

const HEADER: &str = "id,invoice_id,invoice_number,customer_id,customer_email,customer_name,\
state,currency,amount,amount_paid,decline_category,decline_code,retries_made,recovered_by,\
recovered_on_retry,opened_at,ended_at,needs_attention\r\n";

/// One CSV cell (RFC 4180 quoting; a leading `=`, `+`, `-`, `@` gets a `'`
/// so no spreadsheet takes a customer's name for a formula).
fn cell(value: &str) -> String {
    let value = match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_owned(),
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn row(c: &CaseSummary) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let paid = c
        .amount_paid
        .map(|p| crate::domain::stats::major(p, &c.currency))
        .unwrap_or_default();
    let cells = [
        c.id.to_string(),
        c.invoice_id.clone(),
        opt(&c.invoice_number),
        c.customer_id.clone(),
        opt(&c.customer_email),
        opt(&c.customer_name),
        opt(&c.state),
        c.currency.clone(),
        c.amount.clone(),
        paid,
        opt(&c.decline_category),
        opt(&c.decline_code),
        c.retries_made.to_string(),
        opt(&c.recovered_by),
        c.recovered_on_retry
            .map(|n| n.to_string())
            .unwrap_or_default(),
        opt(&c.opened_at),
        opt(&c.ended_at),
        opt(&c.needs_attention),
    ];
    let mut line: String = cells.iter().map(|v| cell(v)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

enum Next {
    Header(CaseQuery),
    Page(CaseQuery),
    Done,
}

/// The next chunk of the file.
async fn chunk(store: &Store, next: Next) -> Option<(Result<web::Bytes, actix_web::Error>, Next)> {
    match next {
        Next::Header(q) => Some((
            Ok(web::Bytes::from_static(HEADER.as_bytes())),
            Next::Page(q),
        )),
        Next::Page(q) => match store.find_cases(&q).await {
            Ok(rows) if rows.is_empty() => None,
            Ok(rows) => {
                let text: String = rows.iter().map(|c| row(&CaseSummary::from(c))).collect();
                let next = match rows.last() {
                    Some(last) if rows.len() as i64 == q.limit => Next::Page(CaseQuery {
                        after: Some((last.opened_at.unwrap_or_default(), last.id.get())),
                        ..q
                    }),
                    _ => Next::Done,
                };
                Some((Ok(web::Bytes::from(text)), next))
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "CSV export failed mid-way");
                Some((
                    Err(actix_web::error::ErrorInternalServerError("export failed")),
                    Next::Done,
                ))
            }
        },
        Next::Done => None,
    }
}

/// The list's filters (the export has every case they select: no pages).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// open, retrying, awaiting_customer, paused, recovered, canceled, downgraded, closed
    #[param(
        pattern = "^(open|retrying|awaiting_customer|paused|recovered|canceled|downgraded|closed)$"
    )]
    pub state: Option<String>,
    /// The processor's customer id (`cus_…`).
    pub customer: Option<String>,
    /// The processor's invoice id (`in_…`).
    pub invoice: Option<String>,
    pub email: Option<String>,
    /// hard, funds, transient, customer_action
    #[param(pattern = "^(hard|funds|transient|customer_action)$")]
    pub category: Option<String>,
    /// The decline code (`insufficient_funds`…).
    pub code: Option<String>,
    /// Opened at or after: a date (2026-03-01) or an RFC 3339 time.
    #[param(format = DateTime)]
    pub opened_from: Option<String>,
    /// Opened before.
    #[param(format = DateTime)]
    pub opened_to: Option<String>,
}

/// Every case the list's filters select, as CSV.
#[utoipa::path(get, path = "/api/cases.csv", tag = "cases", operation_id = "export_cases_csv", params(ExportParams),
    responses((status = 200, description = "text/csv, one line per case", content_type = "text/csv", body = String),
              (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody)))]
pub async fn csv(
    state: web::Data<AppState>,
    params: web::Query<ExportParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let list = ListParams {
        state: p.state,
        customer: p.customer,
        invoice: p.invoice,
        email: p.email,
        category: p.category,
        code: p.code,
        opened_from: p.opened_from,
        opened_to: p.opened_to,
        cursor: None,
        limit: None,
    };
    let query = CaseQuery {
        limit: PAGE,
        ..list.query()?
    };
    let store = state.store.clone();
    let body = stream::unfold(Next::Header(query), move |next| {
        let store = store.clone();
        async move { chunk(&store, next).await }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"dunwell-cases.csv\"",
        ))
        .insert_header(("Cache-Control", "no-store"))
        .streaming(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("Rivera, Jamie"), "\"Rivera, Jamie\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("-49"), "'-49");
    }
}
