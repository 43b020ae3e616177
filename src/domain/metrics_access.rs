//! Who may read `/metrics`, and on which address. The figures name no
//! customer, but they tell a stranger the business's revenue and its
//! failures, so they are never open to the internet by default:
//!
//! - `DUNWELL_METRICS_TOKEN` set: a bearer token is asked for, wherever
//!   `/metrics` is served;
//! - `DUNWELL_METRICS_BIND` set: `/metrics` is served on that address alone
//!   (an internal port a scraper reaches, like Fly's `[metrics]`), open
//!   there unless the token is set too; the main address answers 404 with
//!   where to look;
//! - neither, with `DUNWELL_BIND` on a loopback address: open, since only
//!   this machine reaches it;
//! - neither, with any other bind: closed, 403 with how to open it.

use std::net::SocketAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    Token,
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsAccess {
    /// The separate address serving `/metrics`; `None`: the main bind.
    pub at: Option<SocketAddr>,
    pub guard: Guard,
}

impl MetricsAccess {
    pub fn new(bind: SocketAddr, metrics_bind: Option<SocketAddr>, token: bool) -> Self {
        let guard = if token {
            Guard::Token
        } else if metrics_bind.is_some() || bind.ip().is_loopback() {
            Guard::Open
        } else {
            Guard::Closed
        };
        Self {
            at: metrics_bind,
            guard,
        }
    }

    /// One sentence for `check-config` and the start-up log.
    pub fn describe(&self, bind: SocketAddr) -> String {
        let at = self.at.unwrap_or(bind);
        match (self.guard, self.at) {
            (Guard::Token, _) => {
                format!("/metrics is served on {at} to callers with DUNWELL_METRICS_TOKEN")
            }
            (Guard::Open, Some(_)) if at.ip().is_loopback() => {
                format!("/metrics is served open on {at} (DUNWELL_METRICS_BIND, this machine only)")
            }
            (Guard::Open, Some(_)) => format!(
                "/metrics is served open on {at} (DUNWELL_METRICS_BIND): keep that port internal, or set DUNWELL_METRICS_TOKEN"
            ),
            (Guard::Open, None) => {
                format!("/metrics is served open on {at} (a loopback bind: this machine only)")
            }
            (Guard::Closed, _) => format!(
                "/metrics is closed: {bind} is not a loopback address; set DUNWELL_METRICS_TOKEN (a bearer token for the scraper) or DUNWELL_METRICS_BIND (an internal address) to open it"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn metrics_are_open_only_to_this_machine_or_an_internal_address_without_a_token() {
        let local = addr("127.0.0.1:8080");
        let public = addr("0.0.0.0:8080");
        let internal = addr("[::]:9091");
        assert_eq!(MetricsAccess::new(local, None, false).guard, Guard::Open);
        assert_eq!(
            MetricsAccess::new(addr("[::1]:8080"), None, false).guard,
            Guard::Open
        );
        assert_eq!(MetricsAccess::new(public, None, false).guard, Guard::Closed);
        assert_eq!(
            MetricsAccess::new(addr("10.0.0.5:8080"), None, false).guard,
            Guard::Closed
        );
        assert_eq!(MetricsAccess::new(public, None, true).guard, Guard::Token);
        assert_eq!(MetricsAccess::new(local, None, true).guard, Guard::Token);
        let split = MetricsAccess::new(public, Some(internal), false);
        assert_eq!(split.guard, Guard::Open);
        assert_eq!(split.at, Some(internal));
        assert_eq!(
            MetricsAccess::new(public, Some(internal), true).guard,
            Guard::Token
        );
    }

    #[test]
    fn the_description_says_how_to_open_closed_metrics() {
        let public = addr("0.0.0.0:8080");
        let closed = MetricsAccess::new(public, None, false).describe(public);
        assert!(closed.contains("closed"), "{closed}");
        assert!(closed.contains("DUNWELL_METRICS_TOKEN"), "{closed}");
        assert!(closed.contains("DUNWELL_METRICS_BIND"), "{closed}");
        let internal = MetricsAccess::new(public, Some(addr("[::]:9091")), false).describe(public);
        assert!(internal.contains("[::]:9091"), "{internal}");
        assert!(internal.contains("keep that port internal"), "{internal}");
    }
}
