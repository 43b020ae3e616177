//! What webhook bodies being read at once may hold: a sender holds what its
//! `Content-Length` (or, unannounced, the body limit) claims until its body
//! is in. The whole process has `TOTAL_KIB`; one client address at most
//! `PER_ADDRESS_KIB` of it, so stalled bodies from one source (which need
//! no secret: only the signature header's shape is checked before the body
//! arrives) cannot keep genuine deliveries from another out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use tokio::sync::{Semaphore, SemaphorePermit};

/// Bytes of bodies being read at once, per process, in KiB.
pub const TOTAL_KIB: usize = 64 * 1024;
/// Of which one client address may hold this much.
pub const PER_ADDRESS_KIB: usize = TOTAL_KIB / 8;

/// The process's budget.
pub struct BodyBudget {
    total: Semaphore,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    per_address_kib: usize,
}

/// A claim on the budget, given back when dropped.
pub struct Held<'a> {
    _total: SemaphorePermit<'a>,
    budget: &'a BodyBudget,
    address: Option<(IpAddr, usize)>,
}

impl BodyBudget {
    pub fn new(total_kib: usize, per_address_kib: usize) -> Self {
        Self {
            total: Semaphore::new(total_kib),
            per_address: Mutex::new(HashMap::new()),
            per_address_kib,
        }
    }

    /// Claims `kib` for a body from `address` (unknown: the total alone);
    /// `None` when the address's share or the total is spent.
    pub fn claim(&self, address: Option<IpAddr>, kib: usize) -> Option<Held<'_>> {
        let kib = kib.clamp(1, self.per_address_kib);
        let total = self.total.try_acquire_many(kib as u32).ok()?;
        if let Some(ip) = address {
            let mut held = self.per_address.lock().unwrap_or_else(|p| p.into_inner());
            let mine = held.entry(ip).or_default();
            if *mine + kib > self.per_address_kib {
                if *mine == 0 {
                    held.remove(&ip);
                }
                return None;
            }
            *mine += kib;
        }
        Some(Held {
            _total: total,
            budget: self,
            address: address.map(|ip| (ip, kib)),
        })
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let Some((ip, kib)) = self.address else {
            return;
        };
        let mut held = self
            .budget
            .per_address
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(mine) = held.get_mut(&ip) {
            *mine = mine.saturating_sub(kib);
            if *mine == 0 {
                held.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_holds_its_share_and_the_rest_stays_free() {
        let budget = BodyBudget::new(64, 8);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let held: Vec<_> = (0..8).map_while(|_| budget.claim(Some(a), 1)).collect();
        assert_eq!(held.len(), 8);
        assert!(budget.claim(Some(a), 1).is_none(), "a's share is spent");
        assert!(budget.claim(Some(b), 8).is_some(), "b is not held back");
        // A claim larger than a share counts as a whole share.
        assert!(budget.claim(Some(b), 1000).is_some());
        drop(held);
        assert!(budget.claim(Some(a), 8).is_some(), "given back when done");
        assert!(
            budget.per_address.lock().unwrap().is_empty(),
            "no entry left behind"
        );
        // The total still bounds everyone together.
        let many: Vec<_> = (0..100u8)
            .filter_map(|i| budget.claim(Some(IpAddr::from([10, 1, 0, i])), 8))
            .collect();
        assert_eq!(many.len(), 8);
    }

    #[test]
    fn the_readme_states_these_figures() {
        let readme = include_str!("../../README.md")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for claim in [
            format!("at most {} MiB per process", TOTAL_KIB / 1024),
            format!("one client address at most {} MiB", PER_ADDRESS_KIB / 1024),
        ] {
            assert!(readme.contains(&claim), "README should say: {claim}");
        }
    }
}
