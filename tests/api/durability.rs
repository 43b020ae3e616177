//! An event answered 2xx is never lost: not across a restart, not on kill -9.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(events_survive_a_restart, acknowledged_events_survive_kill_9);

async fn events_survive_a_restart(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for i in 0..5 {
        let body = event_body(&format!("evt_restart{i}"), "invoice.payment_failed");
        assert_eq!(app.post_event(&body).await.status(), 200);
    }
    let db = app.shutdown().await;

    let app = spawn_on(db, &[]).await;
    assert_eq!(app.event_count().await, 5);
    // Still deduplicated after the restart.
    let again = app
        .post_event(&event_body("evt_restart3", "invoice.payment_failed"))
        .await;
    let answer: serde_json::Value = again.json().await.unwrap();
    assert_eq!(answer["duplicate"], true);
    app.wait_processed().await;
    app.shutdown().await;
}

/// Starts the real binary (`dunwell web`) and reads its port from the log.
fn start_binary(database_url: &str) -> (Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dunwell"))
        .arg("web")
        .env("DUNWELL_BIND", "127.0.0.1:0")
        .env("DUNWELL_DATABASE_URL", database_url)
        .env("DUNWELL_WEBHOOK_SECRETS", SECRET)
        .env("DUNWELL_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dunwell");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let port = loop {
        let line = lines
            .next()
            .expect("dunwell exited before listening")
            .unwrap();
        if let Some(rest) = line.split("listening port=").nth(1) {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            break digits.parse::<u16>().expect("port in log line");
        }
    };
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, port)
}

async fn acknowledged_events_survive_kill_9(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    db.store().await.migrate().await.unwrap();
    let (mut child, port) = start_binary(&db.url);
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/webhooks/stripe");
    let limit = Arc::new(Semaphore::new(32));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..2000 {
        let (client, url, limit) = (client.clone(), url.clone(), limit.clone());
        let answered = answered.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            let id = format!("evt_kill{i}");
            let body = event_body(&id, "invoice.payment_failed");
            let header = sign_webhook(&body, SECRET, now());
            let sent = client
                .post(&url)
                .header("content-type", "application/json")
                .header("stripe-signature", header)
                .timeout(Duration::from_secs(10))
                .body(body)
                .send()
                .await;
            let ok = matches!(sent, Ok(r) if r.status() == 200);
            if ok {
                answered.fetch_add(1, Ordering::SeqCst);
            }
            ok.then_some(id)
        }));
    }
    // Kill while requests are still in flight: whatever was acknowledged must be there.
    while answered.load(Ordering::SeqCst) < 200 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    let mut acknowledged = Vec::new();
    for task in tasks {
        if let Some(id) = task.await.unwrap() {
            acknowledged.push(id);
        }
    }
    let store = db.store().await;
    for id in &acknowledged {
        assert!(
            store.event_by_id(id).await.unwrap().is_some(),
            "{id} was answered 200 but is not stored after kill -9"
        );
    }
    eprintln!(
        "{} of 2000 events acknowledged before kill -9; all stored",
        acknowledged.len()
    );
    assert!(
        acknowledged.len() < 2000,
        "the kill came too late to test anything"
    );
    store.close().await;

    // What was stored but not processed is picked up by the next instance.
    let app = spawn_on(db, &[]).await;
    app.wait_processed().await;
    app.shutdown().await;
}
