//! dunwell: self-hosted payment recovery for subscription businesses.

pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod jobs;
pub mod mail;
pub mod meters;
pub mod pace;
pub mod plan;
pub mod policy_cli;
pub mod processor;
pub mod random;
#[cfg(test)]
pub(crate) mod readme_claims;
pub mod simulate;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod trigger;
pub mod web;
pub mod webhooks;
