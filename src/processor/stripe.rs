//! Stripe's REST API over reqwest: form-encoded bodies, bearer key, a pinned
//! API version, an `Idempotency-Key` on every POST. Timeouts, connection
//! errors and 429s are retried here with backoff under the same key (Stripe
//! does not store those); 5xx answers are stored by Stripe for the key, so
//! they go back to the caller.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{PayOutcome, ProcessorError};
use crate::domain::events::{Charge, Customer, DeclineDetails, Invoice};
use crate::domain::ids::{
    ChargeId, CustomerId, InvoiceId, PriceId, SubscriptionId, SubscriptionItemId,
};
use crate::domain::price::Price;

/// The API version dunwell's parsers are written against.
pub const STRIPE_VERSION: &str = "2025-03-31.basil";

#[derive(Debug, Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    base: Url,
    key: SecretString,
    /// Extra tries after a timeout, connection error or 429.
    retries: u32,
    backoff: Duration,
    /// Every call waits its turn here (`DUNWELL_STRIPE_MAX_RPS`; on
    /// PostgreSQL shared by every process), and a 429's `Retry-After` holds
    /// them all.
    pace: std::sync::Arc<crate::pace::Pace>,
    /// Prices read lately (`GET /v1/prices/{id}`), kept `PRICE_TTL`; a
    /// price the processor does not know is remembered as `None` for
    /// `UNKNOWN_PRICE_TTL`, so a policy naming a wrong price costs a call a
    /// minute, not one per page.
    prices: std::sync::Arc<std::sync::Mutex<PriceCache>>,
}

type PriceCache = std::collections::HashMap<String, (std::time::Instant, Option<Price>)>;

/// How long a price read from the processor is reused: offers are shown on
/// every page load and in every email, prices change rarely.
const PRICE_TTL: Duration = Duration::from_secs(600);

/// How long "no such price" is believed: shorter, so a price the operator
/// creates just after naming it shows soon.
const UNKNOWN_PRICE_TTL: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<String>,
}

