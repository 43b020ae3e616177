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
    /// Real unix ms at which simulated time was `sim_anchor_ms`.
    anchor_ms: i64,
    sim_anchor_ms: i64,
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
        Self::anchored(speed, anchor_ms, anchor_ms)
    }

    /// Simulated time that read `sim_anchor_ms` at real time `anchor_ms` and
    /// runs `speed` times faster from there (one timeline shared by every
    /// process and restart: see `shared_timeline`).
    pub fn anchored(speed: f64, anchor_ms: i64, sim_anchor_ms: i64) -> Self {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        Self {
            inner: std::sync::Arc::new(ClockInner {
                speed,
                anchor_ms,
                sim_anchor_ms,
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
        i.sim_anchor_ms + ((real_ms - i.anchor_ms) as f64 * i.speed) as i64 + self.offset()
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
        i.anchor_ms + ((sim_ms - self.offset() - i.sim_anchor_ms) as f64 / i.speed).ceil() as i64
    }

    /// Moves simulated time forward (tests).
    pub fn advance(&self, by: chrono::Duration) {
        self.inner
            .offset_ms
            .fetch_add(by.num_milliseconds(), std::sync::atomic::Ordering::SeqCst);
    }
}

/// The settings key of the stored simulated timeline.
pub const TIMELINE_KEY: &str = "simulated_clock";

/// Where a simulated timeline stands: at real `real_ms` it read `sim_ms`,
/// running `speed` times faster.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Timeline {
    pub real_ms: i64,
    pub sim_ms: i64,
    pub speed: f64,
}

impl Timeline {
    pub fn clock(self) -> Clock {
        Clock::anchored(self.speed, self.real_ms, self.sim_ms)
    }

    /// The same timeline from real `now_ms` on at `speed`: simulated time
    /// goes on from where it is, never back.
    pub fn at_speed(self, speed: f64, now_ms: i64) -> Self {
        Self {
            real_ms: now_ms,
            sim_ms: self.clock().sim_ms_at(now_ms),
            speed,
        }
    }
}

/// The database's engine clock as its processes run it, read only (what
/// the CLI plans against): real time when no simulated timeline is stored.
pub async fn read_timeline(store: &crate::store::Store) -> anyhow::Result<Clock> {
    match store.setting(TIMELINE_KEY).await? {
        Some(text) => Ok(serde_json::from_str::<Timeline>(&text)?.clock()),
        None => Ok(Clock::real()),
    }
}

/// The engine's clock for a database: real time, unless `speed` is not 1,
/// a `start` is given, or the database already runs simulated time. The
/// simulated epoch (now, or `start`) is stored in the database on first
/// start, so every process and every restart shares one timeline; a later
/// `start` changes nothing, and a changed speed goes on from the current
/// simulated time. Deleting the `simulated_clock` setting (or the
/// database) starts over.
pub async fn shared_timeline(
    store: &crate::store::Store,
    speed: f64,
    start: Option<chrono::DateTime<chrono::Utc>>,
) -> anyhow::Result<Clock> {
    let now = unix_millis();
    let fresh = Timeline {
        real_ms: now,
        sim_ms: start.map_or(now, |t| t.timestamp_millis()),
        speed,
    };
    let stored = match store.setting(TIMELINE_KEY).await? {
        Some(text) => serde_json::from_str::<Timeline>(&text)?,
        None if speed == 1.0 && start.is_none() => return Ok(Clock::real()),
        None => {
            let text = store
                .setting_or_insert(TIMELINE_KEY, || {
                    serde_json::to_string(&fresh).unwrap_or_default()
                })
                .await?;
            serde_json::from_str::<Timeline>(&text)?
        }
    };
    if stored.speed == speed {
        return Ok(stored.clock());
    }
    let moved = stored.at_speed(speed, now);
    tracing::warn!(
        from = stored.speed,
        to = speed,
        "this database's simulated clock changes speed; simulated time goes on from {}",
        moved.clock().now()
    );
    store
        .set_setting(TIMELINE_KEY, &serde_json::to_string(&moved)?)
        .await?;
    Ok(moved.clock())
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
    fn a_timeline_goes_on_from_where_it_is_at_a_new_speed() {
        let t = Timeline {
            real_ms: 1_000_000,
            sim_ms: 5_000_000,
            speed: 100.0,
        };
        assert_eq!(t.clock().sim_ms_at(1_000_010), 5_001_000);
        let faster = t.at_speed(1000.0, 1_000_010);
        assert_eq!(faster.clock().sim_ms_at(1_000_010), 5_001_000);
        assert_eq!(faster.clock().sim_ms_at(1_000_011), 5_002_000);
        assert_eq!(faster.clock().to_real_ms(5_002_000), 1_000_011);
    }

    #[test]
    fn real_clock_is_real_time() {
        let clock = Clock::real();
        assert!((clock.now_ms() - unix_millis()).abs() < 1000);
    }
}
