//! The job runner's own layer over apalis: a job that panics is put off as
//! after a failure (a try counted, never a hot loop), one that times out
//! gives its lease back at once, and either way its slot is free again.

use std::time::Duration;

use apalis::layers::TimeoutLayer;
use apalis::layers::catch_panic::CatchPanicLayer;
use apalis_core::error::BoxDynError;
use apalis_core::task::Task;
use dunwell::domain::work::WorkStatus;
use dunwell::jobs::claim::Due;
use dunwell::jobs::lease::LeaseLayer;
use dunwell::jobs::queue::{Job, Shared};
use dunwell::store::work::WorkRow;
use tower::{Layer, ServiceExt};

use crate::backend_tests;
use crate::helpers::*;

/// Claims case work `id` now, as the queue does, whatever its due time.
async fn claim(app: &TestApp, id: i64) -> Option<WorkRow> {
    let real = chrono::Utc::now().timestamp_millis();
    claim_work_by_id(&app.store, id, real)
        .await
        .into_iter()
        .next()
}

backend_tests!(a_job_that_panics_is_put_off_and_one_that_hangs_gives_its_lease_back);

async fn a_job_that_panics_is_put_off_and_one_that_hangs_gives_its_lease_back(backend: Backend) {
    let s = crate::stand_in::scenario("in_layers");
    let Some(app) = spawn_manual(backend, &[]).await else {
        return;
    };
    app.send(
        "invoice.payment_failed",
        &crate::stand_in::event(&s, "failed"),
    )
    .await;
    app.wait_processed().await;
    let case = app.case(&s.invoice).await;
    let mut pending: Vec<WorkRow> = app
        .store
        .work_of(case.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|w| w.status == WorkStatus::Pending)
        .collect();
    assert!(pending.len() >= 2, "{pending:?}");
    pending.sort_by_key(|w| w.id);
    let shared = Shared::new(app.engine.clone(), 4);

    // A job that panics: an error for the worker, the work put off.
    let row = claim(&app, pending[0].id).await.expect("claimed");
    let job: Job = shared.hold(Due::Work(row.clone()));
    assert_eq!(shared.held(), 1);
    let panics = tower::service_fn(|_: Task<Job>| async {
        if true {
            panic!("a bug in the job");
        }
        Ok::<(), BoxDynError>(())
    });
    let service = CatchPanicLayer::new().layer(LeaseLayer::new(shared.clone()).layer(panics));
    let result = service.oneshot(Task::new(job)).await;
    assert!(result.is_err(), "a panic is an error, not a dead runner");
    shared.settle().await;
    assert_eq!(shared.held(), 0, "its slot is free again");
    let after = app
        .store
        .work_of(case.id)
        .await
        .unwrap()
        .into_iter()
        .find(|w| w.id == row.id)
        .unwrap();
    assert_eq!(after.status, WorkStatus::Pending);
    assert_eq!(
        after.tries,
        row.tries + 1,
        "counted as a failure: {after:?}"
    );
    assert!(after.due_at > row.due_at.min(app.engine.clock.now_ms()));
    let timeline = app.store.timeline(case.id).await.unwrap();
    assert!(
        timeline.iter().any(|t| t.detail["text"]
            .as_str()
            .is_some_and(|text| text.contains("the job panicked: a bug in the job"))),
        "{timeline:?}"
    );

    // A job that hangs past its timeout: stopped, its lease given back.
    let row = claim(&app, pending[1].id).await.expect("claimed");
    assert!(claim(&app, row.id).await.is_none(), "held while it runs");
    let job = shared.hold(Due::Work(row.clone()));
    let hangs = tower::service_fn(|_: Task<Job>| async {
        std::future::pending::<()>().await;
        Ok::<(), BoxDynError>(())
    });
    let service = TimeoutLayer::new(Duration::from_millis(100))
        .layer(LeaseLayer::new(shared.clone()).layer(hangs));
    let result = service.oneshot(Task::new(job)).await;
    assert!(result.is_err(), "timed out");
    shared.settle().await;
    assert_eq!(shared.held(), 0);
    let again = claim(&app, row.id)
        .await
        .expect("given back: claimable at once");
    assert_eq!(again.tries, row.tries, "a timeout is not counted");
    app.shutdown().await;
}
