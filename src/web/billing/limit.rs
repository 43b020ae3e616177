//! Rate limiting of the public billing pages per client address: a page
//! view costs one request, a POST (which may call the processor) five,
//! out of `page_requests_per_minute`. Beyond it: 429 with `Retry-After`
//! and a friendly page in the browser's language.

use std::sync::{Arc, Mutex};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{Error, web};

use super::words::page_words;
use crate::domain::rate_limit::RateLimiter;
use crate::state::AppState;
use crate::web::client_ip::client_ip;

/// What a POST costs, in page views.
const POST_COST: u32 = 5;

/// The process's one table of client buckets.
#[derive(Clone)]
pub struct PageLimit(Arc<Mutex<RateLimiter>>);

impl PageLimit {
    pub fn new(per_minute: u32) -> Self {
        Self(Arc::new(Mutex::new(RateLimiter::new(per_minute))))
    }
}

/// The middleware around `/billing`.
pub async fn pages(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(request).await.map(|r| r.map_into_boxed_body());
    };
    let config = &state.config;
    let ip = client_ip(request.request(), config.client_ip_header.as_deref());
    let cost = if request.method() == Method::GET {
        1
    } else {
        POST_COST
    };
    let verdict = match ip {
        Some(ip) => {
            let now = state.engine.clock.now_ms();
            let mut limiter = state.page_limit.0.lock().unwrap_or_else(|p| p.into_inner());
            limiter.admit(ip, cost, now)
        }
        None => Ok(()),
    };
    match verdict {
        Ok(()) => next.call(request).await.map(|r| r.map_into_boxed_body()),
        Err(wait_secs) => {
            tracing::info!(client = ?ip, wait_secs, path = request.path(), "billing page: rate limited");
            let locale = super::answer::browser_locale(request.headers())
                .unwrap_or(state.engine.policy().default_locale);
            let w = page_words(locale);
            let mut response = super::message(
                &state.engine,
                locale,
                StatusCode::TOO_MANY_REQUESTS,
                w.busy_title,
                w.busy_message,
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(wait_secs));
            Ok(request.into_response(response))
        }
    }
}
