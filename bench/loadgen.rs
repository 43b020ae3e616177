//! Load generator for the intake benchmark: N keep-alive HTTP/1.1
//! connections posting signed, unique ~3 KB `invoice.payment_failed` events
//! as fast as the server answers. Hand-rolled HTTP keeps the client's own
//! CPU cost low (like wrk), since client and server share the machine.
//!
//! cargo run --release --example loadgen -- --url http://127.0.0.1:8080/webhooks/stripe \
//!     --secret whsec_... --connections 32 --seconds 20

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dunwell::trigger::builder::{self, Scenario};
use dunwell::webhooks::signature;
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Fixed-width id placeholder, replaced per request in the serialized body.
const ID_PLACEHOLDER: &str = "evt_BENCH000000000000000000";
/// The invoice, customer and subscription are unique per event too, so each
/// event opens a case of its own for a customer of its own (a renewal day).
const PLACEHOLDERS: [&str; 4] = [
    ID_PLACEHOLDER,
    "in_BENCH0000000000000000",
    "cus_BENCH000000000000",
    "sub_BENCH0000000000000000",
];

struct Args {
    host: String,
    path: String,
    secret: SecretString,
    connections: usize,
    seconds: u64,
    warmup: u64,
    prefix: String,
}

fn parse_args() -> Args {
    let mut url = "http://127.0.0.1:8080/webhooks/stripe".to_owned();
    let mut secret = String::new();
    let (mut connections, mut seconds, mut warmup) = (32, 20, 2);
    let mut prefix = format!("{:x}", std::process::id());
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => url = value,
            "--secret" => secret = value,
            "--connections" => connections = value.parse().expect("--connections"),
            "--seconds" => seconds = value.parse().expect("--seconds"),
            "--warmup" => warmup = value.parse().expect("--warmup"),
            "--prefix" => prefix = value,
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(!secret.is_empty(), "--secret is required");
    let rest = url.strip_prefix("http://").expect("http:// URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    Args {
        host: host.to_owned(),
        path: if path.is_empty() {
            "/".into()
        } else {
            path.to_owned()
        },
        secret: SecretString::from(secret),
        connections,
        seconds,
        warmup,
        prefix,
    }
}

/// One realistic event, padded to about 3 KB, with a replaceable id.
fn template() -> String {
    let scenario = Scenario {
        invoice: PLACEHOLDERS[1].into(),
        customer: PLACEHOLDERS[2].into(),
        subscription: PLACEHOLDERS[3].into(),
        ..Scenario::example(ID_PLACEHOLDER, dunwell::clock::unix_secs())
    };
    let mut event = builder::build("invoice.payment_failed", &scenario).unwrap();
    let size = serde_json::to_string(&event).unwrap().len();
    if size < 3000 {
        event["data"]["object"]["metadata"]["plan_notes"] = "x".repeat(3000 - size - 30).into();
    }
    serde_json::to_string(&event).unwrap()
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    ok: u64,
    refused: u64,
    errors: u64,
}

async fn connection(
    args: Arc<Args>,
    template: Arc<String>,
    counter: Arc<AtomicU64>,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> Tally {
    let mut tally = Tally::default();
    let mut stream = match TcpStream::connect(&args.host).await {
        Ok(s) => s,
        Err(_) => {
            tally.errors += 1;
            return tally;
        }
    };
    stream.set_nodelay(true).ok();
    // Where each placeholder occurs (it may occur more than once).
    let spots: Vec<(usize, &str)> = PLACEHOLDERS
        .iter()
        .flat_map(|p| template.match_indices(p))
        .collect();
    assert!(
        spots.iter().any(|(_, p)| *p == ID_PLACEHOLDER),
        "placeholder"
    );
    let mut body = template.as_bytes().to_vec();
    let mut request = Vec::with_capacity(body.len() + 512);
    let mut buf = vec![0u8; 16 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        for (at, placeholder) in &spots {
            let kind = &placeholder[..placeholder.find('_').expect("prefix") + 1];
            let id = format!(
                "{kind}{}{:0>width$}",
                args.prefix,
                n,
                width = placeholder.len() - kind.len() - args.prefix.len()
            );
            body[*at..*at + placeholder.len()].copy_from_slice(id.as_bytes());
        }
        let header = signature::sign(&args.secret, dunwell::clock::unix_secs(), &body);
        request.clear();
        request.extend_from_slice(
            format!(
                "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nStripe-Signature: {}\r\nContent-Length: {}\r\n\r\n",
                args.path, args.host, header, body.len()
            )
            .as_bytes(),
        );
        request.extend_from_slice(&body);
        let started = Instant::now();
        if stream.write_all(&request).await.is_err() {
            tally.errors += 1;
            break;
        }
        // Read one response: headers, then Content-Length bytes.
        let mut filled = 0;
        let status = loop {
            match stream.read(&mut buf[filled..]).await {
                Ok(0) | Err(_) => break None,
                Ok(k) => filled += k,
            }
            let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = std::str::from_utf8(&buf[..end]).unwrap_or("");
            let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while filled < end + 4 + length {
                match stream.read(&mut buf[filled..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(k) => filled += k,
                }
            }
            break Some(status);
        };
        let elapsed = started.elapsed();
        match status {
            None => {
                tally.errors += 1;
                break;
            }
            Some(s) if measuring.load(Ordering::Relaxed) => {
                if (200..300).contains(&s) {
                    tally.ok += 1;
                } else {
                    tally.refused += 1;
                }
                tally
                    .latencies_us
                    .push(elapsed.as_micros().min(u32::MAX as u128) as u32);
            }
            Some(_) => {}
        }
    }
    tally
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() {
    let args = Arc::new(parse_args());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let template = Arc::new(template());
        let counter = Arc::new(AtomicU64::new(0));
        let measuring = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..args.connections)
            .map(|_| {
                tokio::spawn(connection(
                    args.clone(),
                    template.clone(),
                    counter.clone(),
                    measuring.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(args.warmup)).await;
        measuring.store(true, Ordering::Relaxed);
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
        measuring.store(false, Ordering::Relaxed);
        let elapsed = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let mut all = Tally::default();
        for task in tasks {
            let t = task.await.unwrap();
            all.latencies_us.extend(t.latencies_us);
            all.ok += t.ok;
            all.refused += t.refused;
            all.errors += t.errors;
        }
        all.latencies_us.sort_unstable();
        println!(
            "requests={} ok={} non2xx={} errors={} seconds={:.1} rps={:.0} p50_ms={:.2} p90_ms={:.2} p99_ms={:.2} max_ms={:.2} body_bytes={}",
            all.latencies_us.len(),
            all.ok,
            all.refused,
            all.errors,
            elapsed,
            all.ok as f64 / elapsed,
            percentile(&all.latencies_us, 0.50),
            percentile(&all.latencies_us, 0.90),
            percentile(&all.latencies_us, 0.99),
            percentile(&all.latencies_us, 1.0),
            template.len(),
        );
    });
}
