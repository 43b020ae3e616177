//! The card networks' retry rules, as one ledger per card: how many
//! attempts a card may see in a rolling window, which refusals forbid any
//! further attempt, and which ask for a wait. The planner obeys them by
//! construction; `dunwell simulate` checks every schedule against them.
//! Pure.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::decline::Classification;

/// The network a card runs on, as far as the retry rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    Visa,
    Mastercard,
    Other,
}

impl Default for Network {
    /// Unknown: held to the strictest caps.
    fn default() -> Self {
        Self::Other
    }
}

impl Network {
    pub fn of(brand: Option<&str>) -> Self {
        match brand.map(|b| b.trim().to_ascii_lowercase()).as_deref() {
            Some("visa") => Self::Visa,
            Some("mastercard" | "master_card" | "mc") => Self::Mastercard,
            _ => Self::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Visa => "Visa",
            Self::Mastercard => "Mastercard",
            Self::Other => "card",
        }
    }
}

/// Attempt caps per card (`[policy.networks]`). Defaults are the networks'
/// published limits or below: Visa 15 reattempts in 30 days, Mastercard 35
/// in 30 days and 10 in 24 hours; other and unknown brands get the
/// strictest of both: `other_per_30_days` (15, Visa's) in 30 days and
/// Mastercard's 24-hour cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkCaps {
    pub visa_per_30_days: u32,
    pub mastercard_per_30_days: u32,
    pub mastercard_per_24_hours: u32,
    pub other_per_30_days: u32,
}

impl NetworkCaps {
    /// The published limits: a policy may lower them, never raise them.
    pub const PUBLISHED: Self = Self {
        visa_per_30_days: 15,
        mastercard_per_30_days: 35,
        mastercard_per_24_hours: 10,
        other_per_30_days: 15,
    };

    /// (window, attempts allowed in it) for a card of `network`.
    pub fn windows(&self, network: Network) -> Vec<(Duration, u32)> {
        match network {
            Network::Visa => vec![(Duration::days(30), self.visa_per_30_days)],
            Network::Mastercard => vec![
                (Duration::days(30), self.mastercard_per_30_days),
                (Duration::hours(24), self.mastercard_per_24_hours),
            ],
            // Unknown: it may be either, so both networks' strictest caps.
            Network::Other => vec![
                (Duration::days(30), self.other_per_30_days),
                (Duration::hours(24), self.mastercard_per_24_hours),
            ],
        }
    }
}

impl Default for NetworkCaps {
    fn default() -> Self {
        Self::PUBLISHED
    }
}

/// One card's attempts: every charge on it we know of, ours and the
/// processor's, oldest first.
#[derive(Debug, Clone, Copy)]
pub struct Ledger<'a> {
    pub network: Network,
    pub attempts: &'a [DateTime<Utc>],
}

impl Ledger<'_> {
    /// The earliest moment at or after `from` when one more attempt stays
    /// within every window (each attempt frees its slot when it leaves the
    /// window), with the rule that held it back.
    pub fn earliest_allowed(
        &self,
        caps: &NetworkCaps,
        extra_cap_30_days: u32,
        from: DateTime<Utc>,
    ) -> (DateTime<Utc>, Option<String>) {
        let mut windows = caps.windows(self.network);
        windows.push((Duration::days(30), extra_cap_30_days));
        let mut at = from;
        let mut why = None;
        // Moving later can only free slots, so a few passes settle.
        for _ in 0..4 {
            let mut moved = false;
            for (window, cap) in &windows {
                let cap = (*cap).max(1) as usize;
                let inside: Vec<_> = self
                    .attempts
                    .iter()
                    .filter(|a| **a > at - *window)
                    .collect();
                if inside.len() >= cap {
                    let frees = *inside[inside.len() - cap] + *window;
                    if frees > at {
                        at = frees;
                        moved = true;
                        why = Some(format!(
                            "{} allows {cap} attempts per card in {}",
                            self.network.as_str(),
                            describe(*window)
                        ));
                    }
                }
            }
            if !moved {
                break;
            }
        }
        (at, why)
    }
}

fn describe(window: Duration) -> String {
    if window >= Duration::days(1) && window.num_hours() % 24 == 0 && window != Duration::days(1) {
        format!("{} days", window.num_days())
    } else {
        format!("{} hours", window.num_hours())
    }
}

/// What an attempt at `at` would break, checked independently of the
/// planner: a retry after a refusal that forbids any, before a network's
/// wait is over, or beyond a window's cap.
pub fn violation(
    caps: &NetworkCaps,
    ledger: &Ledger<'_>,
    latest: Option<&Classification>,
    at: DateTime<Utc>,
) -> Option<String> {
    if let Some(latest) = latest {
        if latest.network_forbids_retry {
            return Some(format!(
                "retried after a refusal that forbids it ({})",
                latest.reason
            ));
        }
        if let (Some(wait), Some(last)) = (latest.retry_after, ledger.attempts.last())
            && *last + Duration::seconds(wait.as_secs() as i64) > at
        {
            return Some("retried before the network's wait was over".into());
        }
    }
    for (window, cap) in caps.windows(ledger.network) {
        let inside = ledger.attempts.iter().filter(|a| **a > at - window).count() + 1;
        if inside > cap as usize {
            return Some(format!(
                "{inside} attempts in {} on one {} card (cap {cap})",
                describe(window),
                ledger.network.as_str()
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(hours: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_770_000_000, 0).unwrap() + Duration::hours(hours)
    }

    #[test]
    fn brands_map_to_networks() {
        assert_eq!(Network::of(Some("Visa")), Network::Visa);
        assert_eq!(Network::of(Some("mastercard")), Network::Mastercard);
        assert_eq!(Network::of(Some("amex")), Network::Other);
        assert_eq!(Network::of(None), Network::Other);
    }

    #[test]
    fn mastercard_allows_ten_a_day() {
        let attempts: Vec<_> = (0..10).map(t).collect();
        let ledger = Ledger {
            network: Network::Mastercard,
            attempts: &attempts,
        };
        let caps = NetworkCaps::default();
        assert!(violation(&caps, &ledger, None, t(10)).is_some());
        let (at, why) = ledger.earliest_allowed(&caps, 35, t(10));
        assert_eq!(at, t(24));
        assert!(why.unwrap().contains("10 attempts per card in 24 hours"));
        assert!(violation(&caps, &ledger, None, at).is_none());
        let visa = Ledger {
            network: Network::Visa,
            attempts: &attempts,
        };
        assert_eq!(visa.earliest_allowed(&caps, 15, t(10)).0, t(10));
        let unknown = Ledger {
            network: Network::Other,
            attempts: &attempts,
        };
        assert_eq!(unknown.earliest_allowed(&caps, 15, t(10)).0, t(24));
    }

    #[test]
    fn visa_allows_fifteen_in_thirty_days() {
        let attempts: Vec<_> = (0..15).map(|d| t(d * 24)).collect();
        let ledger = Ledger {
            network: Network::Visa,
            attempts: &attempts,
        };
        let caps = NetworkCaps::default();
        let (at, _) = ledger.earliest_allowed(&caps, 20, t(15 * 24));
        assert_eq!(at, t(30 * 24));
        assert!(violation(&caps, &ledger, None, t(29 * 24)).is_some());
        // The policy's own, lower cap counts too.
        let (at, _) = ledger.earliest_allowed(&caps, 10, t(15 * 24));
        assert_eq!(at, t(5 * 24 + 30 * 24));
    }
}
