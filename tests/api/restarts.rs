//! Recovery survives restarts and scale-out, tested with the real binary:
//! kill -9 or SIGTERM and an immediate restart on the same database, and
//! one web and two worker processes on one PostgreSQL with a worker killed
//! mid-way. Every due job runs, exactly once.

use std::collections::BTreeSet;
use std::time::Duration;

use dunwell::domain::case::CaseState;
use dunwell::store::Store;
use dunwell::trigger::Scenario;

use crate::account::Account;
use crate::helpers::*;
use crate::process::{Process, eventually};
use crate::stand_in::{event, scenario};

/// Engine time runs this much faster: a 4-hour back-off takes under a second.
const SPEED: &str = "20000";

fn env<'a>(db: &'a TestDb, stripe: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("DUNWELL_DATABASE_URL", db.url.as_str()),
        ("DUNWELL_WEBHOOK_SECRETS", SECRET),
        ("DUNWELL_PROCESSOR", "stripe"),
        ("DUNWELL_STRIPE_API_KEY", "sk_test_dunwell"),
        ("DUNWELL_STRIPE_API_BASE", stripe),
        ("DUNWELL_CLOCK_SPEED", SPEED),
    ]
}

/// Posts `event_type` for `s`, signed, to a running process.
pub(crate) async fn post(process: &Process, event_type: &str, s: &Scenario) {
    let body =
        serde_json::to_vec(&dunwell::trigger::builder::build(event_type, s).unwrap()).unwrap();
    let answer = reqwest::Client::new()
        .post(process.url("/webhooks/stripe"))
        .header("content-type", "application/json")
        .header("stripe-signature", sign_webhook(&body, SECRET, now()))
        .body(body)
        .send()
        .await
        .expect("post event");
    assert_eq!(answer.status(), 200, "{event_type} accepted");
}

async fn state_of(store: &Store, invoice: &str) -> Option<CaseState> {
    let case = store.case_by_invoice(invoice).await.ok()??;
    case.state
}

pub(crate) async fn ready(process: &Process) {
    let url = process.url("/readyz");
    eventually(Duration::from_secs(10), "readyz 200", || async {
        let answer = reqwest::get(&url).await.ok()?;
        (answer.status() == 200).then_some(())
    })
    .await;
}

#[derive(Clone, Copy, Debug)]
enum Stop {
    Kill,
    Term,
}

/// A case with a retry planned; the process stops (`how`) before it is due
/// and a new one starts at once on the same database: the retry runs there,
/// once, and the case recovers.
async fn planned_work_survives(backend: Backend, how: Stop) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (server, account) = Account::start(0, "processing_error").await;
    let uri = server.uri();
    let env = env(&db, &uri);
    let store = db.store().await;
    let mut first = Process::start("first", "serve", &env);
    ready(&first).await;
    // The failure happens now on the engine's clock. Engine time runs
    // 20,000 times faster, so a real-time stamp truncated to its second
    // could lie hours behind: the 4-hour back-off would already be over
    // and the retry would run before the stop. The next second is ahead
    // of the engine, which takes no event as later than its own now.
    let s = Scenario {
        now: now() + 1,
        ..scenario(&format!("in_restart_{how:?}").to_lowercase())
    };
    post(&first, "invoice.payment_failed", &event(&s, "failed")).await;
    eventually(Duration::from_secs(10), "a planned retry", || async {
        let case = store.case_by_invoice(&s.invoice).await.ok()??;
        let work = store.work_of(case.id).await.ok()?;
        work.iter().any(|w| w.key == "retry:1").then_some(())
    })
    .await;
    match how {
        Stop::Kill => first.kill9(),
        Stop::Term => {
            let (status, took) = first.sigterm();
            assert!(status.success(), "a clean stop exits 0: {status:?}");
            assert!(took < Duration::from_secs(10), "stopped in {took:?}");
        }
    }
    assert!(
        account.keys("POST", "/pay").is_empty(),
        "stopped before the retry was due"
    );

    let second = Process::start("second", "serve", &env);
    ready(&second).await;
    eventually(
        Duration::from_secs(30),
        "the case recovered after the restart",
        || async {
            (state_of(&store, &s.invoice).await == Some(CaseState::Recovered)).then_some(())
        },
    )
    .await;
    let keys: BTreeSet<String> = account.keys("POST", "/pay").into_iter().collect();
    assert_eq!(keys.len(), 1, "one charge attempt, one key: {keys:?}");
    assert_eq!(account.attempts(&s.invoice), 1);
    let case = store.case_by_invoice(&s.invoice).await.unwrap().unwrap();
    let thanks = || async {
        let mails = store.outbox(Some(case.id), 20).await.ok()?;
        let n = mails.iter().filter(|m| m.kind == "thank_you").count();
        (n > 0).then_some(n)
    };
    assert_eq!(
        eventually(Duration::from_secs(10), "the thank-you", thanks).await,
        1
    );
    assert!(
        second.log_lines("WORKER_ALREADY_EXISTS").is_empty(),
        "no worker refused to start"
    );
    store.close().await;
}

