//! POST /webhooks/stripe, held to DESIGN.md: verified, durable, idempotent,
//! and a refused request stores nothing.

use serde_json::Value;

use crate::backend_tests;
use crate::helpers::*;

async fn error_of(response: reqwest::Response) -> String {
    let body: Value = response.json().await.expect("JSON error body");
    body["error"].as_str().expect("error field").to_owned()
}

backend_tests!(
    a_signed_event_is_stored_before_the_answer,
    two_v1_signatures_one_from_an_old_secret_are_accepted,
    any_configured_secret_is_accepted,
    refusals_store_nothing_and_say_why,
    a_duplicate_answers_2xx_and_changes_nothing,
    concurrent_duplicates_store_one_row,
    unknown_types_are_stored_and_ignored,
    an_oversized_body_gets_413,
    without_secrets_every_webhook_is_refused_with_503,
);

async fn a_signed_event_is_stored_before_the_answer(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let body = fixture("basil/invoice.payment_failed.json");
    let response = app.post_event(&body).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["received"], true);
    assert_eq!(answer["duplicate"], false);
    // Stored at the moment of the answer, byte for byte.
    let stored = app
        .store
        .event_by_id("evt_1QfJ2kLzO8hYb3nX0aPfWc1D")
        .await
        .unwrap()
        .expect("event stored before the 2xx");
    assert_eq!(stored.payload.as_bytes(), body.as_slice());
    assert_eq!(stored.event_type, "invoice.payment_failed");
    assert_eq!(stored.api_version.as_deref(), Some("2025-03-31.basil"));
    assert_eq!(stored.created_at, 1_760_003_601);
    assert!(!stored.livemode);
    app.shutdown().await;
}

async fn two_v1_signatures_one_from_an_old_secret_are_accepted(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let body = event_body("evt_rotation1", "invoice.paid");
    let t = now();
    let old = sign_webhook(&body, OLD_SECRET, t);
    let new = sign_webhook(&body, SECRET, t);
    let header = format!("{old},v1={}", new.split_once("v1=").unwrap().1);
    let response = app.post_signed(body, &header).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.event_count().await, 1);
    app.shutdown().await;
}

async fn any_configured_secret_is_accepted(backend: Backend) {
    let secrets = format!("{OLD_SECRET},{SECRET}");
    let Some(app) = spawn_app_with(backend, &[("webhook_secrets", &secrets)]).await else {
        return;
    };
    for (id, secret) in [("evt_bysecret1", OLD_SECRET), ("evt_bysecret2", SECRET)] {
        let body = event_body(id, "invoice.paid");
        let header = sign_webhook(&body, secret, now());
        let response = app.post_signed(body, &header).await;
        assert_eq!(response.status(), 200, "signed with {secret}");
    }
    assert_eq!(app.event_count().await, 2);
    app.shutdown().await;
}

async fn refusals_store_nothing_and_say_why(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let body = event_body("evt_refused1", "invoice.payment_failed");
    let t = now();
    let good = sign_webhook(&body, SECRET, t);
    let v1 = good.split_once("v1=").unwrap().1.to_owned();
    let json = ("content-type", "application/json");
    let mut tampered = body.clone();
    let at = tampered.len() - 3;
    tampered[at] ^= 1;

    let not_json = b"this is not json".to_vec();
    let not_json_sig = sign_webhook(&not_json, SECRET, t);
    let not_event = br#"{"hello":"world"}"#.to_vec();
    let not_event_sig = sign_webhook(&not_event, SECRET, t);

    type Case<'a> = (&'a str, Vec<u8>, Vec<(&'a str, String)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "missing header",
            body.clone(),
            vec![],
            400,
            "missing Stripe-Signature",
        ),
        (
            "garbage header",
            body.clone(),
            vec![("stripe-signature", "garbage".into())],
            400,
            "malformed",
        ),
        (
            "v0 only",
            body.clone(),
            vec![("stripe-signature", format!("t={t},v0={v1}"))],
            400,
            "no v1",
        ),
        (
            "wrong secret",
            body.clone(),
            vec![("stripe-signature", sign_webhook(&body, "whsec_wrong", t))],
            400,
            "does not match",
        ),
        (
            "tampered body",
            tampered,
            vec![("stripe-signature", good.clone())],
            400,
            "does not match",
        ),
        (
            // Well outside the 300 s tolerance, so a slow run cannot move
            // it inside; the unit tests check the 301 s edge exactly.
            "an hour old",
            body.clone(),
            vec![("stripe-signature", sign_webhook(&body, SECRET, t - 3600))],
            400,
            "tolerance",
        ),
        (
            "an hour ahead",
            body.clone(),
            vec![("stripe-signature", sign_webhook(&body, SECRET, t + 3600))],
            400,
            "tolerance",
        ),
        (
            "not JSON",
            not_json,
            vec![("stripe-signature", not_json_sig)],
            400,
            "not valid JSON",
        ),
        (
            "not an event",
            not_event,
            vec![("stripe-signature", not_event_sig)],
            400,
            "event id",
        ),
    ];
    for (what, body, headers, status, reason) in cases {
        let mut all: Vec<(&str, &str)> = vec![json];
        all.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
        let response = app.post_raw(body, &all).await;
        assert_eq!(response.status().as_u16(), status, "{what}");
        let error = error_of(response).await;
        assert!(
            error.contains(reason),
            "{what}: {error:?} should mention {reason:?}"
        );
        assert!(
            !error.contains(SECRET),
            "{what}: the answer leaks the secret"
        );
    }
    // Right signature, wrong content type.
    let response = app
        .post_raw(
            body.clone(),
            &[("content-type", "text/plain"), ("stripe-signature", &good)],
        )
        .await;
    assert_eq!(response.status(), 415);
    assert!(error_of(response).await.contains("application/json"));
    assert_eq!(
        app.event_count().await,
        0,
        "a refused request stored something"
    );

    // The same body, signed properly, is then accepted.
    let response = app.post_signed(body, &good).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.event_count().await, 1);
    app.shutdown().await;
}

