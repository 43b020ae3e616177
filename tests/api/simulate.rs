//! `dunwell simulate`: the real binary backtests a policy against a
//! generated population and against a history file, deterministically.

use serde_json::Value;

use crate::cli::{dunwell, text};

async fn simulate(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = dunwell()
        .current_dir(dir)
        .arg("simulate")
        .args(args)
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    (out.status.success(), stdout, stderr)
}

fn strategy<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no strategy {name}: {report}"))
}

fn fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/history/failed_invoices.csv")
}

#[tokio::test]
async fn a_seed_gives_the_same_figures_and_the_policy_breaks_no_network_rule() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--population", "3000", "--seed", "7", "--json"];
    let (ok, first, stderr) = simulate(dir.path(), &args).await;
    assert!(ok, "{stderr}");
    let (_, again, _) = simulate(dir.path(), &args).await;
    assert_eq!(first, again, "the same seed must give the same figures");
    let (_, other_seed, _) = simulate(
        dir.path(),
        &["--population", "3000", "--seed", "8", "--json"],
    )
    .await;
    assert_ne!(first, other_seed);

    let report: Value = serde_json::from_str(&first).unwrap();
    assert!(
        report["source"]
            .as_str()
            .unwrap()
            .contains("3000 generated")
    );
    assert!(report["assumptions"].as_array().unwrap().len() >= 5);
    let policy = strategy(&report, "dunwell policy");
    let fixed = strategy(&report, "days 3/7/14/21");
    let even = strategy(&report, "8 in 14 days");
    for s in [policy, fixed, even] {
        assert_eq!(s["invoices"], 3000);
        let share = s["revenue_share"].as_f64().unwrap();
        assert!((0.2..0.95).contains(&share), "{s}");
    }
    assert_eq!(policy["violations"], 0, "{policy}");
    assert!(
        policy["attempts_per_failure"].as_f64().unwrap() <= 2.5,
        "{policy}"
    );
    // The plain schedules ignore Mastercard's waits: the checker sees it.
    assert!(even["violations"].as_u64().unwrap() > 0, "{even}");
}

#[tokio::test]
async fn the_table_names_the_strategies_and_the_assumptions() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = simulate(dir.path(), &["--population", "500"]).await;
    assert!(ok, "{stderr}");
    for needle in [
        "500 generated failed renewals (seed 7, model today)",
        "assumptions:",
        "pay cycles",
        "dunwell policy",
        "days 3/7/14/21",
        "8 in 14 days",
        "violations",
        "insufficient_funds",
    ] {
        assert!(stdout.contains(needle), "{needle} missing:\n{stdout}");
    }
}

#[tokio::test]
async fn every_model_prints_its_assumptions_and_every_schedule_its_regret() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--model", "all", "--population", "400", "--json"];
    let (ok, stdout, stderr) = simulate(dir.path(), &args).await;
    assert!(ok, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let models = report["models"].as_array().unwrap();
    assert!(models.len() >= 5, "{report}");
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    for name in [
        "today",
        "off-payday",
        "mixed-cycles",
        "long-blocks",
        "responsive",
        "unresponsive",
    ] {
        assert!(names.contains(&name), "{names:?}");
    }
    for model in models {
        assert!(!model["assumes"].as_str().unwrap().is_empty());
        let strategies = model["strategies"].as_array().unwrap();
        assert_eq!(strategies.len(), 5, "{model}");
        let best = strategies
            .iter()
            .map(|s| s["revenue_share"].as_f64().unwrap())
            .fold(0.0, f64::max);
        for s in strategies {
            let regret = s["regret_points"].as_f64().unwrap();
            let by_hand = (best - s["revenue_share"].as_f64().unwrap()) * 100.0;
            assert!((regret - by_hand).abs() < 1e-9, "{s}");
        }
    }
    let worst = &report["worst_regret_points"];
    for name in [
        "dunwell policy",
        "days 3/7/14/21",
        "days 3/7/14/21 + new card",
        "8 in 14 days",
        "plain rule set",
    ] {
        assert!(worst[name].as_f64().unwrap() >= 0.0, "{name}: {worst}");
    }

    // The text: each model's assumptions, then the tables.
    let (ok, text_out, stderr) =
        simulate(dir.path(), &["--model", "all", "--population", "300"]).await;
    assert!(ok, "{stderr}");
    for needle in [
        "long-blocks: ",
        "regret (points of revenue",
        "worst",
        "median days to recovery",
    ] {
        assert!(text_out.contains(needle), "{needle} missing:\n{text_out}");
    }
    // One model alone prints what it changes among the assumptions.
    let (ok, one, stderr) = simulate(
        dir.path(),
        &["--model", "off-payday", "--population", "300"],
    )
    .await;
    assert!(ok, "{stderr}");
    assert!(
        one.contains("model off-payday") && one.contains("15% on any other day"),
        "{one}"
    );
    // A name that is not a model gets the list.
    let (ok, _, stderr) = simulate(dir.path(), &["--model", "sunny"]).await;
    assert!(!ok);
    assert!(
        stderr.contains("no model called \"sunny\"") && stderr.contains("skeptic"),
        "{stderr}"
    );
}

