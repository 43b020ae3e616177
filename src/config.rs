//! One configuration struct: an optional TOML file, then `DUNWELL_*`
//! environment variables (nested keys joined by `__`), validated as a whole.
//! Secrets are `SecretString`s: `Debug` and `check-config` never print them.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::{Figment, Provider};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::brand::{Brand, RawBrand};
use crate::domain::metrics_access::{Guard, MetricsAccess};
use crate::domain::policy::Policy;
use crate::webhooks::signature::DEFAULT_TOLERANCE_SECS;

pub const DEFAULT_CONFIG_FILE: &str = "dunwell.toml";
const ENV_PREFIX: &str = "DUNWELL_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessorKind {
    Stripe,
    Simulated,
}

/// The validated configuration the application is built from.
#[derive(Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database_url: String,
    pub public_url: Url,
    pub webhook_secrets: Vec<SecretString>,
    pub webhook_tolerance_secs: i64,
    pub webhook_max_body_bytes: usize,
    pub processor: ProcessorKind,
    pub stripe_api_key: Option<SecretString>,
    pub stripe_api_base: Url,
    /// Per request to the processor (each of the client's tries).
    pub stripe_timeout_secs: u64,
    /// Ceiling on processor requests per second (this process).
    pub stripe_max_rps: f64,
    /// Ceiling on emails sent per second (this process).
    pub smtp_max_per_sec: f64,
    pub smtp_url: Option<SecretString>,
    pub mail_from: Option<String>,
    /// Signs customer links (the first of `DUNWELL_LINK_SECRET`'s list).
    pub link_secret: Option<SecretString>,
    /// Earlier link secrets, still accepted so links already sent keep
    /// working after a rotation (the rest of the comma-separated list).
    pub old_link_secrets: Vec<SecretString>,
    pub admin_token: Option<SecretString>,
    /// Bearer token `/metrics` asks for; `None`: open on a loopback bind or
    /// `metrics_bind`, closed otherwise (see `metrics_access`).
    pub metrics_token: Option<SecretString>,
    /// A separate address serving `/metrics` alone (an internal port).
    pub metrics_bind: Option<SocketAddr>,
    pub notify_url: Option<Url>,
    pub notify_secret: Option<SecretString>,
    pub clock_speed: f64,
    /// Where the simulated clock starts when a database's timeline is first
    /// stored (`DUNWELL_CLOCK_START`, RFC 3339): demos and tests that must
    /// not depend on the day they run. `None`: the moment of that start.
    pub clock_start: Option<chrono::DateTime<chrono::Utc>>,
    /// Requests a minute each client address may make to the billing pages
    /// (0 = unlimited); a POST counts as five.
    pub page_requests_per_minute: u32,
    /// The header a trusted proxy puts the client's address in (e.g.
    /// `Fly-Client-IP`); unset = the connection's peer address.
    pub client_ip_header: Option<String>,
    pub policy: Policy,
    pub brand: Brand,
    /// The operator's own email words (`templates_dir`), checked at load.
    pub templates_dir: Option<PathBuf>,
    pub mail_overrides: std::sync::Arc<crate::mail::overrides::Overrides>,
    /// The file this configuration was read from, read again on SIGHUP.
    pub file: Option<PathBuf>,
}

