//! `fly.toml` and the `Dockerfile` agree with the binary: the process
//! commands and the release command are real subcommands that run, the
//! ports match, and every health-check path is served by the role checked.

use std::path::Path;
use std::time::Duration;

use crate::process::{Process, eventually};

fn read(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn fly() -> toml::Value {
    toml::from_str(&read("fly.toml")).expect("fly.toml parses")
}

/// `dunwell <words…>` as the image would run it.
fn run(command: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut words = command.split_whitespace();
    assert_eq!(words.next(), Some("dunwell"), "{command}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dunwell"));
    child.args(words).env("DUNWELL_LOG", "warn");
    for (k, v) in env {
        child.env(k, v);
    }
    child.output().expect("the binary runs")
}

fn port_of(bind: &str) -> i64 {
    bind.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn the_release_command_and_the_process_commands_are_real() {
    let fly = fly();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fly.db").display());
    let release = fly["deploy"]["release_command"].as_str().unwrap();
    let out = run(release, &[("DUNWELL_DATABASE_URL", &url)]);
    assert!(
        out.status.success(),
        "{release}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let processes = fly["processes"].as_table().unwrap();
    assert!(processes.contains_key("web") && processes.contains_key("worker"));
    for (group, command) in processes {
        let command = command.as_str().unwrap();
        let out = run(&format!("{command} --help"), &[]);
        assert!(
            out.status.success(),
            "{group}: {command} is not a subcommand"
        );
    }
}

#[test]
fn ports_agree_between_fly_the_image_and_the_binary() {
    let fly = fly();
    let port = fly["http_service"]["internal_port"].as_integer().unwrap();
    assert_eq!(port_of(fly["env"]["DUNWELL_BIND"].as_str().unwrap()), port);
    let worker = &fly["checks"]["worker_ready"];
    assert_eq!(worker["port"].as_integer(), Some(port));
    assert!(fly["kill_timeout"].as_integer().unwrap() >= 10);
    let docker = read("Dockerfile");
    assert!(docker.contains(&format!("EXPOSE {port}")), "EXPOSE {port}");
    assert!(docker.contains(&format!("ENV DUNWELL_BIND=0.0.0.0:{port}")));
    // Two stages, dependencies locked, a non-root runtime user.
    assert!(docker.matches("\nFROM ").count() + usize::from(docker.starts_with("FROM ")) >= 2);
    assert!(docker.contains("COPY --from=build"));
    assert!(docker.contains("cargo build --release --locked"));
    let user = docker
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    assert!(
        user.trim() != "root" && user.trim() != "0",
        "runs as {user}"
    );
    let ignored = read(".dockerignore");
    for entry in ["target", ".git", "*.db"] {
        assert!(
            ignored.lines().any(|l| l.trim() == entry),
            "{entry} not ignored"
        );
    }
}

/// Each check's path, asked of the role it checks, answers (not 404).
#[tokio::test]
async fn every_health_check_path_is_served_by_its_role() {
    let fly = fly();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("checks.db").display());
    let mut checks: Vec<(String, String)> = Vec::new();
    for check in fly["http_service"]["checks"].as_array().unwrap() {
        for group in fly["http_service"]["processes"].as_array().unwrap() {
            checks.push((
                group.as_str().unwrap().into(),
                check["path"].as_str().unwrap().into(),
            ));
        }
    }
    for (_, check) in fly["checks"].as_table().unwrap() {
        for group in check["processes"].as_array().unwrap() {
            checks.push((
                group.as_str().unwrap().into(),
                check["path"].as_str().unwrap().into(),
            ));
        }
    }
    assert!(checks.len() >= 2, "{checks:?}");
    for (group, path) in checks {
        let command = fly["processes"][group.as_str()].as_str().unwrap();
        let role = command.split_whitespace().nth(1).unwrap();
        let process = Process::start(&group, role, &[("DUNWELL_DATABASE_URL", url.as_str())]);
        let target = process.url(&path);
        eventually(
            Duration::from_secs(10),
            &format!("{group} {path} ready"),
            || async {
                let answer = reqwest::get(&target).await.ok()?;
                assert_ne!(answer.status(), 404, "{group} does not serve {path}");
                (answer.status() == 200).then_some(())
            },
        )
        .await;
    }
}

/// Fly scrapes `[metrics]` on each machine: every process group serves
/// `/metrics` on that port (`DUNWELL_METRICS_BIND`), open there, while the
/// public port, bound to every interface as on Fly, keeps it closed.
#[tokio::test]
async fn fly_scrapes_the_metrics_port_of_every_process_group() {
    let fly = fly();
    let metrics_port = fly["metrics"]["port"].as_integer().unwrap();
    let path = fly["metrics"]["path"].as_str().unwrap();
    let metrics_bind = fly["env"]["DUNWELL_METRICS_BIND"].as_str().unwrap();
    assert_eq!(port_of(metrics_bind), metrics_port);
    assert_ne!(
        metrics_port,
        fly["http_service"]["internal_port"].as_integer().unwrap()
    );
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("metrics.db").display());
    for (group, command) in fly["processes"].as_table().unwrap() {
        let role = command.as_str().unwrap().split_whitespace().nth(1).unwrap();
        // Fly's addresses, on ports free here.
        let at = format!("127.0.0.1:{}", crate::helpers::free_port());
        let process = Process::start(
            group,
            role,
            &[
                ("DUNWELL_DATABASE_URL", url.as_str()),
                ("DUNWELL_BIND", "0.0.0.0:0"),
                ("DUNWELL_METRICS_BIND", at.as_str()),
            ],
        );
        let scraped = reqwest::get(format!("http://{at}{path}")).await.unwrap();
        assert_eq!(scraped.status(), 200, "{group} on the metrics port");
        assert!(
            scraped
                .text()
                .await
                .unwrap()
                .contains("dunwell_queue_depth"),
            "{group}"
        );
        let public = reqwest::get(process.url(path)).await.unwrap();
        assert_eq!(public.status(), 404, "{group} on the public port");
    }
}