async fn planned_work_survives_kill_9(backend: Backend) {
    planned_work_survives(backend, Stop::Kill).await;
}

async fn planned_work_survives_sigterm_and_restart(backend: Backend) {
    planned_work_survives(backend, Stop::Term).await;
}

crate::backend_tests!(
    planned_work_survives_kill_9,
    planned_work_survives_sigterm_and_restart
);

/// SIGTERM while a job waits on a slow processor: the process stops within
/// 10 s (Docker's and Fly's limit), gives the job's lease back, and the next
/// process makes the same attempt at once, under the same key.
async fn a_stop_gives_back_the_lease_of_a_job_in_flight(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (server, account) = Account::start(0, "processing_error").await;
    let s = scenario("in_slow_stop");
    wiremock::Mock::given(wiremock::matchers::path(format!(
        "/v1/invoices/{}/pay",
        s.invoice
    )))
    .respond_with(wiremock::ResponseTemplate::new(500).set_delay(Duration::from_secs(60)))
    .up_to_n_times(1)
    .with_priority(1)
    .mount(&server)
    .await;
    let uri = server.uri();
    let env = env(&db, &uri);
    let store = db.store().await;
    let mut first = Process::start("first", "serve", &env);
    ready(&first).await;
    post(&first, "invoice.payment_failed", &event(&s, "failed")).await;
    let in_flight = || async {
        let requests = server.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .any(|r| r.url.path().ends_with("/pay"))
            .then_some(())
    };
    eventually(
        Duration::from_secs(20),
        "the charge request in flight",
        in_flight,
    )
    .await;
    let (status, took) = first.sigterm();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(10), "stopped in {took:?}");

    let second = Process::start("second", "serve", &env);
    ready(&second).await;
    // Well within the 30 s a lease left behind would hold it.
    eventually(
        Duration::from_secs(15),
        "the attempt made again at once",
        || async {
            (state_of(&store, &s.invoice).await == Some(CaseState::Recovered)).then_some(())
        },
    )
    .await;
    let keys: BTreeSet<String> = account.keys("POST", "/pay").into_iter().collect();
    assert_eq!(keys.len(), 1, "the same attempt, the same key: {keys:?}");
    store.close().await;
}

crate::backend_tests!(a_stop_gives_back_the_lease_of_a_job_in_flight);

