//! The policy editor in headless Chromium, as an operator uses it: sign
//! in, edit a stage in the form, preview (diff and plans side by side),
//! backtest on the install's own closed cases and a generated population,
//! apply with a reason. Screenshots are kept in `target/test-artifacts/`.

use crate::browser::{artifacts_dir, chromium};
use crate::dashboard::{seeded, signed_in};
use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_edits_previews_backtests_and_applies_a_policy() {
    let Some(binary) = chromium() else {
        eprintln!("skipped: no chromium on the PATH");
        return;
    };
    let Some((_server, app)) = seeded(Backend::Sqlite, &[("brand.name", "Acme Analytics")]).await
    else {
        return;
    };
    let live = app.case("in_dash_1").await;
    assert_eq!(live.policy_version, Some(1));
    let address = app.address.clone();
    let dir = artifacts_dir();
    let shots = [
        dir.join("policy-editor-laptop.png"),
        dir.join("policy-draft-backtest-laptop.png"),
        dir.join("policy-draft-phone.png"),
        dir.join("policy-applied-laptop.png"),
        dir.join("policy-case-moved-laptop.png"),
        dir.join("policy-comparison-laptop.png"),
    ];
    let walk = {
        let shots = shots.clone();
        move || {
            let mut b = signed_in(&binary, &address);
            b.open(&format!("{address}/admin/policy"));
            let editor = b.text();
            b.screenshot(&shots[0]);
            // The day-3 reminder moves to day 2, as a person types it.
            b.replace_in("input[name='stage1_day']", "2");
            b.click("#edit button[value='backtest']");
            let draft = b.wait_for_text("Policy draft");
            b.screenshot(&shots[1]);
            b.viewport(390, 844, 2.0, true);
            b.screenshot_screen(&shots[2]);
            b.viewport(1366, 900, 1.0, false);
            b.type_into(
                "#apply input[name='reason']",
                "firmer reminder a day sooner",
            );
            b.click("#apply button");
            b.wait_for_page(|href| href.contains("applied="));
            let applied = b.text();
            b.screenshot(&shots[3]);
            // A case opened under version 1 moves to version 2 from its page.
            b.open(&format!("{address}/admin/cases/{}", live.id));
            let before = b.text();
            b.click(&format!(
                "form[action='/admin/cases/{}/move-policy'] button",
                live.id
            ));
            b.wait_for_page(|href| href.contains("done="));
            let moved = b.text();
            b.screenshot(&shots[4]);
            // How version 2 does against version 1, on the policy page.
            b.open(&format!("{address}/admin/policy"));
            let doing = b.text();
            b.screenshot_screen(&shots[5]);
            (editor, draft, applied, before, moved, doing)
        }
    };
    let (editor, draft, applied, before, moved, doing) =
        tokio::task::spawn_blocking(walk).await.unwrap();
    assert!(
        doing.contains("Version 2 against version 1 before it"),
        "{doing}"
    );
    assert!(
        doing.contains("Difference: not yet: each side needs 10 cases at least")
            && doing.contains("too few cases old enough yet"),
        "{doing}"
    );
    assert!(
        before.contains("1 (version 2 runs for new cases)"),
        "{before}"
    );
    assert!(
        moved.contains("Done: moved from policy version 1 to 2"),
        "{moved}"
    );
    assert!(moved.contains("2 (running)"), "{moved}");
    assert!(!moved.contains("Move to policy version"), "{moved}");
    assert_eq!(app.case("in_dash_1").await.policy_version, Some(2));
    let timeline = app.store.timeline(live.id).await.unwrap();
    assert_eq!(
        timeline.iter().filter(|t| t.kind == "policy_moved").count(),
        1
    );
    assert!(editor.contains("Version 1 runs for new cases"), "{editor}");
    assert!(draft.contains("What changes"), "{draft}");
    assert!(
        draft.contains("+ day = 2") && draft.contains("- day = 3"),
        "{draft}"
    );
    assert!(
        draft.contains("Plans, running (left) and proposed (right)"),
        "{draft}"
    );
    assert!(
        draft.contains("closed cases (their real decline codes"),
        "{draft}"
    );
    assert!(
        draft.contains("5000 generated failed renewals (seed 7)"),
        "{draft}"
    );
    assert!(draft.contains("Attempts per failure"), "{draft}");
    assert!(
        applied.contains("Version 2 runs for new cases now"),
        "{applied}"
    );
    let v2 = app
        .store
        .policy_version(2)
        .await
        .unwrap()
        .expect("version 2");
    assert_eq!(v2.source, "dashboard");
    assert_eq!(v2.reason, "firmer reminder a day sooner");
    assert!(
        v2.policy.contains("day = 2") && !v2.policy.contains("day = 3\n"),
        "{}",
        v2.policy
    );
    crate::browser::assert_shots(&shots);
    app.shutdown().await;
}