#[tokio::test]
async fn learning_replays_the_year_month_by_month() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--model", "off-payday", "--learn", "--population", "1200"];
    let (ok, stdout, stderr) = simulate(dir.path(), &args).await;
    assert!(ok, "{stderr}");
    for needle in [
        "model off-payday",
        "learned from",
        "without learning",
        "2026-01",
        "2026-12",
    ] {
        assert!(stdout.contains(needle), "{needle} missing:\n{stdout}");
    }
    let (ok, _, stderr) = simulate(dir.path(), &["--model", "all", "--learn"]).await;
    assert!(!ok);
    assert!(stderr.contains("--learn replays one model"), "{stderr}");
    // What the year taught, group by group, and what the planner makes of it.
    for needle in [
        "finished retries teach",
        "after a likely payday / between paydays",
        "within 48 h of the try before / later",
    ] {
        assert!(stdout.contains(needle), "{needle} missing:\n{stdout}");
    }
}

#[tokio::test]
async fn a_history_file_is_replayed_month_by_month_learning_from_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture();
    let (ok, stdout, stderr) = simulate(
        dir.path(),
        &["--history", path.to_str().unwrap(), "--learn"],
    )
    .await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("60 failed invoices from"), "{stdout}");
    // One row per month the history covers, oldest first; the first month
    // knows nothing, later ones what the earlier months' retries taught.
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("2026-") || l.starts_with("2025-"))
        .collect();
    assert!(rows.len() >= 3, "{stdout}");
    let learned_from =
        |row: &str| -> u64 { row.split_whitespace().nth(1).unwrap().parse().unwrap() };
    assert_eq!(learned_from(rows[0]), 0, "{stdout}");
    assert!(learned_from(rows[rows.len() - 1]) > 0, "{stdout}");
    let mut sorted = rows.clone();
    sorted.sort();
    assert_eq!(rows, sorted);
    assert!(stdout.contains("finished retries teach"), "{stdout}");
}

