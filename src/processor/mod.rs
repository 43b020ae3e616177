//! The payment processor, seen from dunwell: the calls of DESIGN.md
//! ("Processor calls"), each POST with an idempotency key derived from
//! (case, action, attempt).

pub mod simulated;
pub mod stripe;

use crate::domain::events::{DeclineDetails, Invoice};

/// The idempotency key of one side effect: a re-run job sends the same key,
/// so the processor replays its first answer instead of acting twice.
pub fn idempotency_key(case_id: i64, action: &str, attempt: u32) -> String {
    format!("dunwell-{case_id}-{action}-{attempt}")
}

/// What a charge attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum PayOutcome {
    /// The invoice is paid.
    Paid(Box<Invoice>),
    /// The card was refused (HTTP 402 `card_error`).
    Declined(DeclineDetails),
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// The processor failed while acting (HTTP 5xx). It stores that answer
    /// for the key, so re-read the invoice and make a fresh attempt later.
    #[error("processor error {status}: {message}")]
    Server { status: u16, message: String },
    /// Refused as invalid (HTTP 4xx other than 402/429): retrying will not help.
    #[error("processor refused the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// Timeouts, connection errors and 429s that outlasted our own retries.
    #[error("processor unreachable: {0}")]
    Unreachable(String),
    #[error("unexpected processor answer: {0}")]
    Protocol(String),
}
