//! Stored policy versions and the closed cases the backtest replays them on.

/// One stored version.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PolicyVersion {
    pub version: i64,
    /// Wall-clock milliseconds.
    pub created_at: i64,
    pub author: String,
    pub reason: String,
    /// `file`, `api`, `dashboard` or `cli`.
    pub source: String,
    /// The canonical TOML.
    pub policy: String,
}

/// A closed case as the backtest reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedCase {
    pub id: i64,
    pub opened_at: i64,
    pub ended_at: i64,
    pub state: String,
    pub decline_code: Option<String>,
    pub amount_due: i64,
    pub currency: String,
    pub country: Option<String>,
}