async fn a_duplicate_answers_2xx_and_changes_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let body = fixture("legacy/invoice.payment_failed.json");
    let first: Value = app.post_event(&body).await.json().await.unwrap();
    assert_eq!(first["duplicate"], false);
    app.wait_processed().await;
    let before = app
        .store
        .event_by_id("evt_1QfJ2kLzO8hYb3nX0aPfWc1D")
        .await
        .unwrap()
        .unwrap();
    for _ in 0..2 {
        let response = app.post_event(&body).await;
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["duplicate"], true);
    }
    app.wait_processed().await;
    let after = app
        .store
        .event_by_id("evt_1QfJ2kLzO8hYb3nX0aPfWc1D")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before, after, "a duplicate changed the stored event");
    assert_eq!(app.event_count().await, 1);
    app.shutdown().await;
}

async fn concurrent_duplicates_store_one_row(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let body = event_body("evt_concurrent1", "invoice.payment_failed");
    let posts = (0..16).map(|_| app.post_event(&body));
    let answers = futures_util::future::join_all(posts).await;
    let mut new = 0;
    for response in answers {
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        if answer["duplicate"] == false {
            new += 1;
        }
    }
    assert_eq!(new, 1, "exactly one delivery is the new one");
    assert_eq!(app.event_count().await, 1);
    app.shutdown().await;
}

async fn unknown_types_are_stored_and_ignored(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let body = event_body("evt_unknown1", "product.created");
    assert_eq!(app.post_event(&body).await.status(), 200);
    app.wait_processed().await;
    let stored = app
        .store
        .event_by_id("evt_unknown1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.outcome.as_deref(), Some("ignored"));
    app.shutdown().await;
}

/// JSON escapes in the envelope's strings are valid JSON: the event is
/// stored under the id they spell, not refused as "not valid JSON".
async fn escaped_envelope_strings_are_accepted(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let body = String::from_utf8(event_body("evt_escaped1", "product.created")).unwrap();
    let body = body
        .replace("\"evt_escaped1\"", "\"evt_\\u0065scaped1\"")
        .replace("\"product.created\"", "\"product\\u002ecreated\"");
    assert!(body.contains("\\u0065"), "{body}");
    let response = app.post_event(body.as_bytes()).await;
    assert_eq!(response.status(), 200);
    app.wait_processed().await;
    let stored = app.store.event_by_id("evt_escaped1").await.unwrap();
    assert!(stored.is_some(), "stored under the id the escapes spell");
    app.shutdown().await;
}

crate::backend_tests!(escaped_envelope_strings_are_accepted);

/// Sends the headers of a 1,000-byte webhook and 10 bytes of its body,
/// then stalls; returns the status line the server answers with.
async fn stalled(app: &TestApp, signature: Option<&str>) -> (String, std::time::Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut head = format!(
        "POST /webhooks/stripe HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
    );
    if let Some(signature) = signature {
        head.push_str(&format!("Stripe-Signature: {signature}\r\n"));
    }
    head.push_str("\r\n{\"id\":\"ev");
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(std::time::Duration::from_secs(30), stream.read(&mut answer))
        .await
        .expect("the server answers a stalled body")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]).into_owned();
    (
        text.lines().next().unwrap_or_default().to_owned(),
        started.elapsed(),
    )
}

