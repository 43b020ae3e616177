//! What webhook bodies being read at once may hold. A sender holds what it
//! has actually sent so far (rounded up to `STEP_KIB`), not what its
//! `Content-Length` announces, so a stalled body costs its sender the bytes
//! it keeps in flight. The whole process has `TOTAL_KIB`; one client
//! address (an IPv6 /64 counts as one) at most `PER_ADDRESS_KIB` of it, so
//! stalled bodies from one source (which need no secret: only the
//! signature header's shape is checked before the body arrives) cannot keep
//! genuine deliveries from another out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::domain::rate_limit::client_key;

/// Bytes of bodies being read at once, per process, in KiB.
pub const TOTAL_KIB: usize = 64 * 1024;
/// Of which one client address may hold this much.
pub const PER_ADDRESS_KIB: usize = TOTAL_KIB / 8;
/// A body's claim grows in steps of this much as its bytes arrive.
pub const STEP_KIB: usize = 16;

/// The process's budget.
pub struct BodyBudget {
    total: Semaphore,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    per_address_kib: usize,
}

/// A claim on the budget, given back when dropped.
pub struct Held<'a> {
    total: Vec<SemaphorePermit<'a>>,
    budget: &'a BodyBudget,
    address: Option<IpAddr>,
    kib: usize,
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
        let mut held = Held {
            total: Vec::new(),
            budget: self,
            address: address.map(client_key),
            kib: 0,
        };
        held.grow_to(kib.max(1)).then_some(held)
    }

    fn take_share(&self, address: IpAddr, kib: usize) -> bool {
        let mut held = self.per_address.lock().unwrap_or_else(|p| p.into_inner());
        let mine = held.entry(address).or_default();
        if *mine + kib > self.per_address_kib {
            if *mine == 0 {
                held.remove(&address);
            }
            return false;
        }
        *mine += kib;
        true
    }
}

impl Held<'_> {
    /// Grows the claim to `kib` in all (a body that has grown); false when
    /// the address's share or the total is spent.
    pub fn grow_to(&mut self, kib: usize) -> bool {
        if kib <= self.kib {
            return true;
        }
        let more = kib - self.kib;
        let Ok(total) = self.budget.total.try_acquire_many(more as u32) else {
            return false;
        };
        if let Some(address) = self.address
            && !self.budget.take_share(address, more)
        {
            return false;
        }
        self.total.push(total);
        self.kib = kib;
        true
    }

    pub fn kib(&self) -> usize {
        self.kib
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let Some(ip) = self.address else {
            return;
        };
        let mut held = self
            .budget
            .per_address
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(mine) = held.get_mut(&ip) {
            *mine = mine.saturating_sub(self.kib);
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
        // No claim is larger than a share.
        assert!(budget.claim(Some(b), 1000).is_none());
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
    fn a_claim_grows_with_its_body_within_the_share() {
        let budget = BodyBudget::new(64, 8);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let mut held = budget.claim(Some(a), 1).unwrap();
        assert!(held.grow_to(6));
        assert_eq!(held.kib(), 6);
        assert!(!held.grow_to(9), "past the address's share");
        assert_eq!(held.kib(), 6, "a refused growth keeps what was held");
        assert!(budget.claim(Some(a), 2).is_some());
        drop(held);
        assert!(budget.per_address.lock().unwrap().is_empty());
        assert_eq!(budget.total.available_permits(), 64);
    }

    #[test]
    fn an_ipv6_network_counts_as_one_address() {
        let budget = BodyBudget::new(64, 8);
        let held: Vec<_> = (1..=8u16)
            .filter_map(|i| {
                let ip = IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, i]);
                budget.claim(Some(ip), 1)
            })
            .collect();
        assert_eq!(held.len(), 8);
        let same_net = IpAddr::from([0x2001, 0xdb8, 0, 1, 0xffff, 0, 0, 9]);
        assert!(budget.claim(Some(same_net), 1).is_none());
        let other_net = IpAddr::from([0x2001, 0xdb8, 0, 2, 0, 0, 0, 1]);
        assert!(budget.claim(Some(other_net), 1).is_some());
    }

    #[test]
    fn the_readme_states_these_figures() {
        crate::readme_claims::assert_readme_says(&[
            format!("at most {} MiB per process", TOTAL_KIB / 1024),
            format!("one client address at most {} MiB", PER_ADDRESS_KIB / 1024),
            format!("in {STEP_KIB} KiB steps"),
        ]);
    }
}