/// What the file and environment say, before validation.
#[derive(Deserialize, Serialize)]
#[serde(default)]
struct RawConfig {
    #[serde(deserialize_with = "text")]
    bind: String,
    #[serde(deserialize_with = "text")]
    database_url: String,
    #[serde(deserialize_with = "text")]
    public_url: String,
    #[serde(deserialize_with = "text_list")]
    webhook_secrets: Vec<String>,
    #[serde(deserialize_with = "text")]
    webhook_tolerance_secs: String,
    #[serde(deserialize_with = "text")]
    webhook_max_body_bytes: String,
    #[serde(deserialize_with = "text")]
    processor: String,
    #[serde(deserialize_with = "opt_text", skip_serializing_if = "Option::is_none")]
    stripe_api_key: Option<String>,
    #[serde(deserialize_with = "text")]
    stripe_api_base: String,
    #[serde(deserialize_with = "text")]
    stripe_timeout_secs: String,
    #[serde(deserialize_with = "opt_text", skip_serializing_if = "Option::is_none")]
    stripe_max_rps: Option<String>,
    #[serde(deserialize_with = "text")]
    smtp_max_per_sec: String,
    #[serde(deserialize_with = "opt_text", skip_serializing_if = "Option::is_none")]
    smtp_url: Option<String>,
    #[serde(deserialize_with = "opt_text", skip_serializing_if = "Option::is_none")]
    mail_from: Option<String>,
    #[serde(deserialize_with = "opt_text", skip_serializing_if = "Option::is_none")]
    link_secret: Option<String>,
    #[serde(deserialize_with = "opt_text", skip_serializing_if = "Option::is_none")]
    admin_token: Option<String>,
    #[serde(deserialize_with = "opt_text", skip_serializing_if = "Option::is_none")]
    metrics_token: Option<String>,
    #[serde(deserialize_with = "opt_text", skip_serializing_if = "Option::is_none")]
    metrics_bind: Option<String>,
    #[serde(deserialize_with = "opt_text", skip_serializing_if = "Option::is_none")]
    notify_url: Option<String>,
    #[serde(deserialize_with = "opt_text", skip_serializing_if = "Option::is_none")]
    notify_secret: Option<String>,
    #[serde(deserialize_with = "text")]
    clock_speed: String,
    #[serde(deserialize_with = "opt_text", skip_serializing_if = "Option::is_none")]
    clock_start: Option<String>,
    #[serde(deserialize_with = "text")]
    page_requests_per_minute: String,
    #[serde(deserialize_with = "opt_text", skip_serializing_if = "Option::is_none")]
    client_ip_header: Option<String>,
    #[serde(deserialize_with = "opt_text", skip_serializing_if = "Option::is_none")]
    templates_dir: Option<String>,
    /// `[policy]` and `[brand]` as given: read apart, so that every error
    /// in them is named at once by its key path.
    policy: serde_json::Value,
    brand: serde_json::Value,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            database_url: "sqlite://dunwell.db".into(),
            public_url: "http://127.0.0.1:8080".into(),
            webhook_secrets: Vec::new(),
            webhook_tolerance_secs: DEFAULT_TOLERANCE_SECS.to_string(),
            webhook_max_body_bytes: (1024 * 1024).to_string(),
            processor: "simulated".into(),
            stripe_api_key: None,
            stripe_api_base: "https://api.stripe.com".into(),
            stripe_timeout_secs: "20".into(),
            stripe_max_rps: None,
            smtp_max_per_sec: "10".into(),
            smtp_url: None,
            mail_from: None,
            link_secret: None,
            admin_token: None,
            metrics_token: None,
            metrics_bind: None,
            notify_url: None,
            notify_secret: None,
            clock_speed: "1".into(),
            clock_start: None,
            page_requests_per_minute: "60".into(),
            client_ip_header: None,
            templates_dir: None,
            policy: serde_json::json!({}),
            brand: serde_json::json!({}),
        }
    }
}

const KNOWN_KEYS: &[&str] = &[
    // DUNWELL_LOG is read by telemetry before the configuration loads.
    "log",
    "bind",
    "database_url",
    "public_url",
    "webhook_secrets",
    "webhook_tolerance_secs",
    "webhook_max_body_bytes",
    "processor",
    "stripe_api_key",
    "stripe_timeout_secs",
    "stripe_max_rps",
    "smtp_max_per_sec",
    "stripe_api_base",
    "smtp_url",
    "mail_from",
    "link_secret",
    "admin_token",
    "metrics_token",
    "metrics_bind",
    "notify_url",
    "notify_secret",
    "clock_speed",
    "clock_start",
    "page_requests_per_minute",
    "client_ip_header",
    "templates_dir",
    "policy",
    "brand",
];

/// Environment variables with our prefix that are not configuration (the
/// log's, read before it; the test suite's `DUNWELL_TEST_*`).
const NOT_CONFIG_ENV: &[&str] = &["log", "log_format"];

/// A string, or a number/bool that the environment parser produced from
/// something the operator meant as text (a numeric token, say).
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    S(String),
    I(i64),
    U(u64),
    F(f64),
    B(bool),
}

impl From<Scalar> for String {
    fn from(s: Scalar) -> String {
        match s {
            Scalar::S(s) => s,
            Scalar::I(i) => i.to_string(),
            Scalar::U(u) => u.to_string(),
            Scalar::F(f) => f.to_string(),
            Scalar::B(b) => b.to_string(),
        }
    }
}

fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Scalar::deserialize(d).map(String::from)
}

fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = Option::<Scalar>::deserialize(d)?.map(String::from);
    Ok(s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()))
}

/// A list, or one comma-separated string (how an env variable carries it).
fn text_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<String>),
        One(String),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::Many(v) => v,
        OneOrMany::One(s) if s.trim().is_empty() => Vec::new(),
        OneOrMany::One(s) => s.split(',').map(|s| s.trim().to_owned()).collect(),
    })
}

/// Every problem found, each naming its key.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl fmt::Debug for Config {
    /// The redacted view: a database URL can carry a password too.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Config {{\n{}}}", self.redacted())
    }
}

