//! Helpers for the browser tests: serve a step's router, start a WebDriver server, open a
//! real browser and read the page the way a user would.
//!
//! Students come with three browser engines, and the cookie rules this course is about are
//! where engines differ, so the same tests run in each of them, one engine per run, chosen
//! with `E2E_BROWSER` (see [`Engine`]):
//!
//! ```text
//! apt-get install chromium chromium-driver    # once; scripts/test-all does it for you
//! cargo test -p e2e                           # Chromium; screenshots go to target/screenshots/
//! UPDATE_SCREENSHOTS=1 cargo test -p e2e       # ... and replace docs/screenshots/*.png
//! apt-get install firefox-esr && cargo install geckodriver --locked
//! E2E_BROWSER=firefox cargo test -p e2e
//! apt-get install webkit2gtk-driver xvfb
//! E2E_BROWSER=webkit xvfb-run -a cargo test -p e2e
//! ```
//!
//! A test run never changes the checkout: the pages' screenshots in `docs/screenshots/`
//! are replaced only when asked (`UPDATE_SCREENSHOTS=1`, Chromium only, so the pages show
//! one engine), and then `git diff` shows it. A wait that fails saves what the browser
//! showed in `target/screenshots/failed/<engine>/`, whatever the engine.
//!
//! The tests in `tests/` are one file per step. They use the steps as libraries and serve
//! each step's `app(...)` inside the test process, so no server binary is started.
//!
//! Every test gets its own server, its own WebDriver server and its own browser profile, so
//! the tests of one binary can run in parallel threads without sharing a port or a
//! cookie. A test for a new step needs nothing new here:
//!
//! ```text
//! let server = serve(step4_persistent::app(store)).await;
//! let driver = Driver::start().await;
//! let browser = driver.new_browser().await;
//! browser.goto(&server.url("/")).await;
//! browser.wait_for_heading("Welcome! First visit.").await;
//! ```
//!
//! Everything here panics instead of returning errors: these are test helpers, and a
//! panic with a message that says what the browser showed is the most useful failure.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream as StdTcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest any single wait may take before the test fails. Generous, because the
/// machine may have two cores shared by parallel tests (each with its own browser) and
/// a build; a passing wait returns as soon as its condition holds.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(50);

/// The browser window and so every screenshot: a projector-friendly 16:10 size.
pub const WIDTH: u32 = 1280;
/// See [`WIDTH`].
pub const HEIGHT: u32 = 800;

/// A step's application served on a loopback port for as long as this value lives: the
/// course's test kit serves it, in this test's runtime, so no binary is built or started.
pub use test_kit::{Served as Server, serve};

/// The browser engine a run drives: Chromium (Chrome, Edge), Firefox (Gecko) or WebKit
/// (Safari's engine, as WebKitGTK), chosen with `E2E_BROWSER=chromium|firefox|webkit`
/// (Chromium when unset). Every engine is driven through the W3C WebDriver protocol by its
/// own driver program, so the tests are the same code for all three.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Chromium,
    Firefox,
    WebKit,
}

impl Engine {
    /// The engine `E2E_BROWSER` names. Panics on a name it does not know: a typo that
    /// quietly ran Chromium would make a green run claim an engine it never opened.
    pub fn from_env() -> Self {
        match std::env::var("E2E_BROWSER").as_deref() {
            Err(_) | Ok("" | "chromium") => Self::Chromium,
            Ok("firefox") => Self::Firefox,
            Ok("webkit") => Self::WebKit,
            Ok(other) => panic!("E2E_BROWSER={other:?}: expected chromium, firefox or webkit"),
        }
    }

