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
