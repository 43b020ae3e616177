//! A Stripe account stand-in (one wiremock responder for every path) that
//! behaves as Stripe does where dunwell's promises depend on it: idempotency
//! keys are account-wide and replay the first answer stored under them (5xx
//! included), a key reused for another request is an `idempotency_error`,
//! invoices stay paid once paid. Faults can be injected per path. Works for
//! any invoice named as `stand_in::scenario` names them, across processes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::stand_in::{object, scenario};

#[derive(Default)]
struct State {
    /// Idempotency key → (method and path, status, body).
    keys: HashMap<String, (String, u16, Value)>,
    /// Charge attempts per invoice (new keys only).
    attempts: HashMap<String, u32>,
    paid: HashSet<String>,
    /// Answers to give the next new request whose path ends so: (suffix, status).
    faults: Vec<(String, u16)>,
    /// Every request: (method, path, idempotency key).
    log: Vec<(String, String, Option<String>)>,
    /// Charge id → customer id (for `GET /v1/charges/{id}`).
    charges: HashMap<String, String>,
    /// Customers `GET /v1/customers/{id}` knows: id → (email, name).
    customers: HashMap<String, (String, String)>,
}

#[derive(Clone)]
pub struct Account {
    state: Arc<Mutex<State>>,
    /// Charge attempts declined (`processing_error`) before one succeeds.
    declines: u32,
    decline_code: &'static str,
}

impl Account {
    /// An account on `server` where every invoice pays on attempt
    /// `declines + 1`, declined with `decline_code` before.
    pub async fn start(declines: u32, decline_code: &'static str) -> (MockServer, Self) {
        let server = MockServer::start().await;
        let account = Self {
            state: Arc::default(),
            declines,
            decline_code,
        };
        Mock::given(wiremock::matchers::any())
            .respond_with(account.clone())
            .mount(&server)
            .await;
        (server, account)
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().expect("account state"))
    }

    /// The next new request whose path ends with `suffix` gets `status`.
    pub fn fail_next(&self, suffix: &str, status: u16) {
        self.with(|s| s.faults.push((suffix.to_owned(), status)));
    }

    pub fn add_charge(&self, charge: &str, customer: &str) {
        self.with(|s| s.charges.insert(charge.to_owned(), customer.to_owned()));
    }

    pub fn add_customer(&self, customer: &str, email: &str, name: &str) {
        self.with(|s| {
            s.customers
                .insert(customer.to_owned(), (email.to_owned(), name.to_owned()))
        });
    }

    /// Requests received: (method, path, idempotency key).
    pub fn log(&self) -> Vec<(String, String, Option<String>)> {
        self.with(|s| s.log.clone())
    }

    /// The keys of requests `method` to paths ending with `suffix`, in order.
    pub fn keys(&self, method: &str, suffix: &str) -> Vec<String> {
        self.log()
            .into_iter()
            .filter(|(m, p, _)| m == method && p.ends_with(suffix))
            .filter_map(|(_, _, k)| k)
            .collect()
    }

    pub fn is_paid(&self, invoice: &str) -> bool {
        self.with(|s| s.paid.contains(invoice))
    }

    /// Charge attempts that reached the account (new keys only).
    pub fn attempts(&self, invoice: &str) -> u32 {
        self.with(|s| s.attempts.get(invoice).copied().unwrap_or(0))
    }

    fn answer(&self, s: &mut State, method: &str, path: &str) -> (u16, Value) {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if let Some(i) = s
            .faults
            .iter()
            .position(|(suffix, _)| path.ends_with(suffix))
        {
            let (_, status) = s.faults.remove(i);
            let kind = if status >= 500 {
                "api_error"
            } else {
                "invalid_request_error"
            };
            return (
                status,
                json!({"error": {"type": kind, "message": "injected fault"}}),
            );
        }
        match (method, parts.as_slice()) {
            ("GET", ["v1", "invoices", id]) => {
                let kind = if s.paid.contains(*id) {
                    "invoice.paid"
                } else {
                    "invoice.payment_failed"
                };
                (200, object(kind, &scenario(id)))
            }
            ("POST", ["v1", "invoices", id, "pay"]) => {
                if s.paid.contains(*id) {
                    return (
                        400,
                        json!({"error": {"type": "invalid_request_error", "code": "invoice_already_paid", "message": "Invoice is already paid"}}),
                    );
                }
                let n = s.attempts.entry((*id).to_owned()).or_default();
                *n += 1;
                if *n <= self.declines {
                    return (
                        402,
                        json!({"error": {"type": "card_error", "code": "card_declined", "decline_code": self.decline_code, "message": "Your card was declined."}}),
                    );
                }
                s.paid.insert((*id).to_owned());
                (200, object("invoice.paid", &scenario(id)))
            }
            ("POST", ["v1", "invoices", _, "mark_uncollectible"]) => {
                (200, json!({"status": "uncollectible"}))
            }
            ("POST", ["v1", "subscriptions", id]) => (200, json!({"id": id, "status": "active"})),
            ("DELETE", ["v1", "subscriptions", id]) => {
                (200, json!({"id": id, "status": "canceled"}))
            }
            ("GET", ["v1", "charges", id]) => match s.charges.get(*id) {
                Some(customer) => (
                    200,
                    json!({"id": id, "object": "charge", "customer": customer, "amount": 4900, "currency": "usd", "created": 1_780_000_000, "paid": true, "livemode": false, "status": "succeeded", "failure_code": null}),
                ),
                None => (
                    404,
                    json!({"error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such charge"}}),
                ),
            },
            ("GET", ["v1", "customers", id]) => match s.customers.get(*id) {
                Some((email, name)) => (
                    200,
                    json!({"id": id, "object": "customer", "email": email, "name": name, "preferred_locales": ["en"]}),
                ),
                None => (
                    404,
                    json!({"error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such customer"}}),
                ),
            },
            _ => (
                404,
                json!({"error": {"type": "invalid_request_error", "message": format!("no route {method} {path}")}}),
            ),
        }
    }
}

impl Respond for Account {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let method = request.method.as_str().to_owned();
        let path = request.url.path().to_owned();
        let key = request
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut s = self.state.lock().expect("account state");
        s.log.push((method.clone(), path.clone(), key.clone()));
        let what = format!("{method} {path}");
        if let Some(key) = &key
            && let Some((first, status, body)) = s.keys.get(key).cloned()
        {
            if first != what {
                return ResponseTemplate::new(400).set_body_json(json!({"error": {
                        "type": "idempotency_error",
                        "message": format!("Keys for idempotent requests can only be used with the same parameters they were first used with ({first})."),
                    }}));
            }
            return ResponseTemplate::new(status)
                .insert_header("idempotent-replayed", "true")
                .set_body_json(body);
        }
        let (status, body) = self.answer(&mut s, &method, &path);
        // Stripe stores what the endpoint ran to, 5xx included; not 429s.
        if let Some(key) = key
            && status != 429
            && method != "GET"
        {
            s.keys.insert(key, (what, status, body.clone()));
        }
        ResponseTemplate::new(status).set_body_json(body)
    }
}
