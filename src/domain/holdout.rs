//! The policy's holdout: which new case opens under the other version,
//! and how sure a recovery rate is. Pure.

use sha2::{Digest, Sha256};

/// Whether the case for `invoice_id` falls in a holdout of `share_percent`
/// drawn with `seed`: a hash of both, so the same invoice always lands on
/// the same side (a redelivered event, a second worker) and each
/// experiment (seed) draws anew.
pub fn falls_in(seed: &str, invoice_id: &str, share_percent: f64) -> bool {
    let digest = Sha256::new()
        .chain_update(seed.as_bytes())
        .chain_update(b"\0")
        .chain_update(invoice_id.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // 53 bits: an exact fraction in [0, 1).
    let unit = (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64;
    unit * 100.0 < share_percent
}

/// A share with its 95 % confidence interval (Wilson's score interval:
/// sound for small counts and rates near 0 or 1).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Rate {
    pub successes: u64,
    pub trials: u64,
    /// `successes / trials`; 0 without trials.
    pub rate: f64,
    pub low: f64,
    pub high: f64,
}

/// `successes` of `trials`, with Wilson's 95 % interval.
pub fn wilson(successes: u64, trials: u64) -> Rate {
    if trials == 0 {
        return Rate {
            successes,
            trials,
            rate: 0.0,
            low: 0.0,
            high: 1.0,
        };
    }
    let z = 1.959_963_984_540_054_f64;
    let n = trials as f64;
    let p = successes.min(trials) as f64 / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    Rate {
        successes,
        trials,
        rate: p,
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    }
}

/// The difference of two rates (`b - a`) with its 95 % interval (Newcombe's
/// method from the two Wilson intervals): an interval that excludes 0 says
/// the versions differ.
pub fn difference(a: &Rate, b: &Rate) -> (f64, f64, f64) {
    let d = b.rate - a.rate;
    let low = d - ((b.rate - b.low).powi(2) + (a.high - a.rate).powi(2)).sqrt();
    let high = d + ((b.high - b.rate).powi(2) + (a.rate - a.low).powi(2)).sqrt();
    (d, low, high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holdout_takes_its_share_of_ten_thousand_cases() {
        for share in [10.0, 25.0, 50.0] {
            let n = (0..10_000)
                .filter(|i| falls_in("install-7:v3", &format!("in_{i:08}"), share))
                .count();
            // Binomial sd at 10,000 draws is at most 50: 3 sd is 150.
            let expected = share * 100.0;
            assert!(
                (n as f64 - expected).abs() < 150.0,
                "{share}%: {n} of 10000"
            );
        }
        assert_eq!(
            falls_in("s", "in_1", 10.0),
            falls_in("s", "in_1", 10.0),
            "the same invoice always lands on the same side"
        );
        let other_seed = (0..1000)
            .filter(|i| {
                let id = format!("in_{i}");
                falls_in("a", &id, 50.0) != falls_in("b", &id, 50.0)
            })
            .count();
        assert!(other_seed > 400, "a new seed draws anew: {other_seed}");
    }

    #[test]
    fn wilson_intervals_match_the_textbook() {
        // 81 of 263: 0.3080, interval 0.2553 to 0.3662 (Newcombe 1998, table).
        let r = wilson(81, 263);
        assert!((r.rate - 0.3080).abs() < 1e-4, "{r:?}");
        assert!((r.low - 0.2553).abs() < 1e-3, "{r:?}");
        assert!((r.high - 0.3662).abs() < 1e-3, "{r:?}");
        let none = wilson(0, 10);
        assert_eq!(none.low, 0.0);
        assert!((none.high - 0.2775).abs() < 1e-3, "{none:?}");
        assert_eq!(wilson(0, 0).high, 1.0);
        let (d, low, high) = difference(&wilson(50, 100), &wilson(70, 100));
        assert!((d - 0.2).abs() < 1e-9);
        assert!(low > 0.0 && high < 0.4, "{low} {high}");
    }
}
