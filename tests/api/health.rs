use crate::backend_tests;
use crate::helpers::*;

backend_tests!(health_and_readiness_answer);

async fn health_and_readiness_answer(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let alive = app.get("/healthz").await;
    assert_eq!(alive.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(body["database"], expected);
    app.shutdown().await;
}

backend_tests!(readiness_fails_when_the_database_is_gone);

async fn readiness_fails_when_the_database_is_gone(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.store.close().await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["error"], "database unreachable");
    let alive = app.get("/healthz").await;
    assert_eq!(alive.status(), 200);
    app.shutdown().await;
}
