//! Just enough of the Chrome DevTools Protocol to walk Debian's headless
//! `chromium` through our pages as a customer would: open a URL, click an
//! element with the mouse, wait for the next page, read it, take
//! screenshots. Spoken over `--remote-debugging-pipe` (the browser reads
//! NUL-terminated JSON commands on fd 3 and answers on fd 4), so nothing
//! listens on a port.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// A pipe (read end, write end), both closed on exec.
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two descriptors it is given, which are then
    // owned here and nowhere else.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0, "pipe2");
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    }
}

/// How long one command or one wait may take.
const PATIENCE: Duration = Duration::from_secs(30);

/// The browser to drive: `DUNWELL_TEST_CHROMIUM`, else the first of
/// Debian's `chromium` and its usual other names on the `PATH`.
pub fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("DUNWELL_TEST_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| {
            ["chromium", "chromium-browser", "google-chrome"].map(|name| dir.join(name))
        })
        .find(|candidate| candidate.is_file())
}

/// axe-core, the accessibility engine (`DUNWELL_TEST_AXE`, else what
/// `npm ci --prefix tests/browser` installed; `.ci/run` does).
pub fn axe() -> Option<String> {
    let path = std::env::var_os("DUNWELL_TEST_AXE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/browser/node_modules/axe-core/axe.min.js")
        });
    std::fs::read_to_string(path).ok()
}

/// axe-core for a browser test: required in CI, else a note when missing.
pub fn axe_for_test() -> Option<String> {
    let axe = axe();
    assert!(
        axe.is_some() || std::env::var_os("CI").is_none(),
        "axe-core is required in CI (.ci/run installs it: npm ci --prefix tests/browser)"
    );
    if axe.is_none() {
        eprintln!(
            "note: axe-core not installed (npm ci --prefix tests/browser): pages not checked for accessibility"
        );
    }
    axe
}

/// The page's serious violations, each prefixed with `page`; none when
/// axe-core is not installed.
pub fn violations(b: &mut Browser, axe: &Option<String>, page: &str) -> Vec<String> {
    axe.as_deref()
        .map(|axe| {
            b.accessibility(axe)
                .into_iter()
                .map(|v| format!("{page}: {v}"))
                .collect()
        })
        .unwrap_or_default()
}

/// Where tests keep what a person should look at (screenshots):
/// `DUNWELL_TEST_ARTIFACTS`, else `target/test-artifacts`.
pub fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("DUNWELL_TEST_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts"));
    std::fs::create_dir_all(&dir).expect("artifacts directory");
    dir
}

/// One headless browser with one tab.
pub struct Browser {
    child: Child,
    commands: File,
    answers: Receiver<Value>,
    next_id: u64,
    session: String,
    profile: tempfile::TempDir,
}

/// Where the middle of an element is, after scrolling it into view.
const CENTRE_OF: &str = r#"(selector) => {
    const e = document.querySelector(selector);
    if (!e) return null;
    e.scrollIntoView({block: "center"});
    const r = e.getBoundingClientRect();
    return [r.x + r.width / 2, r.y + r.height / 2];
}"#;

impl Browser {
    pub fn launch(binary: &Path) -> Self {
        let profile = tempfile::tempdir().expect("a profile directory");
        let (their_commands, commands) = pipe();
        let (answers, their_answers) = pipe();
        let log = File::create(profile.path().join("chromium.log")).expect("a log file");
        let mut command = Command::new(binary);
        command
            .args([
                "--headless",
                "--remote-debugging-pipe",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--hide-scrollbars",
                "--mute-audio",
                "--lang=en-US",
                "--force-color-profile=srgb",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        let (read_fd, write_fd) = (their_commands.as_raw_fd(), their_answers.as_raw_fd());
        // SAFETY: only async-signal-safe calls between fork and exec. Both
        // ends are first moved above 10 so that placing them on 3 and 4
        // cannot overwrite one with the other; dup2 clears close-on-exec.
        unsafe {
            command.pre_exec(move || {
                let r = libc::fcntl(read_fd, libc::F_DUPFD, 10);
                let w = libc::fcntl(write_fd, libc::F_DUPFD, 10);
                if r < 0 || w < 0 || libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("chromium starts");
        drop((their_commands, their_answers));
        let (send, answers_rx) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(File::from(answers));
            let mut buffer = Vec::new();
            loop {
                buffer.clear();
                match reader.read_until(0, &mut buffer) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let message = buffer.strip_suffix(&[0]).unwrap_or(&buffer);
                        if let Ok(value) = serde_json::from_slice(message)
                            && send.send(value).is_err()
                        {
                            return;
                        }
                    }
                }
            }
        });
        let mut browser = Self {
            child,
            commands: File::from(commands),
            answers: answers_rx,
            next_id: 0,
            session: String::new(),
            profile,
        };
        let target = browser.browser_call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().expect("a target").to_owned();
        let attached = browser.browser_call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .expect("a session")
            .to_owned();
        browser
    }

    /// What the browser logged, for a failing test's output.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.profile.path().join("chromium.log")).unwrap_or_default()
    }

