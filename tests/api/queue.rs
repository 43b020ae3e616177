//! The stored-event queue: leased claims, retries after a lease expires,
//! outcomes recorded once. Driven directly on a web-only instance, where
//! nothing else processes events.

use dunwell::startup::Role;
use dunwell::store::events::{Finished, Outcome};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(claims_are_leased_and_finished_once);

async fn claims_are_leased_and_finished_once(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let app = spawn_role(db, &[], Role::Web).await;
    for i in 0..5 {
        let body = event_body(&format!("evt_queue{i}"), "invoice.payment_failed");
        assert_eq!(app.post_event(&body).await.status(), 200);
    }
    // A duplicate is not queued twice.
    let body = event_body("evt_queue0", "invoice.payment_failed");
    assert_eq!(app.post_event(&body).await.status(), 200);
    let store = &app.store;
    assert_eq!(store.count_pending_events().await.unwrap(), 5);

    let now = 1_000_000;
    let first = store
        .claim_pending_events(now, now + 60_000, 3)
        .await
        .unwrap();
    let ids: Vec<_> = first.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(
        ids,
        ["evt_queue0", "evt_queue1", "evt_queue2"],
        "oldest first"
    );
    assert!(first.iter().all(|e| e.attempts == 1));
    // Leased rows are skipped by a second claimer.
    let second = store
        .claim_pending_events(now, now + 60_000, 10)
        .await
        .unwrap();
    let ids: Vec<_> = second.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["evt_queue3", "evt_queue4"]);
    assert!(
        store
            .claim_pending_events(now, now + 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The first claimer dies; after its lease the events come back.
    store.note_event_error(first[0].seq, "boom").await.unwrap();
    let later = now + 60_001;
    let retried = store
        .claim_pending_events(later, later + 60_000, 10)
        .await
        .unwrap();
    assert_eq!(retried.len(), 5);
    assert!(retried.iter().all(|e| e.attempts == 2));
    let stored = store.event_by_id("evt_queue0").await.unwrap().unwrap();
    assert_eq!(stored.last_error.as_deref(), Some("boom"));
    assert_eq!(stored.outcome, None);

    let finished: Vec<Finished> = retried
        .iter()
        .map(|e| Finished {
            seq: e.seq,
            outcome: Outcome::Handled,
            error: None,
        })
        .collect();
    store.finish_events(&finished, later).await.unwrap();
    // Finishing twice (a slow claimer) changes nothing.
    store.finish_events(&finished, later + 5).await.unwrap();
    assert_eq!(store.count_pending_events().await.unwrap(), 0);
    let stored = store.event_by_id("evt_queue0").await.unwrap().unwrap();
    assert_eq!(stored.outcome.as_deref(), Some("handled"));
    assert_eq!(stored.processed_at_ms, Some(later));
    assert_eq!(store.count_events().await.unwrap(), 5);
    app.shutdown().await;
}

backend_tests!(a_worker_process_drains_what_a_web_process_stored);

/// Fly process groups: `dunwell web` stores, `dunwell worker` processes.
async fn a_worker_process_drains_what_a_web_process_stored(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let worker_config = test_config(&db, &[]);
    let web = spawn_role(db, &[], Role::Web).await;
    for i in 0..3 {
        let body = event_body(&format!("evt_split{i}"), "invoice.payment_failed");
        assert_eq!(web.post_event(&body).await.status(), 200);
    }
    assert_eq!(web.store.count_pending_events().await.unwrap(), 3);

    let worker = dunwell::startup::Application::build(worker_config, Role::Worker)
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", worker.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    web.wait_processed().await;
    let stored = web.store.event_by_id("evt_split1").await.unwrap().unwrap();
    assert_eq!(stored.outcome.as_deref(), Some("handled"));

    // The worker answers the health checks (Fly checks the worker group
    // too), and nothing else.
    let client = reqwest::Client::new();
    let alive = client
        .get(format!("{address}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(alive.status(), 200);
    let ready = client
        .get(format!("{address}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(
        ready["running"],
        serde_json::json!(["event processor", "job runner"]),
        "{ready}"
    );
    let body = event_body("evt_to_worker", "invoice.payment_failed");
    let posted = client
        .post(format!("{address}/webhooks/stripe"))
        .header("content-type", "application/json")
        .header("stripe-signature", sign_webhook(&body, SECRET, now()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 404, "a worker takes no webhooks");
    let _ = stop.send(());
    running.await.unwrap().unwrap();
    web.shutdown().await;
}

backend_tests!(simulated_time_is_one_timeline_per_database);

/// `DUNWELL_CLOCK_SPEED`: the simulated epoch is stored with the database,
/// so a web and a worker process started apart, and a restart, all read the
/// same simulated time instead of each starting over at its own start.
async fn simulated_time_is_one_timeline_per_database(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let speed = [("clock_speed", "1000")];
    let worker_config = test_config(&db, &speed);
    let web = spawn_role(db, &speed, Role::Web).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let worker = dunwell::startup::Application::build(worker_config, Role::Worker)
        .await
        .unwrap();
    let (a, b) = (web.engine.clock.now_ms(), worker.engine().clock.now_ms());
    // Apart by the few real ms between the two reads (x1000), not by the
    // 300 ms between the starts (300 s simulated).
    assert!((a - b).abs() < 100_000, "web {a} vs worker {b}");
    // From the pinned start (DUNWELL_CLOCK_START), 300 real ms are 300 s.
    let ahead = a - crate::helpers::pinned().timestamp_millis();
    assert!(ahead > 250_000, "simulated time ran ahead: {ahead} ms");
    drop(worker);

    let db = web.shutdown().await;
    let before = dunwell::startup::Application::build(test_config(&db, &speed), Role::Web)
        .await
        .unwrap();
    let after_restart = before.engine().clock.now_ms();
    assert!(
        after_restart >= a,
        "a restart goes on from where simulated time was: {after_restart} < {a}"
    );
}

backend_tests!(re_planned_work_never_runs_beside_the_job_still_running_it);

/// A pause cancels work a job is running and a resume plans the same
/// (case, key) again: the new plan stays held while the job runs, the job
/// ends only the generation it claimed, and the new one runs after it.
async fn re_planned_work_never_runs_beside_the_job_still_running_it(backend: Backend) {
    use dunwell::domain::work::WorkStatus;
    use dunwell::store::work::{self, NewWork};

    let s = crate::stand_in::scenario("in_replanned");
    let Some(app) = spawn_app_with(backend, &[]).await else {
        return;
    };
    app.send(
        "invoice.payment_failed",
        &crate::stand_in::event(&s, "failed"),
    )
    .await;
    app.wait_processed().await;
    let case = app.case(&s.invoice).await;
    let store = &app.store;
    // The case's last planned work: due days from now, so the app's own
    // runner leaves it alone (the first email is due at once).
    let first = store
        .work_of(case.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|w| w.status == WorkStatus::Pending)
        .max_by_key(|w| w.due_at)
        .expect("the case plans work");
    // Claims as a runner makes them, due whatever the engine's clock says.
    let real = chrono::Utc::now().timestamp_millis();
    let take = |at: i64| claim_work_by_id(store, first.id, at);
    let running = take(real).await.pop().expect("the first claim takes it");

    // Paused and resumed while the job runs: the same key planned again.
    let now = 1_000;
    let mut tx = store.begin().await.unwrap();
    work::cancel_work(&mut tx, case.id, None, now)
        .await
        .unwrap();
    let planned = work::insert_works(
        &mut tx,
        case.id,
        &[NewWork {
            work: running.work.clone(),
            due_at: running.due_at,
        }],
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(planned, vec![(running.id, running.key.clone())]);
    // A second worker finds it held: never two runs at once.
    assert!(take(real + 1).await.is_empty());

    // The first job ends: not the new plan's end, and it gives it back.
    let mut tx = store.begin().await.unwrap();
    let ended = work::finish_work(&mut tx, &running, WorkStatus::Done, "paid", now)
        .await
        .unwrap();
    assert!(!ended, "a newer generation is not the job's to end");
    tx.commit().await.unwrap();
    let row = |rows: Vec<work::WorkRow>| rows.into_iter().find(|w| w.id == running.id).unwrap();
    let after = row(store.work_of(case.id).await.unwrap());
    assert_eq!(after.status, WorkStatus::Pending, "{after:?}");
    assert_eq!(after.generation, running.generation + 1);
    let next = take(real + 2).await.pop().expect("the new plan runs next");
    assert_eq!(next.generation, running.generation + 1);

    // A put-off of the old generation changes nothing either.
    let mut tx = store.begin().await.unwrap();
    let moved = work::reschedule_work(&mut tx, &running, 5, 3, &running.work, "late")
        .await
        .unwrap();
    assert!(!moved);
    tx.commit().await.unwrap();
    let still = row(store.work_of(case.id).await.unwrap());
    assert_eq!((still.due_at, still.tries), (next.due_at, next.tries));

    // Canceled in one transaction, its job's lease renewed meanwhile, and
    // planned again in another: the renewed lease still holds the new plan.
    let mut tx = store.begin().await.unwrap();
    work::cancel_work(&mut tx, case.id, None, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    store
        .renew_lease(work::Leased::Work, next.id, real + 200_000)
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    work::insert_works(
        &mut tx,
        case.id,
        &[NewWork {
            work: next.work.clone(),
            due_at: next.due_at,
        }],
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(take(real + 100_000).await.is_empty());
    let mut tx = store.begin().await.unwrap();
    work::finish_work(&mut tx, &next, WorkStatus::Done, "paid", now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let newest = take(real + 100_001)
        .await
        .pop()
        .expect("given back when the job ends");
    assert_eq!(newest.generation, next.generation + 1);

    // The newest generation finishes as any work does.
    let mut tx = store.begin().await.unwrap();
    let ended = work::finish_work(&mut tx, &newest, WorkStatus::Done, "paid", now)
        .await
        .unwrap();
    assert!(ended);
    tx.commit().await.unwrap();
    assert_eq!(
        row(store.work_of(case.id).await.unwrap()).status,
        WorkStatus::Done
    );
    app.shutdown().await;
}

backend_tests!(the_database_refuses_unknown_kinds_statuses_and_states);

/// The kinds and statuses of every leased table (`case_work`, `notices`,
/// `outgoing_events`) and the cases' states are enforced by the database
/// (CHECK on PostgreSQL, triggers on SQLite), and they are the code's.
async fn the_database_refuses_unknown_kinds_statuses_and_states(backend: Backend) {
    use dunwell::domain::case::CaseState;
    use dunwell::domain::notice::{NoticeKind, NoticeStatus};
    use dunwell::domain::outgoing::{OutgoingStatus, OutgoingType};
    use dunwell::domain::work::WorkStatus;
    let s = crate::stand_in::scenario("in_checked");
    let Some(app) = spawn_app_with(backend, &[]).await else {
        return;
    };
    app.send(
        "invoice.payment_failed",
        &crate::stand_in::event(&s, "failed"),
    )
    .await;
    app.wait_processed().await;
    let case = app.case(&s.invoice).await;
    let work = app.store.work_of(case.id).await.unwrap();
    // The last planned, due days from now: the app's runner leaves it be.
    let id = work.iter().max_by_key(|w| w.due_at).unwrap().id;
    let run = |sql: String| app.raw_sql(sql);
    assert!(
        run(format!(
            "UPDATE case_work SET status = 'bogus' WHERE id = {id}"
        ))
        .await
        .is_err()
    );
    assert!(
        run(format!("UPDATE case_work SET kind = 'fax' WHERE id = {id}"))
            .await
            .is_err()
    );
    assert!(
        run(format!(
            "INSERT INTO case_work (case_id, kind, work_key, due_at, status, detail, created_at) \
             VALUES ({}, 'retry', 'x-1', 0, 'later', '{{}}', 0)",
            case.id
        ))
        .await
        .is_err()
    );
    // Every status the code writes is one the database takes.
    for status in WorkStatus::ALL {
        let sql = format!(
            "UPDATE case_work SET status = '{}' WHERE id = {id}",
            status.as_str()
        );
        run(sql).await.unwrap_or_else(|e| panic!("{status:?}: {e}"));
    }

    // Notices: every kind and status the code has, and nothing else.
    let notice = |n: usize, kind: &str, status: &str| {
        format!(
            "INSERT INTO notices (customer_id, kind, notice_key, detail, due_at, status, created_at) \
             VALUES ('cus_checked', '{kind}', 'k{n}', '{{}}', 0, '{status}', 0)"
        )
    };
    let mut n = 0;
    for kind in NoticeKind::ALL {
        for status in NoticeStatus::ALL {
            n += 1;
            run(notice(n, kind.as_str(), status.as_str()))
                .await
                .unwrap_or_else(|e| panic!("{kind:?} {status:?}: {e}"));
        }
    }
    assert!(run(notice(n + 1, "fax", "pending")).await.is_err());
    assert!(run(notice(n + 2, "card_expiring", "mailed")).await.is_err());
    assert!(
        run("UPDATE notices SET status = 'mailed' WHERE notice_key = 'k1'".into())
            .await
            .is_err()
    );

    // Outgoing events: every type and status, and nothing else.
    let outgoing = |n: usize, kind: &str, status: &str| {
        format!(
            "INSERT INTO outgoing_events (event_id, case_id, type, payload, due_at, status, created_at) \
             VALUES ('evt_checked_{n}', {}, '{kind}', '{{}}', 0, '{status}', 0)",
            case.id
        )
    };
    for kind in OutgoingType::ALL {
        for status in OutgoingStatus::ALL {
            n += 1;
            run(outgoing(n, kind.as_str(), status.as_str()))
                .await
                .unwrap_or_else(|e| panic!("{kind:?} {status:?}: {e}"));
        }
    }
    assert!(
        run(outgoing(n + 1, "case.reopened", "pending"))
            .await
            .is_err()
    );
    assert!(run(outgoing(n + 2, "case.opened", "sent")).await.is_err());

    // Cases: every state, none (no case opened yet), and nothing else.
    for state in CaseState::ALL {
        let sql = format!(
            "UPDATE cases SET state = '{}' WHERE id = {}",
            state.as_str(),
            case.id
        );
        run(sql).await.unwrap_or_else(|e| panic!("{state:?}: {e}"));
    }
    let sql = |state: &str| format!("UPDATE cases SET state = {state} WHERE id = {}", case.id);
    run(sql("NULL")).await.unwrap();
    assert!(run(sql("'haunted'")).await.is_err());
    app.shutdown().await;
}
