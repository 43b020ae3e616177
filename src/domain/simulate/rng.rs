//! A small seeded random source (SplitMix64): the same numbers for the same
//! seed on every machine and release, which a backtest needs to be
//! repeatable. Not for secrets.

#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// An independent stream for item `index` of a run seeded with `seed`:
    /// each simulated invoice draws from its own stream, so adding a draw
    /// to one invoice's model does not shift every other invoice.
    pub fn stream(seed: u64, index: u64) -> Self {
        let mut mix = Self(seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        Self(mix.next_u64())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A standard normal draw (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Log-normal with the given median and spread (sigma of the log).
    pub fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// One of `items` with probability proportional to its weight.
    pub fn pick<'a, T>(&mut self, items: &'a [(T, f64)]) -> &'a T {
        let total: f64 = items.iter().map(|(_, w)| w).sum();
        let mut x = self.unit() * total;
        for (item, weight) in items {
            if x < *weight {
                return item;
            }
            x -= weight;
        }
        &items.last().expect("a non-empty list").0
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn the_same_seed_gives_the_same_numbers() {
        let a: Vec<u64> = (0..5).map(|_| Rng::new(7).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut r = Rng::stream(7, 3);
        let first = [r.next_u64(), r.next_u64()];
        let mut again = Rng::stream(7, 3);
        assert_eq!(first, [again.next_u64(), again.next_u64()]);
        assert_ne!(Rng::stream(7, 4).next_u64(), first[0]);
    }

    #[test]
    fn draws_have_the_asked_shape() {
        let mut r = Rng::new(1);
        let n = 20_000;
        let hits = (0..n).filter(|_| r.chance(0.3)).count() as f64 / n as f64;
        assert!((0.28..0.32).contains(&hits), "{hits}");
        let mean = (0..n).map(|_| r.normal()).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.05, "{mean}");
        let picks = (0..n)
            .filter(|_| *r.pick(&[("a", 1.0), ("b", 3.0)]) == "b")
            .count();
        assert!((14_500..15_500).contains(&picks), "{picks}");
    }
}