    fn send(&mut self, method: &str, params: Value, session: Option<String>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .unwrap_or_else(|e| panic!("chromium is gone ({e}):\n{}", self.log()));
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.answers.recv_timeout(left) {
                Ok(answer) if answer["id"] == json!(id) => return answer,
                Ok(_event) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!("chromium did not answer {method}:\n{}", self.log())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("chromium closed while {method}:\n{}", self.log())
                }
            }
        }
    }

    fn browser_call(&mut self, method: &str, params: Value) -> Value {
        let answer = self.send(method, params, None);
        assert!(answer.get("error").is_none(), "{method}: {answer}");
        answer["result"].clone()
    }

    /// A command to the tab; its result, or the browser's error.
    fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let session = Some(self.session.clone());
        let answer = self.send(method, params, session);
        match answer.get("error") {
            Some(error) => Err(error.clone()),
            None => Ok(answer["result"].clone()),
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// The value of a JavaScript expression in the page, or why not.
    fn try_eval(&mut self, expression: &str) -> Result<Value, Value> {
        let result = self.try_call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        )?;
        match result.get("exceptionDetails") {
            Some(e) => Err(e.clone()),
            None => Ok(result["result"]["value"].clone()),
        }
    }

    /// The serious and critical WCAG 2.1 A/AA violations axe-core (`axe`,
    /// its script) finds on the page shown: `id: help (where)` each.
    pub fn accessibility(&mut self, axe: &str) -> Vec<String> {
        // Run through DevTools: the page's own policy allows no script.
        self.try_eval(axe).expect("axe-core loads");
        let run = r#"axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
            .then(r => r.violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => v.id + ': ' + v.help + ' (' + v.nodes.map(n => n.target.join(' ')).join(', ') + ')'))"#;
        let result = self
            .try_call(
                "Runtime.evaluate",
                json!({"expression": run, "returnByValue": true, "awaitPromise": true}),
            )
            .expect("axe runs");
        if let Some(e) = result.get("exceptionDetails") {
            panic!("axe failed: {e}");
        }
        result["result"]["value"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Renders as a phone (`mobile`) or a laptop of this size would.
    pub fn viewport(&mut self, width: u32, height: u32, scale: f64, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile}),
        );
    }

    pub fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for_page(|href| href == url);
    }

    /// Waits until the tab shows a loaded page whose address satisfies
    /// `wanted`; the address.
    pub fn wait_for_page(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            // Fails while a navigation swaps the document: asked again.
            if let Ok(state) = self.try_eval("[location.href, document.readyState]") {
                if let (Some(href), Some("complete")) = (state[0].as_str(), state[1].as_str())
                    && wanted(href)
                {
                    return href.to_owned();
                }
                last = state;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the expected page never loaded; last seen {last}");
    }

    /// Waits until the page's visible text contains `wanted`; the text.
    pub fn wait_for_text(&mut self, wanted: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Ok(text) =
                self.try_eval("document.readyState == 'complete' ? document.body.innerText : ''")
            {
                let text = text.as_str().unwrap_or_default().to_owned();
                if text.contains(wanted) {
                    return text;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{wanted:?} never showed; the page says:\n{}", self.text());
    }

    /// The page's visible text.
    pub fn text(&mut self) -> String {
        self.try_eval("document.body.innerText")
            .expect("the page's text")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The value of `expression` in the page.
    pub fn eval(&mut self, expression: &str) -> Value {
        self.try_eval(expression)
            .unwrap_or_else(|e| panic!("{expression}: {e}"))
    }

    /// Clicks the middle of the element `selector` finds, with the mouse.
    pub fn click(&mut self, selector: &str) {
        let expression = format!("({CENTRE_OF})({})", json!(selector));
        let centre = self.eval(&expression);
        let (Some(x), Some(y)) = (centre[0].as_f64(), centre[1].as_f64()) else {
            panic!("nothing to click at {selector}: {}", self.text());
        };
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    /// Clicks into the field `selector` finds and types `text`, as a
    /// keyboard would.
    pub fn type_into(&mut self, selector: &str, text: &str) {
        self.click(selector);
        self.call("Input.insertText", json!({ "text": text }));
    }

    /// Clicks into the field `selector` finds, selects what it holds and
    /// types `text` over it.
    pub fn replace_in(&mut self, selector: &str, text: &str) {
        self.click(selector);
        self.eval(&format!(
            "document.querySelector({}).select()",
            json!(selector)
        ));
        self.call("Input.insertText", json!({ "text": text }));
    }

    /// A PNG of the whole page (not only what fits the screen) at `path`.
    pub fn screenshot(&mut self, path: &Path) {
        self.capture(path, true);
    }

    /// A PNG of what fits the screen, as a person sees it first.
    pub fn screenshot_screen(&mut self, path: &Path) {
        self.capture(path, false);
    }

    fn capture(&mut self, path: &Path, whole: bool) {
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": whole}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("image data"))
            .expect("base64");
        std::fs::write(path, png).expect("screenshot written");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
