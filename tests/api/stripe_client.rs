//! The Stripe REST client against a real HTTP stand-in (wiremock).

use std::time::Duration;

use dunwell::domain::ids::{CustomerId, InvoiceId, PriceId, SubscriptionId, SubscriptionItemId};
use dunwell::processor::stripe::{STRIPE_VERSION, StripeClient};
use dunwell::processor::{PayOutcome, ProcessorError, idempotency_key};
use secrecy::SecretString;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::fixture;

fn client(server: &MockServer, timeout: Duration) -> StripeClient {
    paced_client(server, timeout, 1000.0)
}

fn paced_client(server: &MockServer, timeout: Duration, max_rps: f64) -> StripeClient {
    StripeClient::new(
        server.uri().parse().unwrap(),
        SecretString::from("sk_test_123".to_owned()),
        timeout,
        max_rps,
    )
    .unwrap()
    .with_backoff(Duration::from_millis(10))
}

/// Answers like `template` and notes when each request arrived.
type Arrivals = std::sync::Arc<std::sync::Mutex<Vec<std::time::Instant>>>;

struct Clocked {
    arrivals: Arrivals,
    template: ResponseTemplate,
}

impl wiremock::Respond for Clocked {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.arrivals
            .lock()
            .unwrap()
            .push(std::time::Instant::now());
        self.template.clone()
    }
}

/// A stand-in that answers every GET with a paid invoice and clocks arrivals.
async fn clocked_invoice_server() -> (MockServer, Arrivals) {
    let server = MockServer::start().await;
    let arrivals = Arrivals::default();
    Mock::given(method("GET"))
        .respond_with(Clocked {
            arrivals: arrivals.clone(),
            template: ResponseTemplate::new(200).set_body_json(paid_invoice()),
        })
        .mount(&server)
        .await;
    (server, arrivals)
}

#[tokio::test]
async fn calls_keep_to_the_rate_limit_however_many_ask_at_once() {
    let (server, arrivals) = clocked_invoice_server().await;
    let client = std::sync::Arc::new(paced_client(&server, Duration::from_secs(5), 20.0));
    let calls: Vec<_> = (0..45)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get_invoice(&invoice_id()).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    let mut times = arrivals.lock().unwrap().clone();
    assert_eq!(times.len(), 45);
    // Never more than 20 in any one second (a stand-in for Stripe's 429s),
    // but for a call that left its slot late on a busy machine and bunched
    // with the next; unpaced, all 45 would arrive at once.
    let most = most_in_a_second(&mut times);
    assert!(most <= 21, "{most} calls within a second");
    let span = times[44] - times[0];
    assert!(
        span >= Duration::from_millis(1800),
        "45 calls at 20/s took {span:?}"
    );
}

