//! Delivers one outgoing event to `DUNWELL_NOTIFY_URL`: a POST of its JSON,
//! signed like the processor's webhooks (`Dunwell-Signature: t=…,v1=…`,
//! HMAC-SHA256 of `"{t}.{body}"` under `DUNWELL_NOTIFY_SECRET`). A 2xx
//! answer delivers it; anything else tries again later with backoff
//! (`domain::outgoing::retry_delay`, in real time whatever the clock's
//! speed), and after the last wait (about 2.9 days in all) the event is
//! given up: logged, kept, listed (`GET /api/events?status=failed`) and
//! replayable. A case's events are claimed in order (`store::outgoing`), so
//! a later one waits while an earlier one is being retried.

use anyhow::Context as _;
use std::sync::OnceLock;
use std::time::Duration;

use crate::domain::outgoing::retry_delay;
use crate::engine::Engine;
use crate::store::outgoing::OutgoingEvent;
use crate::webhooks::signature::sign;

/// How long a receiver may take to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The one client for deliveries: a timeout, and no redirects followed (a
/// receiver's redirect must not carry the signed body elsewhere). A client
/// that cannot be built is an error for each delivery, never a client
/// without those guards.
fn client() -> anyhow::Result<&'static reqwest::Client> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .timeout(TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("dunwell/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| anyhow::anyhow!("building the delivery HTTP client failed: {e}"))
}

pub async fn perform(engine: &Engine, event: &OutgoingEvent) -> anyhow::Result<()> {
    let store = &engine.store;
    let (Some(url), Some(secret)) = (&engine.config.notify_url, &engine.config.notify_secret)
    else {
        let why = "DUNWELL_NOTIFY_URL is no longer set: not delivered";
        return store
            .outgoing_failed(event.id, why, None, engine.clock.now_ms())
            .await;
    };
    let t = crate::clock::unix_millis() / 1000;
    let answer = client()
        .context("building the delivery client")?
        .post(url.clone())
        .header("Content-Type", "application/json")
        .header(
            "Dunwell-Signature",
            sign(secret, t, event.payload.as_bytes()),
        )
        .header("Dunwell-Event-Id", &event.event_id)
        .body(event.payload.clone())
        .send()
        .await;
    let problem = match answer {
        Ok(r) if r.status().is_success() => None,
        Ok(r) => Some(format!("the receiver answered {}", r.status())),
        // Without the URL: its path or query may carry the receiver's token.
        Err(e) => Some(format!("could not reach the receiver: {}", e.without_url())),
    };
    let Some(problem) = problem else {
        crate::meters::outgoing(event.kind.as_str(), "delivered");
        return store
            .outgoing_delivered(event.id, engine.clock.now_ms())
            .await;
    };
    let failures = event.tries + 1;
    match retry_delay(failures) {
        Some(delay) => {
            crate::meters::outgoing(event.kind.as_str(), "retry");
            // A receiver that is down is down in real time: the wait is
            // real, read on the engine's clock (which may run faster).
            let real_at = crate::clock::unix_millis() + delay.num_milliseconds();
            let at = engine.clock.sim_ms_at(real_at);
            tracing::warn!(event_id = %event.event_id, kind = event.kind.as_str(), problem, in_seconds = delay.num_seconds(), "outgoing event not delivered; trying again later");
            store
                .outgoing_failed(event.id, &problem, Some(at), engine.clock.now_ms())
                .await
        }
        None => {
            crate::meters::outgoing(event.kind.as_str(), "given_up");
            tracing::error!(event_id = %event.event_id, kind = event.kind.as_str(), problem, failures, "outgoing event given up (kept: GET /api/events?status=failed, POST /api/events/{{id}}/replay)");
            store
                .outgoing_failed(event.id, &problem, None, engine.clock.now_ms())
                .await
        }
    }
}
