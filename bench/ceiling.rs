//! The machine's ceiling for the intake benchmark: an actix-web endpoint
//! that only verifies the Stripe signature (with dunwell's own verifier)
//! and stores nothing. `cargo run --release --example ceiling -- PORT SECRET`

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use secrecy::SecretString;

async fn verify_only(
    req: HttpRequest,
    body: web::Bytes,
    secrets: web::Data<Vec<SecretString>>,
) -> HttpResponse {
    let header = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let now = dunwell::clock::unix_secs();
    match dunwell::webhooks::signature::verify(header, &body, &secrets, now, 300) {
        Ok(_) => HttpResponse::Ok().json(serde_json::json!({"received": true})),
        Err(e) => HttpResponse::BadRequest().json(serde_json::json!({"error": e.to_string()})),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(8090);
    let secret = args.next().expect("usage: ceiling PORT SECRET");
    let secrets = web::Data::new(vec![SecretString::from(secret)]);
    HttpServer::new(move || {
        App::new()
            .app_data(secrets.clone())
            .app_data(web::PayloadConfig::new(1024 * 1024))
            .route("/webhooks/stripe", web::post().to(verify_only))
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
