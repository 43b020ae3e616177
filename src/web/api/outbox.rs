//! `GET /api/outbox?case=&before=&limit=`: the emails dunwell wrote, newest
//! first, rendered (subject, text and HTML) with their delivery status.

use crate::domain::ids::CaseId;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::cases::MAX_PAGE;
use super::error::{ApiError, ErrorBody};
use super::views::instant;
use crate::state::AppState;
use crate::store::mail::OutboxMail;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxParams {
    /// Only this case's emails.
    #[param(minimum = 1)]
    pub case: Option<i64>,
    /// Only emails older than this one (the previous page's `next_before`).
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// 1 to 200; 20 when not given.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Email<'a> {
    id: i64,
    case_id: i64,
    kind: &'a str,
    stage: i32,
    recipient: Option<&'a str>,
    status: &'a str,
    error: Option<&'a str>,
    created_at: String,
    sent_at: Option<String>,
    subject: &'a str,
    text: &'a str,
    html: &'a str,
}

impl<'a> From<&'a OutboxMail> for Email<'a> {
    fn from(m: &'a OutboxMail) -> Self {
        Self {
            id: m.id,
            case_id: m.case_id.get(),
            kind: &m.kind,
            stage: m.stage,
            recipient: m.recipient.as_deref(),
            status: &m.status,
            error: m.error.as_deref(),
            created_at: instant(m.created_at),
            sent_at: m.sent_at.map(instant),
            subject: &m.subject,
            text: &m.body_text,
            html: &m.body_html,
        }
    }
}

/// One page of emails.
#[derive(Debug, Serialize, ToSchema)]
pub struct Emails<'a> {
    pub emails: Vec<Email<'a>>,
    /// Pass as `before` for the next page; null on the last.
    pub next_before: Option<i64>,
}

/// The emails dunwell wrote, newest first, rendered.
#[utoipa::path(get, path = "/api/outbox", tag = "emails", operation_id = "list_outbox", params(OutboxParams),
    responses((status = 200, body = Emails), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    params: web::Query<OutboxParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = params.limit.unwrap_or(20);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit: from 1 to {MAX_PAGE}, got {limit}"
        )));
    }
    if params.case.is_some_and(|c| c < 1) || params.before.is_some_and(|b| b < 1) {
        return Err(ApiError::bad_request("case, before: ids are 1 or more"));
    }
    let mut mails = state
        .store
        .outbox_page(params.case.map(CaseId::new), params.before, limit + 1)
        .await?;
    let more = mails.len() as i64 > limit;
    mails.truncate(limit as usize);
    let next = mails.last().filter(|_| more).map(|m| m.id);
    let emails: Vec<Email<'_>> = mails.iter().map(Email::from).collect();
    Ok(HttpResponse::Ok().json(Emails {
        emails,
        next_before: next,
    }))
}
