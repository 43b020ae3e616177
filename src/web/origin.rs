//! Forged cross-site POSTs: browsers say where a request comes from in
//! `Sec-Fetch-Site` and `Origin`; a form posted from another site is
//! refused by the billing page and the dashboard alike.

use actix_web::HttpRequest;
use reqwest::Url;

/// Whether `request` was sent by a page of another site than ours
/// (`public_url`, or the host the request was addressed to).
pub fn cross_site(request: &HttpRequest, public_url: &Url) -> bool {
    let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|s| s == "cross-site") {
        return true;
    }
    match header("origin") {
        None | Some("null") => false,
        Some(origin) => {
            let ours = public_url.origin().ascii_serialization();
            let own_host = request.connection_info().host().to_owned();
            origin != ours && origin.split("://").nth(1) != Some(own_host.as_str())
        }
    }
}
