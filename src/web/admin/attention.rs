//! `GET /admin/attention`: what needs the operator — cases whose work was
//! given up, events for `DUNWELL_NOTIFY_URL` given up after their last try
//! (each with a Replay button, and one for all), processor events parked
//! because they could not be handled. `POST /admin/events/{id}/replay` and
//! `POST /admin/events/replay` send given-up events again (as the API's
//! replays do), then come back here.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{Frame, page, see_other, when};
use crate::state::AppState;
use crate::store::attention::AttentionCounts;
use crate::web::api::error::ApiError;

/// How many of each the page lists.
const SHOWN: i64 = 50;

struct FlaggedCase {
    id: i64,
    invoice: String,
    customer: String,
    why: String,
    at: String,
}

struct GivenUp {
    id: i64,
    case_id: i64,
    kind: &'static str,
    sequence: String,
    error: String,
    at: String,
}

struct Parked {
    event_id: String,
    event_type: String,
    outcome: String,
    error: String,
    at: String,
}

#[derive(Template)]
#[template(path = "admin/attention.html")]
struct AttentionPage {
    f: Frame,
    counts: AttentionCounts,
    cases: Vec<FlaggedCase>,
    given_up: Vec<GivenUp>,
    parked: Vec<Parked>,
    replayed: Option<usize>,
    /// "10 tries over about 2.9 days".
    tries: String,
}

#[derive(Debug, serde::Deserialize)]
pub struct AttentionParams {
    replayed: Option<usize>,
}

pub async fn show(
    state: web::Data<AppState>,
    params: web::Query<AttentionParams>,
) -> Result<HttpResponse, ApiError> {
    let store = &state.store;
    let counts = store.attention_counts().await?;
    let cases = store
        .cases_needing_attention(SHOWN)
        .await?
        .into_iter()
        .map(|c| FlaggedCase {
            id: c.id.get(),
            invoice: c.invoice_label(),
            customer: c.customer_label(),
            why: c.needs_attention.clone().unwrap_or_default(),
            at: when(c.updated_at),
        })
        .collect();
    let failed = crate::domain::outgoing::OutgoingStatus::Failed;
    let given_up = store
        .outgoing_page(Some(failed), None, None, SHOWN)
        .await?
        .into_iter()
        .map(|e| GivenUp {
            id: e.id,
            case_id: e.case_id.get(),
            kind: e.kind.as_str(),
            sequence: e.sequence.map(|n| format!("#{n}")).unwrap_or_default(),
            error: e.last_error.unwrap_or_default(),
            at: e.given_up_at.map(when).unwrap_or_default(),
        })
        .collect();
    let parked = store
        .parked_events(SHOWN)
        .await?
        .into_iter()
        .map(|p| Parked {
            event_id: p.event_id,
            event_type: p.event_type,
            outcome: p.outcome,
            error: p.error.unwrap_or_default(),
            at: when(p.processed_at),
        })
        .collect();
    let body = AttentionPage {
        f: Frame::new(&state, "attention"),
        counts,
        cases,
        given_up,
        parked,
        replayed: params.replayed,
        tries: crate::domain::outgoing::tries_in_words(),
    }
    .render();
    Ok(page(StatusCode::OK, body))
}

/// `POST /admin/events/{id}/replay`: one given-up event again.
pub async fn replay_one(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let now = state.engine.clock.now_ms();
    let replayed = state
        .store
        .replay_outgoing(Some(id.into_inner()), None, now)
        .await?;
    Ok(see_other(&format!(
        "/admin/attention?replayed={}",
        replayed.len()
    )))
}

/// `POST /admin/events/replay`: every given-up event again.
pub async fn replay_all(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = state.engine.clock.now_ms();
    let replayed = state.store.replay_outgoing(None, None, now).await?;
    tracing::info!(
        count = replayed.len(),
        "given-up outgoing events replayed from the dashboard"
    );
    Ok(see_other(&format!(
        "/admin/attention?replayed={}",
        replayed.len()
    )))
}