/// A body that never finishes arriving holds nothing for long: without a
/// current signature it is refused before a byte of it is read; with one
/// it is given up after the body time limit.
async fn a_stalled_body_is_refused_early_or_timed_out(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (status, _) = stalled(&app, None).await;
    assert!(status.contains("400"), "{status}");
    let (status, _) = stalled(&app, Some("t=1,v1=00")).await;
    assert!(status.contains("400"), "{status}");
    let current = format!("t={},v1={}", now(), "0".repeat(64));
    let (status, waited) = stalled(&app, Some(&current)).await;
    assert!(status.contains("408"), "{status}");
    assert!(waited >= std::time::Duration::from_secs(5), "{waited:?}");
    assert_eq!(app.event_count().await, 0);
    app.shutdown().await;
}

crate::backend_tests!(a_stalled_body_is_refused_early_or_timed_out);

async fn an_oversized_body_gets_413(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let padding = "x".repeat(1024 * 1024 + 1);
    let body = serde_json::to_vec(&serde_json::json!({
        "id": "evt_big1", "object": "event", "type": "invoice.paid", "created": now(),
        "data": {"object": {"padding": padding}},
    }))
    .unwrap();
    let response = app.post_event(&body).await;
    assert_eq!(response.status(), 413);
    assert!(error_of(response).await.contains("larger than"));
    // Also when the size is not announced up front (chunked).
    let header = sign_webhook(&body, SECRET, now());
    let stream = futures_util::stream::iter(
        body.chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let response = app
        .post_signed(reqwest::Body::wrap_stream(stream), &header)
        .await;
    assert_eq!(response.status(), 413);
    assert_eq!(app.event_count().await, 0);
    app.shutdown().await;
}

async fn without_secrets_every_webhook_is_refused_with_503(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("webhook_secrets", "")]).await else {
        return;
    };
    let response = app
        .post_event(&event_body("evt_nosecret", "invoice.paid"))
        .await;
    assert_eq!(response.status(), 503);
    assert!(error_of(response).await.contains("not configured"));
    assert_eq!(app.event_count().await, 0);
    app.shutdown().await;
}

/// Opens a connection from `from` that announces a 1 MiB webhook with a
/// current-looking (made-up) signature, sends a few bytes and stalls.
/// A webhook announcing 1 MiB that sends `sent` bytes of it, then stalls.
async fn stall_from(app: &TestApp, from: std::net::IpAddr, sent: usize) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let address: std::net::SocketAddr = app.address.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::new(from, 0)).unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    let head = format!(
        "POST /webhooks/stripe HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: 1048576\r\nStripe-Signature: t={},v1={}\r\n\r\n{{\"id\":\"ev",
        now(),
        "ab".repeat(32)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // A refused body is answered at once and no longer read: the write
    // may then stall or fail, and that is fine.
    let filler = vec![b' '; sent];
    let _ = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        stream.write_all(&filler),
    )
    .await;
    stream
}

/// Stalled bodies need no secret (only the signature header's shape is
/// checked before the body): one address holds at most its share of the
/// body budget, and signed events from another address are all taken.
async fn stalled_bodies_from_one_address_starve_no_other(backend: Backend) {
    use tokio::io::AsyncReadExt;
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let attacker: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let mut stalled = Vec::new();
    // Each sends 900 KiB of its 1 MiB, so it holds what it sent.
    for _ in 0..70 {
        stalled.push(stall_from(&app, attacker, 900 * 1024).await);
    }
    // The attacker's bodies beyond its share are refused at once.
    let mut busy = 0;
    for stream in &mut stalled {
        let mut answer = [0u8; 64];
        let read = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            stream.read(&mut answer),
        );
        if let Ok(Ok(n)) = read.await {
            busy += usize::from(String::from_utf8_lossy(&answer[..n]).contains(" 503 "));
        }
    }
    assert!(busy >= 60, "{busy} of 70 stalled bodies refused");
    let genuine = reqwest::Client::builder()
        .local_address("127.0.0.1".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let deliver = |i: usize| {
        let body = event_body(&format!("evt_genuine{i}"), "invoice.payment_failed");
        genuine
            .post(format!("{}/webhooks/stripe", app.address))
            .header("content-type", "application/json")
            .header("stripe-signature", sign_webhook(&body, SECRET, now()))
            .body(body)
            .send()
    };
    for i in 0..20 {
        assert_eq!(deliver(i).await.unwrap().status(), 200, "genuine event {i}");
    }
    assert_eq!(app.event_count().await, 20);
    drop(stalled);

    // Many addresses announcing 1 MiB bodies and sending next to nothing
    // (announced bytes are not held; each holds what it sent).
    let mut stalled = Vec::new();
    for host in 10..=17u8 {
        let from = std::net::IpAddr::from([127, 0, 0, host]);
        for _ in 0..9 {
            stalled.push(stall_from(&app, from, 1).await);
        }
    }
    for i in 20..30 {
        assert_eq!(
            deliver(i).await.unwrap().status(),
            200,
            "genuine event {i} beside 72 stalled bodies"
        );
    }
    drop(stalled);
    app.shutdown().await;
}

crate::backend_tests!(stalled_bodies_from_one_address_starve_no_other);