impl Config {
    /// Loads `path` (or `dunwell.toml` when present) and the environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigErrors> {
        let file: Option<PathBuf> = match path {
            Some(p) if !p.exists() => {
                return Err(ConfigErrors(vec![format!(
                    "config file {} does not exist",
                    p.display()
                )]));
            }
            Some(p) => Some(p.to_owned()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()),
        };
        let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
        // The platform's conventions (`fly postgres attach` sets
        // DATABASE_URL; many platforms set PORT), beneath everything ours.
        if let Ok(url) = std::env::var("DATABASE_URL") {
            figment = figment.merge(Serialized::default("database_url", url));
        }
        if let Ok(port) = std::env::var("PORT") {
            let bind = format!("0.0.0.0:{}", port.trim());
            figment = figment.merge(Serialized::default("bind", bind));
        }
        if let Some(file) = &file {
            figment = figment.merge(Toml::file_exact(file));
        }
        let env = Env::prefixed(ENV_PREFIX).split("__").filter(|k| {
            let key = k.as_str().to_ascii_lowercase();
            !key.starts_with("test_") && !NOT_CONFIG_ENV.contains(&key.as_str())
        });
        let mut config = Self::from_figment(figment.merge(env))?;
        config.file = file;
        Ok(config)
    }

    /// The defaults with `overrides` on top: what tests and tools start from.
    pub fn from_pairs<'a>(
        overrides: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigErrors> {
        let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
        for (key, value) in overrides {
            figment = figment.merge((key, value));
        }
        Self::from_figment(figment)
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigErrors> {
        let unknown_keys = match figment.data() {
            Ok(data) => data
                .values()
                .flat_map(|dict| dict.keys().cloned())
                .filter(|k| !KNOWN_KEYS.contains(&k.as_str()))
                .collect(),
            Err(e) => return Err(ConfigErrors(vec![e.to_string()])),
        };
        let raw: RawConfig = figment
            .extract()
            .map_err(|e| ConfigErrors(e.into_iter().map(|e| e.to_string()).collect()))?;
        raw.validate(unknown_keys)
    }

    /// What would not work in production though the values are valid: the
    /// key and a sentence. `check-config` prints them; start-up logs them.
    pub fn warnings(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        match self.processor {
            ProcessorKind::Simulated => {
                out.push((
                    "processor",
                    "processor is \"simulated\" (DUNWELL_PROCESSOR): no real money moves; charge outcomes are scripted by invoice id suffix (see README); set processor = \"stripe\" and DUNWELL_STRIPE_API_KEY for production".into(),
                ));
                if self.stripe_api_key.is_some() {
                    out.push((
                        "stripe_api_key",
                        "stripe_api_key (DUNWELL_STRIPE_API_KEY) is set but unused: the processor is simulated".into(),
                    ));
                }
            }
            ProcessorKind::Stripe => {}
        }
        if is_loopback(&self.public_url) {
            out.push((
                "public_url",
                format!(
                "public_url (DUNWELL_PUBLIC_URL) is {:?}: the links in customers' emails would point at this machine; set it to your public https address",
                self.public_url.as_str()
            ),
            ));
        } else if self.public_url.scheme() != "https" {
            out.push((
                "public_url",
                "public_url (DUNWELL_PUBLIC_URL) is not https: customer links carry tokens and must not travel in the clear".into(),
            ));
        }
        if self.smtp_url.is_none() {
            out.push((
                "smtp_url",
                "smtp_url (DUNWELL_SMTP_URL) is unset: emails stay in the outbox and no customer hears from you".into(),
            ));
        }
        if self.clock_speed != 1.0 {
            out.push((
                "clock_speed",
                format!(
                    "clock_speed (DUNWELL_CLOCK_SPEED) is {}: simulated time runs faster than real time, and so do retries and emails",
                    self.clock_speed
                ),
            ));
        }
        if self.clock_start.is_some() {
            out.push((
                "clock_start",
                "clock_start (DUNWELL_CLOCK_START) is set: simulated time starts there for a database without a stored timeline".into(),
            ));
        }
        if let Some(smtp) = &self.smtp_url
            && let Ok(url) = Url::parse(smtp.expose_secret())
        {
            let plain = url.scheme() == "smtp"
                && !url
                    .query_pairs()
                    .any(|(k, v)| k == "tls" && v == "required");
            if plain && (!url.username().is_empty() || url.password().is_some()) {
                out.push((
                "smtp_url",
                "smtp_url (DUNWELL_SMTP_URL) sends credentials over plain smtp://: use smtps:// or smtp://…?tls=required".into(),
            ));
            }
        }
        if self.webhook_secrets.is_empty() {
            out.push((
                "webhook_secrets",
                "webhook_secrets (DUNWELL_WEBHOOK_SECRETS) is unset: every webhook is refused (503) until it is set".into(),
            ));
        }
        if let Some(given) = &self.brand.accent_adjusted_from {
            out.push((
                "brand.accent_color",
                format!(
                    "brand.accent_color {given:?} reads at {:.1}:1 on white (buttons carry white text, links sit on the page): the page and emails use the darker {:?} ({:.1}:1; WCAG AA asks {}:1); choose a darker colour to silence this",
                    crate::domain::brand::accent_contrast(given),
                    self.brand.accent,
                    crate::domain::brand::accent_contrast(&self.brand.accent),
                    crate::domain::brand::MIN_CONTRAST,
                ),
            ));
        }
        let metrics = self.metrics_access();
        let metrics_at = metrics.at.unwrap_or(self.bind);
        if metrics.guard == Guard::Closed
            || (metrics.guard == Guard::Open && !metrics_at.ip().is_loopback())
        {
            // Closed: the scraper gets nothing. Open beyond this machine:
            // revenue per currency for anyone who reaches the port.
            out.push(("metrics_token", metrics.describe(self.bind)));
        }
        if let Some(url) = &self.notify_url
            && url.scheme() != "https"
            && !is_loopback(url)
        {
            out.push((
                "notify_url",
                "notify_url (DUNWELL_NOTIFY_URL) is not https: case events would travel in the clear".into(),
            ));
        }
        out
    }

    /// The effective configuration with secrets redacted, one `key = value` a line.
    pub fn redacted(&self) -> String {
        fn secret(s: &Option<SecretString>) -> String {
            match s {
                Some(_) => "\"[redacted]\"".into(),
                None => "(unset)".into(),
            }
        }
        fn opt<T: fmt::Display>(v: &Option<T>) -> String {
            v.as_ref()
                .map_or_else(|| "(unset)".into(), |v| format!("{:?}", v.to_string()))
        }
        let link_secret = match &self.link_secret {
            Some(_) => "\"[redacted]\"".to_owned(),
            None => "(generated and stored in the database on first start)".to_owned(),
        };
        let smtp = match &self.smtp_url {
            Some(url) => format!("{:?}", redact_url(url.expose_secret())),
            None => "(unset: mail goes to the outbox)".into(),
        };
        let lines = [
            ("bind", format!("{:?}", self.bind.to_string())),
            (
                "database_url",
                format!("{:?}", redact_url(&self.database_url)),
            ),
            (
                "public_url",
                format!("{:?}", redact_url(self.public_url.as_str())),
            ),
            (
                "webhook_secrets",
                format!("{} configured [redacted]", self.webhook_secrets.len()),
            ),
            (
                "webhook_tolerance_secs",
                self.webhook_tolerance_secs.to_string(),
            ),
            (
                "webhook_max_body_bytes",
                self.webhook_max_body_bytes.to_string(),
            ),
            (
                "processor",
                format!("{:?}", format!("{:?}", self.processor).to_lowercase()),
            ),
            ("stripe_api_key", secret(&self.stripe_api_key)),
            (
                "stripe_api_base",
                format!("{:?}", redact_url(self.stripe_api_base.as_str())),
            ),
            ("stripe_timeout_secs", self.stripe_timeout_secs.to_string()),
            ("stripe_max_rps", self.stripe_max_rps.to_string()),
            ("smtp_max_per_sec", self.smtp_max_per_sec.to_string()),
            ("smtp_url", smtp),
            ("mail_from", opt(&self.mail_from)),
            ("link_secret", link_secret),
            ("admin_token", secret(&self.admin_token)),
            ("metrics_token", secret(&self.metrics_token)),
            ("metrics_bind", opt(&self.metrics_bind)),
            (
                "notify_url",
                opt(&self.notify_url.as_ref().map(|u| redact_url(u.as_str()))),
            ),
            ("notify_secret", secret(&self.notify_secret)),
            ("clock_speed", self.clock_speed.to_string()),
            (
                "clock_start",
                opt(&self.clock_start.map(|t| t.to_rfc3339())),
            ),
            (
                "page_requests_per_minute",
                self.page_requests_per_minute.to_string(),
            ),
            ("client_ip_header", opt(&self.client_ip_header)),
            (
                "templates_dir",
                opt(&self
                    .templates_dir
                    .as_ref()
                    .map(|d| format!("{} ({} files)", d.display(), self.mail_overrides.len()))),
            ),
            ("brand.name", format!("{:?}", self.brand.name)),
            ("brand.support_email", opt(&self.brand.support_email)),
            ("brand.website", opt(&self.brand.website)),
            ("brand.logo_url", opt(&self.brand.logo_url)),
            ("brand.accent_color", format!("{:?}", self.brand.accent)),
            ("brand.sender_name", opt(&self.brand.sender_name)),
        ];
        let policy = self.policy.summary();
        lines
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .chain(policy.into_iter().map(|(k, v)| (format!("policy.{k}"), v)))
            .map(|(k, v)| format!("{k} = {v}\n"))
            .collect()
    }

    /// Who may read `/metrics`, and where it is served.
    pub fn metrics_access(&self) -> MetricsAccess {
        MetricsAccess::new(self.bind, self.metrics_bind, self.metrics_token.is_some())
    }

    pub fn is_postgres(&self) -> bool {
        is_postgres_url(&self.database_url)
    }
}

pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

pub use crate::domain::redact::redact_url;

fn http_url(key: &str, raw: &str, errors: &mut Vec<String>) -> Option<Url> {
    match Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Some(url),
        Ok(_) => {
            errors.push(format!(
                "{key}: must be an http:// or https:// URL, got {:?}",
                redact_url(raw)
            ));
            None
        }
        Err(e) => {
            errors.push(format!("{key}: {e} in {:?}", redact_url(raw)));
            None
        }
    }
}

fn number<T: std::str::FromStr>(
    key: &str,
    raw: &str,
    in_range: impl FnOnce(&T) -> bool,
    expected: &str,
    errors: &mut Vec<String>,
) -> Option<T> {
    match raw.trim().parse::<T>() {
        Ok(n) if in_range(&n) => Some(n),
        _ => {
            errors.push(format!("{key}: must be {expected}, got {raw:?}"));
            None
        }
    }
}

/// Whether `url` names this machine (a link to it reaches no customer).
fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        None => true,
        Some(host) => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host == "localhost"
                || host.ends_with(".localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
        }
    }
}

fn secret(value: Option<String>) -> Option<SecretString> {
    value.map(SecretString::from)
}

impl RawConfig {
    fn validate(self, unknown_keys: Vec<String>) -> Result<Config, ConfigErrors> {
        // A typo'd key would silently fall back to a default: refused.
        let mut errors: Vec<String> = unknown_keys
            .iter()
            .map(|key| {
                let hint = crate::domain::every_error::closest(key, KNOWN_KEYS.iter().copied())
                    .map(|k| format!("; did you mean {k} (DUNWELL_{})?", k.to_ascii_uppercase()))
                    .unwrap_or_default();
                format!(
                    "{key}: unknown configuration key (in the file, or DUNWELL_{}){hint}",
                    key.to_ascii_uppercase()
                )
            })
            .collect();
        let bind = self
            .bind
            .parse::<SocketAddr>()
            .map_err(|_| {
                errors.push(format!(
                    "bind (DUNWELL_BIND): must be an address like 127.0.0.1:8080, got {:?}",
                    self.bind
                ))
            })
            .ok();
        let sqlite = self.database_url.starts_with("sqlite:");
        if sqlite && self.database_url.contains(":memory:") {
            errors.push(
                "database_url (DUNWELL_DATABASE_URL): an in-memory SQLite database would lose every event; name a file, e.g. sqlite://dunwell.db".into(),
            );
        } else if !sqlite && !is_postgres_url(&self.database_url) {
            errors.push(format!(
                "database_url (DUNWELL_DATABASE_URL): must start with sqlite:// or postgres://, got {:?}",
                redact_url(&self.database_url)
            ));
        }
        let public_url = http_url(
            "public_url (DUNWELL_PUBLIC_URL)",
            &self.public_url,
            &mut errors,
        );
        let stripe_api_base = http_url(
            "stripe_api_base (DUNWELL_STRIPE_API_BASE)",
            &self.stripe_api_base,
            &mut errors,
        );
        if self.webhook_secrets.iter().any(|s| s.trim().is_empty()) {
            errors.push(
                "webhook_secrets (DUNWELL_WEBHOOK_SECRETS): empty entry in the comma-separated list"
                    .into(),
            );
        }
        for (i, s) in self.webhook_secrets.iter().enumerate() {
            if !s.trim().is_empty() && !s.starts_with("whsec_") {
                errors.push(format!(
                    "webhook_secrets (DUNWELL_WEBHOOK_SECRETS): entry {} does not start with `whsec_` (copy the endpoint's signing secret)",
                    i + 1
                ));
            }
        }
        let tolerance = number::<i64>(
            "webhook_tolerance_secs (DUNWELL_WEBHOOK_TOLERANCE_SECS)",
            &self.webhook_tolerance_secs,
            |n| (1..=86_400).contains(n),
            "a whole number of seconds from 1 to 86400",
            &mut errors,
        );
        let max_body = number::<usize>(
            "webhook_max_body_bytes (DUNWELL_WEBHOOK_MAX_BODY_BYTES)",
            &self.webhook_max_body_bytes,
            |n| (1024..=64 * 1024 * 1024).contains(n),
            "a byte count from 1024 to 67108864",
            &mut errors,
        );
        let stripe_timeout = number::<u64>(
            "stripe_timeout_secs (DUNWELL_STRIPE_TIMEOUT_SECS)",
            &self.stripe_timeout_secs,
            |n| (1..=120).contains(n),
            "a whole number of seconds from 1 to 120",
            &mut errors,
        );
        // Stripe allows about 100 requests a second in live mode and 25 in
        // test mode: stay under both by default.
        let live_key = self
            .stripe_api_key
            .as_deref()
            .is_some_and(|k| k.starts_with("sk_live_") || k.starts_with("rk_live_"));
        let default_rps = if live_key { "80" } else { "20" };
        let stripe_max_rps = number::<f64>(
            "stripe_max_rps (DUNWELL_STRIPE_MAX_RPS)",
            self.stripe_max_rps.as_deref().unwrap_or(default_rps),
            |n| n.is_finite() && *n > 0.0 && *n <= 10_000.0,
            "requests per second above 0 and at most 10000 (Stripe allows about 100 in live mode, 25 in test mode)",
            &mut errors,
        );
        let smtp_max_per_sec = number::<f64>(
            "smtp_max_per_sec (DUNWELL_SMTP_MAX_PER_SEC)",
            &self.smtp_max_per_sec,
            |n| n.is_finite() && *n > 0.0 && *n <= 10_000.0,
            "emails per second above 0 and at most 10000",
            &mut errors,
        );
        let clock_speed = number::<f64>(
            "clock_speed (DUNWELL_CLOCK_SPEED)",
            &self.clock_speed,
            |n| n.is_finite() && *n > 0.0 && *n <= 1e7,
            "a number above 0 (1 = real time)",
            &mut errors,
        );
        let clock_start = match self
            .clock_start
            .as_deref()
            .map(chrono::DateTime::parse_from_rfc3339)
        {
            None => None,
            Some(Ok(t)) => Some(t.to_utc()),
            Some(Err(_)) => {
                errors.push(format!(
                    "clock_start (DUNWELL_CLOCK_START): must be an RFC 3339 instant like 2026-11-10T15:00:00Z, got {:?}",
                    self.clock_start.as_deref().unwrap_or_default()
                ));
                None
            }
        };
        let processor = match self.processor.as_str() {
            "stripe" => Some(ProcessorKind::Stripe),
            "simulated" => Some(ProcessorKind::Simulated),
            other => {
                errors.push(format!(
                    "processor (DUNWELL_PROCESSOR): must be `stripe` or `simulated`, got {other:?}"
                ));
                None
            }
        };
        match (&processor, &self.stripe_api_key) {
            (Some(ProcessorKind::Stripe), None) => errors.push(
                "stripe_api_key (DUNWELL_STRIPE_API_KEY): required when processor = \"stripe\""
                    .into(),
            ),
            (_, Some(key)) if !(key.starts_with("sk_") || key.starts_with("rk_")) => errors.push(
                "stripe_api_key (DUNWELL_STRIPE_API_KEY): must be a secret (sk_...) or restricted (rk_...) key".into(),
            ),
            // A production key with the stand-in processor: customers would
            // be thanked for payments that never happened.
            (Some(ProcessorKind::Simulated), Some(_)) if live_key => errors.push(
                "processor (DUNWELL_PROCESSOR): is \"simulated\" (the default) while stripe_api_key (DUNWELL_STRIPE_API_KEY) is a live key: the simulated processor \"pays\" invoices with no money moving, and customers would be thanked for it; set processor = \"stripe\" (DUNWELL_PROCESSOR=stripe), or remove the live key".into(),
            ),
            _ => {}
        }
        if let Some(smtp) = &self.smtp_url {
            match Url::parse(smtp) {
                Ok(url) if matches!(url.scheme(), "smtp" | "smtps") && url.host().is_some() => {}
                _ => errors.push(format!(
                    "smtp_url (DUNWELL_SMTP_URL): must look like smtp://host:port or smtps://user:pass@host, got {:?}",
                    redact_url(smtp)
                )),
            }
            if self.mail_from.is_none() {
                errors.push("mail_from (DUNWELL_MAIL_FROM): required when smtp_url is set".into());
            }
        }
        if let Some(from) = &self.mail_from {
            let address = from
                .rsplit_once('<')
                .map_or(from.as_str(), |(_, a)| a.trim_end_matches('>'));
            let valid = address
                .split_once('@')
                .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
            if !valid {
                errors.push(format!(
                    "mail_from (DUNWELL_MAIL_FROM): must be an address like billing@example.com or \"Acme <billing@example.com>\", got {from:?}"
                ));
            }
        }
        let link_secrets: Vec<String> = self
            .link_secret
            .as_deref()
            .map(|list| list.split(',').map(|s| s.trim().to_owned()).collect())
            .unwrap_or_default();
        if link_secrets.iter().any(|s| s.len() < 32) {
            errors.push(
                "link_secret (DUNWELL_LINK_SECRET): each comma-separated secret must be at least 32 characters (the first signs new links, the others keep older links working; or leave it unset to have one generated)".into(),
            );
        }
        let brand = {
            let read = crate::domain::every_error::read::<RawBrand>(
                self.brand,
                &serde_json::json!({}),
                "brand.",
            );
            errors.extend(read.errors);
            read.value
                .and_then(|brand| brand.validate().map_err(|e| errors.extend(e)).ok())
        };
        for (key, env, value) in [
            ("admin_token", "DUNWELL_ADMIN_TOKEN", &self.admin_token),
            (
                "metrics_token",
                "DUNWELL_METRICS_TOKEN",
                &self.metrics_token,
            ),
        ] {
            if value.as_deref().is_some_and(weak_token) {
                errors.push(format!(
                    "{key} ({env}): too easy to guess: use at least {MIN_TOKEN_CHARS} characters, \
                     {MIN_TOKEN_DISTINCT} of them different (e.g. `openssl rand -hex 24`)"
                ));
            }
        }
        if self.metrics_token.is_some() && self.metrics_token == self.admin_token {
            errors.push(
                "metrics_token (DUNWELL_METRICS_TOKEN): must differ from admin_token (a scraper's token would open the operator API)".into(),
            );
        }
        let metrics_bind = self.metrics_bind.as_deref().and_then(|raw| {
            raw.parse::<SocketAddr>()
                .map_err(|_| {
                    errors.push(format!(
                        "metrics_bind (DUNWELL_METRICS_BIND): must be an address like [::]:9091, got {raw:?}"
                    ))
                })
                .ok()
        });
        if let (Some(m), Some(b)) = (metrics_bind, bind)
            && m.port() == b.port()
            && m.port() != 0
        {
            errors.push(format!(
                "metrics_bind (DUNWELL_METRICS_BIND): must use another port than bind ({b})"
            ));
        }
        let notify_url = self
            .notify_url
            .as_deref()
            .and_then(|u| http_url("notify_url (DUNWELL_NOTIFY_URL)", u, &mut errors));
        if self.notify_url.is_some() && self.notify_secret.is_none() {
            errors.push(
                "notify_secret (DUNWELL_NOTIFY_SECRET): required when notify_url is set (it signs the events)".into(),
            );
        }
        let page_rate = number::<u32>(
            "page_requests_per_minute (DUNWELL_PAGE_REQUESTS_PER_MINUTE)",
            &self.page_requests_per_minute,
            |n| *n <= 100_000,
            "a whole number of requests from 0 (no limit) to 100000",
            &mut errors,
        );
        if let Some(name) = &self.client_ip_header
            && actix_web::http::header::HeaderName::from_bytes(name.as_bytes()).is_err()
        {
            errors.push(format!(
                "client_ip_header (DUNWELL_CLIENT_IP_HEADER): not a header name, got {name:?}"
            ));
        }
        let policy = crate::domain::policy_text::checked(self.policy)
            .map_err(|e| errors.extend(e))
            .ok();
        let templates_dir = self.templates_dir.as_deref().map(PathBuf::from);
        let mail_overrides = match (&templates_dir, &policy, &brand) {
            (Some(dir), Some(policy), Some(brand)) => {
                let (overrides, mut problems) = crate::mail::overrides::Overrides::load(dir);
                let sample = |tone, locale| crate::mail::sample_view(policy, brand, tone, locale);
                problems.extend(overrides.check(&sample));
                errors.extend(
                    problems
                        .into_iter()
                        .map(|p| format!("templates_dir (DUNWELL_TEMPLATES_DIR): {p}")),
                );
                overrides
            }
            _ => Default::default(),
        };
        match (
            (bind, public_url, stripe_api_base, processor, stripe_timeout),
            (tolerance, max_body, clock_speed, policy, brand),
            page_rate,
        ) {
            (
                (
                    Some(bind),
                    Some(public_url),
                    Some(stripe_api_base),
                    Some(processor),
                    Some(stripe_timeout_secs),
                ),
                (
                    Some(webhook_tolerance_secs),
                    Some(webhook_max_body_bytes),
                    Some(clock_speed),
                    Some(policy),
                    Some(brand),
                ),
                Some(page_requests_per_minute),
            ) if errors.is_empty() => Ok(Config {
                bind,
                database_url: self.database_url,
                public_url,
                webhook_secrets: self
                    .webhook_secrets
                    .into_iter()
                    .map(SecretString::from)
                    .collect(),
                webhook_tolerance_secs,
                webhook_max_body_bytes,
                processor,
                stripe_api_key: secret(self.stripe_api_key),
                stripe_api_base,
                stripe_timeout_secs,
                stripe_max_rps: stripe_max_rps.unwrap_or(20.0),
                smtp_max_per_sec: smtp_max_per_sec.unwrap_or(10.0),
                smtp_url: secret(self.smtp_url),
                mail_from: self.mail_from,
                link_secret: link_secrets.first().cloned().map(SecretString::from),
                old_link_secrets: link_secrets
                    .into_iter()
                    .skip(1)
                    .map(SecretString::from)
                    .collect(),
                admin_token: secret(self.admin_token),
                metrics_token: secret(self.metrics_token),
                metrics_bind,
                notify_url,
                notify_secret: secret(self.notify_secret),
                clock_speed,
                clock_start,
                page_requests_per_minute,
                client_ip_header: self.client_ip_header,
                policy,
                brand,
                templates_dir,
                mail_overrides: std::sync::Arc::new(mail_overrides),
                file: None,
            }),
            _ => Err(ConfigErrors(errors)),
        }
    }
}