/// One web and two worker processes on one PostgreSQL; one worker is
/// killed mid-way and restarted. Every case recovers on its second attempt:
/// each attempt reached the processor once (one key each), each email went
/// out once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_and_a_crash_on_one_postgres() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let (server, account) = Account::start(1, "processing_error").await;
    let uri = server.uri();
    let env = env(&db, &uri);
    let store = db.store().await;
    store.migrate().await.unwrap();

    let web = Process::start("web", "web", &env);
    let mut one = Process::start("worker-1", "worker", &env);
    let two = Process::start("worker-2", "worker", &env);
    ready(&one).await;
    ready(&two).await;
    let invoices: Vec<Scenario> = (0..16).map(|i| scenario(&format!("in_scale{i}"))).collect();
    for s in &invoices {
        post(&web, "invoice.payment_failed", &event(s, "failed")).await;
    }
    // Mid-way: some first attempts made, not all cases recovered.
    eventually(
        Duration::from_secs(30),
        "first attempts under way",
        || async { (account.keys("POST", "/pay").len() >= 4).then_some(()) },
    )
    .await;
    one.kill9();
    let _one_again = Process::start("worker-1-restarted", "worker", &env);
    // Events the killed worker had leased come back when their lease runs
    // out (60 s, `claim::EVENT_LEASE_MS`), then their cases run through.
    eventually(Duration::from_secs(120), "every case recovered", || async {
        for s in &invoices {
            if state_of(&store, &s.invoice).await != Some(CaseState::Recovered) {
                return None;
            }
        }
        Some(())
    })
    .await;
    for s in &invoices {
        assert_eq!(
            account.attempts(&s.invoice),
            2,
            "{}: declined once, paid once",
            s.invoice
        );
        let keys: BTreeSet<String> = account
            .keys("POST", &format!("{}/pay", s.invoice))
            .into_iter()
            .collect();
        assert_eq!(
            keys.len(),
            2,
            "{}: one key per attempt: {keys:?}",
            s.invoice
        );
        let case = store.case_by_invoice(&s.invoice).await.unwrap().unwrap();
        let mails = eventually(Duration::from_secs(10), "the thank-you", || async {
            let mails = store.outbox(Some(case.id), 20).await.ok()?;
            mails.iter().any(|m| m.kind == "thank_you").then_some(mails)
        })
        .await;
        let mut seen = BTreeSet::new();
        for m in &mails {
            assert!(
                seen.insert((m.kind.clone(), m.stage)),
                "{} written twice",
                m.kind
            );
        }
        assert!(seen.contains(&("thank_you".to_owned(), 0)), "{mails:?}");
        let attempts: Vec<_> = store
            .timeline(case.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|t| t.kind == "attempt")
            .map(|t| t.detail["attempt"].as_u64())
            .collect();
        assert_eq!(attempts, vec![Some(1), Some(2)], "{}", s.invoice);
    }
    store.close().await;
}

/// The README's demo, as written: `serve` at DUNWELL_CLOCK_SPEED=100000
/// with the simulated processor, events sent by `dunwell trigger`. The
/// third retry pays and the case recovers within seconds, whatever the
/// day it is run: five days spread over a year, month ends and December
/// included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_demo_recovers() {
    for start in [
        "2026-01-30T22:00:00Z",
        "2026-05-31T12:00:00Z",
        "2026-08-14T07:00:00Z",
        "2026-12-05T15:00:00Z",
        "2026-12-31T23:30:00Z",
    ] {
        the_readme_demo_recovers_from(start).await;
    }
}

async fn the_readme_demo_recovers_from(start: &str) {
    let Some(db) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    let env = [
        ("DUNWELL_DATABASE_URL", db.url.as_str()),
        ("DUNWELL_WEBHOOK_SECRETS", "whsec_demo"),
        ("DUNWELL_CLOCK_SPEED", "100000"),
        ("DUNWELL_CLOCK_START", start),
    ];
    let serve = Process::start("serve", "serve", &env);
    ready(&serve).await;
    let url = serve.url("/webhooks/stripe");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_dunwell"))
        .args([
            "trigger",
            "invoice.payment_failed",
            "--customer",
            "cus_demo",
        ])
        .args(["--invoice", "in_demo_recovers3", "--url", &url])
        .env("DUNWELL_WEBHOOK_SECRETS", "whsec_demo")
        .env("DUNWELL_DATABASE_URL", &db.url)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = db.store().await;
    eventually(
        Duration::from_secs(30),
        "the demo case recovered",
        || async {
            match state_of(&store, "in_demo_recovers3").await {
                Some(CaseState::Recovered) => Some(()),
                Some(s) if s.is_terminal() => panic!("the demo from {start} ended {s:?}"),
                _ => None,
            }
        },
    )
    .await;
    let case = store
        .case_by_invoice("in_demo_recovers3")
        .await
        .unwrap()
        .unwrap();
    let attempts = store
        .timeline(case.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.kind == "attempt")
        .count();
    assert_eq!(
        attempts, 3,
        "from {start}: two declines, then the third retry pays"
    );
    store.close().await;
}
