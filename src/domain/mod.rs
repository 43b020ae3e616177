//! The pure core: no I/O, no clock reads. Everything here is unit-testable.

pub mod brand;
pub mod carry_out;
pub mod case;
pub mod case_record;
#[cfg(test)]
mod charge_gate_tests;
pub mod courtesy;
pub mod decline;
pub mod dispute;
pub mod events;
pub mod holdout;
pub mod ids;
pub mod learned;
pub mod links;
pub mod locale;
pub mod mail_kind;
pub mod metrics_access;
pub mod money;
pub mod networks;
pub mod notice;
pub mod outgoing;
pub mod paydays;
pub mod policy;
pub mod policy_record;
pub mod policy_text;
pub mod queued_event;
pub mod rate_limit;
pub mod redact;
pub mod schedule;
pub mod session;
pub mod sign_in_throttle;
pub mod simulate;
pub mod stats;
pub mod timeline;
pub mod work;
pub mod zones;