/// The least length of an operator or metrics token.
pub const MIN_TOKEN_CHARS: usize = 20;
/// The least number of different characters in one.
pub const MIN_TOKEN_DISTINCT: usize = 10;

/// A token short enough, or repetitive enough, to guess.
fn weak_token(token: &str) -> bool {
    let distinct: std::collections::BTreeSet<char> = token.chars().collect();
    token.chars().count() < MIN_TOKEN_CHARS || distinct.len() < MIN_TOKEN_DISTINCT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = Config::from_pairs([("bnd", "127.0.0.1:1"), ("webhook_secret", "whsec_x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("bnd: unknown configuration key"), "{err}");
        assert!(err.contains("DUNWELL_WEBHOOK_SECRET)"), "{err}");
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::from_pairs([]).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.processor, ProcessorKind::Simulated);
        assert!(c.webhook_secrets.is_empty());
        assert_eq!(c.webhook_tolerance_secs, 300);
    }

    #[test]
    fn comma_separated_secrets_split() {
        let c = Config::from_pairs([("webhook_secrets", "whsec_a, whsec_b")]).unwrap();
        let got: Vec<_> = c
            .webhook_secrets
            .iter()
            .map(|s| s.expose_secret())
            .collect();
        assert_eq!(got, ["whsec_a", "whsec_b"]);
    }

    #[test]
    fn every_error_is_reported_with_its_key() {
        let err = Config::from_pairs([
            ("bind", "nowhere"),
            ("processor", "paypal"),
            ("database_url", "mysql://x"),
            ("clock_speed", "0"),
            ("clock_start", "last tuesday"),
            ("smtp_url", "http://mail"),
        ])
        .unwrap_err();
        let text = err.to_string();
        for key in [
            "bind",
            "processor",
            "database_url",
            "clock_speed",
            "clock_start",
            "smtp_url",
            "mail_from",
        ] {
            assert!(text.contains(key), "{key} missing from {text}");
        }
    }

    #[test]
    fn a_guessable_token_is_refused_with_what_to_do() {
        for weak in [
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "abcabcabcabcabcabcabcabc",
            "short-token-12",
        ] {
            let err = Config::from_pairs([("admin_token", weak)])
                .unwrap_err()
                .to_string();
            assert!(err.contains("DUNWELL_ADMIN_TOKEN"), "{err}");
            assert!(
                err.contains("at least 20 characters, 10 of them different"),
                "{err}"
            );
            let err = Config::from_pairs([("metrics_token", weak)])
                .unwrap_err()
                .to_string();
            assert!(err.contains("DUNWELL_METRICS_TOKEN"), "{err}");
        }
        let readme = include_str!("../README.md");
        let claim = format!(
            "at least {MIN_TOKEN_CHARS} characters, {MIN_TOKEN_DISTINCT} of them different"
        );
        assert!(readme.contains(&claim), "README should say: {claim}");
        let strong = "3f9a1c0b7e2d4a6f8b1c3e5d7a9b0c2e";
        assert!(Config::from_pairs([("admin_token", strong)]).is_ok());
    }

    #[test]
    fn the_metrics_token_is_not_the_operators() {
        let token = "3f9a1c0b7e2d4a6f8b1c3e5d7a9b0c2e";
        let err = Config::from_pairs([("admin_token", token), ("metrics_token", token)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("must differ from admin_token"), "{err}");
    }

    #[test]
    fn stripe_needs_a_key() {
        let err = Config::from_pairs([("processor", "stripe")]).unwrap_err();
        assert!(err.to_string().contains("DUNWELL_STRIPE_API_KEY"));
    }

    #[test]
    fn secrets_never_print() {
        let c = Config::from_pairs([
            ("webhook_secrets", "whsec_topsecret"),
            ("admin_token", "admin-token-0123456789"),
            ("smtp_url", "smtps://user:hunter2@mail.example.com"),
            ("mail_from", "billing@example.com"),
        ])
        .unwrap();
        for shown in [c.redacted(), format!("{c:?}")] {
            for secret in ["whsec_topsecret", "admin-token-0123456789", "hunter2"] {
                assert!(!shown.contains(secret), "{secret} leaked in {shown}");
            }
        }
    }
}
