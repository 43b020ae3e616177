//! A Stripe stand-in that answers after a fixed delay, like the real API
//! over a network (its answers take hundreds of milliseconds): invoices are
//! open, charges decline (`insufficient_funds`), customers give no address
//! (so their cases stay on the clock they opened on, as with the simulated
//! processor).
//! For `drain --latency-ms`: workers bound by the processor, not the CPU.

use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use dunwell::trigger::builder::{self, Scenario};
use serde_json::json;

/// Starts the stand-in on a free local port; returns its API base URL.
pub fn start(latency: Duration) -> anyhow::Result<String> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(latency))
            .route("/v1/{path:.*}", web::to(stripe))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))?;
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    Ok(format!("http://127.0.0.1:{port}/"))
}

async fn stripe(
    request: HttpRequest,
    latency: web::Data<Duration>,
    path: web::Path<String>,
) -> HttpResponse {
    tokio::time::sleep(**latency).await;
    let parts: Vec<&str> = path.split('/').collect();
    match (request.method().as_str(), parts.as_slice()) {
        ("GET", ["customers", id]) => HttpResponse::Ok().json(json!({
            "id": id, "object": "customer", "email": format!("{id}@example.com"),
            "name": "Bench Customer", "address": null})),
        ("GET", ["invoices", id]) => {
            let s = Scenario {
                invoice: (*id).to_owned(),
                ..Scenario::example("evt_slow_stripe", dunwell::clock::unix_secs())
            };
            let event = builder::build("invoice.payment_failed", &s).expect("a known type");
            HttpResponse::Ok().json(event["data"]["object"].clone())
        }
        ("POST", ["invoices", _, "pay"]) => HttpResponse::PaymentRequired().json(json!({
            "error": {"type": "card_error", "code": "card_declined",
            "decline_code": "insufficient_funds", "message": "Your card was declined."}})),
        _ => HttpResponse::Ok().json(json!({"id": parts.get(1), "status": "active"})),
    }
}
