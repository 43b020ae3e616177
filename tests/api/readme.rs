//! The README's blocks, run as a newcomer would run them. Every `sh` block
//! runs in a fresh directory with `cargo run --release --` and `dunwell`
//! standing for this build's binary, `127.0.0.1:8080` for a free port and
//! `<app>` filled in; nothing else is changed, and what the block promises
//! is checked in what it prints. A block this file does not know fails the
//! test, and so does a command left in an indented (unfenced) block. The
//! `toml` blocks go through `check-config`, the `python` one checks a
//! signature dunwell made.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::helpers::{PINNED, free_port};

const README: &str = include_str!("../../README.md");

/// A strong admin token for the blocks that use `$DUNWELL_ADMIN_TOKEN`.
const ADMIN_TOKEN: &str = "readme-token-0123456789abcdef";

/// The README's blocks fenced as `lang`, in order.
fn blocks(lang: &str) -> Vec<&'static str> {
    README
        .split(&format!("```{lang}\n"))
        .skip(1)
        .filter_map(|rest| rest.split_once("\n```").map(|(block, _)| block))
        .collect()
}

/// A directory to run blocks in, with `cargo`, `dunwell` and `fly` on the
/// `PATH`: the first two run this build's binary, `fly` writes its
/// arguments to `fly.log` (there is no Fly.io here).
struct Sandbox {
    dir: tempfile::TempDir,
    port: u16,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let scripts = [
            (
                "cargo",
                r#"#!/usr/bin/env bash
if [ "${1-} ${2-} ${3-}" != "run --release --" ]; then
    echo "only \"cargo run --release -- ...\" runs here, not: cargo $*" >&2
    exit 97
fi
shift 3
exec "$DUNWELL_TEST_BIN" "$@"
"#,
            ),
            (
                "dunwell",
                "#!/usr/bin/env bash\nexec \"$DUNWELL_TEST_BIN\" \"$@\"\n",
            ),
            (
                "fly",
                "#!/usr/bin/env bash\nprintf '%s\\n' \"$*\" >> \"$SANDBOX/fly.log\"\n",
            ),
        ];
        for (name, text) in scripts {
            let path = bin.join(name);
            std::fs::write(&path, text).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Self {
            dir,
            port: free_port(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `block` as bash runs it from a file (`-e`: a failing command fails
    /// the test), after `prelude`, with every background job stopped at
    /// the end. `ready` waits until a started `serve` answers.
    fn run(&self, prelude: &str, block: &str) -> Output {
        let block = block
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{}", self.port))
            .replace("<app>", "dunwell-readme");
        let script = format!(
            "set -e\n\
             trap 'for job in $(jobs -p); do kill $job 2>/dev/null || true; done; wait' EXIT\n\
             ready() {{\n\
               for _ in $(seq 300); do\n\
                 curl -sf -o /dev/null http://127.0.0.1:{port}/readyz && return 0\n\
                 sleep 0.1\n\
               done\n\
               echo 'serve did not become ready' >&2; return 1\n\
             }}\n\
             {prelude}\n{block}\n",
            port = self.port
        );
        std::fs::write(self.path().join("block.sh"), script).unwrap();
        let path = format!(
            "{}:{}",
            self.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new("timeout")
            .args(["180", "bash", "block.sh"])
            .current_dir(self.path())
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.path())
            .env("SANDBOX", self.path())
            .env("DUNWELL_TEST_BIN", env!("CARGO_BIN_EXE_dunwell"))
            .env("DUNWELL_BIND", format!("127.0.0.1:{}", self.port))
            .env("DUNWELL_CLOCK_START", PINNED)
            .env("DUNWELL_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `out` succeeded and printed each of `said` (on stdout).
fn printed(block: &str, out: &Output, said: &[&str]) -> String {
    let (stdout, stderr) = text(out);
    assert!(
        out.status.success(),
        "the block failed ({}):\n{block}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    for s in said {
        assert!(
            stdout.contains(s),
            "{s:?} not printed by:\n{block}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
    }
    stdout
}

/// A `serve` in the foreground runs in the background instead (as "in
/// another terminal" means), and the next line waits until it answers. A
/// block's own `serve &` is left as it is: what follows must wait itself.
fn serve_in_background(block: &str) -> String {
    block
        .lines()
        .map(|line| {
            if line.trim_end().ends_with(" serve") {
                format!("{line} &\nready")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    Serve,
    Test,
    Secret,
    DryRun,
    Api,
    TryingIt,
    Fly,
}

/// Which block this is, by its first line.
fn known(block: &str) -> Option<Known> {
    let first = block.lines().next().unwrap_or_default();
    Some(match first {
        "cargo run --release -- serve" => Known::Serve,
        "cargo test" => Known::Test,
        _ if first
            .starts_with("DUNWELL_WEBHOOK_SECRETS=whsec_... cargo run --release -- serve") =>
        {
            Known::Secret
        }
        _ if first.contains("trigger invoice.paid --dry-run") => Known::DryRun,
        _ if first.starts_with("curl ") && block.contains("/api/") => Known::Api,
        _ if first.starts_with("export DUNWELL_WEBHOOK_SECRETS=whsec_demo") => Known::TryingIt,
        _ if first.starts_with("fly launch") => Known::Fly,
        _ => return None,
    })
}

/// Every `sh` block is one this file runs, and each of those is there.
#[test]
fn every_shell_block_of_the_readme_is_known() {
    let found: Vec<_> = blocks("sh")
        .into_iter()
        .map(|b| {
            known(b).unwrap_or_else(|| {
                panic!("a README block tests/api/readme.rs does not run; teach it:\n{b}")
            })
        })
        .collect();
    for k in [
        Known::Serve,
        Known::Test,
        Known::Secret,
        Known::DryRun,
        Known::Api,
        Known::TryingIt,
        Known::Fly,
    ] {
        assert_eq!(
            found.iter().filter(|f| **f == k).count(),
            1,
            "{k:?}: one block expected in the README"
        );
    }
    // A command in an indented block would escape these tests.
    let mut previous_blank = true;
    for line in README.lines() {
        if previous_blank && let Some(code) = line.strip_prefix("    ") {
            let word = code.split([' ', '=']).next().unwrap_or_default();
            assert!(
                !["cargo", "dunwell", "export", "curl", "sqlite3", "fly"].contains(&word)
                    && !word.starts_with("DUNWELL_"),
                "fence this command as ```sh so it is run by a test: {line}"
            );
        }
        previous_blank = line.trim().is_empty();
    }
}

fn the(kind: Known) -> &'static str {
    blocks("sh")
        .into_iter()
        .find(|b| known(b) == Some(kind))
        .unwrap_or_else(|| panic!("no {kind:?} block in the README"))
}

/// The first set-up command: `serve` on an empty directory makes its
/// database, answers ready and shows the home page.
#[test]
fn the_readme_serve_command_runs_the_service() {
    let block = the(Known::Serve);
    let sandbox = Sandbox::new();
    let port = sandbox.port;
    let out = sandbox.run(
        "",
        &format!(
            "{}\ncurl -sf http://127.0.0.1:{port}/",
            serve_in_background(block)
        ),
    );
    printed(block, &out, &["/admin"]);
    assert!(sandbox.path().join("dunwell.db").exists());
}

/// The second: `.ci/run` runs the same test command (it cannot run
/// itself here).
#[test]
fn the_readme_test_command_is_the_one_ci_runs() {
    let block = the(Known::Test);
    let ci = include_str!("../../.ci/run");
    assert!(
        ci.lines().any(|l| l.trim_start().starts_with(block)),
        "{block} is not in .ci/run"
    );
}

/// With a secret, `serve` takes the event `trigger` signs (charge first).
#[test]
fn the_readme_secret_block_delivers_a_signed_event() {
    let block = the(Known::Secret);
    let out = Sandbox::new().run("", &serve_in_background(block));
    let stdout = printed(
        block,
        &out,
        &["charge.failed evt_", "invoice.payment_failed evt_"],
    );
    assert_eq!(
        stdout.matches(": 200 ").count(),
        2,
        "both events accepted:\n{stdout}"
    );
}

/// A `--dry-run`'s body and header, replayed with curl, are accepted.
#[test]
fn the_readme_dry_run_replays_with_curl() {
    let block = the(Known::DryRun);
    let out = Sandbox::new().run(
        "DUNWELL_WEBHOOK_SECRETS=whsec_... dunwell serve &\nready",
        block,
    );
    printed(block, &out, &["\"received\":true"]);
}

/// The API examples, against a server with a case: the list answers, and
/// pausing a case that is not there says so by its id.
#[test]
fn the_readme_api_examples_answer() {
    let block = the(Known::Api);
    let out = Sandbox::new().run(
        &format!(
            "export DUNWELL_ADMIN_TOKEN={ADMIN_TOKEN} DUNWELL_WEBHOOK_SECRETS=whsec_readme\n\
             dunwell serve &\nready\n\
             dunwell trigger invoice.payment_failed --invoice in_readme_expired_card --decline-code expired_card >/dev/null\n\
             sleep 1"
        ),
        block,
    );
    printed(
        block,
        &out,
        &["\"in_readme_expired_card\"", "{\"error\":\"no case 42\"}"],
    );
}

/// The demo in "Trying it": at 100,000x both cases end recovered, the
/// first after two declined retries (shown after the first sleep), the
/// second after the new card; emails and a thank-you are in the outbox.
/// `trigger` itself waits for the `serve &` before it.
#[test]
fn the_readme_demo_runs_as_written() {
    let block = the(Known::TryingIt);
    let sandbox = Sandbox::new();
    let out = sandbox.run("", &serve_in_background(block));
    let stdout = printed(
        block,
        &out,
        &[
            "in_demo_recovers3|recovered",
            "in_card_expired_card|recovered",
            "\"outcome\":\"declined\"",
        ],
    );
    // The first query (after the first sleep) already shows the third
    // retry paid: the timeline's first case ends recovered.
    let first_query = stdout
        .split("in_demo_recovers3|recovered")
        .next()
        .unwrap_or_default();
    assert_eq!(
        first_query.matches("\"outcome\":\"declined\"").count(),
        2,
        "two declined retries before the third pays:\n{stdout}"
    );
    assert!(
        first_query.contains("\"outcome\":\"paid\""),
        "the third retry paid before the first query:\n{stdout}"
    );
    let outbox = Command::new("sqlite3")
        .args([
            "dunwell.db",
            "select kind from outbox o join cases c on c.id = o.case_id \
             where c.invoice_id = 'in_demo_recovers3' order by o.id",
        ])
        .current_dir(sandbox.path())
        .output()
        .unwrap();
    let kinds = String::from_utf8_lossy(&outbox.stdout);
    assert!(kinds.starts_with("payment_failed\n"), "{kinds}");
    assert!(kinds.trim_end().ends_with("thank_you"), "{kinds}");
}

/// The Fly.io commands: each `fly` call is one Fly.io has (recorded, not
/// sent), and the secrets they set with `fly.toml`'s `[env]` (and the
/// `DATABASE_URL` an attach sets) are a configuration `check-config` takes.
#[test]
fn the_readme_fly_block_sets_a_valid_configuration() {
    let block = the(Known::Fly);
    let sandbox = Sandbox::new();
    let out = sandbox.run("", block);
    printed(block, &out, &[]);
    let calls = std::fs::read_to_string(sandbox.path().join("fly.log")).unwrap();
    let verbs: Vec<String> = calls
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        verbs,
        [
            "launch --no-deploy",
            "postgres create",
            "postgres attach",
            "secrets set",
            "deploy"
        ],
        "{calls}"
    );
    let secrets = calls
        .lines()
        .find(|l| l.starts_with("secrets set"))
        .unwrap()
        .trim_start_matches("secrets set")
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let fly: toml::Table = include_str!("../../fly.toml").parse().unwrap();
    let env = fly["env"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()));
    let mut check = Command::new(env!("CARGO_BIN_EXE_dunwell"));
    check
        .arg("check-config")
        .current_dir(sandbox.path())
        .env_clear()
        .env(
            "DATABASE_URL",
            "postgres://dunwell:secret@dunwell-db.flycast:5432/dunwell",
        )
        .envs(env.chain(secrets));
    let out = check.output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "{calls}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("processor = \"stripe\""), "{stdout}");
    // Production as it should be, but for the webhook secret, which the
    // README sets next, once the endpoint exists at the processor; and the
    // reminder that fly.toml's metrics port is for Fly's private network.
    let warnings: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 2, "{stdout}");
    assert!(warnings[0].contains("webhook_secrets"), "{stdout}");
    assert!(warnings[1].contains("keep that port internal"), "{stdout}");
}

/// Every TOML block is a configuration `check-config` takes as it stands
/// on a fresh install (the policy's whole shape included).
#[test]
fn every_toml_block_of_the_readme_is_valid() {
    let toml_blocks = blocks("toml");
    assert!(toml_blocks.len() >= 2, "{} TOML blocks", toml_blocks.len());
    let dir = tempfile::tempdir().unwrap();
    for block in toml_blocks {
        std::fs::write(dir.path().join("dunwell.toml"), block).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_dunwell"))
            .arg("check-config")
            .current_dir(dir.path())
            .env("DUNWELL_STRIPE_API_KEY", "sk_test_0123456789")
            .output()
            .unwrap();
        let (_, stderr) = text(&out);
        assert!(out.status.success(), "{block}\n---\n{stderr}");
    }
}

/// The README's Python check accepts what dunwell signs, and refuses a
/// changed body and an old timestamp.
#[test]
fn the_readme_python_check_verifies_dunwell_signatures() {
    let [check] = blocks("python")[..] else {
        panic!("one python block expected");
    };
    let secret = secrecy::SecretString::from("whsec_notify_readme".to_owned());
    let body = br#"{"id":"evt_1","type":"case.recovered","sequence":3}"#;
    let now = chrono::Utc::now().timestamp();
    let header = dunwell::webhooks::signature::sign(&secret, now, body);
    let old = dunwell::webhooks::signature::sign(&secret, now - 3600, body);
    let script = format!(
        "{check}\n\
         import sys\n\
         body = {body:?}.encode()\n\
         print(verify(body, {header:?}, 'whsec_notify_readme'))\n\
         print(verify(body + b' ', {header:?}, 'whsec_notify_readme'))\n\
         print(verify(body, {old:?}, 'whsec_notify_readme'))\n\
         print(verify(body, {header:?}, 'another secret'))\n",
        body = std::str::from_utf8(body).unwrap(),
    );
    let Ok(out) = Command::new("python3").args(["-c", &script]).output() else {
        eprintln!("SKIPPED: no python3 on the PATH");
        return;
    };
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{script}\n{stderr}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["True", "False", "False", "False"]
    );
}
