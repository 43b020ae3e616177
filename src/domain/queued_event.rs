//! A stored webhook event on its way through the event queue, and what
//! processing it came to.

/// A stored event handed to the dispatcher.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub seq: i64,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub attempts: i32,
}

/// The result of processing one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub seq: i64,
    pub outcome: Outcome,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Acted on.
    Handled,
    /// A type dunwell does not act on: stored and acknowledged.
    Ignored,
    /// Verified but its object does not have the shape we need.
    Unparseable,
    /// Processing failed too many times.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Handled => "handled",
            Self::Ignored => "ignored",
            Self::Unparseable => "unparseable",
            Self::Failed => "failed",
        }
    }
}
