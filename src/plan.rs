//! `dunwell plan`: the timeline the current policy gives a hypothetical
//! failure, every retry failing the same way. Human table or `--json`.

use anyhow::{Context, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::json;

use crate::config::Config;
use crate::domain::decline::classify;
use crate::domain::events::DeclineDetails;
use crate::domain::learned::Estimates;
use crate::domain::money::{Currency, Money};
use crate::domain::policy::{FinalAction, Policy, StageEmail};
use crate::domain::timeline::{self, StepAction, TimelineInput};

#[derive(Debug, Clone, clap::Args, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanArgs {
    /// The decline code of the failure (insufficient_funds, expired_card...).
    #[arg(long)]
    #[schema(pattern = "^[a-z][a-z_]{0,63}$")]
    pub decline_code: String,
    /// When the payment failed (default: now).
    #[arg(long)]
    #[schema(format = DateTime)]
    pub failed_at: Option<String>,
    /// The customer's IANA time zone (default: from --country, else the policy's).
    #[arg(long)]
    #[schema(schema_with = crate::web::api::schemas::timezone_schema)]
    pub timezone: Option<String>,
    /// The customer's country (two letters), to guess a time zone.
    #[arg(long)]
    #[schema(schema_with = crate::web::api::schemas::country_schema)]
    pub country: Option<String>,
    /// The customer's earlier successful payments, comma-separated RFC 3339.
    #[arg(long, value_delimiter = ',')]
    #[serde(default)]
    #[schema(schema_with = crate::web::api::schemas::instants_schema)]
    pub paid_at: Vec<String>,
    /// What is owed, in the currency's major units (49.00).
    #[arg(long)]
    #[schema(pattern = "^[0-9]{1,9}(\\.[0-9]{1,2})?$")]
    pub amount: Option<String>,
    /// Three letters (usd, eur…).
    #[arg(long, default_value = "usd")]
    #[serde(default = "usd")]
    #[schema(pattern = "^[a-z]{3}$")]
    pub currency: String,
    /// Card network (visa, mastercard...): network rules depend on it.
    #[arg(long)]
    pub card_brand: Option<String>,
    #[arg(long)]
    #[serde(skip)]
    pub json: bool,
}

impl PlanArgs {
    /// A failure with `decline_code` now, for a customer in `country` or
    /// `timezone` (else the policy's default), nothing else known.
    pub fn failing_now(
        decline_code: &str,
        country: Option<String>,
        timezone: Option<String>,
    ) -> Self {
        Self {
            decline_code: decline_code.to_owned(),
            failed_at: None,
            timezone,
            country,
            paid_at: Vec::new(),
            amount: None,
            currency: usd(),
            card_brand: None,
            json: false,
        }
    }
}

fn usd() -> String {
    "usd".into()
}

/// A plan with what it was made for.
pub struct Preview {
    decline: crate::domain::decline::Classification,
    timezone: Tz,
    /// What chose the zone: `timezone`, `country` or `policy_default`.
    timezone_source: &'static str,
    failed_at: DateTime<Utc>,
    amount: Option<Money>,
    plan: timeline::Timeline,
    /// Outcomes of this install's retries the planner could learn from.
    learned_outcomes: u32,
}

fn instant(raw: &str, flag: &str) -> anyhow::Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(raw.trim())
        .with_context(|| {
            format!("{flag} must be an RFC 3339 time like 2026-03-03T10:00:00Z, got {raw:?}")
        })?
        .with_timezone(&Utc))
}

impl Preview {
    pub fn steps(&self) -> &[timeline::Step] {
        &self.plan.steps
    }

    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    pub fn decline(&self) -> &crate::domain::decline::Classification {
        &self.decline
    }

    /// Why retries stop (or never start).
    pub fn retries_end(&self) -> &str {
        &self.plan.retries_end
    }
}

