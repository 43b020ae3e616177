//! SQLite: the intake appends to a log file of its own; the engine takes
//! events from it in order, exactly once, and the intake prunes what was
//! taken. A duplicate is still recognised once its first copy has left the
//! log, and a log file that was removed does not make new events be skipped.

use std::time::Duration;

use dunwell::startup::Role;

use crate::helpers::*;

fn log_rows(database: &std::path::Path) -> i64 {
    let path = dunwell::store::intake_log::path_for(database);
    let conn = rusqlite::Connection::open(path).expect("open the intake log");
    conn.query_row("SELECT COUNT(*) FROM webhook_log", [], |r| r.get(0))
        .expect("count log rows")
}

async fn json(response: reqwest::Response) -> serde_json::Value {
    assert_eq!(response.status(), 200);
    response.json().await.expect("json answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_events_leave_the_log_and_stay_duplicates() {
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite");
    let path = db.sqlite_path().unwrap();
    let app = spawn_on(db, &[]).await;
    let first = event_body("evt_log_first", "invoice.payment_failed");
    assert_eq!(json(app.post_event(&first).await).await["duplicate"], false);
    app.wait_processed().await;
    assert_eq!(
        app.store
            .event_by_id("evt_log_first")
            .await
            .unwrap()
            .unwrap()
            .outcome
            .as_deref(),
        Some("handled")
    );
    // The writer prunes between batches, at most once a second: later
    // events give it the chance.
    let mut pruned = false;
    for i in 0..40 {
        let body = event_body(&format!("evt_log_later{i}"), "customer.updated");
        json(app.post_event(&body).await).await;
        app.wait_processed().await;
        if log_rows(&path) < i + 2 {
            pruned = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(pruned, "the intake log kept events the engine had taken");
    // Gone from the log, the first event is still known: a redelivery is a
    // duplicate and opens nothing new.
    assert_eq!(json(app.post_event(&first).await).await["duplicate"], true);
    app.wait_processed().await;
    assert_eq!(app.store.count_pending_events().await.unwrap(), 0);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_log_does_not_hide_new_events() {
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite");
    let path = db.sqlite_path().unwrap();
    let app = spawn_on(db, &[]).await;
    for i in 0..3 {
        let body = event_body(&format!("evt_before_removal{i}"), "invoice.payment_failed");
        json(app.post_event(&body).await).await;
    }
    app.wait_processed().await;
    let db = app.shutdown().await;
    // An operator deletes the log (and its WAL) while dunwell is stopped.
    let log = dunwell::store::intake_log::path_for(&path);
    for suffix in ["", "-wal", "-shm"] {
        let mut name = log.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
    // The new log numbers from 1 again; its events are not taken for ones
    // the engine has already passed.
    let web = spawn_role(db, &[], Role::Web).await;
    let body = event_body("evt_after_removal", "invoice.payment_failed");
    json(web.post_event(&body).await).await;
    let db = web.shutdown().await;
    let app = spawn_on(db, &[]).await;
    app.wait_processed().await;
    let stored = app
        .store
        .event_by_id("evt_after_removal")
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.outcome.as_deref(), Some("handled"));
    assert_eq!(app.event_count().await, 4);
    app.shutdown().await;
}
