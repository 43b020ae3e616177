//! A renewal-day burst through the real intake with the real job runner: a
//! few hundred customers fail at once and every case's due work is carried
//! out, with the service ready throughout. (The runner once waited for the
//! write turn to claim more work while a job it had stopped polling held
//! that turn: everything stopped for good after a few hundred cases.)

use std::time::Duration;

use dunwell::trigger::builder::{self, Scenario};
use futures_util::StreamExt;

use crate::backend_tests;
use crate::helpers::*;

const CUSTOMERS: usize = 400;

backend_tests!(a_burst_of_new_cases_is_worked_through);

async fn a_burst_of_new_cases_is_worked_through(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let bodies: Vec<Vec<u8>> = (0..CUSTOMERS)
        .map(|i| {
            let scenario = Scenario {
                invoice: format!("in_burst{i:05}"),
                customer: format!("cus_burst{i:05}"),
                subscription: format!("sub_burst{i:05}"),
                ..Scenario::example(&format!("evt_burst{i:05}"), now())
            };
            let event = builder::build("invoice.payment_failed", &scenario).unwrap();
            serde_json::to_vec(&event).unwrap()
        })
        .collect();
    let statuses: Vec<u16> = futures_util::stream::iter(&bodies)
        .map(|body| async { app.post_event(body).await.status().as_u16() })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    for _ in 0..600 {
        if app.store.count_pending_events().await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.store.count_pending_events().await.unwrap(),
        0,
        "events were left unprocessed for a minute"
    );
    // Every piece of work due now is carried out (or put off to later).
    let mut left = None;
    for _ in 0..600 {
        let due = app
            .store
            .next_due(dunwell::clock::unix_millis())
            .await
            .unwrap();
        left = due.filter(|at| *at <= app.engine.clock.now_ms());
        if left.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, None, "due work was left undone for a minute");
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.shutdown().await;
}
