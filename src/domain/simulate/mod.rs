//! Backtesting a policy: play it — through the same case machine and
//! planner as production — against failed invoices whose customers'
//! hidden truth we know (a generated population, or an operator's own
//! history), beside four plain baselines, and count what came back. Pure.

pub mod backtest;
pub mod choose;
pub mod customer;
pub mod ensemble;
pub mod history;
pub mod learn;
pub mod models;
pub mod play;
pub mod population;
pub mod report;
pub mod rng;

use chrono::{DateTime, Utc};

use crate::domain::events::DeclineDetails;
use customer::{Customer, Reaction};

/// One failed invoice to play.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Stable per invoice: seeds the planner's jitter as a case id would.
    pub key: String,
    pub failed_at: DateTime<Utc>,
    pub decline: DeclineDetails,
    pub amount_minor: i64,
    pub currency: String,
    /// The billing address's country, when the processor would tell us.
    pub country: Option<String>,
    /// The customer's earlier successful payments.
    pub paid_before: Vec<DateTime<Utc>>,
    pub customer: Customer,
    /// A reaction that happens whatever we send (from an operator's
    /// history: the customer brought a new card on that day).
    pub scripted: Option<(Reaction, DateTime<Utc>)>,
}