    /// The name `E2E_BROWSER` takes, also used for folder names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Chromium => "chromium",
            Self::Firefox => "firefox",
            Self::WebKit => "webkit",
        }
    }

    /// How to install what this engine needs on Debian or Ubuntu; `scripts/test-all`
    /// does it for you.
    pub fn install_hint(self) -> &'static str {
        match self {
            Self::Chromium => "apt-get install chromium chromium-driver",
            Self::Firefox => "apt-get install firefox-esr; cargo install geckodriver --locked",
            Self::WebKit => {
                "apt-get install webkit2gtk-driver xvfb, then run the tests under xvfb-run -a"
            }
        }
    }

    /// The WebDriver server and the browser it starts, as found on this machine.
    fn programs(self) -> Option<(PathBuf, PathBuf)> {
        let (driver, browser) = match self {
            Self::Chromium => (find_program("chromedriver"), find_program("chromium")),
            Self::Firefox => (
                find_program("geckodriver"),
                find_program("firefox-esr").or_else(|| find_program("firefox")),
            ),
            // WebKitGTK's small test browser is not on PATH: Debian keeps it in the
            // library's folder, under the machine's architecture.
            Self::WebKit => (find_program("WebKitWebDriver"), find_minibrowser()),
        };
        Some((driver?, browser?))
    }

    /// The capabilities that open a browser of this engine with `profile` as its profile
    /// folder (where the engine lets the driver choose), at [`WIDTH`] × [`HEIGHT`], with no
    /// window on screen where the engine can do without one.
    fn capabilities(self, browser: &Path, profile: &Path) -> serde_json::Map<String, Value> {
        let (key, options) = match self {
            Self::Chromium => (
                "goog:chromeOptions",
                json!({
                    "binary": browser,
                    "args": [
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        // The machine has no network but loopback: without these flags
                        // Chromium keeps trying to reach Google's servers (updates, sync,
                        // QUIC probes), which makes it slow and flaky.
                        "--disable-quic",
                        "--no-first-run",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--disable-sync",
                        format!("--window-size={WIDTH},{HEIGHT}"),
                        format!("--user-data-dir={}", profile.display()),
                    ],
                }),
            ),
            // geckodriver makes a fresh profile per session in the temporary folder and
            // removes it afterwards, so each browser has its own cookie jar already.
            Self::Firefox => (
                "moz:firefoxOptions",
                json!({
                    "binary": browser,
                    "args": ["-headless", format!("-width={WIDTH}"), format!("-height={HEIGHT}")],
                }),
            ),
            // Given a browser, WebKitWebDriver passes it no flag: `--automation` makes
            // MiniBrowser accept being driven, with its cookies in memory, one jar per
            // session. WebKitGTK has no headless mode: it needs a display, which
            // `xvfb-run` provides without a screen.
            Self::WebKit => (
                "webkitgtk:browserOptions",
                json!({ "binary": browser, "args": ["--automation"] }),
            ),
        };
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(key.to_string(), options);
        // The certificate of the course's `local-https` proxy is self-signed, and a student
        // clicks through the browser's warning once; a driven browser is told to go on.
        // It changes nothing over plain HTTP.
        capabilities.insert("acceptInsecureCerts".to_string(), Value::Bool(true));
        capabilities
    }
}

/// WebKitGTK's MiniBrowser: on PATH, or where Debian (`/usr/lib/<arch>/webkit2gtk-4.1/`)
/// or Fedora (`/usr/libexec/webkit2gtk-4.1/`) put it.
fn find_minibrowser() -> Option<PathBuf> {
    const FOLDER: &str = "webkit2gtk-4.1";
    find_program("MiniBrowser").or_else(|| {
        let debian = std::fs::read_dir("/usr/lib")
            .into_iter()
            .flatten()
            .flatten()
            .map(|arch| arch.path().join(FOLDER).join("MiniBrowser"));
        let fedora = std::iter::once(Path::new("/usr/libexec").join(FOLDER).join("MiniBrowser"));
        debian.chain(fedora).find(|candidate| candidate.is_file())
    })
}

