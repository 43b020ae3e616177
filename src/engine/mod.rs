//! The dunning engine at work: the pure state machine (`domain::case`) fed
//! with events and job outcomes, its commands carried out against the
//! database (in the transaction that changed the case) and the job queue.

pub mod apply;
pub mod backtest;
pub mod customer_actions;
pub mod disputes;
pub mod events;
pub mod learning;
pub mod lookups;
pub mod offers;
pub mod operator_actions;
pub mod outgoing;
pub mod policies;
pub mod policy_moves;
pub mod policy_stats;
pub mod pre_dunning;
pub mod relocate;
pub mod route;

use crate::domain::ids::CaseId;
use std::sync::Arc;

use secrecy::ExposeSecret;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::config::Config;
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
    /// Rung after a commit that planned or moved work, so this process's
    /// job runner looks at once instead of at its next poll.
    pub work_planned: Arc<Notify>,
    /// This install's random id (stored in its database): part of every
    /// idempotency key, since the processor's keys are account-wide.
    pub install_id: Arc<str>,
    /// What the planner learned from this install's retry outcomes.
    pub learned: learning::Learned,
    /// The stored policy versions this process knows, and the running one.
    pub policies: policies::Policies,
    /// When this engine's job runner last noted it was at work (real ms;
    /// `jobs::claim::RUNNER_SEEN`).
    pub runner_noted: Arc<std::sync::atomic::AtomicI64>,
}

impl Engine {
    /// The idempotency key of `action` number `attempt` on `invoice`
    /// (`processor::idempotency_key`).
    pub fn idempotency_key(&self, invoice: &str, action: &str, attempt: u32, fresh: u32) -> String {
        crate::processor::idempotency_key(&self.install_id, invoice, action, attempt, fresh)
    }

    /// Opens a transaction and locks case `case_id` in it: `None` when no
    /// such case exists. Both steps' errors name the case.
    pub async fn lock_case(
        &self,
        case_id: CaseId,
    ) -> anyhow::Result<Option<(crate::store::Tx, crate::domain::case_record::CaseRow)>> {
        use anyhow::Context as _;
        let mut tx = self
            .store
            .begin()
            .await
            .with_context(|| format!("starting a transaction for case {case_id}"))?;
        let case = crate::store::cases::lock_case(&mut tx, case_id)
            .await
            .with_context(|| format!("locking case {case_id}"))?;
        Ok(case.map(|case| (tx, case)))
    }

    /// Tells the job runner that work may have been planned.
    pub fn wake_runner(&self) {
        self.work_planned.notify_one();
    }

    /// Every secret a link may be signed with: the current one first, then
    /// those rotated out.
    pub fn link_secrets(&self) -> Vec<&[u8]> {
        std::iter::once(self.link_secret())
            .chain(
                self.config
                    .old_link_secrets
                    .iter()
                    .map(|s| s.expose_secret().as_bytes()),
            )
            .collect()
    }

    pub fn link_secret(&self) -> &[u8] {
        self.config
            .link_secret
            .as_ref()
            .map_or(&[][..], |s| s.expose_secret().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    /// The engine reads and writes through the store's functions, with the
    /// store's handles (`Store`, `Tx`), but every fact it handles is a
    /// `domain` type: no row type of the store is named in `engine/`.
    #[test]
    fn the_engine_names_no_store_type() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine");
        let handles = ["Store", "Tx"];
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                let mut rest = line;
                while let Some(at) = rest.find("store::") {
                    rest = &rest[at + "store::".len()..];
                    // The path's names up to its end: `cases::{self, X}`, `Tx`...
                    let names = rest
                        .split(|c: char| !(c.is_alphanumeric() || "_:{}, ".contains(c)))
                        .next()
                        .unwrap_or("");
                    // Up to where another path starts (`(store::Tx, crate::domain::...)`).
                    let names = names.split("crate::").next().unwrap_or("");
                    for name in names.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                        let typed = name.starts_with(|c: char| c.is_ascii_uppercase());
                        if typed && !handles.contains(&name) {
                            found.push(format!("{}:{}: {name}", path.display(), n + 1));
                        }
                    }
                }
            }
        }
        assert!(found.is_empty(), "store types named in engine/: {found:#?}");
    }
}
