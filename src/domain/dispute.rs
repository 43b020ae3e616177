//! Disputes as dunwell sees them.

/// Where a dispute stands for dunwell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeState {
    /// Not closed yet: the customer is not charged.
    Open,
    /// Closed in the merchant's favour.
    Won,
    /// Closed otherwise (lost, warning closed...).
    ClosedOtherwise,
}