impl StripeClient {
    pub fn new(
        base: Url,
        key: SecretString,
        timeout: Duration,
        max_rps: f64,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            pace: std::sync::Arc::new(crate::pace::Pace::new(max_rps)),
            http: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .build()?,
            base,
            key,
            retries: 3,
            backoff: Duration::from_millis(500),
            prices: Default::default(),
        })
    }

    /// Keeps to the rate limit together with every process on `store`
    /// (PostgreSQL). Call it before the client is cloned.
    pub fn sharing_pace(mut self, store: &crate::store::Store) -> Self {
        if let Some(pace) = std::sync::Arc::get_mut(&mut self.pace) {
            pace.share(store, "stripe");
        }
        self
    }

    /// Shorter waits between tries (tests).
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    fn url(&self, path: &str) -> Result<Url, ProcessorError> {
        self.base
            .join(path)
            .map_err(|e| ProcessorError::Protocol(format!("bad URL {path}: {e}")))
    }

    /// Sends one call, retrying transport failures and 429 with the same key.
    async fn call(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, &str)],
        idempotency_key: Option<&str>,
    ) -> Result<(StatusCode, String), ProcessorError> {
        let url = self.url(path)?;
        let mut last_problem = String::new();
        for attempt in 0..=self.retries {
            if attempt > 0 {
                tokio::time::sleep(self.backoff * 2u32.pow(attempt - 1)).await;
            }
            self.pace.acquire().await;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(self.key.expose_secret())
                .header("Stripe-Version", STRIPE_VERSION);
            if let Some(key) = idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            if !form.is_empty() {
                request = request.form(form);
            }
            let started = std::time::Instant::now();
            let sent = request.send().await;
            let outcome = match &sent {
                Ok(r) if r.status() == StatusCode::TOO_MANY_REQUESTS => "rate_limited",
                Ok(r) if r.status().is_success() => "ok",
                Ok(r) if r.status().is_server_error() => "server_error",
                Ok(_) => "client_error",
                Err(_) => "unreachable",
            };
            crate::meters::processor_call(operation(&method, path), outcome, started.elapsed());
            // Stripe says whether a retry can help; `false` ends the tries.
            let should_retry = sent.as_ref().ok().and_then(|r| {
                r.headers()
                    .get("stripe-should-retry")
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.eq_ignore_ascii_case("true"))
            });
            match sent {
                Ok(response) if response.status() == StatusCode::TOO_MANY_REQUESTS => {
                    let wait = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .filter(|s| s.is_finite() && *s >= 0.0)
                        .map(|s| Duration::from_secs_f64(s.min(600.0)));
                    if let Some(wait) = wait {
                        // Everyone waits (on PostgreSQL every process),
                        // not only this call.
                        self.pace.hold(wait).await;
                    }
                    last_problem = "rate limited (429)".into();
                    if should_retry == Some(false) {
                        break;
                    }
                }
                Ok(response) => {
                    let status = response.status();
                    let body = response.text().await.map_err(|e| {
                        ProcessorError::Unreachable(format!(
                            "reading the answer: {}",
                            e.without_url()
                        ))
                    })?;
                    return Ok((status, body));
                }
                // Without the URL: the configured base may carry credentials.
                Err(e) => last_problem = e.without_url().to_string(),
            }
            tracing::warn!(path, attempt, problem = %last_problem, "processor call failed; retrying with the same idempotency key");
        }
        Err(ProcessorError::Unreachable(last_problem))
    }

    fn failure(status: StatusCode, body: &str) -> ProcessorError {
        let detail = serde_json::from_str::<ErrorBody>(body)
            .ok()
            .map(|b| b.error);
        let kind = detail.as_ref().and_then(|d| d.kind.clone());
        let message = detail
            .map(|d| {
                format!(
                    "{}: {}",
                    d.kind.unwrap_or_default(),
                    d.message.unwrap_or_default()
                )
            })
            .unwrap_or_else(|| body.chars().take(200).collect());
        if kind.as_deref() == Some("idempotency_error") {
            // 409: the same key is still being worked on; answer later.
            if status == StatusCode::CONFLICT {
                return ProcessorError::Unreachable(message);
            }
            return ProcessorError::KeyReused(message);
        }
        if status.is_server_error() {
            ProcessorError::Server {
                status: status.as_u16(),
                message,
            }
        } else {
            ProcessorError::Rejected {
                status: status.as_u16(),
                message,
            }
        }
    }

    fn invoice(body: &str) -> Result<Invoice, ProcessorError> {
        Invoice::from_json(body).map_err(|e| ProcessorError::Protocol(format!("invoice: {e}")))
    }

    /// `POST /v1/invoices/{id}/pay`.
    pub async fn pay_invoice(
        &self,
        invoice: &InvoiceId,
        idempotency_key: &str,
    ) -> Result<PayOutcome, ProcessorError> {
        let path = format!("v1/invoices/{invoice}/pay");
        let (status, body) = self
            .call(Method::POST, &path, &[], Some(idempotency_key))
            .await?;
        match status {
            s if s.is_success() => Ok(PayOutcome::Paid(Box::new(Self::invoice(&body)?))),
            StatusCode::PAYMENT_REQUIRED => DeclineDetails::from_error_body(body.as_bytes())
                .map(PayOutcome::Declined)
                .ok_or_else(|| ProcessorError::Protocol("402 without an error body".into())),
            s => Err(Self::failure(s, &body)),
        }
    }

    /// `GET /v1/invoices/{id}`: the truth before acting.
    pub async fn get_invoice(&self, invoice: &InvoiceId) -> Result<Invoice, ProcessorError> {
        let (status, body) = self
            .call(Method::GET, &format!("v1/invoices/{invoice}"), &[], None)
            .await?;
        if status.is_success() {
            Self::invoice(&body)
        } else {
            Err(Self::failure(status, &body))
        }
    }

    /// `GET /v1/charges/{id}`; `None` when the processor does not know it.
    pub async fn get_charge(&self, charge: &ChargeId) -> Result<Option<Charge>, ProcessorError> {
        let body = self.get_object(&format!("v1/charges/{charge}")).await?;
        body.map(|b| Charge::from_json(&b))
            .transpose()
            .map_err(|e| ProcessorError::Protocol(format!("charge: {e}")))
    }

    /// `GET /v1/customers/{id}`; `None` when the processor does not know them.
    pub async fn get_customer(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<Customer>, ProcessorError> {
        let body = self.get_object(&format!("v1/customers/{customer}")).await?;
        body.map(|b| Customer::from_json(&b))
            .transpose()
            .map_err(|e| ProcessorError::Protocol(format!("customer: {e}")))
    }

    /// `GET /v1/prices/{id}` with its product expanded (cached a while);
    /// `None` when the processor knows no such price.
    pub async fn get_price(&self, price: &PriceId) -> Result<Option<Price>, ProcessorError> {
        let fresh = |(at, known): &(std::time::Instant, Option<Price>)| {
            at.elapsed()
                < if known.is_some() {
                    PRICE_TTL
                } else {
                    UNKNOWN_PRICE_TTL
                }
        };
        if let Some((_, known)) = self
            .prices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(price.as_str())
            .filter(|hit| fresh(hit))
        {
            return Ok(known.clone());
        }
        let body = self
            .get_object(&format!("v1/prices/{price}?expand[]=product"))
            .await?;
        let read = body
            .map(|body| Price::from_json(&body))
            .transpose()
            .map_err(|e| ProcessorError::Protocol(format!("price: {e}")))?;
        self.prices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(price.to_string(), (std::time::Instant::now(), read.clone()));
        Ok(read)
    }

    /// A GET whose 404 means "no such object".
    async fn get_object(&self, path: &str) -> Result<Option<String>, ProcessorError> {
        let (status, body) = self.call(Method::GET, path, &[], None).await?;
        match status {
            s if s.is_success() => Ok(Some(body)),
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(Self::failure(s, &body)),
        }
    }

    /// `POST /v1/billing_portal/sessions` with a payment-method-update flow;
    /// returns the URL to send the customer to.
    pub async fn card_update_session(
        &self,
        customer: &CustomerId,
        return_url: &str,
        idempotency_key: &str,
    ) -> Result<String, ProcessorError> {
        self.portal_session(
            customer,
            return_url,
            Some("payment_method_update"),
            idempotency_key,
        )
        .await
    }

    /// `POST /v1/billing_portal/sessions` without a flow: the customer's
    /// account page as the operator configured it (subscriptions, cards,
    /// invoices); returns the URL to send the customer to.
    pub async fn account_session(
        &self,
        customer: &CustomerId,
        return_url: &str,
        idempotency_key: &str,
    ) -> Result<String, ProcessorError> {
        self.portal_session(customer, return_url, None, idempotency_key)
            .await
    }

    /// The canceled `subscription` as the processor keeps it: its customer
    /// and its items' prices and quantities (`None`: not there).
    async fn old_subscription(
        &self,
        subscription: &SubscriptionId,
    ) -> Result<Option<OldSubscription>, ProcessorError> {
        let Some(body) = self
            .get_object(&format!("v1/subscriptions/{subscription}"))
            .await?
        else {
            return Ok(None);
        };
        serde_json::from_str(&body)
            .map(Some)
            .map_err(|e| ProcessorError::Protocol(format!("subscription: {e}")))
    }

    /// A Checkout page that starts the canceled `subscription` again for
    /// `customer`: the same prices and quantities, paid with a card the
    /// customer chooses (`POST /v1/checkout/sessions`, mode subscription,
    /// back to `return_url` either way). `None`: the subscription cannot
    /// be copied (gone, another customer's, no prices, or a price the
    /// processor refuses now), so the caller opens the account page.
    pub async fn resubscribe_session(
        &self,
        customer: &CustomerId,
        subscription: &SubscriptionId,
        return_url: &str,
        idempotency_key: &str,
    ) -> Result<Option<String>, ProcessorError> {
        let Some(old) = self.old_subscription(subscription).await? else {
            return Ok(None);
        };
        // Only the customer's own subscription is copied for them.
        if old.customer.id() != customer.as_str() {
            return Ok(None);
        }
        let mut lines = Vec::new();
        // Numbered without gaps: only the items that have a price.
        let priced = old
            .items
            .data
            .iter()
            .filter_map(|i| Some((i.price.as_ref()?, i)));
        for (n, (price, item)) in priced.enumerate() {
            lines.push((format!("line_items[{n}][price]"), price.id.clone()));
            // Metered prices take no quantity.
            if let Some(quantity) = item.quantity {
                lines.push((format!("line_items[{n}][quantity]"), quantity.to_string()));
            }
        }
        if lines.is_empty() {
            return Ok(None);
        }
        let mut form = vec![
            ("mode", "subscription"),
            ("customer", customer.as_str()),
            ("success_url", return_url),
            ("cancel_url", return_url),
            (
                "subscription_data[metadata][dunwell_resubscribes]",
                subscription.as_str(),
            ),
        ];
        form.extend(lines.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        // A replayed key answers with the session it made; one already
        // completed or expired has no URL any more, so a fresh one is made.
        let fresh = format!("{idempotency_key}-{}", crate::random::base62(8));
        for key in [idempotency_key, fresh.as_str()] {
            let (status, body) = self
                .call(Method::POST, "v1/checkout/sessions", &form, Some(key))
                .await?;
            if status == StatusCode::BAD_REQUEST {
                // A price archived since, say: the account page instead.
                tracing::warn!(answer = %Self::failure(status, &body), "the processor refused a checkout for the canceled subscription");
                return Ok(None);
            }
            if !status.is_success() {
                return Err(Self::failure(status, &body));
            }
            #[derive(Deserialize)]
            struct Session {
                url: Option<String>,
            }
            let session: Session = serde_json::from_str(&body)
                .map_err(|e| ProcessorError::Protocol(format!("checkout session: {e}")))?;
            if let Some(url) = session.url {
                return Ok(Some(url));
            }
        }
        Ok(None)
    }

    /// Whether `customer` came back after `old` was canceled: a live
    /// subscription (active, trialing or past due) created at or after
    /// `since` (unix seconds) that the reactivate button made, or that
    /// has one of the canceled subscription's prices (made elsewhere).
    pub async fn subscribed_again(
        &self,
        customer: &CustomerId,
        old: Option<&SubscriptionId>,
        since: i64,
    ) -> Result<bool, ProcessorError> {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("customer", customer.as_str())
            .append_pair("status", "all")
            .append_pair("created[gte]", &since.to_string())
            .append_pair("limit", "100")
            .finish();
        let (status, body) = self
            .call(Method::GET, &format!("v1/subscriptions?{query}"), &[], None)
            .await?;
        if !status.is_success() {
            return Err(Self::failure(status, &body));
        }
        #[derive(Deserialize)]
        struct Listed {
            status: String,
            #[serde(default)]
            metadata: std::collections::HashMap<String, String>,
            #[serde(default)]
            items: Items,
        }
        #[derive(Deserialize)]
        struct List {
            data: Vec<Listed>,
        }
        let list: List = serde_json::from_str(&body)
            .map_err(|e| ProcessorError::Protocol(format!("subscriptions: {e}")))?;
        let live: Vec<&Listed> = list
            .data
            .iter()
            .filter(|s| matches!(s.status.as_str(), "active" | "trialing" | "past_due"))
            .collect();
        let Some(old) = old else {
            return Ok(!live.is_empty());
        };
        if live.iter().any(|s| {
            s.metadata.get("dunwell_resubscribes").map(String::as_str) == Some(old.as_str())
        }) {
            return Ok(true);
        }
        if live.is_empty() {
            return Ok(false);
        }
        // Made elsewhere (the operator's own sign-up page): the same
        // product's prices say it is this subscription again.
        let Some(canceled) = self.old_subscription(old).await? else {
            return Ok(false);
        };
        let prices: Vec<&str> = canceled.items.prices().collect();
        Ok(live
            .iter()
            .any(|s| s.items.prices().any(|p| prices.contains(&p))))
    }

    async fn portal_session(
        &self,
        customer: &CustomerId,
        return_url: &str,
        flow: Option<&str>,
        idempotency_key: &str,
    ) -> Result<String, ProcessorError> {
        let mut form = vec![("customer", customer.as_str()), ("return_url", return_url)];
        if let Some(flow) = flow {
            form.push(("flow_data[type]", flow));
        }
        let (status, body) = self
            .call(
                Method::POST,
                "v1/billing_portal/sessions",
                &form,
                Some(idempotency_key),
            )
            .await?;
        if !status.is_success() {
            return Err(Self::failure(status, &body));
        }
        #[derive(Deserialize)]
        struct Session {
            url: String,
        }
        serde_json::from_str::<Session>(&body)
            .map(|s| s.url)
            .map_err(|e| ProcessorError::Protocol(format!("portal session: {e}")))
    }

    /// A POST whose answer only needs to be a success.
    async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        idempotency_key: &str,
    ) -> Result<(), ProcessorError> {
        let (status, body) = self
            .call(Method::POST, path, form, Some(idempotency_key))
            .await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(Self::failure(status, &body))
        }
    }

    /// `POST /v1/subscriptions/{id}`: move the subscription to `price`,
    /// billing the change as `proration` says (`none`, `create_prorations`,
    /// `always_invoice`).
    pub async fn change_price(
        &self,
        subscription: &SubscriptionId,
        item: &SubscriptionItemId,
        price: &PriceId,
        proration: &str,
        idempotency_key: &str,
    ) -> Result<(), ProcessorError> {
        let form = [
            ("items[0][id]", item.as_str()),
            ("items[0][price]", price.as_str()),
            ("proration_behavior", proration),
        ];
        self.post(
            &format!("v1/subscriptions/{subscription}"),
            &form,
            idempotency_key,
        )
        .await
    }

    /// `POST /v1/subscriptions/{id}` with `pause_collection[behavior]=void`:
    /// the subscription stays, invoices are voided until resumed — at
    /// `pause_collection[resumes_at]` (unix seconds) when given.
    pub async fn pause_collection(
        &self,
        subscription: &SubscriptionId,
        resumes_at: Option<i64>,
        idempotency_key: &str,
    ) -> Result<(), ProcessorError> {
        let resumes = resumes_at.map(|t| t.to_string());
        let mut form = vec![("pause_collection[behavior]", "void")];
        if let Some(t) = &resumes {
            form.push(("pause_collection[resumes_at]", t));
        }
        self.post(
            &format!("v1/subscriptions/{subscription}"),
            &form,
            idempotency_key,
        )
        .await
    }

    /// `POST /v1/invoices/{id}/mark_uncollectible`.
    pub async fn mark_uncollectible(
        &self,
        invoice: &InvoiceId,
        idempotency_key: &str,
    ) -> Result<(), ProcessorError> {
        self.post(
            &format!("v1/invoices/{invoice}/mark_uncollectible"),
            &[],
            idempotency_key,
        )
        .await
    }

    /// `DELETE /v1/subscriptions/{id}`. Already canceled counts as done.
    pub async fn cancel_subscription(
        &self,
        subscription: &SubscriptionId,
        idempotency_key: &str,
    ) -> Result<(), ProcessorError> {
        let path = format!("v1/subscriptions/{subscription}");
        let (status, body) = self
            .call(Method::DELETE, &path, &[], Some(idempotency_key))
            .await?;
        if status.is_success() || status == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(Self::failure(status, &body))
        }
    }
}

