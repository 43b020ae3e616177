//! The pure core: no I/O, no clock reads. Everything here is unit-testable.

pub mod case;
pub mod decline;
pub mod events;
pub mod ids;
pub mod links;
pub mod mail_kind;
pub mod money;
pub mod policy;
pub mod schedule;
pub mod timeline;
pub mod work;
