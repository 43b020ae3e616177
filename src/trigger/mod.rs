//! `dunwell trigger`: build a realistic event, sign it exactly as the
//! processor does with the configured secret, POST it and print the answer.

pub mod builder;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::SecretString;

use crate::clock::unix_secs;
use crate::config::Config;
use crate::domain::money::{Currency, Money};
use crate::webhooks::signature;

pub use builder::{BASIL_API_VERSION, LEGACY_API_VERSION, Scenario};

#[derive(Debug, Clone, clap::Args)]
pub struct TriggerArgs {
    /// Event type, e.g. invoice.payment_failed, invoice.paid, charge.failed.
    pub event_type: String,
    /// Where to post (default: this instance's /webhooks/stripe).
    #[arg(long)]
    pub url: Option<String>,
    #[arg(long)]
    pub customer: Option<String>,
    #[arg(long)]
    pub invoice: Option<String>,
    #[arg(long)]
    pub subscription: Option<String>,
    #[arg(long, default_value = "price_Pro")]
    pub price: String,
    #[arg(long)]
    pub payment_method: Option<String>,
    #[arg(long, default_value = "insufficient_funds")]
    pub decline_code: String,
    /// Amount in major units (49.00).
    #[arg(long, default_value = "49.00")]
    pub amount: String,
    #[arg(long, default_value = "usd")]
    pub currency: String,
    #[arg(long, default_value = "customer@example.com")]
    pub email: String,
    #[arg(long, default_value = "Sam Customer")]
    pub name: String,
    /// API version; before 2025-03-31 builds the older invoice shape.
    #[arg(long, default_value = BASIL_API_VERSION)]
    pub api_version: String,
    #[arg(long, default_value_t = 1)]
    pub attempt_count: u32,
    #[arg(long, default_value = "visa")]
    pub card_brand: String,
    /// Card expiry as MM/YYYY (for expiring-card and payment-method events).
    #[arg(long)]
    pub card_expiry: Option<String>,
    /// How a `charge.dispute.closed` ended: won, lost, warning_closed...
    #[arg(long, default_value = "won")]
    pub dispute_status: String,
    /// Event id (default: a fresh random one).
    #[arg(long)]
    pub event_id: Option<String>,
    /// Print the signed body on stdout (exactly the bytes signed) and the
    /// Stripe-Signature header on stderr instead of posting.
    #[arg(long)]
    pub dry_run: bool,
    /// For invoice.payment_failed: send only the invoice event, not the
    /// charge.failed the processor sends first (which carries the decline
    /// code).
    #[arg(long)]
    pub without_charge: bool,
}

fn card_expiry(raw: Option<&str>, now: i64) -> anyhow::Result<(u32, i32)> {
    match raw {
        None => {
            // Default: a card that expires at the end of next month.
            let date = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
            let next = date.date_naive() + chrono::Months::new(1);
            use chrono::Datelike;
            Ok((next.month(), next.year()))
        }
        Some(raw) => {
            let (m, y) = raw
                .split_once('/')
                .context("--card-expiry must look like MM/YYYY")?;
            let month: u32 = m.parse().context("--card-expiry month")?;
            let year: i32 = y.parse().context("--card-expiry year")?;
            if !(1..=12).contains(&month) || !(2000..=2100).contains(&year) {
                bail!("--card-expiry must be a month 01-12 and a four-digit year");
            }
            Ok((month, year))
        }
    }
}

impl TriggerArgs {
    pub fn scenario(&self, now: i64) -> anyhow::Result<Scenario> {
        let tail = crate::random::base62(14);
        let currency = Currency::parse(&self.currency)?;
        let amount = Money::parse_major(&self.amount, currency)?;
        let (card_exp_month, card_exp_year) = card_expiry(self.card_expiry.as_deref(), now)?;
        let or = |given: &Option<String>, prefix: &str| {
            given.clone().unwrap_or_else(|| format!("{prefix}{tail}"))
        };
        Ok(Scenario {
            event_id: self
                .event_id
                .clone()
                .unwrap_or_else(|| format!("evt_{}", crate::random::base62(24))),
            api_version: self.api_version.clone(),
            now,
            customer: or(&self.customer, "cus_"),
            customer_email: self.email.clone(),
            customer_name: self.name.clone(),
            invoice: or(&self.invoice, "in_"),
            subscription: or(&self.subscription, "sub_"),
            price: self.price.clone(),
            payment_method: or(&self.payment_method, "pm_"),
            amount,
            decline_code: self.decline_code.clone(),
            attempt_count: self.attempt_count,
            card_brand: self.card_brand.clone(),
            card_exp_month,
            card_exp_year,
            dispute_status: self.dispute_status.clone(),
        })
    }
}

