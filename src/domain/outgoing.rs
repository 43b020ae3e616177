//! Events dunwell sends to the operator's systems (`DUNWELL_NOTIFY_URL`):
//! which case changes make one, and how often a delivery is tried again.

use crate::domain::ids::CaseId;
use chrono::Duration;

use super::case::CaseState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutgoingType {
    Opened,
    AttemptFailed,
    Recovered,
    Canceled,
    Downgraded,
    Paused,
    Closed,
    NeedsAttention,
}

impl OutgoingType {
    pub const ALL: [Self; 8] = [
        Self::Opened,
        Self::AttemptFailed,
        Self::Recovered,
        Self::Canceled,
        Self::Downgraded,
        Self::Paused,
        Self::Closed,
        Self::NeedsAttention,
    ];

    /// The type a stored event names, if it is one of ours.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "case.opened",
            Self::AttemptFailed => "case.attempt_failed",
            Self::Recovered => "case.recovered",
            Self::Canceled => "case.canceled",
            Self::Downgraded => "case.downgraded",
            Self::Paused => "case.paused",
            Self::Closed => "case.closed",
            Self::NeedsAttention => "case.needs_attention",
        }
    }

    /// The event a case's move from `from` to `to` makes, if any. A case
    /// that opens makes `case.opened` whatever state it opens in.
    pub fn of_transition(from: Option<CaseState>, to: CaseState) -> Option<Self> {
        if from.is_none() {
            return Some(Self::Opened);
        }
        match to {
            CaseState::Recovered => Some(Self::Recovered),
            CaseState::Canceled => Some(Self::Canceled),
            CaseState::Downgraded => Some(Self::Downgraded),
            CaseState::Paused => Some(Self::Paused),
            CaseState::Closed => Some(Self::Closed),
            CaseState::Open | CaseState::Retrying | CaseState::AwaitingCustomer => None,
        }
    }
}

/// Where an outgoing event stands: waiting (to be tried, or again after a
/// failure), delivered, or given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutgoingStatus {
    Pending,
    Delivered,
    Failed,
}

impl OutgoingStatus {
    pub const ALL: [Self; 3] = [Self::Pending, Self::Delivered, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// Waits after each failed delivery: quick at first, then up to a day;
/// 4,221 minutes (about 2.9 days) in all before the event is given up
/// (`given_up_after`; the README states it).
const RETRY_DELAYS_MINUTES: [i64; 9] = [1, 5, 15, 60, 180, 360, 720, 1440, 1440];

/// How long after its first failed delivery an event is given up.
pub fn given_up_after() -> Duration {
    Duration::minutes(RETRY_DELAYS_MINUTES.iter().sum())
}

/// How often an event is sent before it is given up.
pub fn tries() -> usize {
    RETRY_DELAYS_MINUTES.len() + 1
}

/// "10 tries over about 2.9 days": how hard delivery tries, for people.
pub fn tries_in_words() -> String {
    let days = given_up_after().num_minutes() as f64 / 1440.0;
    format!("{} tries over about {days:.1} days", tries())
}

/// When to try again after `failures` failed deliveries; `None`: give up.
pub fn retry_delay(failures: i32) -> Option<Duration> {
    let index = usize::try_from(failures.max(1) - 1).ok()?;
    RETRY_DELAYS_MINUTES
        .get(index)
        .map(|m| Duration::minutes(*m))
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewOutgoing<'a> {
    pub event_id: &'a str,
    pub case_id: CaseId,
    pub kind: OutgoingType,
    pub payload: &'a str,
    pub due_at: i64,
    /// The case's 1, 2, 3… (also in the payload).
    pub sequence: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_types_and_statuses_read_back() {
        for t in OutgoingType::ALL {
            assert_eq!(OutgoingType::parse(t.as_str()), Some(t));
        }
        for s in OutgoingStatus::ALL {
            assert_eq!(OutgoingStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(OutgoingType::parse("case.exploded"), None);
        assert_eq!(OutgoingStatus::parse("sending"), None);
    }

    #[test]
    fn the_readme_states_how_long_events_are_retried() {
        assert_eq!(given_up_after().num_minutes(), 4_221);
        assert_eq!(tries_in_words(), "10 tries over about 2.9 days");
        crate::readme_claims::assert_readme_says(&[tries_in_words()]);
    }

    #[test]
    fn transitions_name_their_events() {
        use CaseState::*;
        assert_eq!(
            OutgoingType::of_transition(None, Paused),
            Some(OutgoingType::Opened)
        );
        assert_eq!(
            OutgoingType::of_transition(Some(Retrying), Recovered),
            Some(OutgoingType::Recovered)
        );
        assert_eq!(OutgoingType::of_transition(Some(Open), Retrying), None);
        assert_eq!(
            OutgoingType::of_transition(Some(Retrying), AwaitingCustomer),
            None
        );
    }

    #[test]
    fn deliveries_back_off_then_give_up() {
        assert_eq!(retry_delay(1), Some(Duration::minutes(1)));
        assert_eq!(retry_delay(4), Some(Duration::hours(1)));
        assert_eq!(retry_delay(9), Some(Duration::days(1)));
        assert_eq!(retry_delay(10), None);
    }
}