/// The browsers of one test, each with a WebDriver server of its own (chromedriver,
/// geckodriver or WebKitWebDriver, for the run's [`Engine`]); every one is stopped with
/// its browser when this value is dropped, even when the test panics. geckodriver and
/// WebKitWebDriver drive one browser at a time, hence one server per browser.
pub struct Driver {
    engine: Engine,
    program: PathBuf,
    browser: PathBuf,
    /// Each browser's profile (cookies, cache, history) is a folder in here, so no state
    /// leaks between browsers or test runs. Dropped after the drivers have stopped.
    profiles: TempDir,
    next_profile: AtomicUsize,
    running: Mutex<Vec<Running>>,
}

/// One driver process and the browser session it opened.
struct Running {
    process: Child,
    port: u16,
    session: Option<String>,
}

impl Driver {
    /// Finds the run's engine: its driver and its browser.
    ///
    /// Panics with the engine's install hint when its driver or browser is not installed:
    /// a browser test that quietly skipped would make a green run mean nothing.
    pub async fn start() -> Self {
        let engine = Engine::from_env();
        let Some((program, browser)) = engine.programs() else {
            panic!(
                "the browser tests in {} need its driver and browser; install them with: {}",
                engine.name(),
                engine.install_hint(),
            );
        };
        if engine == Engine::WebKit
            && std::env::var_os("DISPLAY").is_none()
            && std::env::var_os("WAYLAND_DISPLAY").is_none()
        {
            panic!("WebKitGTK needs a display: run the tests under xvfb-run -a");
        }
        let profiles = tempfile::Builder::new()
            .prefix(&format!("e2e-{}-", engine.name()))
            .tempdir()
            .expect("a temporary folder for browser profiles");
        Self {
            engine,
            program,
            browser,
            profiles,
            next_profile: AtomicUsize::new(0),
            running: Mutex::new(Vec::new()),
        }
    }

    /// The engine this driver drives.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Opens a new browser with a fresh profile: a new, empty cookie jar, like a different
    /// person on a different computer.
    pub async fn new_browser(&self) -> Browser {
        let n = self.next_profile.fetch_add(1, Ordering::SeqCst);
        let profile = self.profiles.path().join(format!("profile-{n}"));
        // Now and then, under parallel tests, a WebKitGTK MiniBrowser never answers its
        // driver; a second start, with a new driver, works. Each attempt's driver writes
        // its log next to the profile, and the last one ends the failure message.
        for attempt in 1..=2 {
            let log = self
                .profiles
                .path()
                .join(format!("driver-{n}-{attempt}.log"));
            let (process, port) = self.spawn(&log).await;
            let mut running = Running {
                process,
                port,
                session: None,
            };
            let mut builder = ClientBuilder::new(HttpConnector::new());
            builder.capabilities(self.engine.capabilities(&self.browser, &profile));
            let webdriver = format!("http://127.0.0.1:{port}");
            let connected = tokio::time::timeout(TIMEOUT, builder.connect(&webdriver)).await;
            let client = match connected {
                Ok(Ok(client)) => client,
                failed => {
                    // A browser that did not start may still be starting: stop it with its
                    // driver, which `Drop` does not know about yet.
                    running.stop(self.engine);
                    let name = self.engine.name();
                    let tail = log_tail(&log);
                    match failed {
                        Ok(Err(err)) => {
                            panic!("the driver cannot start {name}: {err}; its log ends:\n{tail}")
                        }
                        _ if attempt == 1 => continue,
                        _ => panic!(
                            "waited {TIMEOUT:?} for {name} to start, twice; the driver's log \
                             ends:\n{tail}"
                        ),
                    }
                }
            };
            running.session = client.session_id().await.ok().flatten();
            self.running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(running);
            let browser = Browser {
                client,
                engine: self.engine,
            };
            browser.fit_viewport().await;
            return browser;
        }
        unreachable!("the second attempt returns or panics")
    }

