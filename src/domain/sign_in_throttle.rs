//! Wrong operator tokens per client address, with backoff: the first
//! `FREE_FAILURES` cost nothing, each one after locks the address out for
//! twice as long as the one before (1 s, 2 s, 4 s … at most `MAX_LOCK_SECS`).
//! While locked out every attempt is refused, right or wrong, so guessing
//! gets no faster than the lock. A right token clears the address's count;
//! an address quiet for `FORGET_SECS` starts over. Pure: the caller passes
//! the time, in milliseconds (so a lock lasts its full length whenever in a
//! second the failure falls). At most `MAX_CLIENTS` addresses are remembered.

use std::collections::HashMap;
use std::net::IpAddr;

use super::rate_limit::client_key;

pub const FREE_FAILURES: u32 = 5;
pub const MAX_LOCK_SECS: i64 = 15 * 60;
const FORGET_SECS: i64 = 3600;
const MAX_CLIENTS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last_ms: i64,
    locked_until_ms: i64,
}

#[derive(Debug, Default)]
pub struct SignInThrottle {
    clients: HashMap<IpAddr, Failures>,
}

impl SignInThrottle {
    /// `Err(milliseconds to wait)` while `ip` is locked out.
    pub fn check(&self, ip: IpAddr, now_ms: i64) -> Result<(), i64> {
        match self.clients.get(&client_key(ip)) {
            Some(f) if f.locked_until_ms > now_ms => Err(f.locked_until_ms - now_ms),
            _ => Ok(()),
        }
    }

    /// A wrong token from `ip`; returns how many milliseconds it is now
    /// locked out (0: not yet).
    pub fn failed(&mut self, ip: IpAddr, now_ms: i64) -> i64 {
        if self.clients.len() >= MAX_CLIENTS {
            self.clients.retain(|_, f| {
                now_ms - f.last_ms < FORGET_SECS * 1000 || f.locked_until_ms > now_ms
            });
            if self.clients.len() >= MAX_CLIENTS {
                self.clients.clear();
            }
        }
        let entry = self.clients.entry(client_key(ip)).or_insert(Failures {
            count: 0,
            last_ms: now_ms,
            locked_until_ms: 0,
        });
        if now_ms - entry.last_ms >= FORGET_SECS * 1000 {
            entry.count = 0;
        }
        entry.count += 1;
        entry.last_ms = now_ms;
        if entry.count > FREE_FAILURES {
            let doublings = (entry.count - FREE_FAILURES - 1).min(20);
            let lock = (1000i64 << doublings).min(MAX_LOCK_SECS * 1000);
            entry.locked_until_ms = now_ms + lock;
            lock
        } else {
            0
        }
    }

    /// The right token from `ip`.
    pub fn succeeded(&mut self, ip: IpAddr) {
        self.clients.remove(&client_key(ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_tokens_lock_out_longer_and_longer() {
        let mut t = SignInThrottle::default();
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let other: IpAddr = "203.0.113.8".parse().unwrap();
        let s = 1000;
        for _ in 0..FREE_FAILURES {
            assert_eq!(t.failed(ip, 100 * s), 0);
            assert!(t.check(ip, 100 * s).is_ok());
        }
        // Late in a second: the lock still lasts a whole second.
        assert_eq!(t.failed(ip, 100 * s + 999), s);
        assert_eq!(t.check(ip, 101 * s), Err(999));
        assert!(
            t.check(other, 100 * s).is_ok(),
            "another address is not held"
        );
        assert!(t.check(ip, 101 * s + 999).is_ok());
        assert_eq!(t.failed(ip, 102 * s), 2 * s);
        assert_eq!(t.failed(ip, 104 * s), 4 * s);
        // 300 guesses in a row: the lock only grows, up to its cap.
        let mut now = 108 * s;
        for _ in 0..300 {
            now += t.failed(ip, now);
        }
        assert_eq!(t.failed(ip, now), MAX_LOCK_SECS * s);
        t.succeeded(ip);
        assert!(t.check(ip, now).is_ok());
        // An hour's quiet forgets.
        for _ in 0..=FREE_FAILURES {
            t.failed(other, 0);
        }
        assert_eq!(t.failed(other, (FORGET_SECS + 10) * s), 0);
    }

    #[test]
    fn the_readme_states_these_figures() {
        crate::readme_claims::assert_readme_says(&[
            format!("after {FREE_FAILURES}, each one holds"),
            format!("at most {} minutes", MAX_LOCK_SECS / 60),
        ]);
    }
}
