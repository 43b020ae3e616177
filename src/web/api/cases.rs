//! `GET /api/cases` (filtered, newest first, in pages), `GET /api/cases/{id}`
//! (the case, its planned work, its timeline) and
//! `POST /api/cases/{id}/pause|resume|close|retry-now`.

use crate::domain::ids::CaseId;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::params::{cursor, cursor_of, instant};
use super::views::{CaseDetail, CaseSummary, Line, PlannedWork};
use crate::domain::case::CaseState;
use crate::domain::decline::DeclineCategory;
use crate::engine::operator_actions::{ActOutcome, OperatorAction, act};
use crate::state::AppState;
use crate::store::reports::CaseQuery;

/// The most cases one page holds.
pub const MAX_PAGE: i64 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
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
    /// The previous page's `next_cursor`.
    #[param(pattern = "^[0-9]{1,15}\\.[0-9]{1,15}$")]
    pub cursor: Option<String>,
    /// 1 to 200; 50 when not given.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// One page of cases.
#[derive(Debug, Serialize, ToSchema)]
pub struct CasesPage {
    pub cases: Vec<CaseSummary>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// An action carried out, and the case after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionDone {
    pub case: CaseSummary,
    pub action: String,
}

impl ListParams {
    /// The store's query, every value checked.
    pub fn query(&self) -> Result<CaseQuery, ApiError> {
        if let Some(state) = &self.state
            && CaseState::parse(state).is_none()
        {
            let known: Vec<&str> = CaseState::ALL.iter().map(|s| s.as_str()).collect();
            return Err(ApiError::bad_request(format!(
                "state: one of {}, got {state:?}",
                known.join(", ")
            )));
        }
        if let Some(category) = &self.category
            && DeclineCategory::parse(category).is_none()
        {
            return Err(ApiError::bad_request(format!(
                "category: one of hard, funds, transient, customer_action, got {category:?}"
            )));
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

/// The cases, filtered, newest first.
#[utoipa::path(get, path = "/api/cases", tag = "cases", operation_id = "list_cases", params(ListParams),
    responses((status = 200, body = CasesPage), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
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
        .map(|c| cursor_of(c.opened_at.unwrap_or_default(), c.id.get()));
    let cases: Vec<CaseSummary> = rows.iter().map(CaseSummary::from).collect();
    Ok(HttpResponse::Ok().json(CasesPage {
        cases,
        next_cursor: next,
    }))
}

fn case_id(raw: &str) -> Result<CaseId, ApiError> {
    raw.parse()
        .map(CaseId::new)
        .map_err(|_| ApiError::not_found(format!("no case {raw:?}")))
}

/// One case: its facts, planned work and whole timeline.
#[utoipa::path(get, path = "/api/cases/{id}", tag = "cases", operation_id = "show_case",
    params(("id" = i64, Path, minimum = 1, description = "The case's id")),
    responses((status = 200, body = CaseDetail), (status = 400, body = ErrorBody),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
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
        subscription_id: case.subscription_id.as_deref().map(str::to_owned),
        price_id: case.price_id.as_deref().map(str::to_owned),
        hosted_invoice_url: case.hosted_invoice_url.clone(),
        description: case.description.clone(),
        timezone: case.timezone.clone(),
        timezone_source: case
            .timezone_source
            .clone()
            .unwrap_or_else(|| "policy_default".into()),
        latest_decline: latest,
        work: work.iter().map(PlannedWork::from).collect(),
        timeline: timeline.iter().map(Line::from).collect(),
    };
    Ok(HttpResponse::Ok().json(detail))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActBody {
    /// Why, for the timeline.
    pub note: Option<String>,
}

/// The operator's action on a case, written on its timeline.
#[utoipa::path(post, path = "/api/cases/{id}/{action}", tag = "cases", operation_id = "act_on_case",
    params(("id" = i64, Path, minimum = 1, description = "The case's id"),
           ("action" = String, Path, pattern = "^(pause|resume|close|retry-now)$", description = "pause, resume, close or retry-now")),
    request_body(content = Option<ActBody>, description = "Why, for the timeline"),
    responses((status = 200, body = ActionDone),
              (status = 409, description = "The case cannot follow it now; nothing changed", body = ErrorBody),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn action(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (id, action) = path.into_inner();
    let id = case_id(&id)?;
    let Some(action) = OperatorAction::parse(&action) else {
        return Err(ApiError::not_found(format!(
            "no action {action:?}: pause, resume, close or retry-now"
        )));
    };
    // The body is optional; when given it is read strictly (an unknown
    // key or a wrong type is refused, not ignored).
    let note = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<Option<ActBody>>(&body)
            .map_err(|e| ApiError::bad_request(format!("body: {e}")))?
            .and_then(|b| b.note)
    };
    match act(&state.engine, id, action, "operator", note.as_deref()).await? {
        ActOutcome::Done(case) => Ok(HttpResponse::Ok().json(ActionDone {
            case: CaseSummary::from(case.as_ref()),
            action: action.as_str().to_owned(),
        })),
        ActOutcome::Refused(why) => Err(ApiError::conflict(why)),
        ActOutcome::NoSuchCase => Err(ApiError::not_found(format!("no case {id}"))),
    }
}
