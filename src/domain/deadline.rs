//! The day a case's final action comes, as the customer is told it, and
//! the instant it runs. The emails and the billing page name a day in the
//! customer's time zone ("stays active until Tuesday 29 December"); the
//! final action runs when that day has ended there, never during it.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// The last day before the final action, in `tz`: `day` days after the
/// local day the payment failed.
pub fn announced_day(failed_at: DateTime<Utc>, day: u32, tz: Tz) -> NaiveDate {
    failed_at.with_timezone(&tz).date_naive() + Duration::days(i64::from(day))
}

/// When the final action runs: the first instant after the announced day
/// has ended in `tz` (its local midnight; the first valid instant after it
/// where a clock change skips midnight).
pub fn final_instant(failed_at: DateTime<Utc>, day: u32, tz: Tz) -> DateTime<Utc> {
    let next = announced_day(failed_at, day, tz) + Duration::days(1);
    let mut local = next.and_hms_opt(0, 0, 0).expect("midnight exists");
    // A clock change at midnight (some zones spring forward then) skips
    // it: the first minute that exists.
    for _ in 0..180 {
        if let Some(at) = tz.from_local_datetime(&local).earliest() {
            return at.with_timezone(&Utc);
        }
        local += Duration::minutes(1);
    }
    next.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
}

/// The day announced for a final action running at `final_at` (the day
/// before it, when it runs at a local midnight): what "pay by" shows.
pub fn deadline_day(final_at: DateTime<Utc>) -> DateTime<Utc> {
    final_at - Duration::seconds(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_final_action_runs_when_the_announced_day_has_ended_where_the_customer_lives() {
        // Failed late on 7 December in New York (already the 8th in UTC).
        let failed = utc("2026-12-08T03:00:00Z");
        let ny: Tz = "America/New_York".parse().unwrap();
        let day = announced_day(failed, 21, ny);
        assert_eq!(day, NaiveDate::from_ymd_opt(2026, 12, 28).unwrap());
        let at = final_instant(failed, 21, ny);
        assert_eq!(at, utc("2026-12-29T05:00:00Z"));
        // The page's "pay by" names the same day the emails do.
        let named = deadline_day(at).with_timezone(&ny).date_naive();
        assert_eq!(named, day);
        // Never during the announced day, in any zone.
        for zone in [
            "Pacific/Auckland",
            "Europe/Berlin",
            "UTC",
            "Pacific/Honolulu",
        ] {
            let tz: Tz = zone.parse().unwrap();
            let at = final_instant(failed, 21, tz);
            assert!(at.with_timezone(&tz).date_naive() > announced_day(failed, 21, tz));
            assert_eq!(
                deadline_day(at).with_timezone(&tz).date_naive(),
                announced_day(failed, 21, tz)
            );
        }
    }

    #[test]
    fn a_midnight_that_a_clock_change_skips_gives_the_first_minute_that_exists() {
        // Chile springs forward at midnight (2026-09-06 00:00 -> 01:00).
        let tz: Tz = "America/Santiago".parse().unwrap();
        let failed = utc("2026-09-01T15:00:00Z");
        let at = final_instant(failed, 4, tz);
        let local = at.with_timezone(&tz);
        assert_eq!(
            local.date_naive(),
            NaiveDate::from_ymd_opt(2026, 9, 6).unwrap()
        );
        assert!(local.time() <= chrono::NaiveTime::from_hms_opt(1, 0, 0).unwrap());
    }
}
