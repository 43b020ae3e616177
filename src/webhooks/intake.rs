//! `POST /webhooks/stripe`: check the content type and size, verify the
//! signature over the raw bytes, validate the envelope, commit, answer.
//! Every refusal happens before anything is stored.

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use futures_util::StreamExt;

use super::body_budget::{self, BodyBudget};
use super::group_commit::CommitError;
use super::log_budget::{Admit, LogBudget};
use super::signature::{self, SignatureError};
use crate::clock::unix_millis;
use crate::domain::events::{Envelope, EventError};
use crate::state::AppState;
use crate::store::events::NewEvent;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("webhook signing secrets are not configured")]
    NotConfigured,
    #[error("content type must be application/json")]
    ContentType,
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    #[error("could not read the body")]
    BodyRead,
    #[error("the body did not arrive within {0} seconds")]
    BodyTimeout(u64),
    #[error("too many webhook bodies arriving at once; retry later")]
    Busy,
    #[error("{0}")]
    Signature(#[from] SignatureError),
    #[error("body is not UTF-8")]
    NotUtf8,
    #[error("{0}")]
    Event(#[from] EventError),
    #[error("{0}; retry later")]
    Commit(#[from] CommitError),
}

impl IntakeError {
    /// The reason as a metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::NotConfigured => "not_configured",
            Self::ContentType => "content_type",
            Self::TooLarge(_) => "too_large",
            Self::BodyRead => "body_read",
            Self::BodyTimeout(_) => "body_timeout",
            Self::Busy => "busy",
            Self::Signature(_) => "signature",
            Self::NotUtf8 => "not_utf8",
            Self::Event(_) => "malformed_event",
            Self::Commit(_) => "commit_failed",
        }
    }
}

impl ResponseError for IntakeError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotConfigured | Self::Commit(_) | Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::ContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyRead | Self::Signature(_) | Self::NotUtf8 | Self::Event(_) => {
                StatusCode::BAD_REQUEST
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let reason = match self {
            // serde's message can quote the body; keep the answer generic.
            Self::Event(EventError::Json(_)) => "body is not valid JSON".to_owned(),
            other => other.to_string(),
        };
        HttpResponse::build(self.status_code()).json(serde_json::json!({ "error": reason }))
    }
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// How long a whole body may take to arrive (Stripe sends it at once).
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Memory reserved up front, whatever the declared length.
const INITIAL_CAPACITY: usize = 16 * 1024;

static BODY_BUDGET: std::sync::LazyLock<BodyBudget> = std::sync::LazyLock::new(|| {
    BodyBudget::new(body_budget::TOTAL_KIB, body_budget::PER_ADDRESS_KIB)
});
static REFUSAL_LOG: LogBudget = LogBudget::new(20, 60);

async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    client: Option<std::net::IpAddr>,
) -> Result<web::BytesMut, IntakeError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(IntakeError::TooLarge(limit));
    }
    // The claim follows the bytes that arrive, a step at a time: what a
    // stalled sender announced costs nothing until it sends it.
    let step = body_budget::STEP_KIB;
    let first = declared.map_or(step, |n| n.div_ceil(1024).clamp(1, step));
    let mut held = BODY_BUDGET.claim(client, first).ok_or(IntakeError::Busy)?;
    let read = async {
        let mut body = web::BytesMut::with_capacity(declared.unwrap_or(4096).min(INITIAL_CAPACITY));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| IntakeError::BodyRead)?;
            if body.len() + chunk.len() > limit {
                return Err(IntakeError::TooLarge(limit));
            }
            let needed = (body.len() + chunk.len()).div_ceil(1024);
            let target = needed
                .next_multiple_of(step)
                .min(body_budget::PER_ADDRESS_KIB)
                .max(needed);
            if needed > held.kib() && !held.grow_to(target) {
                return Err(IntakeError::Busy);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(BODY_TIMEOUT, read)
        .await
        .map_err(|_| IntakeError::BodyTimeout(BODY_TIMEOUT.as_secs()))?
}

pub async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, IntakeError> {
    crate::meters::webhook_received();
    let result = accept(&req, payload, &state).await;
    if let Err(e) = &result {
        crate::meters::webhook_refused(e.label());
    }
    match &result {
        Ok(_) => {}
        Err(IntakeError::NotConfigured) => tracing::error!(
            "refused a webhook: no signing secret configured; set DUNWELL_WEBHOOK_SECRETS to the endpoint's whsec_ secret"
        ),
        Err(e) => {
            if let Admit::Log { suppressed } = REFUSAL_LOG.admit(unix_millis().div_euclid(1000)) {
                tracing::warn!(status = %e.status_code().as_u16(), reason = %e, suppressed, "refused a webhook");
            }
        }
    }
    result
}

async fn accept(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, IntakeError> {
    let config = &state.config;
    if config.webhook_secrets.is_empty() {
        return Err(IntakeError::NotConfigured);
    }
    if !is_json(req) {
        return Err(IntakeError::ContentType);
    }
    let header = req
        .headers()
        .get("stripe-signature")
        .map(|v| v.to_str().map_err(|_| SignatureError::Malformed))
        .transpose()?;
    // The header's shape and age first: a request that cannot be a
    // current signed event is refused before its body is read.
    signature::precheck(
        header,
        unix_millis().div_euclid(1000),
        config.webhook_tolerance_secs,
    )?;
    let client = crate::web::client_ip::client_ip(req, config.client_ip_header.as_deref());
    let body = read_body(req, payload, config.webhook_max_body_bytes, client).await?;
    let now_ms = unix_millis();
    let now = now_ms.div_euclid(1000);
    let verified = signature::verify(
        header,
        &body,
        &config.webhook_secrets,
        now,
        config.webhook_tolerance_secs,
    )?;
    let text = std::str::from_utf8(verified.body()).map_err(|_| IntakeError::NotUtf8)?;
    let envelope = Envelope::parse(verified.body())?;
    let event_id = envelope.id.to_string();
    let event_type = envelope.event_type.clone();
    let is_new = state
        .committer
        .commit(NewEvent {
            event_id: event_id.clone(),
            event_type: event_type.clone(),
            api_version: envelope.api_version,
            created_at: envelope.created.timestamp(),
            livemode: envelope.livemode,
            payload: text.to_owned(),
            received_at_ms: now_ms,
        })
        .await?;
    tracing::debug!(event_id = %event_id, duplicate = !is_new, "webhook stored");
    crate::meters::event_accepted(&event_type, !is_new);
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "received": true,
        "duplicate": !is_new,
    })))
}
