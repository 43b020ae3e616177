//! The policy file and the CLI with the real binary: `dunwell.toml` seeds
//! version 1; a changed file on SIGHUP becomes version 2 without a restart,
//! work already planned untouched; an invalid file on SIGHUP changes
//! nothing and the process runs on; a restart with the same file stores
//! nothing new; `dunwell policy apply` stores a version the running
//! process takes within seconds, and `list`, `show` and `diff` read them.

use std::collections::BTreeMap;
use std::time::Duration;

use dunwell::store::Store;

use crate::cli::{dunwell, text};
use crate::helpers::*;
use crate::process::{Process, eventually};
use crate::restarts::{post, ready};
use crate::stand_in::{event, scenario};

const STAGES_0_3_7: &str = r#"
[policy]
[[policy.stages]]
day = 0
email = "payment_failed"
tone = "friendly"
[[policy.stages]]
day = 3
email = "payment_failed"
tone = "firm"
[[policy.stages]]
day = 7
email = "final_notice"
tone = "final"
[policy.final]
day = 10
action = "cancel"
"#;

/// Pending work of the case for `invoice`: key → (due, status).
async fn work(store: &Store, invoice: &str) -> Option<BTreeMap<String, (i64, String)>> {
    let case = store.case_by_invoice(invoice).await.ok()??;
    let rows = store.work_of(case.id).await.ok()?;
    Some(
        rows.into_iter()
            .map(|w| (w.key, (w.due_at, format!("{:?}", w.status))))
            .collect(),
    )
}