/// Most in any window of just under a second.
fn most_in_a_second(times: &mut [std::time::Instant]) -> usize {
    times.sort();
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|u| **u < times[i] + Duration::from_millis(990))
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Two worker processes on one PostgreSQL keep to one limit together: each
/// takes its slots from the database, so 40 calls asked at once by two
/// clients at 20/s take two seconds and arrive 20 in a second (a few more
/// with the calls' own jitter). Each process pacing itself would let 40 through
/// in the first second. A hold seen by one holds the other too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_share_the_rate_limit() {
    let Some(db) = crate::helpers::TestDb::new(crate::helpers::Backend::Postgres).await else {
        return;
    };
    let (one, two) = (db.store().await, db.store().await);
    one.migrate().await.unwrap();
    let (server, arrivals) = clocked_invoice_server().await;
    let clients = [
        std::sync::Arc::new(paced_client(&server, Duration::from_secs(5), 20.0).sharing_pace(&one)),
        std::sync::Arc::new(paced_client(&server, Duration::from_secs(5), 20.0).sharing_pace(&two)),
    ];
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let client = clients[i % 2].clone();
            tokio::spawn(async move { client.get_invoice(&invoice_id()).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    let mut times = arrivals.lock().unwrap().clone();
    assert_eq!(times.len(), 40);
    // The slots are 50 ms apart by the database's clock; each call's trip
    // back from the database adds a few milliseconds of its own (more on a
    // machine busy with other tests), so a late slot or two may bunch with
    // the next twenty. Each process pacing itself would let all 40 through
    // in the first second; the span below holds the rest.
    let most = most_in_a_second(&mut times);
    assert!(
        most <= 23,
        "{most} calls within a second from two processes at 20/s"
    );
    // 39 slots of 50 ms: 1.95 s, less a late first call's jitter; each
    // process pacing itself would be done in about one second.
    let span = times[39] - times[0];
    assert!(
        span >= Duration::from_millis(1500),
        "40 calls at 20/s took {span:?}"
    );

    // A hold asked for through one process makes the other wait as well.
    arrivals.lock().unwrap().clear();
    let held = std::time::Instant::now();
    one.hold_pace("stripe", 1_500_000).await.unwrap();
    clients[1].get_invoice(&invoice_id()).await.unwrap();
    assert!(
        held.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        held.elapsed()
    );
}

#[tokio::test]
async fn a_429s_retry_after_holds_the_calls_and_should_retry_false_ends_them() {
    let server = MockServer::start().await;
    let arrivals = Arrivals::default();
    Mock::given(method("GET"))
        .respond_with(Clocked {
            arrivals: arrivals.clone(),
            template: ResponseTemplate::new(429).insert_header("retry-after", "1"),
        })
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(Clocked {
            arrivals: arrivals.clone(),
            template: ResponseTemplate::new(200).set_body_json(paid_invoice()),
        })
        .mount(&server)
        .await;
    paced_client(&server, Duration::from_secs(5), 1000.0)
        .get_invoice(&invoice_id())
        .await
        .unwrap();
    let times = arrivals.lock().unwrap().clone();
    assert_eq!(times.len(), 2);
    assert!(
        times[1] - times[0] >= Duration::from_millis(950),
        "{:?}",
        times[1] - times[0]
    );

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("stripe-should-retry", "false"))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server, Duration::from_secs(5))
        .get_invoice(&invoice_id())
        .await
        .unwrap_err();
    assert!(matches!(err, ProcessorError::Unreachable(_)), "{err}");
}

fn paid_invoice() -> serde_json::Value {
    let event: serde_json::Value =
        serde_json::from_slice(&fixture("basil/invoice.paid.json")).unwrap();
    event["data"]["object"].clone()
}

fn invoice_id() -> InvoiceId {
    InvoiceId::parse("in_1QfJ2hLzO8hYb3nXk9uT4sVa").unwrap()
}

