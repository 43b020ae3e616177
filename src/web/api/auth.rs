//! The operator's bearer token: `Authorization: Bearer $DUNWELL_ADMIN_TOKEN`,
//! compared in constant time. Without a configured token the operator
//! surface does not exist (404); start-up logs why.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::state::AppState;
use crate::web::client_ip::client_ip;

/// Whether `given` is `expected`, taking the same time whatever they hold:
/// both are hashed first, so neither their length nor their first
/// difference shows in the timing.
pub fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The token in an `Authorization: Bearer …` header (the scheme's case
/// does not matter, as HTTP says).
pub fn bearer(headers: &header::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The middleware around `/api`.
pub async fn require_token(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let expected = state.as_ref().and_then(|s| s.config.admin_token.clone());
    let refuse = |request: ServiceRequest, error: ApiError| {
        let mut response = error.error_response();
        if error.status_code() == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"dunwell\""),
            );
        }
        Ok(request.into_response(response))
    };
    let (Some(expected), Some(state)) = (expected, state) else {
        return refuse(request, ApiError::not_found("not found"));
    };
    let ip = client_ip(request.request(), state.config.client_ip_header.as_deref());
    if let Err(wait) = state.sign_in.check(ip) {
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many wrong tokens from this address; try again in {wait} seconds"),
        )
        .error_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(wait));
        return Ok(request.into_response(response));
    }
    match bearer(request.headers()) {
        Some(token) if same_secret(token.as_bytes(), expected.expose_secret().as_bytes()) => {
            state.sign_in.succeeded(ip);
            next.call(request).await.map(|r| r.map_into_boxed_body())
        }
        given => {
            // A wrong token is a guess; no token at all is not.
            if given.is_some() {
                state.sign_in.failed(ip);
            }
            tracing::info!(
                path = request.path(),
                token_given = given.is_some(),
                "operator API: refused"
            );
            refuse(
                request,
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "a valid operator token is required: Authorization: Bearer <DUNWELL_ADMIN_TOKEN>",
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_secret_matches() {
        assert!(same_secret(b"a-long-admin-token", b"a-long-admin-token"));
        assert!(!same_secret(b"a-long-admin-tokeN", b"a-long-admin-token"));
        assert!(!same_secret(
            b"a-long-admin-token-and-more",
            b"a-long-admin-token"
        ));
        assert!(!same_secret(b"", b"a-long-admin-token"));
    }
}
