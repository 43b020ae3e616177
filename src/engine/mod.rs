//! The dunning engine at work: the pure state machine (`domain::case`) fed
//! with events and job outcomes, its commands carried out against the
//! database (in the transaction that changed the case) and the job queue.

pub mod apply;
pub mod events;
pub mod pre_dunning;
pub mod route;

use std::sync::Arc;

use secrecy::ExposeSecret;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::policy::Policy;
use crate::mail::Mailer;
use crate::processor::Processor;
use crate::store::Store;

/// Everything the engine and its jobs act through.
#[derive(Clone, Debug)]
pub struct Engine {
    pub config: Arc<Config>,
    pub store: Store,
    pub clock: Clock,
    pub processor: Processor,
    pub mailer: Mailer,
}

impl Engine {
    pub fn policy(&self) -> &Policy {
        &self.config.policy
    }

    pub fn link_secret(&self) -> &[u8] {
        self.config
            .link_secret
            .as_ref()
            .map_or(&[][..], |s| s.expose_secret().as_bytes())
    }
}