fn keys(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .map(|r| {
            r.headers
                .get("idempotency-key")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn pay_sends_key_version_and_bearer_and_reads_the_paid_invoice() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/invoices/in_1QfJ2hLzO8hYb3nXk9uT4sVa/pay"))
        .and(header("authorization", "Bearer sk_test_123"))
        .and(header("stripe-version", STRIPE_VERSION))
        .and(header("idempotency-key", "dunwell-inst1-in_7-pay-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(paid_invoice()))
        .expect(1)
        .mount(&server)
        .await;
    let key = idempotency_key("inst1", "in_7", "pay", 1, 0);
    let outcome = client(&server, Duration::from_secs(5))
        .pay_invoice(&invoice_id(), &key)
        .await
        .unwrap();
    let PayOutcome::Paid(invoice) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(invoice.status.is_settled());
}

#[tokio::test]
async fn a_402_is_a_decline_with_its_details() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(402).set_body_json(serde_json::json!({
            "error": {"type": "card_error", "code": "card_declined",
                      "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = client(&server, Duration::from_secs(5))
        .pay_invoice(&invoice_id(), "k1")
        .await
        .unwrap();
    let PayOutcome::Declined(details) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(details.decline_code.as_deref(), Some("insufficient_funds"));
}

#[tokio::test]
async fn a_429_and_a_timeout_are_retried_under_the_same_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(paid_invoice())
                .set_delay(Duration::from_secs(2)),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(paid_invoice()))
        .mount(&server)
        .await;
    let outcome = client(&server, Duration::from_millis(500))
        .pay_invoice(&invoice_id(), "dunwell-1-retry-2")
        .await
        .unwrap();
    assert!(matches!(outcome, PayOutcome::Paid(_)));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3);
    assert!(
        keys(&requests).iter().all(|k| k == "dunwell-1-retry-2"),
        "{:?}",
        keys(&requests)
    );
}

#[tokio::test]
async fn a_500_goes_back_to_the_caller_after_one_call() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_json(serde_json::json!({
            "error": {"type": "api_error", "message": "Something went wrong"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server, Duration::from_secs(5))
        .pay_invoice(&invoice_id(), "k")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProcessorError::Server { status: 500, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_processor_is_reported_after_the_retries() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429))
        .expect(4)
        .mount(&server)
        .await;
    let err = client(&server, Duration::from_secs(5))
        .pay_invoice(&invoice_id(), "k")
        .await
        .unwrap_err();
    assert!(matches!(err, ProcessorError::Unreachable(_)), "{err}");
}

#[tokio::test]
async fn portal_plan_change_and_cancel_send_the_documented_calls() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/billing_portal/sessions"))
        .and(body_string_contains("flow_data%5Btype%5D=payment_method_update"))
        .and(body_string_contains("customer=cus_RtG7mN2pQx4Lkz"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": "bps_1", "object": "billing_portal.session", "url": "https://billing.stripe.com/p/session/test_1"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions/sub_1"))
        .and(body_string_contains("items%5B0%5D%5Bid%5D=si_1"))
        .and(body_string_contains("items%5B0%5D%5Bprice%5D=price_basic"))
        .and(body_string_contains("proration_behavior=none"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": "sub_1"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1/subscriptions/sub_1"))
        .and(header("idempotency-key", "dunwell-inst1-in_3-cancel-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"id": "sub_1", "status": "canceled"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server, Duration::from_secs(5));
    let url = c
        .card_update_session(
            &CustomerId::parse("cus_RtG7mN2pQx4Lkz").unwrap(),
            "https://billing.example.com/done",
            "k-portal",
        )
        .await
        .unwrap();
    assert_eq!(url, "https://billing.stripe.com/p/session/test_1");
    let sub = SubscriptionId::parse("sub_1").unwrap();
    c.change_price(
        &sub,
        &SubscriptionItemId::parse("si_1").unwrap(),
        &PriceId::parse("price_basic").unwrap(),
        "none",
        "k-plan",
    )
    .await
    .unwrap();
    c.cancel_subscription(&sub, &idempotency_key("inst1", "in_3", "cancel", 1, 0))
        .await
        .unwrap();
}

/// A price is read once and reused; so is the processor's "no such price"
/// (a policy naming a wrong price costs one call, not one per page).
#[tokio::test]
async fn prices_known_and_unknown_are_read_once() {
    let server = MockServer::start().await;
    crate::stand_in::mount_price(&server, "price_Basic", "Basic", 1900, "eur", "month").await;
    Mock::given(method("GET"))
        .and(path("/v1/prices/price_Gone"))
        .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({
            "error": {"type": "invalid_request_error", "code": "resource_missing",
                      "message": "No such price: 'price_Gone'"}
        })))
        .mount(&server)
        .await;
    let c = client(&server, Duration::from_secs(5));
    for _ in 0..3 {
        let basic = c
            .get_price(&PriceId::parse("price_Basic").unwrap())
            .await
            .unwrap()
            .expect("a known price");
        assert_eq!(basic.product.as_deref(), Some("Basic"));
        let gone = c
            .get_price(&PriceId::parse("price_Gone").unwrap())
            .await
            .unwrap();
        assert!(gone.is_none());
    }
    let reads = |id: &'static str| {
        let server = &server;
        async move {
            server
                .received_requests()
                .await
                .unwrap()
                .iter()
                .filter(|r| r.url.path() == format!("/v1/prices/{id}"))
                .count()
        }
    };
    assert_eq!(reads("price_Basic").await, 1);
    assert_eq!(reads("price_Gone").await, 1);
}