/// A call as a metrics label: the method and the path with its object ids
/// left out (`POST v1/invoices/{id}/pay`), so the series stay few.
fn operation(method: &Method, path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let shape: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .map(|segment| {
            const WORDS: [&str; 10] = [
                "v1",
                "prices",
                "invoices",
                "pay",
                "mark_uncollectible",
                "subscriptions",
                "billing_portal",
                "sessions",
                "customers",
                "charges",
            ];
            if WORDS.contains(&segment) {
                segment
            } else {
                "{id}"
            }
        })
        .collect();
    format!("{method} {}", shape.join("/"))
}

/// A subscription's items, as far as a new one copies them.
#[derive(Debug, Default, Deserialize)]
struct Items {
    #[serde(default)]
    data: Vec<Item>,
}

#[derive(Debug, Deserialize)]
struct Item {
    price: Option<PriceRef>,
    quantity: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct PriceRef {
    id: String,
}

impl Items {
    fn prices(&self) -> impl Iterator<Item = &str> {
        self.data
            .iter()
            .filter_map(|i| i.price.as_ref().map(|p| p.id.as_str()))
    }
}

/// An id, or the object it names when expanded.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum IdOrObject {
    Id(String),
    Object { id: String },
}

impl IdOrObject {
    fn id(&self) -> &str {
        match self {
            Self::Id(id) | Self::Object { id } => id,
        }
    }
}

#[derive(Debug, Deserialize)]
struct OldSubscription {
    customer: IdOrObject,
    items: Items,
}

#[cfg(test)]
mod operation_tests {
    use super::*;

    #[test]
    fn ids_stay_out_of_the_label() {
        assert_eq!(
            operation(&Method::POST, "v1/invoices/in_123/pay"),
            "POST v1/invoices/{id}/pay"
        );
        assert_eq!(
            operation(&Method::GET, "/v1/customers/cus_9?expand=x"),
            "GET v1/customers/{id}"
        );
        assert_eq!(
            operation(&Method::POST, "v1/billing_portal/sessions"),
            "POST v1/billing_portal/sessions"
        );
    }
}
