//! The stored policy versions at work: the newest runs for new cases (save
//! the holdout's share), every case keeps the version it opened under, and
//! a new version (from the file at start-up or on SIGHUP, the API, the
//! dashboard or the CLI) takes effect without a restart. Versions never
//! change once written, so this process keeps every one it read.

use anyhow::Context as _;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::Engine;
use crate::domain::holdout;
use crate::domain::policy::Policy;
use crate::domain::policy_record::PolicyVersion;
use crate::domain::policy_text::{self, Format};
use crate::store::Store;
use crate::store::policies as stored;

/// The versions this process knows, and which one runs.
#[derive(Debug, Clone, Default)]
pub struct Policies(Arc<RwLock<Book>>);

#[derive(Debug, Default)]
struct Book {
    /// The running version's number; 0 before the store was read.
    running: i64,
    versions: HashMap<i64, Arc<Policy>>,
}

/// Where a new version comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    File,
    Api,
    Dashboard,
    Cli,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Api => "api",
            Self::Dashboard => "dashboard",
            Self::Cli => "cli",
        }
    }
}

/// What applying a policy did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Stored as this version; it runs for new cases from now.
    New(i64),
    /// The same as the running version: nothing stored.
    Unchanged(i64),
}

impl Policies {
    /// The running version's number and policy (`fallback` before any was
    /// read: a store without versions yet).
    pub fn running(&self, fallback: &Policy) -> (i64, Arc<Policy>) {
        let book = self.0.read().unwrap_or_else(|e| e.into_inner());
        match book.versions.get(&book.running) {
            Some(p) => (book.running, p.clone()),
            None => (0, Arc::new(fallback.clone())),
        }
    }

    fn cached(&self, version: i64) -> Option<Arc<Policy>> {
        let book = self.0.read().unwrap_or_else(|e| e.into_inner());
        book.versions.get(&version).cloned()
    }

    fn keep(&self, version: i64, policy: Arc<Policy>, running: bool) {
        let mut book = self.0.write().unwrap_or_else(|e| e.into_inner());
        book.versions.insert(version, policy);
        if running && version > book.running {
            book.running = version;
        }
    }
}

/// The policy a stored version holds. Versions were validated when
/// written; one that no longer reads (a later release refused a key) is an
/// error the caller reports.
pub fn read_version(row: &PolicyVersion) -> Result<Policy, String> {
    policy_text::parse(&row.policy, Format::Toml).map_err(|errors| {
        format!(
            "stored policy version {} does not read: {}",
            row.version,
            errors.join("; ")
        )
    })
}

impl Engine {
    /// The running policy: what new cases open under.
    pub fn policy(&self) -> Arc<Policy> {
        self.policies.running(&self.config.policy).1
    }

    /// The running version's number (0: none stored yet).
    pub fn policy_version(&self) -> i64 {
        self.policies.running(&self.config.policy).0
    }

    /// The policy of version `version`, read from the store the first time.
    /// A version that cannot be read falls back to the running one (logged).
    pub async fn policy_at(&self, version: i64) -> Arc<Policy> {
        match self.try_policy_at(version).await {
            Some(p) => p,
            None => self.policy(),
        }
    }

    /// The policy of version `version`; `None` (logged) when it cannot be read.
    async fn try_policy_at(&self, version: i64) -> Option<Arc<Policy>> {
        if let Some(p) = self.policies.cached(version) {
            return Some(p);
        }
        match self.store.policy_version(version).await {
            Ok(Some(row)) => match read_version(&row) {
                Ok(policy) => {
                    let policy = Arc::new(policy);
                    self.policies.keep(version, policy.clone(), false);
                    return Some(policy);
                }
                Err(e) => tracing::error!("{e}; using the running policy"),
            },
            Ok(None) => {
                tracing::error!(version, "no such policy version; using the running policy")
            }
            Err(e) => {
                tracing::error!(version, error = %format!("{e:#}"), "could not read a policy version; using the running policy")
            }
        }
        None
    }

    /// The policy a case runs under: its own version, else (no case
    /// opened yet) the running one.
    pub async fn policy_of(&self, case: &crate::domain::case_record::CaseRow) -> Arc<Policy> {
        match case.policy_version {
            Some(v) => self.policy_at(v).await,
            None => self.policy(),
        }
    }

    /// The version a case for `invoice_id` opens under now: the running
    /// one, or its holdout's for the holdout's share of invoices.
    pub async fn policy_for_new_case(&self, invoice_id: &str) -> (i64, Arc<Policy>) {
        let (version, policy) = self.policies.running(&self.config.policy);
        if let Some(h) = policy.holdout {
            let seed = format!("{}:v{version}", self.install_id);
            if holdout::falls_in(&seed, invoice_id, h.share_percent) {
                // A holdout version that cannot be read: the running one.
                if let Some(p) = self.try_policy_at(h.version).await {
                    return (h.version, p);
                }
            }
        }
        (version, policy)
    }

