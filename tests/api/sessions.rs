//! The operator's sessions and tokens as an attacker meets them: a signed-out
//! cookie opens nothing, a forged one neither, and wrong tokens (at the
//! dashboard's sign-in or the API) hold the address back, longer each time.

use crate::backend_tests;
use crate::dashboard::TOKEN;
use crate::helpers::*;

async fn admin(app: &TestApp, cookie: &str) -> reqwest::Response {
    no_redirects()
        .get(format!("{}/admin", app.address))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

async fn sign_in_with(app: &TestApp, token: &str) -> reqwest::Response {
    no_redirects()
        .post(format!("{}/admin/login", app.address))
        .header("origin", &app.address)
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

fn cookie_of(answer: &reqwest::Response) -> String {
    let set = answer.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

backend_tests!(signing_out_ends_the_session_on_the_server);

async fn signing_out_ends_the_session_on_the_server(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("admin_token", TOKEN)]).await else {
        return;
    };
    let signed = sign_in_with(&app, TOKEN).await;
    assert_eq!(signed.status(), 303);
    let cookie = cookie_of(&signed);
    assert!(!cookie.contains(TOKEN));
    assert_eq!(admin(&app, &cookie).await.status(), 200);
    // A second sign-in is a session of its own.
    let other = cookie_of(&sign_in_with(&app, TOKEN).await);
    assert_ne!(other, cookie);

    let out = no_redirects()
        .post(format!("{}/admin/logout", app.address))
        .header("origin", &app.address)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    // The copy of the cookie kept from before opens nothing any more.
    let after = admin(&app, &cookie).await;
    assert_eq!(after.status(), 303);
    assert_eq!(after.headers()["location"], "/admin/login");
    assert_eq!(
        admin(&app, &other).await.status(),
        200,
        "only that session ended"
    );

    // Made-up and altered cookies open nothing.
    let (name, value) = other.split_once('=').unwrap();
    let (id, tag) = value.split_once('.').unwrap();
    for forged in [
        format!("{name}=9999999999.{}", "ab".repeat(32)),
        format!("{name}={id}x.{tag}"),
        format!("{name}={id}.{}", "00".repeat(32)),
    ] {
        assert_eq!(admin(&app, &forged).await.status(), 303, "{forged}");
    }
    app.shutdown().await;
}

backend_tests!(wrong_tokens_hold_the_address_back);

async fn wrong_tokens_hold_the_address_back(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("admin_token", TOKEN)]).await else {
        return;
    };
    let free = dunwell::domain::sign_in_throttle::FREE_FAILURES;
    for _ in 0..=free {
        assert_eq!(
            sign_in_with(&app, "wrong-token-0123456789").await.status(),
            401
        );
    }
    // Held back now, even with the right token: guessing goes no faster.
    let held = sign_in_with(&app, TOKEN).await;
    assert_eq!(held.status(), 429);
    assert!(held.headers().contains_key("retry-after"));
    assert!(held.text().await.unwrap().contains("Too many wrong tokens"));
    let api = reqwest::Client::new()
        .get(format!("{}/api/cases", app.address))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 429, "the API shares the hold");
    // After the hold the right token works, and clears the count.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(sign_in_with(&app, TOKEN).await.status(), 303);
    app.shutdown().await;

    // The API's bearer token is throttled by itself too.
    let Some(app) = spawn_app_with(backend, &[("admin_token", TOKEN)]).await else {
        return;
    };
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..(free + 3) {
        let answer = client
            .get(format!("{}/api/cases", app.address))
            .bearer_auth("wrong-token-0123456789")
            .send()
            .await
            .unwrap();
        statuses.push(answer.status().as_u16());
    }
    assert_eq!(&statuses[..=free as usize], vec![401; free as usize + 1]);
    assert!(
        statuses[free as usize + 1..].iter().all(|s| *s == 429),
        "{statuses:?}"
    );
    app.shutdown().await;
}