async fn sighup_stores_a_changed_file_and_running_work_stays(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dunwell.toml");
    std::fs::write(&file, STAGES_0_3_7).unwrap();
    let file_arg = file.display().to_string();
    let env = [
        ("DUNWELL_DATABASE_URL", db.url.as_str()),
        ("DUNWELL_WEBHOOK_SECRETS", SECRET),
        ("DUNWELL_PROCESSOR", "simulated"),
    ];
    let store = db.store().await;
    let mut serve = Process::start_args("serve", &["--config", &file_arg, "serve"], &env);
    ready(&serve).await;
    assert_eq!(store.newest_policy_version().await.unwrap(), 1);

    let a = scenario("in_reload_a");
    post(&serve, "invoice.payment_failed", &event(&a, "failed")).await;
    let before = eventually(Duration::from_secs(10), "case a planned", || async {
        let w = work(&store, &a.invoice).await?;
        w.contains_key("email:payment_failed:3").then_some(w)
    })
    .await;

    // The file changes: a reminder on day 2 instead of 3, cancel on day 12.
    std::fs::write(
        &file,
        STAGES_0_3_7
            .replace("day = 3", "day = 2")
            .replace("day = 10", "day = 12"),
    )
    .unwrap();
    serve.signal("HUP");
    eventually(
        Duration::from_secs(10),
        "version 2 from the file",
        || async { (store.newest_policy_version().await.ok()? == 2).then_some(()) },
    )
    .await;
    let v2 = store.policy_version(2).await.unwrap().unwrap();
    assert_eq!(v2.source, "file");
    assert!(v2.policy.contains("day = 12"), "{}", v2.policy);
    // Running work is untouched; the case keeps version 1. (The day-0
    // email is due at once: the runner may have sent it meanwhile.)
    let later = |mut w: BTreeMap<String, (i64, String)>| {
        w.remove("email:payment_failed:0");
        w
    };
    assert_eq!(
        later(work(&store, &a.invoice).await.unwrap()),
        later(before)
    );
    let case_a = store.case_by_invoice(&a.invoice).await.unwrap().unwrap();
    assert_eq!(case_a.policy_version, Some(1));
    // A new case opens under version 2, in the same process.
    let b = scenario("in_reload_b");
    post(&serve, "invoice.payment_failed", &event(&b, "failed")).await;
    let planned_b = eventually(Duration::from_secs(10), "case b planned", || async {
        let w = work(&store, &b.invoice).await?;
        w.contains_key("final").then_some(w)
    })
    .await;
    assert!(
        planned_b.contains_key("email:payment_failed:2"),
        "{planned_b:?}"
    );
    let case_b = store.case_by_invoice(&b.invoice).await.unwrap().unwrap();
    assert_eq!(case_b.policy_version, Some(2));

    // An invalid file on SIGHUP: logged with its key, nothing stored, the
    // process runs on.
    std::fs::write(&file, "[policy.retries]\nwindow_days = 0\n").unwrap();
    serve.signal("HUP");
    eventually(
        Duration::from_secs(10),
        "the refusal in the log",
        || async { (!serve.log_lines("policy.retries.window_days").is_empty()).then_some(()) },
    )
    .await;
    assert!(serve.running());
    ready(&serve).await;
    assert_eq!(store.newest_policy_version().await.unwrap(), 2);

    // The CLI stores version 3; the running process takes it within seconds.
    let cli_file = dir.path().join("weekly.toml");
    std::fs::write(&cli_file, STAGES_0_3_7.replace("day = 7", "day = 5")).unwrap();
    let out = dunwell()
        .args(["policy", "apply", &cli_file.display().to_string()])
        .args(["--reason", "final notice sooner", "--author", "lee"])
        .env("DUNWELL_DATABASE_URL", &db.url)
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("stored as version 3"), "{stdout}");
    let c = scenario("in_reload_c");
    eventually(
        Duration::from_secs(15),
        "the serving process runs version 3",
        || async {
            serve
                .log_lines("policy version 3 now runs")
                .first()
                .map(|_| ())
        },
    )
    .await;
    post(&serve, "invoice.payment_failed", &event(&c, "failed")).await;
    eventually(
        Duration::from_secs(10),
        "case c under version 3",
        || async {
            let case = store.case_by_invoice(&c.invoice).await.ok()??;
            (case.policy_version == Some(3)).then_some(())
        },
    )
    .await;

    // list, show and diff read what was stored.
    let run = |args: Vec<&str>| {
        let mut cmd = dunwell();
        cmd.args(args).env("DUNWELL_DATABASE_URL", &db.url);
        cmd
    };
    let out = run(vec!["policy", "list"]).output().await.unwrap();
    let (list, _) = text(&out);
    assert!(out.status.success(), "{list}");
    assert!(
        list.contains("3*") && list.contains("final notice sooner") && list.contains("lee"),
        "{list}"
    );
    assert!(list.contains("file"), "{list}");
    let out = run(vec!["policy", "show", "2"]).output().await.unwrap();
    let (shown, _) = text(&out);
    assert!(
        shown.starts_with("# policy version 2 by dunwell.toml"),
        "{shown}"
    );
    assert!(shown.contains("day = 12"), "{shown}");
    let out = run(vec!["policy", "diff", "2", "3"])
        .output()
        .await
        .unwrap();
    let (diff, _) = text(&out);
    assert!(diff.contains("-day = 7\n+day = 5\n"), "{diff}");
    // `dunwell plan` on the database plans with the running version.
    let out = run(vec!["plan", "--decline-code", "expired_card"])
        .output()
        .await
        .unwrap();
    let (plan, stderr) = text(&out);
    assert!(out.status.success(), "{plan}{stderr}");
    assert!(
        plan.contains("policy version 3, running in the database"),
        "{plan}"
    );
    assert!(plan.contains("policy stage day 5"), "{plan}");
    let weekly = cli_file.display().to_string();
    let out = run(vec!["policy", "backtest", &weekly])
        .output()
        .await
        .unwrap();
    let (table, stderr) = text(&out);
    assert!(out.status.success(), "{table}{stderr}");
    assert!(table.contains("your closed cases: none yet"), "{table}");
    assert!(
        table.contains("5000 generated failed renewals (seed 7)"),
        "{table}"
    );
    assert!(
        table.contains("running v3") && table.contains("attempts per failure"),
        "{table}"
    );
    // A whole configuration file: its [policy] is what is applied.
    let whole = dir.path().join("whole.toml");
    let weekly_policy = std::fs::read_to_string(&cli_file).unwrap();
    std::fs::write(
        &whole,
        format!("bind = \"127.0.0.1:0\"\n{weekly_policy}\n[brand]\nname = \"Acme\"\n"),
    )
    .unwrap();
    let whole = whole.display().to_string();
    let out = run(vec!["policy", "apply", &whole, "--reason", "same"])
        .output()
        .await
        .unwrap();
    let (same, stderr) = text(&out);
    assert!(out.status.success(), "{same}{stderr}");
    assert!(
        same.contains("the same as the running version 3: nothing stored"),
        "{same}"
    );
    let out = run(vec!["policy", "show", "9"]).output().await.unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("there is no policy version 9"),
        "{:?}",
        text(&out)
    );
    let out = run(vec!["policy", "apply", &file_arg, "--reason", "x"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("policy.retries.window_days"),
        "{:?}",
        text(&out)
    );

    // A restart with the file as it was at version 2 stores nothing new.
    std::fs::write(
        &file,
        STAGES_0_3_7
            .replace("day = 3", "day = 2")
            .replace("day = 10", "day = 12"),
    )
    .unwrap();
    let (status, _) = serve.sigterm();
    assert!(status.success());
    let again = Process::start_args("again", &["--config", &file_arg, "serve"], &env);
    ready(&again).await;
    assert_eq!(store.newest_policy_version().await.unwrap(), 3);
    store.close().await;
}

crate::backend_tests!(sighup_stores_a_changed_file_and_running_work_stays);