#[tokio::test]
async fn a_history_file_is_played_as_written_with_hand_checked_baselines() {
    let dir = tempfile::tempdir().unwrap();
    // 1. Funds, paid on Sunday 8 March (money from that day for 5 days):
    //    days 3/7/14/21 fails on day 3 and takes it on day 7 (2 attempts);
    //    8 in 14 days fails at 1.75 and 3.5 days, takes it at 5.25 (3).
    // 2. Expired card replaced on 5 March: days 3/7/14/21 charges the new
    //    card at its next slot (day 3, 6 March), the others at once (1
    //    attempt each); all recover.
    // 3. Funds, never paid: 4 attempts, 8 attempts.
    let csv = "failed_at,decline_code,amount,currency,country,paid_at\n\
               2026-03-03T15:00:00Z,insufficient_funds,50.00,usd,,2026-03-08T12:00:00Z\n\
               2026-03-03T15:00:00Z,expired_card,20.00,usd,,2026-03-05T10:00:00Z\n\
               2026-03-03T15:00:00Z,insufficient_funds,30.00,usd,,\n";
    std::fs::write(dir.path().join("history.csv"), csv).unwrap();
    let (ok, stdout, stderr) = simulate(dir.path(), &["--history", "history.csv", "--json"]).await;
    assert!(ok, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let fixed = strategy(&report, "days 3/7/14/21");
    assert_eq!(fixed["recovered"], 2);
    assert_eq!(fixed["attempts"], 2 + 1 + 4);
    assert!(
        (fixed["revenue_share"].as_f64().unwrap() - 0.7).abs() < 1e-9,
        "{fixed}"
    );
    let at_once = strategy(&report, "days 3/7/14/21 + new card");
    assert_eq!(at_once["recovered"], 2);
    assert_eq!(at_once["attempts"], 2 + 1 + 4);
    // Medians of two recoveries: the later one (day 7 for both) — the
    // means tell the new card's day apart: (7 + 3) / 2 and (7 + 1.8) / 2.
    let mean = |s: &Value| s["mean_days_to_recover"].as_f64().unwrap();
    assert!((mean(fixed) - 5.0).abs() < 0.01, "{fixed}");
    assert!(
        (mean(at_once) - (7.0 + 43.0 / 24.0) / 2.0).abs() < 0.01,
        "{at_once}"
    );
    let even = strategy(&report, "8 in 14 days");
    assert_eq!(even["recovered"], 2);
    assert_eq!(even["attempts"], 3 + 1 + 8);
    let policy = strategy(&report, "dunwell policy");
    assert_eq!(policy["violations"], 0);
    assert!(policy["attempts"].as_u64().unwrap() < 12, "{policy}");

    // The shipped sample reads, with its three currencies kept apart.
    let (ok, stdout, stderr) = simulate(
        dir.path(),
        &["--history", fixture().to_str().unwrap(), "--json"],
    )
    .await;
    assert!(ok, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let policy = strategy(&report, "dunwell policy");
    assert_eq!(policy["invoices"], 60);
    assert!(
        policy["revenue"].as_object().unwrap().len() >= 3,
        "{policy}"
    );
}

#[tokio::test]
async fn bad_files_are_refused_with_their_lines_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.csv"),
        "failed_at,decline_code,amount,currency\nyesterday,insufficient_funds,1,usd\n2026-03-03,x,1.234,usd\n",
    )
    .unwrap();
    let (ok, _, stderr) = simulate(dir.path(), &["--history", "bad.csv"]).await;
    assert!(!ok);
    assert!(stderr.contains("line 2: failed_at"), "{stderr}");
    assert!(stderr.contains("line 3: amount"), "{stderr}");

    std::fs::write(
        dir.path().join("policy.toml"),
        "[policy.retries]\nmax_attempts = 0\n[policy.networks]\nvisa_per_30_days = 40\n",
    )
    .unwrap();
    let (ok, _, stderr) = simulate(
        dir.path(),
        &["--policy", "policy.toml", "--population", "10"],
    )
    .await;
    assert!(!ok);
    assert!(stderr.contains("policy.retries.max_attempts"), "{stderr}");
    assert!(
        stderr.contains("policy.networks.visa_per_30_days"),
        "{stderr}"
    );

    // A policy file changes the figures: no retries at all recovers less.
    std::fs::write(
        dir.path().join("once.toml"),
        "[retries]\nmax_attempts = 1\n",
    )
    .unwrap();
    let (ok, once, stderr) = simulate(
        dir.path(),
        &["--policy", "once.toml", "--population", "2000", "--json"],
    )
    .await;
    assert!(ok, "{stderr}");
    let (_, default, _) = simulate(dir.path(), &["--population", "2000", "--json"]).await;
    let attempts = |text: &str| {
        let report: Value = serde_json::from_str(text).unwrap();
        strategy(&report, "dunwell policy")["attempts_per_failure"]
            .as_f64()
            .unwrap()
    };
    assert!(attempts(&once) < attempts(&default), "{once}");
    assert!(attempts(&once) <= 1.0 + 0.5, "{once}");
}