    /// Starts a driver process on a free port and waits until it says it is ready.
    /// Its output (and its browser's) goes to the file `log`.
    async fn spawn(&self, log: &Path) -> (Child, u16) {
        // A port found free can be taken by a parallel test before the driver binds it;
        // the driver then exits at once, and another port is tried.
        for _ in 0..5 {
            let port = free_port();
            let output = std::fs::File::create(log)
                .unwrap_or_else(|err| panic!("cannot write {}: {err}", log.display()));
            let errors = output.try_clone().expect("a second handle on the log");
            let mut process = Command::new(&self.program)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(output)
                .stderr(errors)
                .spawn()
                .unwrap_or_else(|err| panic!("cannot start {}: {err}", self.program.display()));
            if wait_until_ready(&mut process, port).await {
                return (process, port);
            }
        }
        panic!(
            "{} exited right after starting, five times in a row",
            self.program.display()
        );
    }
}

impl Running {
    /// Quits the browser, then its driver. Killing the driver alone would leave its
    /// browser running: closing the session first is the one way to quit a browser that
    /// every driver has.
    fn stop(&mut self, engine: Engine) {
        if let Some(id) = self.session.take() {
            let _ = send_blocking(self.port, "DELETE", &format!("/session/{id}"));
        }
        if engine == Engine::Chromium {
            // chromedriver exits by itself when asked; the others are killed below.
            let _ = send_blocking(self.port, "GET", "/shutdown");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                match self.process.try_wait() {
                    Ok(None) => std::thread::sleep(POLL),
                    Ok(Some(_)) | Err(_) => break,
                }
            }
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let engine = self.engine;
        for running in self
            .running
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .iter_mut()
        {
            running.stop(engine);
        }
    }
}

/// One browser window, driven like a user drives it: go to addresses, fill in fields by
/// their label, click what is visible, read what the page says.
pub struct Browser {
    client: Client,
    engine: Engine,
}

