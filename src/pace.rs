//! A pace for calls to someone else's service: at most `rate` calls a
//! second, evenly spaced (no bursts to trip a per-second limit), and a hold
//! that pauses every caller when the service says "later" (`Retry-After`).
//! Waiting callers queue in order of arrival.
//!
//! Process-wide by itself; `share` makes it cluster-wide on PostgreSQL:
//! every process on the database takes its slots from one row
//! (`store::pace`), so two workers together keep to the limit. Should the
//! database not answer, the process's own pace stands in.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::store::Store;

#[derive(Debug)]
pub struct Pace {
    spacing: Duration,
    /// The next free slot.
    next: Mutex<Instant>,
    /// The database whose row every process shares, and the row's name.
    shared: Option<(Store, &'static str)>,
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
            shared: None,
        }
    }

    /// Shares the pace with every process on `store` (PostgreSQL; on SQLite
    /// it stays the process's own).
    pub fn share(&mut self, store: &Store, name: &'static str) {
        if matches!(store, Store::Postgres(_)) {
            self.shared = Some((store.clone(), name));
        }
    }

    /// Waits for this caller's slot.
    pub async fn acquire(&self) {
        if self.spacing.is_zero() {
            return;
        }
        if let Some((store, name)) = &self.shared {
            let spacing_us = i64::try_from(self.spacing.as_micros()).unwrap_or(i64::MAX);
            match store.take_pace_slot(name, spacing_us).await {
                Ok(Some(wait_us)) => {
                    tokio::time::sleep(Duration::from_micros(wait_us.unsigned_abs())).await;
                    return;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(pace = name, error = %format!("{e:#}"), "the shared pace is unavailable; keeping to this process's own");
                }
            }
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

    /// Nobody calls for `wait` from now (the service asked for it); when
    /// shared, nobody on the database.
    pub async fn hold(&self, wait: Duration) {
        if let Ok(mut next) = self.next.lock() {
            *next = (*next).max(Instant::now() + wait);
        }
        if let Some((store, name)) = &self.shared {
            let wait_us = i64::try_from(wait.as_micros()).unwrap_or(i64::MAX);
            if let Err(e) = store.hold_pace(name, wait_us).await {
                tracing::warn!(pace = name, error = %format!("{e:#}"), "could not share a hold with the other processes");
            }
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
        pace.hold(Duration::from_secs(5)).await;
        let before = Instant::now();
        pace.acquire().await;
        assert!(Instant::now() - before >= Duration::from_secs(5));
        assert_eq!(Pace::new(0.0).spacing, Duration::ZERO);
    }
}
