//! Shared by the benchmarks that post through the intake (`drain`, `seed`,
//! `renewal_day`; included with `#[path]`): one failure, signed and posted.

use dunwell::trigger::builder::{self, Scenario};
use dunwell::webhooks::signature;
use secrecy::SecretString;

/// Posts `s` as a signed `invoice.payment_failed` event (signed with the
/// real clock, which the intake checks, whatever time the event names);
/// fails unless the intake answers 200.
pub async fn failure(
    client: &reqwest::Client,
    endpoint: &str,
    secret: &SecretString,
    s: &Scenario,
) -> anyhow::Result<()> {
    let body = serde_json::to_vec(&builder::build("invoice.payment_failed", s)?)?;
    let signed = dunwell::clock::unix_secs();
    let header = format!("t={signed},v1={}", signature::sign(secret, signed, &body));
    let response = client
        .post(endpoint)
        .header("content-type", "application/json")
        .header("stripe-signature", header)
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 200,
        "intake answered {}",
        response.status()
    );
    Ok(())
}