impl Browser {
    /// The engine behind this window, for the few assertions where engines differ.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The WebDriver client itself, for what these helpers do not cover (cookies, for a
    /// step that checks them).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Types `url` into the address bar and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        if let Err(err) = within(self.client.goto(url), "the page to load").await {
            self.fail(format!("cannot load {url}: {err}")).await;
        }
    }

    /// The reload button.
    pub async fn reload(&self) {
        within(self.client.refresh(), "the reload")
            .await
            .expect("the page reloads");
    }

    /// The back button.
    pub async fn back(&self) {
        within(self.client.back(), "the back navigation")
            .await
            .expect("the browser goes back");
    }

    /// Types `text` into the input whose `<label>` reads `label`.
    pub async fn fill(&self, label: &str, text: &str) {
        let xpath = format!(
            "//input[@id=//label[normalize-space()={}]/@for]",
            literal(label)
        );
        let input = self.find(Locator::XPath(&xpath), label).await;
        input.clear().await.expect("the field can be cleared");
        input.send_keys(text).await.expect("the field takes text");
    }

    /// Clicks the button that reads `text`.
    pub async fn click_button(&self, text: &str) {
        let xpath = format!("//button[normalize-space()={}]", literal(text));
        let button = self.find(Locator::XPath(&xpath), text).await;
        button.click().await.expect("the button can be clicked");
    }

    /// Clicks the link that reads `text`.
    pub async fn click_link(&self, text: &str) {
        let link = self.find(Locator::LinkText(text), text).await;
        link.click().await.expect("the link can be clicked");
    }

    /// Waits until the page's main heading (`<h1>`) reads `expected`. A click starts a
    /// navigation that may still be under way, so a test waits for its outcome rather
    /// than reading the page at once.
    pub async fn wait_for_heading(&self, expected: &str) {
        let mut heading = None;
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            heading = self
                .eval_string("document.querySelector('h1')?.innerText")
                .await;
            if heading.as_deref() == Some(expected) {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
        self.fail(format!(
            "waited {TIMEOUT:?} for the heading {expected:?} at {}; the heading is {heading:?} \
             and the page says:\n{}",
            self.url().await,
            self.text().await,
        ))
        .await;
    }

    /// Waits until the page's visible text contains `expected`.
    pub async fn wait_for_text(&self, expected: &str) {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if self.text().await.contains(expected) {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
        self.fail(format!(
            "waited {TIMEOUT:?} for the text {expected:?} at {}; the page says:\n{}",
            self.url().await,
            self.text().await,
        ))
        .await;
    }

    /// The page's visible text, as a user reads it (empty while no page is shown).
    pub async fn text(&self) -> String {
        self.eval_string("document.body?.innerText")
            .await
            .unwrap_or_default()
    }

    /// The address in the address bar.
    pub async fn url(&self) -> String {
        match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(err) => format!("<unknown address: {err}>"),
        }
    }

    /// Marks the document in the window, to tell later whether the browser shows this
    /// very document again (see [`Browser::is_marked_page`]).
    pub async fn mark_page(&self) {
        self.client
            .execute("window.e2eMark = true", vec![])
            .await
            .expect("the page runs a script");
    }

    /// Whether the window shows the document that [`Browser::mark_page`] marked. A page
    /// that the back button restores from the back/forward cache is that same live
    /// document, mark included, and the server was not asked; a page loaded again
    /// (from the server or the HTTP cache) starts without the mark.
    pub async fn is_marked_page(&self) -> bool {
        self.client
            .execute("return window.e2eMark === true", vec![])
            .await
            .expect("the page runs a script")
            == Value::Bool(true)
    }

    /// The HTTP status of the response the current page came from: browsers show no
    /// status, but Chromium and Firefox keep it in the Navigation Timing entry. WebKit does
    /// not (its entry has no `responseStatus`), so there this returns `None`.
    pub async fn status(&self) -> Option<u16> {
        let status = self
            .client
            .execute(
                "return performance.getEntriesByType('navigation')[0]?.responseStatus ?? null",
                vec![],
            )
            .await
            .expect("the page runs a script");
        status
            .as_u64()
            .and_then(|status| u16::try_from(status).ok())
    }

    /// Asserts that the current page came with the status `expected`, in the engines that
    /// tell; in WebKit, which does not, asserts that it still does not, so that the day it
    /// does this check starts covering it too. The page's heading, which the tests check
    /// as well, is what a user of any engine sees.
    pub async fn assert_status(&self, expected: u16) {
        let status = self.status().await;
        match self.engine {
            Engine::Chromium | Engine::Firefox => assert_eq!(
                status,
                Some(expected),
                "the HTTP status of {} in {}",
                self.url().await,
                self.engine.name()
            ),
            Engine::WebKit => assert_eq!(
                status, None,
                "WebKit now reports the HTTP status: make assert_status check it there too"
            ),
        }
    }

    /// How the current page got into the window, from its Navigation Timing entry:
    /// `"navigate"`, `"reload"` or `"back_forward"`, and the number of bytes that came
    /// over the network for it (0 when the browser used its HTTP cache). A page restored
    /// from the back/forward cache keeps the entry of its first load.
    pub async fn navigation(&self) -> (String, u64) {
        let entry = self
            .client
            .execute(
                "const entry = performance.getEntriesByType('navigation')[0];\
                 return [entry.type, entry.transferSize];",
                vec![],
            )
            .await
            .expect("the page runs a script");
        let kind = entry[0].as_str().unwrap_or_default().to_string();
        let bytes = entry[1].as_u64().unwrap_or_default();
        (kind, bytes)
    }

    /// Fails the test with `message`, after saving what the window shows as
    /// `target/screenshots/failed/<engine>/<test>.png`: a failure in an engine nobody
    /// watches is easier to understand with the page in front of you. The message names
    /// the file.
    pub async fn fail(&self, message: String) -> ! {
        // libtest runs each test on a thread named after it.
        let test = std::thread::current()
            .name()
            .unwrap_or("test")
            .replace("::", "-");
        let folder = workspace_root()
            .join("target")
            .join("screenshots")
            .join("failed")
            .join(self.engine.name());
        let path = folder.join(format!("{test}.png"));
        let saved =
            match tokio::time::timeout(Duration::from_secs(10), self.client.screenshot()).await {
                Ok(Ok(png)) => std::fs::create_dir_all(&folder)
                    .and_then(|()| std::fs::write(&path, png))
                    .map_err(|err| err.to_string()),
                Ok(Err(err)) => Err(err.to_string()),
                Err(_) => Err("no answer in 10 s".to_string()),
            };
        match saved {
            Ok(()) => panic!(
                "{message}\n(in {}; the window is in {})",
                self.engine.name(),
                path.display()
            ),
            Err(err) => panic!(
                "{message}\n(in {}; no screenshot of the window: {err})",
                self.engine.name()
            ),
        }
    }

    /// Saves what the window shows as `{name}.png` in [`screenshot_folder`]: under
    /// `target/`, or the pages' own `docs/screenshots/` with `UPDATE_SCREENSHOTS=1` in
    /// Chromium. The folder is found from this crate's source folder, so it does not
    /// matter where `cargo test` was started.
    pub async fn screenshot(&self, name: &str) {
        let png = within(self.client.screenshot(), "the screenshot")
            .await
            .expect("the browser takes a screenshot");
        assert_eq!(
            png_size(&png),
            Some((WIDTH, HEIGHT)),
            "the screenshot {name} should be a {WIDTH}x{HEIGHT} PNG",
        );
        let folder = screenshot_folder(self.engine);
        std::fs::create_dir_all(&folder)
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", folder.display()));
        let path = folder.join(format!("{name}.png"));
        std::fs::write(&path, png)
            .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
    }

    /// Makes the page area, not the whole window, [`WIDTH`] × [`HEIGHT`]: headless
    /// Chromium's `--window-size` includes space for window decorations that a screenshot
    /// does not show, so the window is grown by the difference.
    async fn fit_viewport(&self) {
        self.set_viewport(WIDTH, HEIGHT).await;
    }

    /// Makes the page area `width` × `height` CSS pixels: another screen, or the same one
    /// at another zoom (1280 × 800 at 125 % lays a page out as 1024 × 640 does). A
    /// screenshot wants [`WIDTH`] × [`HEIGHT`]: set that back before taking one.
    pub async fn set_viewport(&self, width: u32, height: u32) {
        let size = self
            .client
            .execute(
                "return [window.outerWidth - window.innerWidth, \
                         window.outerHeight - window.innerHeight]",
                vec![],
            )
            .await
            .expect("a blank page runs a script");
        let extra = |i: usize| {
            size[i]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or_else(|| panic!("window decorations measure {size}"))
        };
        within(
            self.client
                .set_window_size(width + extra(0), height + extra(1)),
            "the window to resize",
        )
        .await
        .expect("the window can be resized");
    }

    /// Finds one element, waiting for it to appear; `what` names it in the failure.
    async fn find(&self, locator: Locator<'_>, what: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(TIMEOUT)
            .for_element(locator)
            .await
        {
            Ok(element) => element,
            Err(err) => {
                self.fail(format!(
                    "no {what:?} at {} ({err}); the page says:\n{}",
                    self.url().await,
                    self.text().await,
                ))
                .await
            }
        }
    }

    /// Runs `expression` in the page and returns its value if it is a string. A script
    /// sent while a page is being replaced may fail; that counts as "nothing yet".
    async fn eval_string(&self, expression: &str) -> Option<String> {
        let script = format!("return {expression} ?? null");
        match self.client.execute(&script, vec![]).await {
            Ok(Value::String(text)) => Some(text),
            _ => None,
        }
    }
}

