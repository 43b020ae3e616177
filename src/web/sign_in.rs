//! What the operator's sign-ins share in one process: the installation's
//! session secret (cookies are tagged with it, token marks keyed by it) and
//! the per-address throttle on wrong tokens, for the dashboard's sign-in
//! and the API's bearer token alike.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::domain::sign_in_throttle::SignInThrottle;

#[derive(Clone)]
pub struct SignIn {
    key: Arc<[u8]>,
    throttle: Arc<Mutex<SignInThrottle>>,
}

fn now_ms() -> i64 {
    crate::clock::unix_millis()
}

impl SignIn {
    pub fn new(session_secret: &str) -> Self {
        Self {
            key: Arc::from(session_secret.as_bytes()),
            throttle: Arc::default(),
        }
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, SignInThrottle> {
        self.throttle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(whole seconds to wait, rounded up)` while wrong tokens keep
    /// `ip` out; an unknown address is never held.
    pub fn check(&self, ip: Option<IpAddr>) -> Result<(), i64> {
        match ip {
            Some(ip) => self
                .throttle()
                .check(ip, now_ms())
                .map_err(|ms| (ms + 999) / 1000),
            None => Ok(()),
        }
    }

    /// A wrong token from `ip`.
    pub fn failed(&self, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            let locked = self.throttle().failed(ip, now_ms());
            if locked > 0 {
                tracing::warn!(client = %ip, locked_ms = locked, "wrong operator tokens: address held back");
            }
        }
    }

    /// The right token from `ip`.
    pub fn succeeded(&self, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            self.throttle().succeeded(ip);
        }
    }
}
