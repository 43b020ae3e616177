//! Debian's headless `chromium`, driven through `chromiumoxide` (the
//! DevTools protocol over its WebSocket) to walk our pages as a customer
//! would: open a URL, click an element with the mouse, wait for the next
//! page, read it, take screenshots, run axe-core. The walks are plain
//! blocking code: the browser keeps a small runtime of its own and each
//! step waits for its answer.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chromiumoxide::browser::{Browser as Chromium, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::input::{
    DispatchMouseEventParams, DispatchMouseEventType, InsertTextParams, MouseButton,
};
use chromiumoxide::cdp::browser_protocol::page::{
    CaptureScreenshotFormat, CaptureScreenshotParams, NavigateParams,
};
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::{Command, Page};
use futures_util::StreamExt as _;
use serde_json::{Value, json};

/// How long a wait for a page or a text may take: generous, for a CI
/// machine whose two cores also build and run the rest of the suite (a
/// simulation page computes for a while in a debug build).
const PATIENCE: Duration = Duration::from_secs(120);

/// How long one command may take before it counts as failed (and a wait
/// asks again): a renderer busy with a navigation can leave one unanswered.
const COMMAND: Duration = Duration::from_secs(15);

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

/// Each screenshot was written and holds a picture (more than 10 kB).
pub fn assert_shots<'a>(shots: impl IntoIterator<Item = &'a PathBuf>) {
    for shot in shots {
        let size = std::fs::metadata(shot).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{} is {size} bytes", shot.display());
    }
}

/// One headless browser with one tab.
pub struct Browser {
    runtime: Option<tokio::runtime::Runtime>,
    chromium: Option<Chromium>,
    page: Page,
    _profile: tempfile::TempDir,
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
    /// Starts `binary` headless with a fresh profile and one blank tab.
    /// Safe to call from async code: the start runs on a thread of its own.
    pub fn launch(binary: &Path) -> Self {
        let binary = binary.to_owned();
        std::thread::spawn(move || Self::start(&binary))
            .join()
            .unwrap_or_else(|_| panic!("chromium did not start"))
    }

