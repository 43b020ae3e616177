//! Per-client token buckets for the public pages: each client address may
//! make `per_minute` requests a minute on average, in bursts up to the
//! same number. Pure: the caller passes the time.
//!
//! Memory stays bounded: at most `max_clients` addresses are remembered;
//! when the table is full, addresses whose buckets have refilled are
//! forgotten first (they have nothing to remember), and if every one is
//! still draining the table starts over rather than refusing newcomers.

use std::collections::HashMap;
use std::net::IpAddr;

/// How many client addresses are remembered at most (≈ 5 MB).
pub const MAX_CLIENTS: usize = 100_000;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Tokens left, in thousandths.
    milli_tokens: u64,
    updated_ms: i64,
}

#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    max_clients: usize,
    buckets: HashMap<IpAddr, Bucket>,
}

/// The address a client is counted under: an IPv6 host controls its whole
/// /64, so the /64 is one client.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::from(segments)
            }
        },
    }
}

impl RateLimiter {
    /// `per_minute` = 0 turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        Self::with_capacity(per_minute, MAX_CLIENTS)
    }

    pub fn with_capacity(per_minute: u32, max_clients: usize) -> Self {
        Self {
            per_minute,
            max_clients: max_clients.max(1),
            buckets: HashMap::new(),
        }
    }

    fn full(&self) -> u64 {
        u64::from(self.per_minute) * 1000
    }

    /// Tokens (thousandths) that flow back in `elapsed_ms`.
    fn refill(&self, elapsed_ms: i64) -> u64 {
        // per_minute tokens per 60,000 ms = per_minute / 60 thousandths per ms.
        u64::try_from(elapsed_ms.max(0)).unwrap_or(0) * u64::from(self.per_minute) / 60
    }

    fn level(&self, bucket: &Bucket, now_ms: i64) -> u64 {
        (bucket.milli_tokens + self.refill(now_ms - bucket.updated_ms)).min(self.full())
    }

    /// Takes `cost` requests' worth from `ip`'s bucket, or says after how
    /// many seconds it will hold enough.
    pub fn admit(&mut self, ip: IpAddr, cost: u32, now_ms: i64) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let key = client_key(ip);
        let cost = u64::from(cost.max(1)) * 1000;
        if cost > self.full() {
            return Err(60);
        }
        if !self.buckets.contains_key(&key) && self.buckets.len() >= self.max_clients {
            self.forget_idle(now_ms);
        }
        let full = self.full();
        let level = match self.buckets.get(&key) {
            Some(b) => self.level(b, now_ms),
            None => full,
        };
        if level >= cost {
            self.buckets.insert(
                key,
                Bucket {
                    milli_tokens: level - cost,
                    updated_ms: now_ms,
                },
            );
            Ok(())
        } else {
            let missing = cost - level;
            // thousandths per second flowing in: per_minute * 1000 / 60.
            let per_sec = u64::from(self.per_minute) * 1000 / 60;
            Err(missing.div_ceil(per_sec.max(1)).max(1))
        }
    }

    fn forget_idle(&mut self, now_ms: i64) {
        let full = self.full();
        let draining: HashMap<IpAddr, Bucket> = self
            .buckets
            .iter()
            .filter(|(_, b)| self.level(b, now_ms) < full)
            .map(|(k, b)| (*k, *b))
            .collect();
        self.buckets = if draining.len() >= self.max_clients {
            HashMap::new()
        } else {
            draining
        };
    }

    /// How many addresses are remembered.
    pub fn clients(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_burst_up_to_the_limit_passes_then_waits() {
        let mut limiter = RateLimiter::new(6);
        for _ in 0..6 {
            assert_eq!(limiter.admit(ip("10.0.0.1"), 1, 0), Ok(()));
        }
        // One token flows back every 10 s.
        assert_eq!(limiter.admit(ip("10.0.0.1"), 1, 0), Err(10));
        assert_eq!(limiter.admit(ip("10.0.0.1"), 1, 4_000), Err(6));
        assert_eq!(limiter.admit(ip("10.0.0.1"), 1, 10_000), Ok(()));
        // Others are counted apart.
        assert_eq!(limiter.admit(ip("10.0.0.2"), 1, 10_000), Ok(()));
    }

    #[test]
    fn a_costly_request_takes_more() {
        let mut limiter = RateLimiter::new(60);
        assert_eq!(limiter.admit(ip("10.0.0.1"), 50, 0), Ok(()));
        assert_eq!(limiter.admit(ip("10.0.0.1"), 10, 0), Ok(()));
        assert_eq!(limiter.admit(ip("10.0.0.1"), 10, 0), Err(10));
        assert_eq!(limiter.admit(ip("10.0.0.1"), 61, 0), Err(60));
    }

    #[test]
    fn an_ipv6_host_is_its_whole_64() {
        let mut limiter = RateLimiter::new(2);
        assert!(limiter.admit(ip("2001:db8:1:2::1"), 1, 0).is_ok());
        assert!(limiter.admit(ip("2001:db8:1:2:ffff::9"), 1, 0).is_ok());
        assert!(limiter.admit(ip("2001:db8:1:2::7"), 1, 0).is_err());
        assert!(limiter.admit(ip("2001:db8:1:3::1"), 1, 0).is_ok());
        assert_eq!(client_key(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
    }

    #[test]
    fn zero_means_no_limit() {
        let mut limiter = RateLimiter::new(0);
        for _ in 0..1000 {
            assert!(limiter.admit(ip("10.0.0.1"), 5, 0).is_ok());
        }
        assert_eq!(limiter.clients(), 0);
    }

    #[test]
    fn memory_is_bounded_and_idle_clients_go_first() {
        let mut limiter = RateLimiter::with_capacity(60, 3);
        limiter.admit(ip("10.0.0.1"), 1, 0).unwrap();
        limiter.admit(ip("10.0.0.2"), 30, 0).unwrap();
        limiter.admit(ip("10.0.0.3"), 30, 0).unwrap();
        // 2 s later 10.0.0.1 has refilled; the others are still draining.
        limiter.admit(ip("10.0.0.4"), 1, 2_000).unwrap();
        assert_eq!(limiter.clients(), 3);
        // A drained client is still remembered.
        assert!(limiter.admit(ip("10.0.0.2"), 33, 2_000).is_err());
        // Every remembered client draining: the table starts over.
        limiter.admit(ip("10.0.0.5"), 1, 2_000).unwrap();
        assert_eq!(limiter.clients(), 1);
    }
}