/// Where `engine`'s screenshots go: `target/screenshots/` at the root of the workspace
/// (`target/screenshots/<engine>/` for Firefox and WebKit), so that running the tests
/// leaves every tracked file as it was (a teacher who runs them must not end with a
/// modified checkout); with `UPDATE_SCREENSHOTS=1` in Chromium, the published ones in
/// `docs/screenshots/`, which the lesson pages show. The pages show one engine, so that a
/// new screenshot differs from the old one only where the course changed.
pub fn screenshot_folder(engine: Engine) -> PathBuf {
    let root = workspace_root();
    let update = std::env::var_os("UPDATE_SCREENSHOTS").is_some_and(|value| value == "1");
    match engine {
        Engine::Chromium if update => root.join("docs").join("screenshots"),
        Engine::Chromium => root.join("target").join("screenshots"),
        Engine::Firefox | Engine::WebKit => {
            root.join("target").join("screenshots").join(engine.name())
        }
    }
}

/// The workspace's folder, found from this crate's.
fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the e2e crate is a folder of the workspace")
}

/// The width and height in a PNG's header, or `None` if `png` is no PNG.
fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    // The signature, then the IHDR chunk: length (4), type (4), width (4), height (4).
    if png.len() < 24 || !png.starts_with(SIGNATURE) || &png[12..16] != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(png[16..20].try_into().ok()?);
    let height = u32::from_be_bytes(png[20..24].try_into().ok()?);
    Some((width, height))
}

