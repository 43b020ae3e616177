//! A process-wide pace for calls to someone else's service: at most `rate`
//! calls a second, evenly spaced (no bursts to trip a per-second limit), and
//! a hold that pauses every caller when the service says "later"
//! (`Retry-After`). Waiting callers queue in order of arrival.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct Pace {
    spacing: Duration,
    /// The next free slot.
    next: Mutex<Instant>,
}

impl Pace {
    /// At most `per_second` calls a second (values ≤ 0: unlimited).
    pub fn new(per_second: f64) -> Self {
        let spacing = if per_second > 0.0 {
            Duration::from_secs_f64(1.0 / per_second)
        } else {
            Duration::ZERO
        };
        Self {
            spacing,
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this caller's slot.
    pub async fn acquire(&self) {
        if self.spacing.is_zero() {
            return;
        }
        let slot = {
            let Ok(mut next) = self.next.lock() else {
                return;
            };
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.spacing;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// Nobody calls for `wait` from now (the service asked for it).
    pub fn hold(&self, wait: Duration) {
        if let Ok(mut next) = self.next.lock() {
            *next = (*next).max(Instant::now() + wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_are_spaced_and_a_hold_pauses_everyone() {
        let pace = std::sync::Arc::new(Pace::new(20.0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..41 {
            let pace = pace.clone();
            tasks.push(tokio::spawn(async move {
                pace.acquire().await;
                Instant::now()
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap() - start);
        }
        times.sort();
        // 41 calls at 20 a second: the last at 2 s, never 21 in one second.
        assert_eq!(times.last().copied(), Some(Duration::from_secs(2)));
        for (i, t) in times.iter().enumerate() {
            let in_window = times
                .iter()
                .filter(|u| **u >= *t && **u < *t + Duration::from_secs(1))
                .count();
            assert!(in_window <= 20, "{i}: {in_window}");
        }
        pace.hold(Duration::from_secs(5));
        let before = Instant::now();
        pace.acquire().await;
        assert!(Instant::now() - before >= Duration::from_secs(5));
        assert_eq!(Pace::new(0.0).spacing, Duration::ZERO);
    }
}
