//! Local mornings: when, in the customer's own time, an attempt or an
//! email lands. A per-case jitter spreads them so a million cases do not
//! all charge at 08:00.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::domain::paydays::is_business_day;

/// Local mornings: attempts start between these hours (jittered).
const MORNING_START_HOUR: u32 = 8;
const MORNING_SPREAD_MINUTES: u64 = 150;

pub fn local_date(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

pub fn next_business_day_on_or_after(mut date: NaiveDate) -> NaiveDate {
    while !is_business_day(date) {
        date = date.succ_opt().expect("dates far from the end of time");
    }
    date
}

/// FNV-1a: a stable hash, the same on every machine and release.
fn stable_hash(text: &str, salt: u32) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes().chain(salt.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The jittered local morning of `date` as a UTC instant.
pub fn local_morning(date: NaiveDate, tz: Tz, case_key: &str, salt: u32) -> DateTime<Utc> {
    let minutes = stable_hash(case_key, salt) % MORNING_SPREAD_MINUTES;
    let start = NaiveTime::from_hms_opt(MORNING_START_HOUR, 0, 0).expect("valid time")
        + Duration::minutes(minutes as i64);
    let local = date.and_time(start);
    // A DST gap has no such local time; take the instant just after it.
    tz.from_local_datetime(&local)
        .earliest()
        .unwrap_or_else(|| tz.from_utc_datetime(&(local - Duration::hours(1))))
        .with_timezone(&Utc)
}

/// `local_morning`, but on the day the window ends: moved earlier within
/// the morning so it comes before `end` when the morning has begun by then,
/// so whether a day still has a morning does not hang on a try's jitter.
pub fn local_morning_before(
    date: NaiveDate,
    tz: Tz,
    case_key: &str,
    salt: u32,
    end: DateTime<Utc>,
) -> DateTime<Utc> {
    let at = local_morning(date, tz, case_key, salt);
    if at < end {
        return at;
    }
    let start = tz
        .from_local_datetime(
            &date
                .and_hms_opt(MORNING_START_HOUR, 0, 0)
                .expect("valid time"),
        )
        .earliest()
        .map(|t| t.with_timezone(&Utc));
    // Half an hour before the end where the morning allows: a charge's
    // answer comes well before the final action.
    match start {
        Some(start) if start < end => (end - Duration::minutes(30)).max(start),
        _ => at,
    }
}

/// When the policy's email of stage `day` goes out: the day-0 email with
/// the failure, later ones in the customer's local morning of that day.
pub fn stage_email_at(failed_at: DateTime<Utc>, day: u32, tz: Tz, case_key: &str) -> DateTime<Utc> {
    if day == 0 {
        return failed_at;
    }
    let date = (failed_at + Duration::days(i64::from(day)))
        .with_timezone(&tz)
        .date_naive();
    local_morning(date, tz, case_key, 1000 + day)
}

/// The first jittered business-day morning at or after `earliest`.
pub fn first_morning_at_or_after(
    earliest: DateTime<Utc>,
    tz: Tz,
    case_key: &str,
    salt: u32,
) -> DateTime<Utc> {
    let mut date = next_business_day_on_or_after(local_date(earliest, tz));
    loop {
        let at = local_morning(date, tz, case_key, salt);
        if at >= earliest {
            return at;
        }
        date = next_business_day_on_or_after(date.succ_opt().expect("valid date"));
    }
}
