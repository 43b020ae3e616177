//! Every HTTP request: one log line with a request id (also sent back as
//! `X-Request-Id`, or taken from the caller's when it sends a sane one), and
//! its latency in the metrics. Both name the matched route
//! (`/billing/update/{token}`), never the raw path: link tokens stay out of
//! logs and metrics.

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The caller's request id if it is short and plain, else a new one.
fn request_id(request: &ServiceRequest) -> String {
    request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .map_or_else(|| crate::random::base62(16), str::to_owned)
}

pub async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let id = request_id(&request);
    let method = request.method().to_string();
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.call(request).instrument(span.clone()).await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "(no route)".to_owned());
    let status = response.status().as_u16();
    let took = started.elapsed();
    crate::meters::http_request(&method, &route, status, took);
    span.in_scope(|| {
        tracing::info!(
            method,
            route,
            status,
            ms = took.as_secs_f64() * 1000.0,
            "request"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}
