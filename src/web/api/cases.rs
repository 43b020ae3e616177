//! `GET /api/cases` (filtered, newest first, in pages), `GET /api/cases/{id}`
//! (the case, its planned work, its timeline) and
//! `POST /api/cases/{id}/pause|resume|close|retry-now`.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::params::{cursor, cursor_of, instant};
use super::views::{CaseDetail, CaseSummary, Line, PlannedWork};
use crate::domain::case::CaseState;
use crate::domain::decline::DeclineCategory;
use crate::engine::operator_actions::{ActOutcome, OperatorAction, act};
use crate::state::AppState;
use crate::store::reports::CaseQuery;

/// The most cases one page holds.
pub const MAX_PAGE: i64 = 200;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    pub state: Option<String>,
    pub customer: Option<String>,
    pub invoice: Option<String>,
    pub email: Option<String>,
    pub category: Option<String>,
    pub code: Option<String>,
    pub opened_from: Option<String>,
    pub opened_to: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

impl ListParams {
    /// The store's query, every value checked.
    pub fn query(&self) -> Result<CaseQuery, ApiError> {
        if let Some(state) = &self.state {
            if CaseState::parse(state).is_none() {
                let known: Vec<&str> = CaseState::ALL.iter().map(|s| s.as_str()).collect();
                return Err(ApiError::bad_request(format!(
                    "state: one of {}, got {state:?}",
                    known.join(", ")
                )));
            }
        }
        if let Some(category) = &self.category {
            if DeclineCategory::parse(category).is_none() {
                return Err(ApiError::bad_request(format!(
                    "category: one of hard, funds, transient, customer_action, got {category:?}"
                )));
            }
        }
        let limit = self.limit.unwrap_or(50);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::bad_request(format!(
                "limit: from 1 to {MAX_PAGE}, got {limit}"
            )));
        }
        Ok(CaseQuery {
            state: self.state.clone(),
            customer_id: self.customer.clone(),
            invoice_id: self.invoice.clone(),
            email: self.email.clone(),
            category: self.category.clone(),
            code: self.code.clone(),
            opened_from: self
                .opened_from
                .as_deref()
                .map(|v| instant("opened_from", v))
                .transpose()?,
            opened_to: self
                .opened_to
                .as_deref()
                .map(|v| instant("opened_to", v))
                .transpose()?,
            after: self.cursor.as_deref().map(cursor).transpose()?,
            limit,
        })
    }
}

/// `GET /api/cases`.
pub async fn list(
    state: web::Data<AppState>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let query = params.query()?;
    // One more than asked: whether another page follows.
    let mut rows = state
        .store
        .find_cases(&CaseQuery {
            limit: query.limit + 1,
            ..query.clone()
        })
        .await?;
    let more = rows.len() as i64 > query.limit;
    rows.truncate(query.limit as usize);
    let next = rows
        .last()
        .filter(|_| more)
        .map(|c| cursor_of(c.opened_at.unwrap_or_default(), c.id));
    let cases: Vec<CaseSummary> = rows.iter().map(CaseSummary::from).collect();
    Ok(HttpResponse::Ok().json(json!({ "cases": cases, "next_cursor": next })))
}

fn case_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("no case {raw:?}")))
}

/// `GET /api/cases/{id}`.
pub async fn show(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = case_id(&id)?;
    let store = &state.store;
    let Some(case) = store.case_by_id(id).await?.filter(|c| c.state.is_some()) else {
        return Err(ApiError::not_found(format!("no case {id}")));
    };
    let work = store.work_of(id).await?;
    let timeline = store.timeline(id).await?;
    let latest = case
        .track
        .case
        .as_ref()
        .and_then(|c| c.latest.as_ref())
        .map(serde_json::to_value)
        .transpose()
        .map_err(anyhow::Error::from)?;
    let detail = CaseDetail {
        summary: CaseSummary::from(&case),
        subscription_id: case.subscription_id.clone(),
        price_id: case.price_id.clone(),
        hosted_invoice_url: case.hosted_invoice_url.clone(),
        description: case.description.clone(),
        timezone: case.timezone.clone(),
        latest_decline: latest,
        work: work.iter().map(PlannedWork::from).collect(),
        timeline: timeline.iter().map(Line::from).collect(),
    };
    Ok(HttpResponse::Ok().json(detail))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActBody {
    /// Why, for the timeline.
    pub note: Option<String>,
}

/// `POST /api/cases/{id}/{action}`.
pub async fn action(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: Option<web::Json<ActBody>>,
) -> Result<HttpResponse, ApiError> {
    let (id, action) = path.into_inner();
    let id = case_id(&id)?;
    let Some(action) = OperatorAction::parse(&action) else {
        return Err(ApiError::not_found(format!(
            "no action {action:?}: pause, resume, close or retry-now"
        )));
    };
    let note = body.and_then(|b| b.into_inner().note);
    match act(&state.engine, id, action, "operator", note.as_deref()).await? {
        ActOutcome::Done(case) => Ok(HttpResponse::Ok().json(json!({
            "case": CaseSummary::from(case.as_ref()),
            "action": action.as_str(),
        }))),
        ActOutcome::Refused(why) => Err(ApiError::conflict(why)),
        ActOutcome::NoSuchCase => Err(ApiError::not_found(format!("no case {id}"))),
    }
}
