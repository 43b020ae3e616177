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

/// Every answer, JSON, CSV, text and errors alike, says `nosniff`; an
/// install whose public address is https asks browsers for https only.
#[tokio::test]
async fn answers_say_nosniff_and_an_https_install_sends_hsts() {
    let token = "admin-token-0123456789abcdef";
    let Some(app) = spawn_app_with(
        Backend::Sqlite,
        &[
            ("admin_token", token),
            ("public_url", "https://billing.example.com"),
        ],
    )
    .await
    else {
        return;
    };
    let hsts = format!("max-age={}", dunwell::web::headers::HSTS_MAX_AGE_SECS);
    for path in [
        "/api/cases",
        "/api/cases.csv",
        "/api/no-such-thing",
        "/healthz",
        "/metrics",
        "/billing/update/not-a-token",
        "/admin/login",
    ] {
        let answer = app
            .client
            .get(format!("{}{path}", app.address))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let headers = answer.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(
            headers["strict-transport-security"],
            hsts.as_str(),
            "{path}"
        );
    }
    app.shutdown().await;

    // Over plain http (a developer's machine) no HSTS: it would pin
    // localhost to https.
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let answer = app.get("/healthz").await;
    assert_eq!(answer.headers()["x-content-type-options"], "nosniff");
    assert!(!answer.headers().contains_key("strict-transport-security"));
    app.shutdown().await;
}

/// `GET /` says what this address is and where to go, not a blank 404:
/// the dashboard and the API's document when a token is set, else how to
/// turn them on.
#[tokio::test]
async fn the_root_points_the_way() {
    let Some(app) =
        spawn_app_with(Backend::Sqlite, &[("admin_token", "root-token-0123456789")]).await
    else {
        return;
    };
    let answer = app.get("/").await;
    assert_eq!(answer.status(), 200);
    let page = answer.text().await.unwrap();
    for shown in [
        "dunwell is running",
        "href=\"/admin\"",
        "/api/openapi.json",
        "/healthz",
    ] {
        assert!(page.contains(shown), "{shown} missing: {page}");
    }
    app.shutdown().await;
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let page = app.get("/").await.text().await.unwrap();
    assert!(
        page.contains("set <code>DUNWELL_ADMIN_TOKEN</code>"),
        "{page}"
    );
    assert!(!page.contains("href=\"/admin\""), "{page}");
    app.shutdown().await;
}