/// The local intake URL of an instance bound to `config.bind`.
pub fn default_url(config: &Config) -> String {
    let mut addr = config.bind;
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        IpAddr::V6(ip) if ip.is_unspecified() => addr.set_ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        _ => {}
    }
    format!("http://{addr}/webhooks/stripe")
}

/// A signed request ready to send: body and `Stripe-Signature` value.
pub fn signed(event: &serde_json::Value, secret: &SecretString, now: i64) -> (Vec<u8>, String) {
    let body = serde_json::to_vec(event).expect("JSON values serialize");
    let header = signature::sign(secret, now, &body);
    (body, header)
}

pub async fn run(config: &Config, args: &TriggerArgs) -> anyhow::Result<()> {
    let secret = config.webhook_secrets.first().context(
        "no webhook secret configured: set DUNWELL_WEBHOOK_SECRETS (trigger signs with the first one)",
    )?;
    let url = args.url.clone().unwrap_or_else(|| default_url(config));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    if !args.dry_run {
        // Before the event is made: it carries the moment it is sent.
        wait_until_listening(&client, &url).await;
    }
    let now = unix_secs();
    let scenario = args.scenario(now)?;
    let event = builder::build(&args.event_type, &scenario)?;
    // The processor reports a failed renewal's decline on the charge: its
    // `charge.failed` comes just before `invoice.payment_failed`, and so
    // it does here (unless asked not to), so the case plans by the code.
    let with_charge = args.event_type == "invoice.payment_failed" && !args.without_charge;
    if args.dry_run {
        let (body, header) = signed(&event, secret, now);
        // Exactly the signed bytes on stdout (no newline added) and the
        // header on stderr, so the pair replays with curl.
        use std::io::Write;
        eprintln!("Stripe-Signature: {header}");
        if with_charge {
            eprintln!(
                "note: only the invoice event is printed; a real run sends the matching charge.failed (decline_code={}) first",
                scenario.decline_code
            );
        }
        let mut out = std::io::stdout().lock();
        out.write_all(&body)?;
        out.flush()?;
        return Ok(());
    }
    if with_charge {
        let charge = builder::Scenario {
            event_id: format!("evt_{}", crate::random::base62(24)),
            ..scenario.clone()
        };
        let event = builder::build("charge.failed", &charge)?;
        post(&client, &url, "charge.failed", &charge, &event, secret, now).await?;
    }
    post(
        &client,
        &url,
        &args.event_type,
        &scenario,
        &event,
        secret,
        now,
    )
    .await?;
    println!(
        "  customer={} invoice={} subscription={} decline_code={}",
        scenario.customer, scenario.invoice, scenario.subscription, scenario.decline_code
    );
    Ok(())
}

/// How long `trigger` waits for an instance that is still starting.
const WAIT_FOR_START: Duration = Duration::from_secs(30);

/// Returns once something answers HTTP at `url` (any answer), or after
/// [`WAIT_FOR_START`] of refused connections (`serve &` followed at once
/// by `trigger`); the post that follows says what is wrong then.
async fn wait_until_listening(client: &reqwest::Client, url: &str) {
    let started = std::time::Instant::now();
    let mut said = false;
    while started.elapsed() < WAIT_FOR_START {
        match client.get(url).send().await {
            Err(e) if e.is_connect() => {
                if !said {
                    eprintln!(
                        "nothing answers at {url} yet; waiting up to {} s for it to start",
                        WAIT_FOR_START.as_secs()
                    );
                    said = true;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            _ => return,
        }
    }
}

/// Signs `event` and posts it to `url`; the answer, printed.
async fn post(
    client: &reqwest::Client,
    url: &str,
    event_type: &str,
    scenario: &Scenario,
    event: &serde_json::Value,
    secret: &SecretString,
    now: i64,
) -> anyhow::Result<()> {
    let (body, header) = signed(event, secret, now);
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("stripe-signature", header)
        .body(body)
        .send()
        .await
        .with_context(|| format!("posting to {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!(
        "{event_type} {} -> {url}: {} {}",
        scenario.event_id,
        status.as_u16(),
        text.trim()
    );
    if !status.is_success() {
        bail!("the endpoint refused the event with {status}");
    }
    Ok(())
}