/// The plan `policy` gives the failure `args` describe (`now` when no
/// failure time is given).
pub fn preview(
    policy: &Policy,
    args: &PlanArgs,
    now: DateTime<Utc>,
    learned: Option<&Estimates>,
) -> anyhow::Result<Preview> {
    let code = args.decline_code.as_str();
    let well_formed = code.len() <= 64
        && code.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if !well_formed {
        bail!(
            "decline_code (--decline-code): a decline code like insufficient_funds, got {:?}",
            args.decline_code
        );
    }
    let failed_at = match &args.failed_at {
        Some(raw) => instant(raw, "failed_at (--failed-at)")?,
        None => now,
    };
    let timezone_source = match (&args.timezone, &args.country) {
        (Some(_), _) => "timezone",
        (None, Some(_)) => "country",
        (None, None) => "policy_default",
    };
    let timezone = match (&args.timezone, &args.country) {
        (Some(name), _) => name.parse::<Tz>().map_err(|_| {
            anyhow::anyhow!(
                "timezone (--timezone): {name:?} is not an IANA time zone (e.g. Europe/Lisbon)"
            )
        })?,
        (None, Some(country)) => match crate::domain::zones::of_country(country) {
            Some(tz) => tz,
            None => {
                bail!("country (--country): no time zone known for {country:?}; give a timezone")
            }
        },
        (None, None) => policy.default_timezone,
    };
    // A country given beside a time zone is not used, but still checked:
    // what is given is right or refused.
    if let (Some(_), Some(country)) = (&args.timezone, &args.country)
        && crate::domain::zones::of_country(country).is_none()
    {
        bail!("country (--country): no time zone known for {country:?}");
    }
    let paid_at = args
        .paid_at
        .iter()
        .map(|s| instant(s, "paid_at (--paid-at)"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let currency = Currency::parse(&args.currency)
        .map_err(|e| anyhow::anyhow!("currency (--currency): {e}"))?;
    let amount = match &args.amount {
        Some(a) => Some(Money::parse_major(a, currency)?),
        None => None,
    };
    let decline = classify(&DeclineDetails {
        code: Some("card_declined".into()),
        decline_code: Some(args.decline_code.clone()),
        card_brand: args.card_brand.clone(),
        ..Default::default()
    });
    let plan = timeline::plan(&TimelineInput {
        case_key: "plan-preview",
        failed_at,
        decline: &decline,
        timezone,
        country: args.country.as_deref().map(str::trim),
        paid_at: &paid_at,
        policy,
        learned,
    });
    Ok(Preview {
        learned_outcomes: learned.map_or(0, Estimates::outcomes),
        decline,
        timezone,
        timezone_source,
        failed_at,
        amount,
        plan,
    })
}

/// The plan as `dunwell plan --json` prints it (and `POST /api/plan`
/// answers).
pub fn to_json(p: &Preview) -> serde_json::Value {
    let local = |at: DateTime<Utc>| {
        at.with_timezone(&p.timezone)
            .to_rfc3339_opts(SecondsFormat::Secs, false)
    };
    let steps: Vec<_> = p
        .plan
        .steps
        .iter()
        .map(|s| {
            let mut step = serde_json::to_value(s).expect("steps serialize");
            step["at"] = json!(s.at.to_rfc3339_opts(SecondsFormat::Secs, true));
            step["local"] = json!(local(s.at));
            step
        })
        .collect();
    let mut out = json!({
        "decline_code": p.decline.code,
        "category": p.decline.category,
        "timezone": p.timezone.name(),
        "timezone_source": p.timezone_source,
        "failed_at": p.failed_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "waits_for_new_payment_method": p.plan.waits_for_new_payment_method,
        "retries_end": p.plan.retries_end,
        "learned_outcomes": p.learned_outcomes,
        "steps": steps,
    });
    if let Some(amount) = p.amount {
        out["amount"] = json!(amount.to_string());
    }
    out
}

/// What the install's database says, when it exists (a SQLite file that is
/// not there is not created; an unreachable PostgreSQL is skipped): the
/// learned estimates and the running policy version, so the plan shows
/// what a real case would get.
#[derive(Default)]
struct FromDatabase {
    learned: Option<Estimates>,
    running: Option<(i64, Policy)>,
}

fn from_database(config: &Config) -> FromDatabase {
    from_database_inner(config).unwrap_or_default()
}

fn from_database_inner(config: &Config) -> Option<FromDatabase> {
    let url = config.database_url.as_str();
    if crate::store::Store::would_create(url) {
        return None;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    runtime.block_on(async {
        let connect = crate::store::Store::connect(url);
        let store = tokio::time::timeout(std::time::Duration::from_secs(3), connect)
            .await
            .ok()?
            .ok()?;
        let learned = crate::engine::learning::load(&store, crate::clock::now()).await;
        let running = match store.newest_policy_version().await {
            Ok(n) if n > 0 => store
                .policy_version(n)
                .await
                .ok()
                .flatten()
                .and_then(|row| crate::engine::policies::read_version(&row).ok())
                .map(|p| (n, p)),
            _ => None,
        };
        store.close().await;
        Some(FromDatabase {
            learned: learned
                .map_err(|e| {
                    tracing::debug!(error = %format!("{e:#}"), "no retry outcomes to learn from")
                })
                .ok(),
            running,
        })
    })
}

pub fn run(config: &Config, args: &PlanArgs) -> anyhow::Result<()> {
    let FromDatabase { learned, running } = from_database(config);
    let policy = running.as_ref().map_or(&config.policy, |(_, p)| p);
    let p = preview(policy, args, crate::clock::now(), learned.as_ref())?;
    let (decline, timezone, failed_at, amount, plan) =
        (&p.decline, p.timezone, p.failed_at, p.amount, &p.plan);
    let local = |at: DateTime<Utc>| {
        at.with_timezone(&timezone)
            .to_rfc3339_opts(SecondsFormat::Secs, false)
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&to_json(&p))?);
        return Ok(());
    }
    println!(
        "decline {} ({}): {}",
        decline.code,
        decline.category.as_str(),
        decline.reason
    );
    let owed = amount.map(|a| format!(", {a} owed")).unwrap_or_default();
    println!(
        "failed at {} ({}){owed}",
        failed_at.to_rfc3339(),
        local(failed_at)
    );
    if plan.waits_for_new_payment_method {
        println!("waits for a new payment method: a card update triggers a retry at once");
    }
    match &running {
        Some((v, _)) => println!("policy version {v}, running in the database"),
        None => println!("policy from the configuration (no version stored in the database yet)"),
    }
    if let Some(learned) = &learned {
        println!(
            "learned from {} retry outcomes in the database (slots move sooner only where they clearly did better)",
            learned.outcomes()
        );
    }
    println!();
    for step in &plan.steps {
        let what = match step.action {
            StepAction::Retry => "retry".to_owned(),
            StepAction::Email => {
                format!(
                    "email {}",
                    step.kind.map(StageEmail::as_str).unwrap_or_default()
                )
            }
            StepAction::Final => format!(
                "final {}",
                step.final_action
                    .map(FinalAction::as_str)
                    .unwrap_or_default()
            ),
        };
        println!(
            "{}  {:<28} {:<22} {}",
            step.at.format("%Y-%m-%d %H:%M UTC"),
            step.at
                .with_timezone(&timezone)
                .format("%a %Y-%m-%d %H:%M %Z"),
            what,
            step.reason
        );
    }
    println!("\nretries end: {}", plan.retries_end);
    Ok(())
}