    fn start(binary: &Path) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the browser");
        let profile = tempfile::tempdir().expect("a profile directory");
        let config = BrowserConfig::builder()
            .chrome_executable(binary)
            .no_sandbox()
            .user_data_dir(profile.path())
            .viewport(None)
            .launch_timeout(PATIENCE)
            .request_timeout(COMMAND)
            .args([
                "--disable-gpu",
                "--disable-quic",
                "--no-default-browser-check",
                "--disable-component-update",
                "--lang=en-US",
            ])
            .build()
            .expect("a browser configuration");
        let (chromium, page) = runtime.block_on(async {
            let (chromium, mut handler) = Chromium::launch(config)
                .await
                .unwrap_or_else(|e| panic!("chromium starts: {e}"));
            // The connection's events, read for as long as it is open; a
            // message this crate does not know is skipped, not fatal.
            tokio::spawn(async move { while handler.next().await.is_some() {} });
            let page = chromium
                .new_page("about:blank")
                .await
                .unwrap_or_else(|e| panic!("a tab: {e}"));
            (chromium, page)
        });
        Self {
            runtime: Some(runtime),
            chromium: Some(chromium),
            page,
            _profile: profile,
        }
    }

    fn block<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime.as_ref().expect("the runtime").block_on(future)
    }

    /// A command to the tab; its result, or the browser's error.
    fn try_call<C: Command>(&self, command: C) -> Result<C::Response, String> {
        let method = command.identifier();
        self.block(tokio::time::timeout(COMMAND, self.page.execute(command)))
            .map_err(|_| format!("{method}: no answer in {COMMAND:?}"))?
            .map(|answer| answer.result)
            .map_err(|e| format!("{method}: {e}"))
    }

    fn call<C: Command>(&self, command: C) -> C::Response {
        self.try_call(command).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The value of a JavaScript expression in the page (a promise is
    /// awaited), or why not. Run through DevTools, so the page's own
    /// policy (which allows no script) does not stop it.
    fn try_eval(&self, expression: &str) -> Result<Value, String> {
        let params = EvaluateParams::builder()
            .expression(expression)
            .return_by_value(true)
            .await_promise(true)
            .build()
            .expect("evaluate parameters");
        let answer = self.try_call(params)?;
        match answer.exception_details {
            Some(e) => Err(format!("{e:?}")),
            None => Ok(answer.result.value.unwrap_or(Value::Null)),
        }
    }

    /// The serious and critical WCAG 2.1 A/AA violations axe-core (`axe`,
    /// its script) finds on the page shown: `id: help (where)` each.
    pub fn accessibility(&mut self, axe: &str) -> Vec<String> {
        self.try_eval(axe).expect("axe-core loads");
        let run = r#"axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
            .then(r => r.violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => v.id + ': ' + v.help + ' (' + v.nodes.map(n => n.target.join(' ')).join(', ') + ')'))"#;
        let found = self
            .try_eval(run)
            .unwrap_or_else(|e| panic!("axe failed: {e}"));
        found
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
        self.call(SetDeviceMetricsOverrideParams::new(
            width, height, scale, mobile,
        ));
    }

    pub fn open(&mut self, url: &str) {
        self.call(NavigateParams::new(url));
        self.wait_for_page(|href| href == url);
    }

    /// Waits until the tab shows a loaded page whose address satisfies
    /// `wanted`; the address.
    pub fn wait_for_page(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        let mut last = Value::Null;
        let mut last_error = String::new();
        while Instant::now() < deadline {
            // Fails while a navigation swaps the document: asked again.
            match self.try_eval("[location.href, document.readyState]") {
                Ok(state) => {
                    if let (Some(href), Some("complete")) = (state[0].as_str(), state[1].as_str())
                        && wanted(href)
                    {
                        return href.to_owned();
                    }
                    last = state;
                }
                Err(e) => last_error = e,
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the expected page never loaded; last seen {last} ({last_error})");
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
        for kind in [
            DispatchMouseEventType::MouseMoved,
            DispatchMouseEventType::MousePressed,
            DispatchMouseEventType::MouseReleased,
        ] {
            let mut event = DispatchMouseEventParams::new(kind, x, y);
            event.button = Some(MouseButton::Left);
            event.click_count = Some(1);
            self.call(event);
        }
    }

    /// Clicks into the field `selector` finds and types `text`, as a
    /// keyboard would.
    pub fn type_into(&mut self, selector: &str, text: &str) {
        self.click(selector);
        self.call(InsertTextParams::new(text));
    }

    /// Clicks into the field `selector` finds, selects what it holds and
    /// types `text` over it.
    pub fn replace_in(&mut self, selector: &str, text: &str) {
        self.click(selector);
        self.eval(&format!(
            "document.querySelector({}).select()",
            json!(selector)
        ));
        self.call(InsertTextParams::new(text));
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
        let shot = self.call(CaptureScreenshotParams {
            format: Some(CaptureScreenshotFormat::Png),
            capture_beyond_viewport: Some(whole),
            ..Default::default()
        });
        let png = base64::engine::general_purpose::STANDARD
            .decode(AsRef::<str>::as_ref(&shot.data))
            .expect("base64");
        std::fs::write(path, png).expect("screenshot written");
    }
}

impl Drop for Browser {
    /// Closes the browser and waits for it to exit, on a thread of its own
    /// (a walk may hand the browser back to async code that drops it).
    fn drop(&mut self) {
        let (Some(runtime), Some(mut chromium)) = (self.runtime.take(), self.chromium.take())
        else {
            return;
        };
        let _ = std::thread::spawn(move || {
            runtime.block_on(async {
                if chromium.close().await.is_err() {
                    let _ = chromium.kill().await;
                }
                let _ = tokio::time::timeout(PATIENCE, chromium.wait()).await;
            });
            runtime.shutdown_background();
        })
        .join();
    }
}
