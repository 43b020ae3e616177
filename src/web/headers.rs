//! Headers every answer carries, unless a handler set its own:
//! `X-Content-Type-Options: nosniff` (a JSON or CSV answer is never run as
//! a page or script), and, when `public_url` is https, HSTS, so a browser
//! that once reached the billing pages over https never sends a customer's
//! link token in the clear again.

use actix_web::middleware::DefaultHeaders;
use reqwest::Url;

/// A year, as the HSTS preload list asks.
pub const HSTS_MAX_AGE_SECS: u64 = 365 * 24 * 3600;

pub fn defaults(public_url: &Url) -> DefaultHeaders {
    let headers = DefaultHeaders::new().add(("X-Content-Type-Options", "nosniff"));
    if public_url.scheme() == "https" {
        headers.add((
            "Strict-Transport-Security",
            format!("max-age={HSTS_MAX_AGE_SECS}"),
        ))
    } else {
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_states_the_hsts_age() {
        let claim = format!("max-age={HSTS_MAX_AGE_SECS}");
        assert!(include_str!("../../README.md").contains(&claim), "{claim}");
    }
}
