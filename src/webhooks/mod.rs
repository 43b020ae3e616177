//! The front door: `POST /webhooks/stripe`.

pub mod body_budget;
pub mod group_commit;
pub mod intake;
pub mod log_budget;
pub mod signature;
