//! Forged cross-site POSTs: browsers say where a request comes from in
//! `Sec-Fetch-Site`, `Origin` and `Referer`; a form posted from anywhere
//! but our own pages is refused by the billing page and the dashboard alike.
//!
//! A POST counts as ours when it names an origin (`Origin`, else the
//! `Referer`'s) and that origin is `public_url`'s, or when it names none
//! (`Origin: null`, as a page with `Referrer-Policy: no-referrer` sends)
//! but the browser itself says `Sec-Fetch-Site: same-origin`, a header no
//! page can set. Any other `Sec-Fetch-Site`, `Origin: null` without it
//! (sandboxed frames), a POST naming nothing, and an origin that only
//! matches the request's own `Host` (which whoever points a name at this
//! server chooses) are refused. The one
//! exception is a loopback origin addressed to that same loopback host
//! (`http://localhost:8080` on a developer's machine): no other site's page
//! has such an origin.

use actix_web::HttpRequest;
use reqwest::Url;

/// Whether `request` may have been sent by another site's page rather than
/// ours (`public_url`).
pub fn cross_site(request: &HttpRequest, public_url: &Url) -> bool {
    let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|s| s != "same-origin" && s != "none") {
        return true;
    }
    let named = match header("origin") {
        // The browser chose to hide where the request comes from: a
        // `Referer` beside it proves nothing (a page can set its own).
        Some("null") => None,
        Some(origin) => Some(origin.to_owned()),
        None => header("referer")
            .and_then(|r| Url::parse(r).ok())
            .map(|r| r.origin().ascii_serialization()),
    };
    let Some(origin) = named else {
        // No origin named: only a browser's own word that it is ours.
        return header("sec-fetch-site") != Some("same-origin");
    };
    if origin == public_url.origin().ascii_serialization() {
        return false;
    }
    !loopback_to_itself(&origin, request.connection_info().host())
}

/// `origin` is a loopback address (`localhost`, `127.0.0.1`, `[::1]`) and
/// the request was addressed to exactly that host and port.
fn loopback_to_itself(origin: &str, host: &str) -> bool {
    let Ok(url) = Url::parse(origin) else {
        return false;
    };
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    loopback && origin.split_once("://").map(|(_, h)| h) == Some(host)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn ours() -> Url {
        Url::parse("https://billing.example.com").unwrap()
    }

    fn post(headers: &[(&str, &str)]) -> bool {
        let mut request = TestRequest::post().insert_header(("host", "billing.example.com"));
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        cross_site(&request.to_http_request(), &ours())
    }

    #[test]
    fn only_our_own_pages_may_post() {
        assert!(!post(&[("origin", "https://billing.example.com")]));
        assert!(!post(&[
            ("origin", "https://billing.example.com"),
            ("sec-fetch-site", "same-origin")
        ]));
        assert!(!post(&[(
            "referer",
            "https://billing.example.com/billing/update/x"
        )]));
        assert!(!post(&[("sec-fetch-site", "same-origin")]));
        // Another site, by any of the browser's words.
        assert!(post(&[("origin", "https://evil.example")]));
        assert!(post(&[("sec-fetch-site", "cross-site")]));
        assert!(post(&[
            ("sec-fetch-site", "same-site"),
            ("origin", "https://billing.example.com")
        ]));
        assert!(post(&[("referer", "https://evil.example/page")]));
        // A sandboxed frame, or no word at all.
        assert!(post(&[("origin", "null")]));
        assert!(post(&[
            ("origin", "null"),
            ("referer", "https://billing.example.com/billing/update/x")
        ]));
        assert!(post(&[
            ("origin", "null"),
            ("sec-fetch-site", "cross-site")
        ]));
        assert!(post(&[]));
        // Our own page with `Referrer-Policy: no-referrer`, as Chromium
        // posts its form.
        assert!(!post(&[
            ("origin", "null"),
            ("sec-fetch-site", "same-origin")
        ]));
        // Our scheme matters: an http page is not ours.
        assert!(post(&[("origin", "http://billing.example.com")]));
    }

    #[test]
    fn an_origin_matching_only_the_host_it_chose_is_not_ours() {
        let request = TestRequest::post()
            .insert_header(("host", "attacker.example"))
            .insert_header(("origin", "http://attacker.example"))
            .to_http_request();
        assert!(cross_site(&request, &ours()));
    }

    #[test]
    fn a_developers_loopback_address_posts_to_itself() {
        for host in ["localhost:8080", "127.0.0.1:8080", "[::1]:8080"] {
            let request = TestRequest::post()
                .insert_header(("host", host))
                .insert_header(("origin", format!("http://{host}").as_str()))
                .to_http_request();
            assert!(!cross_site(&request, &ours()), "{host}");
            let elsewhere = TestRequest::post()
                .insert_header(("host", "127.0.0.1:9999"))
                .insert_header(("origin", format!("http://{host}").as_str()))
                .to_http_request();
            assert!(cross_site(&elsewhere, &ours()), "{host} to another port");
        }
    }
}
