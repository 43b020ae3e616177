//! `GET /admin/outbox`: the emails dunwell wrote, newest first (of one case
//! with `?case=`), their text inline and their HTML on a page of its own.

use crate::domain::ids::CaseId;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Frame, page, when};
use crate::state::AppState;
use crate::web::api::error::ApiError;

const PAGE: i64 = 20;

struct Listed {
    id: i64,
    case_id: CaseId,
    kind: String,
    to: String,
    status: String,
    error: Option<String>,
    at: String,
    subject: String,
    text: String,
}

#[derive(Template)]
#[template(path = "admin/outbox.html")]
struct OutboxPage {
    f: Frame,
    case: Option<i64>,
    emails: Vec<Listed>,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct OutboxParams {
    case: Option<i64>,
    before: Option<i64>,
}

pub async fn list(
    state: web::Data<AppState>,
    params: web::Query<OutboxParams>,
) -> Result<HttpResponse, ApiError> {
    let mut mails = state
        .store
        .outbox_page(params.case.map(CaseId::new), params.before, PAGE + 1)
        .await?;
    let more = mails.len() as i64 > PAGE;
    mails.truncate(PAGE as usize);
    let next = mails.last().filter(|_| more).map(|m| match params.case {
        Some(case) => format!("/admin/outbox?case={case}&before={}", m.id),
        None => format!("/admin/outbox?before={}", m.id),
    });
    let emails = mails
        .into_iter()
        .map(|m| Listed {
            id: m.id,
            case_id: m.case_id,
            kind: m.kind.replace('_', " "),
            to: m.recipient.unwrap_or_else(|| "(no address)".into()),
            status: m.status,
            error: m.error,
            at: when(m.created_at),
            subject: m.subject,
            text: m.body_text,
        })
        .collect();
    let body = OutboxPage {
        f: Frame::new(&state, "outbox"),
        case: params.case,
        emails,
        next,
    }
    .render();
    Ok(page(StatusCode::OK, body))
}

/// The email's HTML as the customer's mail program shows it: on its own,
/// with no script and nothing fetched but https images.
pub async fn html(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let Some(mail) = state.store.outbox_mail(*id).await? else {
        return Err(ApiError::not_found(format!("no email {id}")));
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; sandbox; frame-ancestors 'none'",
        ))
        .body(mail.body_html))
}
