//! Respectful timing: no email to a customer at night in their own time,
//! and at most one reminder to pay in any `min_gap_hours` per customer.
//! The final notice, the end-of-case emails and the thank-you are never
//! held back by the gap; the thank-you not by the night either (the
//! customer just paid and expects it).

use chrono::{DateTime, Duration, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;

use super::mail_kind::MailKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Courtesy {
    /// Local hours `[start, end)` wrapping midnight, e.g. (21, 8); `None`: any time.
    pub quiet_hours: Option<(u32, u32)>,
    /// Hours between two reminders to one customer; 0: no limit.
    pub min_gap_hours: u32,
}

impl Default for Courtesy {
    fn default() -> Self {
        Self {
            quiet_hours: Some((21, 8)),
            min_gap_hours: 48,
        }
    }
}

fn quiet(hour: u32, (start, end): (u32, u32)) -> bool {
    if start <= end {
        (start..end).contains(&hour)
    } else {
        hour >= start || hour < end
    }
}

/// When an email of `kind` due `now` may go out instead, and why; `None`:
/// now. `last_reminder`: when the customer's last reminder went out.
pub fn hold_until(
    kind: MailKind,
    now: DateTime<Utc>,
    tz: Tz,
    last_reminder: Option<DateTime<Utc>>,
    rules: &Courtesy,
) -> Option<(DateTime<Utc>, &'static str)> {
    if kind == MailKind::ThankYou {
        return None;
    }
    let mut at = now;
    let mut why = None;
    if kind.is_reminder()
        && rules.min_gap_hours > 0
        && let Some(last) = last_reminder
    {
        let free = last + Duration::hours(i64::from(rules.min_gap_hours));
        if free > at {
            at = free;
            why = Some("at most one reminder per customer in the policy's gap");
        }
    }
    if let Some(hours) = rules.quiet_hours {
        let local = at.with_timezone(&tz);
        if quiet(local.hour(), hours) {
            let mut day = local.date_naive();
            if local.hour() >= hours.1 {
                day = day.succ_opt().unwrap_or(day);
            }
            let morning = NaiveTime::from_hms_opt(hours.1, 0, 0).unwrap_or_default();
            let wake = day
                .and_time(morning)
                .and_local_timezone(tz)
                .earliest()
                .map(|t| t.with_timezone(&Utc));
            if let Some(wake) = wake.filter(|w| *w > at) {
                at = wake;
                why = Some("quiet hours in the customer's time zone");
            }
        }
    }
    why.map(|w| (at, w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 10, h, m, 0).unwrap()
    }

    #[test]
    fn night_emails_wait_for_the_local_morning() {
        let rules = Courtesy::default();
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 22:30 in Berlin (21:30 UTC): held to 08:00 Berlin, 07:00 UTC next day.
        let (at, why) =
            hold_until(MailKind::PaymentFailed, utc(21, 30), berlin, None, &rules).unwrap();
        assert_eq!(at, Utc.with_ymd_and_hms(2026, 3, 11, 7, 0, 0).unwrap());
        assert!(why.contains("quiet hours"));
        // 03:00 in Berlin: the same morning.
        let (at, _) = hold_until(MailKind::FinalNotice, utc(2, 0), berlin, None, &rules).unwrap();
        assert_eq!(at, utc(7, 0));
        // Day time: now.
        assert_eq!(
            hold_until(MailKind::PaymentFailed, utc(12, 0), berlin, None, &rules),
            None
        );
        // The thank-you goes at once, even at night.
        assert_eq!(
            hold_until(MailKind::ThankYou, utc(23, 0), berlin, None, &rules),
            None
        );
    }

    #[test]
    fn reminders_keep_their_distance_but_the_final_notice_does_not_wait() {
        let rules = Courtesy::default();
        let last = Some(utc(9, 0));
        let (at, why) =
            hold_until(MailKind::ActionRequired, utc(12, 0), Tz::UTC, last, &rules).unwrap();
        assert_eq!(at, utc(9, 0) + Duration::hours(48));
        assert!(why.contains("one reminder"));
        assert_eq!(
            hold_until(MailKind::FinalNotice, utc(12, 0), Tz::UTC, last, &rules),
            None
        );
        let off = Courtesy {
            quiet_hours: None,
            min_gap_hours: 0,
        };
        assert_eq!(
            hold_until(MailKind::PaymentFailed, utc(23, 0), Tz::UTC, last, &off),
            None
        );
    }
}