/// `text` as an XPath string literal. The texts the tests look for have no quotes; one
/// that had both kinds would need `concat()`, which nothing needs yet.
fn literal(text: &str) -> String {
    assert!(
        !text.contains('\''),
        "an XPath literal in these helpers cannot hold a single quote: {text:?}",
    );
    format!("'{text}'")
}

/// Runs `future`, failing the test if it takes longer than [`TIMEOUT`].
async fn within<T>(future: impl Future<Output = T>, what: &str) -> T {
    tokio::time::timeout(TIMEOUT, future)
        .await
        .unwrap_or_else(|_| panic!("waited {TIMEOUT:?} for {what}"))
}

/// The first executable called `name` in `PATH`.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|folder| folder.join(name))
        .find(|candidate| candidate.is_file())
}

/// The last lines of the driver's log at `path`, for a failure message.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port for the driver")
        .port()
}

/// Waits until the driver on `port` reports that it is ready; `false` if it exited first
/// (its port was taken). Panics if it neither answers nor exits within [`TIMEOUT`].
async fn wait_until_ready(process: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = process.try_wait() {
            return false;
        }
        if is_ready(port).await {
            return true;
        }
        tokio::time::sleep(POLL).await;
    }
    let _ = process.kill();
    let _ = process.wait();
    panic!("the driver did not answer on port {port} within {TIMEOUT:?}");
}

/// Whether the driver's `/status` says it accepts new sessions (every WebDriver server
/// has that endpoint). A few lines of HTTP are enough, and keep an HTTP client out of the
/// dependencies. chromedriver ignores HTTP/1.0 and keeps the connection open after its
/// answer even when asked to close it, so the answer is read only until it says what is
/// needed.
async fn is_ready(port: u16) -> bool {
    let ask = async {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
        stream.write_all(&request(port, "GET", "/status")).await?;
        let mut answer = Vec::new();
        let mut chunk = [0; 1024];
        loop {
            let n = stream.read(&mut chunk).await?;
            answer.extend_from_slice(&chunk[..n]);
            if n == 0 || contains(&answer, b"\"ready\":") {
                return Ok::<_, std::io::Error>(contains(&answer, b"\"ready\":true"));
            }
        }
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), ask).await,
        Ok(Ok(true))
    )
}

/// Sends `method path` to the driver and waits for the start of its answer, blocking, for
/// use in `Drop`, where nothing can be awaited. Closing a session waits for the browser
/// to quit, hence the generous timeout.
fn send_blocking(port: u16, method: &str, path: &str) -> std::io::Result<()> {
    let timeout = Duration::from_secs(10);
    let mut stream =
        StdTcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), timeout)?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(&request(port, method, path))?;
    // The answer does not matter, only that it came.
    stream.set_read_timeout(Some(timeout))?;
    let _ = stream.read(&mut [0; 1024])?;
    Ok(())
}

/// A request with no body for `path` on the driver at `port`. geckodriver refuses a
/// `Host` without the port (a guard against DNS rebinding), so it is always given.
fn request(port: u16, method: &str, path: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )
    .into_bytes()
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
