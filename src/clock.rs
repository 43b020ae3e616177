//! Wall-clock reads live here, at the edge; the domain takes `now` as input.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub fn unix_secs() -> i64 {
    unix_millis().div_euclid(1000)
}

pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// The clock dunning runs on. With `speed = N` simulated time runs N times
/// faster than real time from `anchor` on (demos, tests of a 21-day
/// schedule); tests may also move it forward by hand. Real time stays the
/// measure for leases and the job queue's run times, hence `to_real_ms`.
#[derive(Clone, Debug)]
pub struct Clock {
    inner: std::sync::Arc<ClockInner>,
}

#[derive(Debug)]
struct ClockInner {
    speed: f64,
    anchor_ms: i64,
    offset_ms: std::sync::atomic::AtomicI64,
}

impl Clock {
    /// Real time.
    pub fn real() -> Self {
        Self::accelerated(1.0, unix_millis())
    }

    /// Simulated time: `speed` times faster than real time from `anchor_ms`
    /// (real unix ms) on.
    pub fn accelerated(speed: f64, anchor_ms: i64) -> Self {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        Self {
            inner: std::sync::Arc::new(ClockInner {
                speed,
                anchor_ms,
                offset_ms: std::sync::atomic::AtomicI64::new(0),
            }),
        }
    }

    pub fn speed(&self) -> f64 {
        self.inner.speed
    }

    fn offset(&self) -> i64 {
        self.inner
            .offset_ms
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Simulated unix ms for a real unix ms.
    pub fn sim_ms_at(&self, real_ms: i64) -> i64 {
        let i = &self.inner;
        i.anchor_ms + ((real_ms - i.anchor_ms) as f64 * i.speed) as i64 + self.offset()
    }

    pub fn now_ms(&self) -> i64 {
        self.sim_ms_at(unix_millis())
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(self.now_ms()).unwrap_or_default()
    }

    /// The real unix ms at which simulated time reaches `sim_ms`.
    pub fn to_real_ms(&self, sim_ms: i64) -> i64 {
        let i = &self.inner;
        i.anchor_ms + ((sim_ms - self.offset() - i.anchor_ms) as f64 / i.speed).ceil() as i64
    }

    /// Moves simulated time forward (tests).
    pub fn advance(&self, by: chrono::Duration) {
        self.inner
            .offset_ms
            .fetch_add(by.num_milliseconds(), std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accelerated_time_maps_back_to_real_time() {
        let clock = Clock::accelerated(1000.0, 1_000_000);
        assert_eq!(clock.sim_ms_at(1_000_000), 1_000_000);
        assert_eq!(clock.sim_ms_at(1_000_010), 1_010_000);
        assert_eq!(clock.to_real_ms(1_010_000), 1_000_010);
        clock.advance(chrono::Duration::seconds(5));
        assert_eq!(clock.sim_ms_at(1_000_010), 1_015_000);
        assert_eq!(clock.to_real_ms(1_015_000), 1_000_010);
    }

    #[test]
    fn real_clock_is_real_time() {
        let clock = Clock::real();
        assert!((clock.now_ms() - unix_millis()).abs() < 1000);
    }
}