    /// Reads the newest version if another process (or the CLI) stored
    /// one; says whether the running version changed.
    pub async fn refresh_policy(&self) -> anyhow::Result<bool> {
        let newest = self
            .store
            .newest_policy_version()
            .await
            .context("reading the newest policy version number")?;
        if newest <= self.policy_version() {
            return Ok(false);
        }
        let Some(row) = self
            .store
            .policy_version(newest)
            .await
            .with_context(|| format!("reading policy version {newest}"))?
        else {
            return Ok(false);
        };
        let policy = read_version(&row).map_err(anyhow::Error::msg)?;
        self.policies.keep(newest, Arc::new(policy), true);
        tracing::info!(
            version = newest,
            author = %row.author,
            reason = %row.reason,
            source = %row.source,
            "policy version {newest} now runs for new cases"
        );
        Ok(true)
    }

    /// Stores `policy` as the next version when it differs from the
    /// running one, and runs it. A holdout must name a stored version.
    /// Errors are keyed like `check-config`'s.
    pub async fn apply_policy(
        &self,
        policy: &Policy,
        author: &str,
        reason: &str,
        source: Source,
    ) -> anyhow::Result<Result<Applied, Vec<String>>> {
        let applied = store_policy(&self.store, policy, author, reason, source)
            .await
            .context("storing the policy")?;
        if let Ok(Applied::New(_)) = applied {
            self.refresh_policy()
                .await
                .context("running the stored policy")?;
        }
        Ok(applied)
    }
}

/// Stores `policy` as the next version when it differs from the newest
/// (the CLI's way in; running processes take it within seconds). The
/// reason is required; a holdout must name a stored version.
pub async fn store_policy(
    store: &Store,
    policy: &Policy,
    author: &str,
    reason: &str,
    source: Source,
) -> anyhow::Result<Result<Applied, Vec<String>>> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Ok(Err(vec![
            "reason: say why the policy changes (it is kept with the version)".into(),
        ]));
    }
    store_version(store, policy, author, reason, source, false).await
}

/// Stores the configuration file's policy as a new version when it
/// changed since the file last gave one (at the first start: version 1).
/// A holdout naming no stored version is refused (logged).
pub async fn store_file_policy(store: &Store, file_policy: &Policy) -> anyhow::Result<Applied> {
    let first = store
        .newest_policy_version()
        .await
        .context("reading the newest policy version number")?
        == 0;
    let reason = if first {
        "the configuration file's policy, at the first start"
    } else {
        "the configuration file's policy changed"
    };
    match store_version(
        store,
        file_policy,
        "dunwell.toml",
        reason,
        Source::File,
        true,
    )
    .await
    .context("writing the file's policy as a new version")?
    {
        Ok(applied) => Ok(applied),
        Err(errors) => {
            for e in &errors {
                tracing::error!("the configuration file's policy is not used: {e}");
            }
            let newest = store
                .newest_policy_version()
                .await
                .context("reading the newest policy version number")?;
            Ok(Applied::Unchanged(newest))
        }
    }
}

/// Writes `policy` as the next version unless it is the same as the newest
/// (or, with `from_file`, the same as the newest written from the file: a
/// restart with an unchanged file does not undo a change made since).
async fn store_version(
    store: &Store,
    policy: &Policy,
    author: &str,
    reason: &str,
    source: Source,
    from_file: bool,
) -> anyhow::Result<Result<Applied, Vec<String>>> {
    let text = policy_text::canonical_toml(policy);
    let mut tx = store.begin().await.context("starting a transaction")?;
    stored::lock_versions(&mut tx)
        .await
        .context("locking the policy versions")?;
    if let Some(h) = policy.holdout
        && !stored::exists(&mut tx, h.version)
            .await
            .with_context(|| format!("looking up the holdout's policy version {}", h.version))?
    {
        return Ok(Err(vec![format!(
            "policy.holdout.version: there is no stored policy version {} (see dunwell policy list)",
            h.version
        )]));
    }
    let newest = stored::latest(&mut tx, None)
        .await
        .context("reading the newest policy version")?;
    let compare = if from_file {
        stored::latest(&mut tx, Some(Source::File.as_str()))
            .await
            .context("reading the newest policy version from the file")?
    } else {
        newest.clone()
    };
    if let Some(same) = compare.filter(|v| v.policy == text) {
        return Ok(Ok(Applied::Unchanged(same.version)));
    }
    let now = chrono::Utc::now().timestamp_millis();
    let version = stored::insert(&mut tx, now, author, reason, source.as_str(), &text)
        .await
        .context("storing the new policy version")?;
    tx.commit()
        .await
        .with_context(|| format!("committing policy version {version}"))?;
    Ok(Ok(Applied::New(version)))
}

/// At start-up and on SIGHUP: the file's policy becomes a new version when
/// it changed since the file last gave one (the first start: version 1).
/// Then the newest version runs. A holdout in the file that names no
/// stored version is refused (logged); the running version stays.
pub async fn load_file_policy(engine: &Engine, file_policy: &Policy) -> anyhow::Result<Applied> {
    let applied = store_file_policy(&engine.store, file_policy)
        .await
        .context("storing the configuration file's policy")?;
    engine
        .refresh_policy()
        .await
        .context("running the newest policy version")?;
    if let Applied::New(v) = applied {
        tracing::info!(
            version = v,
            "the configuration file's policy is stored as version {v}"
        );
    }
    Ok(applied)
}
