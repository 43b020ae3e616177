//! The client's address, for per-address limits (billing pages, webhook
//! bodies, sign-in attempts).

use std::net::IpAddr;

use actix_web::HttpRequest;

/// The client's address: from the trusted proxy's header when one is
/// configured (and present), else the connection's peer. A header holding
/// a list (`X-Forwarded-For`) gives its *last* entry, the one the nearest
/// proxy appended: the entries before it are whatever the client sent.
pub fn client_ip(request: &HttpRequest, header_name: Option<&str>) -> Option<IpAddr> {
    let from_header = header_name
        .and_then(|name| request.headers().get(name))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse().ok());
    from_header.or_else(|| request.peer_addr().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_proxy_appended_entry_counts_not_the_clients() {
        let request = TestRequest::default()
            .insert_header(("x-forwarded-for", "6.6.6.6, 203.0.113.9"))
            .peer_addr("10.0.0.1:5000".parse().unwrap())
            .to_http_request();
        let ip = client_ip(&request, Some("x-forwarded-for"));
        assert_eq!(ip, Some("203.0.113.9".parse().unwrap()));
        // No header configured: the peer, whatever the client claims.
        assert_eq!(client_ip(&request, None), Some("10.0.0.1".parse().unwrap()));
        // A configured header that is missing or garbage: the peer.
        let bare = TestRequest::default()
            .insert_header(("fly-client-ip", "not-an-address"))
            .peer_addr("10.0.0.2:5000".parse().unwrap())
            .to_http_request();
        assert_eq!(
            client_ip(&bare, Some("fly-client-ip")),
            Some("10.0.0.2".parse().unwrap())
        );
    }
}
