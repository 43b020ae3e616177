//! The events dunwell sent, or is sending, to `DUNWELL_NOTIFY_URL`:
//! `GET /api/events?status=failed` lists them (newest first), and the ones
//! given up after their last try are sent again, afresh, by
//! `POST /api/events/{id}/replay` or, all given up since a time,
//! `POST /api/events/replay?since=…`. A replayed event keeps its id and
//! sequence (receivers deduplicate by id) and waits, as every event does,
//! for its case's earlier ones.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::cases::MAX_PAGE;
use super::error::{ApiError, ErrorBody};
use super::params;
use super::views::instant;
use crate::domain::outgoing::OutgoingStatus;
use crate::state::AppState;
use crate::store::outgoing::OutgoingEvent;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Only events in this state (`failed`: given up, replayable).
    #[param(value_type = Option<String>, pattern = "^(pending|delivered|failed)$")]
    pub status: Option<String>,
    /// Only events given up at or after this date or RFC 3339 time.
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Only events older than this one (the previous page's `next_before`).
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// Events per page, 1 to 200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReplayParams {
    /// Replay every event given up at or after this date or RFC 3339 time.
    #[param(format = DateTime)]
    pub since: String,
}

/// One outgoing event and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct Event {
    id: i64,
    /// The id the receiver sees (`Dunwell-Event-Id`), kept on replay.
    event_id: String,
    case_id: i64,
    #[serde(rename = "type")]
    kind: &'static str,
    /// The case's 1, 2, 3…; null on events written before numbering.
    sequence: Option<i64>,
    #[schema(pattern = "^(pending|delivered|failed)$")]
    status: &'static str,
    /// Failed deliveries so far.
    tries: i32,
    last_error: Option<String>,
    created_at: String,
    /// When it is tried next (pending events).
    due_at: Option<String>,
    delivered_at: Option<String>,
    given_up_at: Option<String>,
}

impl From<&OutgoingEvent> for Event {
    fn from(e: &OutgoingEvent) -> Self {
        Self {
            id: e.id,
            event_id: e.event_id.clone(),
            case_id: e.case_id.get(),
            kind: e.kind.as_str(),
            sequence: e.sequence,
            status: e.status.as_str(),
            tries: e.tries,
            last_error: e.last_error.clone(),
            created_at: instant(e.created_at),
            due_at: (e.status == OutgoingStatus::Pending).then(|| instant(e.due_at)),
            delivered_at: e.delivered_at.map(instant),
            given_up_at: e.given_up_at.map(instant),
        }
    }
}

/// One page of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct Events {
    pub events: Vec<Event>,
    /// Pass as `before` for the next page; null on the last.
    pub next_before: Option<i64>,
}

/// What a replay sent again.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    /// How many events go out again.
    pub replayed: usize,
    pub events: Vec<Event>,
}

/// The events sent (or being sent) to `DUNWELL_NOTIFY_URL`, newest first.
#[utoipa::path(get, path = "/api/events", tag = "events", operation_id = "list_events",
    params(EventParams),
    responses((status = 200, body = Events), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<EventParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit: from 1 to {MAX_PAGE}, got {limit}"
        )));
    }
    let status = match query.status.as_deref() {
        None => None,
        Some(s) => Some(OutgoingStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "status: one of pending, delivered, failed; got {s:?}"
            ))
        })?),
    };
    if query.before.is_some_and(|b| b < 1) {
        return Err(ApiError::bad_request("before: an event id, 1 or more"));
    }
    let since = query
        .since
        .as_deref()
        .map(|raw| params::instant("since", raw))
        .transpose()?;
    let mut events = state
        .store
        .outgoing_page(status, since, query.before, limit + 1)
        .await?;
    let more = events.len() as i64 > limit;
    events.truncate(limit as usize);
    let next_before = events.last().filter(|_| more).map(|e| e.id);
    Ok(HttpResponse::Ok().json(Events {
        events: events.iter().map(Event::from).collect(),
        next_before,
    }))
}

/// Sends a given-up event again, afresh (ten more tries).
#[utoipa::path(post, path = "/api/events/{id}/replay", tag = "events",
    operation_id = "replay_event",
    params(("id" = i64, Path, minimum = 1, description = "The event's `id` (not its `event_id`)")),
    responses((status = 200, body = Replayed), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn replay_one(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let now = state.engine.clock.now_ms();
    let replayed = state.store.replay_outgoing(Some(id), None, now).await?;
    if replayed.is_empty() {
        return Err(match state.store.outgoing_event(id).await? {
            None => ApiError::not_found(format!("no event {id}")),
            Some(e) => ApiError::conflict(format!(
                "event {id} is {}: only a given-up (failed) event is replayed",
                e.status.as_str()
            )),
        });
    }
    tracing::info!(id, "outgoing event replayed by the operator");
    Ok(HttpResponse::Ok().json(Replayed {
        replayed: replayed.len(),
        events: replayed.iter().map(Event::from).collect(),
    }))
}

/// Sends every event given up since a time again, afresh.
#[utoipa::path(post, path = "/api/events/replay", tag = "events",
    operation_id = "replay_events_since",
    params(ReplayParams),
    responses((status = 200, body = Replayed), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn replay_since(
    state: web::Data<AppState>,
    query: web::Query<ReplayParams>,
) -> Result<HttpResponse, ApiError> {
    let since = params::instant("since", &query.since)?;
    let now = state.engine.clock.now_ms();
    let replayed = state.store.replay_outgoing(None, Some(since), now).await?;
    tracing::info!(
        count = replayed.len(),
        "given-up outgoing events replayed by the operator"
    );
    Ok(HttpResponse::Ok().json(Replayed {
        replayed: replayed.len(),
        events: replayed.iter().map(Event::from).collect(),
    }))
}
