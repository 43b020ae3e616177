//! The real `dunwell` binary as a child process: started in a role with
//! its own environment, its port read from its log, stopped by SIGTERM or
//! killed with SIGKILL. Its log is kept and printed if the test fails.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Process {
    name: String,
    child: Child,
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// Starts `dunwell <role>` on a free port with `env` on top of a quiet,
    /// port-0 default, and waits until it listens.
    pub fn start(name: &str, role: &str, env: &[(&str, &str)]) -> Self {
        Self::start_args(name, &[role], env)
    }

    /// `start` with these arguments (`--config FILE serve`, say).
    pub fn start_args(name: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dunwell"));
        command
            .args(args)
            .env("DUNWELL_BIND", "127.0.0.1:0")
            .env("DUNWELL_LOG", "info")
            // Tests run at any hour: no quiet hours, no gap between reminders.
            .env("DUNWELL_POLICY__QUIET_HOURS", "off")
            .env("DUNWELL_POLICY__MIN_HOURS_BETWEEN_EMAILS", "0")
            // The stand-in processor has no rate limit to keep to.
            .env("DUNWELL_STRIPE_MAX_RPS", "1000")
            // The engine's calendar starts at a fixed instant.
            .env("DUNWELL_CLOCK_START", crate::helpers::PINNED)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start dunwell");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // `listening port=N` (text) or `"message":"listening",…"port":N` (JSON).
                let rest = line.split("listening port=").nth(1).or_else(|| {
                    line.contains("\"message\":\"listening\"")
                        .then(|| line.split("\"port\":").nth(1))
                        .flatten()
                });
                if let Some(rest) = rest {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let _ = port_tx.send(digits.parse::<u16>().unwrap_or(0));
                }
                kept.lock().expect("log").push(line);
            }
        });
        let mut process = Self {
            name: name.to_owned(),
            child,
            port: 0,
            log,
        };
        process.port = match port_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(port) => port,
            Err(_) => {
                process.print_log();
                panic!("{name}: dunwell did not start listening");
            }
        };
        process
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Sends `signal` (`HUP`, say) and returns at once.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "SIG{signal} sent");
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL, as a crash or an OOM kill would.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (as `systemctl stop`, Docker and Fly send); returns how it
    /// exited and how long the graceful stop took.
    pub fn sigterm(&mut self) -> (ExitStatus, Duration) {
        let started = Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "SIGTERM sent");
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return (status, started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(30) {
                self.print_log();
                panic!("{}: still running 30 s after SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Lines of its log containing `text`.
    pub fn log_lines(&self, text: &str) -> Vec<String> {
        let log = self.log.lock().expect("log");
        log.iter().filter(|l| l.contains(text)).cloned().collect()
    }

    fn print_log(&self) {
        let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        eprintln!("---- log of {} ----", self.name);
        for line in log {
            eprintln!("{line}");
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_log();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` every 50 ms until it gives `Some`, or panics after `limit`
/// saying what was awaited.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < limit, "waited {limit:?} for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
