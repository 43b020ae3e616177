//! The claims: the job runner's never takes more rows than free slots, in
//! total across every leased table (case work, notices, outgoing
//! deliveries), with a bound of its own on deliveries, so a receiver that
//! hangs holds a few slots and nothing else; the event processor's takes
//! stored webhooks by its own budget, whatever the jobs hold.

use std::time::Duration;

use dunwell::jobs::claim::{Budget, Due, EVENT_BATCH, OUTGOING_AT_ONCE, claim, claim_events};
use dunwell::startup::{Options, Role};
use dunwell::trigger::Scenario;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::backend_tests;
use crate::helpers::*;
use crate::process::eventually;

/// Cases (each plans case work and an outgoing event) and customers warned
/// about an expiring card (each a notice), per table more than the runner's
/// slots on either backend (64 on SQLite, 16 on PostgreSQL).
const MANY: usize = 70;

fn failing(i: usize) -> Scenario {
    Scenario {
        event_id: format!("evt_claim_failed_{i}"),
        invoice: format!("in_claim_{i}"),
        customer: format!("cus_claim_{i}"),
        subscription: format!("sub_claim_{i}"),
        ..Scenario::example("evt_unused", now())
    }
}

/// A customer whose card runs out this month, and a renewal next month.
fn expiring(i: usize, id: &str) -> Scenario {
    use chrono::Datelike;
    let today = pinned();
    Scenario {
        event_id: format!("evt_claim_{id}_{i}"),
        customer: format!("cus_expiring_{i}"),
        invoice: format!("in_expiring_{i}"),
        card_exp_month: today.month(),
        card_exp_year: today.year(),
        now: (today + chrono::Duration::days(40)).timestamp(),
        ..Scenario::example("evt_unused", now())
    }
}

async fn post(app: &TestApp, event_type: &str, s: &Scenario) {
    let event = dunwell::trigger::builder::build(event_type, s).unwrap();
    let body = serde_json::to_vec(&event).unwrap();
    assert_eq!(app.post_event(&body).await.status(), 200, "{event_type}");
}

fn counts(batch: &[Due]) -> (usize, usize, usize) {
    let count = |f: fn(&Due) -> bool| batch.iter().filter(|d| f(d)).count();
    (
        count(|d| matches!(d, Due::Work(_))),
        count(|d| matches!(d, Due::Notice(_))),
        count(|d| matches!(d, Due::Outgoing(_))),
    )
}

backend_tests!(a_claim_never_takes_more_than_its_slots);

/// All four leased tables hold more than any runner's slots: case work,
/// notices and outgoing events planned by a worker, then webhooks stored by
/// a web process (no processor runs there). Every claim keeps its budget.
async fn a_claim_never_takes_more_than_its_slots(backend: Backend) {
    // Nothing is delivered here: the claim is driven by hand.
    let extra = [
        ("notify_url", "http://127.0.0.1:9/hooks"),
        ("notify_secret", "notify-secret-0123456789abcdef"),
    ];
    let Some(worker) = spawn_manual(backend, &extra).await else {
        return;
    };
    for i in 0..MANY {
        post(&worker, "invoice.payment_failed", &failing(i)).await;
        post(&worker, "payment_method.attached", &expiring(i, "pm")).await;
        post(&worker, "invoice.upcoming", &expiring(i, "up")).await;
    }
    worker.wait_processed().await;
    let db = worker.shutdown().await;
    let options = Options {
        clock: Some(pinned_clock()),
        job_workers: false,
    };
    let app = spawn_with_options(db, &extra, Role::Web, options).await;
    let stored = EVENT_BATCH + MANY;
    for i in 0..stored {
        let mut late = failing(i);
        late.event_id = format!("evt_claim_late_{i}");
        post(&app, "invoice.payment_failed", &late).await;
    }
    assert_eq!(
        app.store.count_pending_events().await.unwrap(),
        stored as i64,
        "a web process only stores"
    );
    // Everything planned is due: the whole schedule, every warning.
    app.advance(chrono::Duration::days(60));

    let none = claim(
        &app.engine,
        Budget {
            slots: 0,
            outgoing: 5,
        },
    )
    .await
    .unwrap();
    assert!(none.is_empty(), "no slot, no claim");

    let budget = Budget {
        slots: 20,
        outgoing: 3,
    };
    let first = claim(&app.engine, budget).await.unwrap();
    let (work, notices, outgoing) = counts(&first);
    assert_eq!(first.len(), 20, "every slot used, none more");
    assert!(outgoing <= 3, "{outgoing} deliveries");
    assert!(
        work > 0 && notices > 0 && outgoing > 0,
        "each table gets its share: {work} work, {notices} notices, {outgoing} deliveries"
    );

    // Claimed until nothing is left: never past the budget, and each table
    // held more than any runner's slots.
    let mut totals = (work, notices, outgoing);
    loop {
        let batch = claim(&app.engine, budget).await.unwrap();
        if batch.is_empty() {
            break;
        }
        let (w, n, o) = counts(&batch);
        assert!(batch.len() <= 20 && o <= 3, "{w} + {n} + {o}");
        totals = (totals.0 + w, totals.1 + n, totals.2 + o);
    }
    assert!(totals.0 > 64, "case work: {}", totals.0);
    assert!(totals.1 >= MANY, "notices: {}", totals.1);
    assert!(totals.2 >= MANY, "deliveries: {}", totals.2);

    // The fourth table: stored webhooks, by the event processor's budget,
    // oldest first, each once.
    let mut taken = Vec::new();
    for limit in [7, EVENT_BATCH + 50, EVENT_BATCH] {
        let events = claim_events(&app.engine, limit).await.unwrap();
        assert_eq!(
            events.len(),
            limit.min(EVENT_BATCH).min(stored - taken.len())
        );
        taken.extend(events.into_iter().map(|e| e.seq));
    }
    assert_eq!(taken.len(), stored);
    assert!(
        taken.windows(2).all(|w| w[0] < w[1]),
        "oldest first, each once"
    );
    assert!(
        claim_events(&app.engine, EVENT_BATCH)
            .await
            .unwrap()
            .is_empty()
    );
    app.shutdown().await;
}

backend_tests!(a_hanging_receiver_holds_only_its_own_slots);

async fn a_hanging_receiver_holds_only_its_own_slots(backend: Backend) {
    // The operator's receiver takes each delivery and never answers in time.
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(60)))
        .mount(&receiver)
        .await;
    let url = format!("{}/hooks", receiver.uri());
    let extra = [
        ("notify_url", url.as_str()),
        ("notify_secret", "notify-secret-0123456789abcdef"),
    ];
    let Some(app) = spawn_app_with(backend, &extra).await else {
        return;
    };
    for i in 0..MANY {
        post(&app, "invoice.payment_failed", &failing(i)).await;
    }
    app.wait_processed().await;

    // Every case's first email still goes out at once.
    eventually(
        Duration::from_secs(20),
        "every first email sent",
        || async {
            let sent = app.store.outbox(None, 1000).await.unwrap();
            let first = sent.iter().filter(|m| m.kind == "payment_failed").count();
            (first == MANY).then_some(())
        },
    )
    .await;
    // Meanwhile the receiver holds no more than its own bound, and the
    // runner stays healthy while it waits.
    let held = receiver.received_requests().await.unwrap().len();
    assert!(
        held <= OUTGOING_AT_ONCE,
        "{held} deliveries at once (bound {OUTGOING_AT_ONCE})"
    );
    assert!(held > 0, "deliveries started");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
    app.shutdown().await;
}
