//! Helpers for the browser tests: serve a step's router, start chromedriver, open a
//! headless Chromium and read the page the way a user would.
//!
//! ```text
//! apt-get install chromium chromium-driver   # once; scripts/test-all does it for you
//! cargo test -p e2e                          # screenshots go to target/screenshots/
//! UPDATE_SCREENSHOTS=1 cargo test -p e2e      # ... and replace docs/screenshots/*.png
//! ```
//!
//! A test run never changes the checkout: the pages' screenshots in `docs/screenshots/`
//! are replaced only when asked (`UPDATE_SCREENSHOTS=1`), and then `git diff` shows it.
//!
//! The tests in `tests/` are one file per step. They use the steps as libraries and serve
//! each step's `app(...)` inside the test process, so no server binary is started.
//!
//! Every test gets its own server, its own chromedriver and its own browser profile, so
//! the tests of one binary can run in parallel threads without sharing a port or a
//! cookie. A test for a new step needs nothing new here:
//!
//! ```text
//! let server = serve(step4_persistent::app(store)).await;
//! let driver = Chromedriver::start().await;
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
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a test prints when the browser is missing. `scripts/test-all` installs both
/// packages before it runs the tests, so this is only seen by a bare `cargo test`.
pub const INSTALL_HINT: &str = "install them with: apt-get install chromium chromium-driver";

/// The longest any single wait may take before the test fails. Generous, because the
/// machine may have two cores shared by parallel tests (each with its own Chromium) and
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

/// A chromedriver process of this test's own, stopped (with every browser it started)
/// when this value is dropped, even when the test panics.
pub struct Chromedriver {
    process: Child,
    port: u16,
    chromium: PathBuf,
    /// Each browser's profile (cookies, cache, history) is a folder in here, so no state
    /// leaks between browsers or test runs. Dropped after chromedriver has stopped.
    profiles: TempDir,
    next_profile: AtomicUsize,
}

impl Chromedriver {
    /// Starts chromedriver on a free port and waits until it says it is ready.
    ///
    /// Panics with [`INSTALL_HINT`] when Chromium or chromedriver is not installed: a
    /// browser test that quietly skipped would make a green run mean nothing.
    pub async fn start() -> Self {
        let chromedriver = find_program("chromedriver");
        let chromium = find_program("chromium");
        let (Some(chromedriver), Some(chromium)) = (chromedriver, chromium) else {
            panic!("the browser tests need Chromium and chromedriver on PATH; {INSTALL_HINT}");
        };
        let profiles = tempfile::Builder::new()
            .prefix("e2e-chromium-")
            .tempdir()
            .expect("a temporary folder for browser profiles");

        // A port found free can be taken by a parallel test before chromedriver binds it;
        // chromedriver then exits at once, and another port is tried.
        for _ in 0..5 {
            let port = free_port();
            let mut process = Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts");
            if wait_until_ready(&mut process, port).await {
                return Self {
                    process,
                    port,
                    chromium,
                    profiles,
                    next_profile: AtomicUsize::new(0),
                };
            }
        }
        panic!("chromedriver exited right after starting, five times in a row");
    }

    /// Opens a new headless Chromium with a fresh profile: a new, empty cookie jar, like
    /// a different person on a different computer.
    pub async fn new_browser(&self) -> Browser {
        let n = self.next_profile.fetch_add(1, Ordering::SeqCst);
        let profile = self.profiles.path().join(format!("profile-{n}"));
        let options = json!({
            "binary": self.chromium,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                // The machine has no network but loopback: without these flags Chromium
                // keeps trying to reach Google's servers (updates, sync, QUIC probes),
                // which makes it slow and flaky.
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                format!("--window-size={WIDTH},{HEIGHT}"),
                format!("--user-data-dir={}", profile.display()),
            ],
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_string(), options);

        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let webdriver = format!("http://127.0.0.1:{}", self.port);
        let client = within(builder.connect(&webdriver), "Chromium to start")
            .await
            .expect("chromedriver starts a Chromium session");
        let browser = Browser { client };
        browser.fit_viewport().await;
        browser
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // Killing chromedriver alone would leave its Chromium processes running; its
        // `/shutdown` endpoint closes every browser it started, then exits.
        let _ = shutdown_blocking(self.port);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.process.try_wait() {
                Ok(None) => std::thread::sleep(POLL),
                Ok(Some(_)) | Err(_) => break,
            }
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// One browser window, driven like a user drives it: go to addresses, fill in fields by
/// their label, click what is visible, read what the page says.
pub struct Browser {
    client: Client,
}

impl Browser {
    /// The WebDriver client itself, for what these helpers do not cover (cookies, for a
    /// step that checks them).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Types `url` into the address bar and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        within(self.client.goto(url), "the page to load")
            .await
            .unwrap_or_else(|err| panic!("cannot load {url}: {err}"));
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
        panic!(
            "waited {TIMEOUT:?} for the heading {expected:?} at {}; the heading is {heading:?} \
             and the page says:\n{}",
            self.url().await,
            self.text().await,
        );
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
        panic!(
            "waited {TIMEOUT:?} for the text {expected:?} at {}; the page says:\n{}",
            self.url().await,
            self.text().await,
        );
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
    /// status, but they keep it in the Navigation Timing entry.
    pub async fn status(&self) -> u16 {
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
            .unwrap_or_else(|| panic!("the page has no HTTP status: {status}"))
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

    /// Saves what the window shows as `{name}.png` in [`screenshot_folder`]: under
    /// `target/`, or the pages' own `docs/screenshots/` with `UPDATE_SCREENSHOTS=1`. The
    /// folder is found from this crate's source folder, so it does not matter where
    /// `cargo test` was started.
    pub async fn screenshot(&self, name: &str) {
        let png = within(self.client.screenshot(), "the screenshot")
            .await
            .expect("the browser takes a screenshot");
        assert_eq!(
            png_size(&png),
            Some((WIDTH, HEIGHT)),
            "the screenshot {name} should be a {WIDTH}x{HEIGHT} PNG",
        );
        let folder = screenshot_folder();
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
            Err(err) => panic!(
                "no {what:?} at {} ({err}); the page says:\n{}",
                self.url().await,
                self.text().await,
            ),
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

/// Where the screenshots go: `target/screenshots/` at the root of the workspace, so that
/// running the tests leaves every tracked file as it was (a teacher who runs them must not
/// end with a modified checkout); with `UPDATE_SCREENSHOTS=1`, the published ones in
/// `docs/screenshots/`, which the lesson pages show.
pub fn screenshot_folder() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the e2e crate is a folder of the workspace");
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some_and(|value| value == "1") {
        root.join("docs").join("screenshots")
    } else {
        root.join("target").join("screenshots")
    }
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

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port for chromedriver")
        .port()
}

/// Waits until the chromedriver on `port` reports that it is ready; `false` if it exited
/// first (its port was taken). Panics if it neither answers nor exits within [`TIMEOUT`].
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
    panic!("chromedriver did not answer on port {port} within {TIMEOUT:?}");
}

/// Whether chromedriver's `/status` says it accepts new sessions. A few lines of HTTP
/// are enough, and keep an HTTP client out of the dependencies. chromedriver ignores
/// HTTP/1.0 and keeps the connection open after its answer even when asked to close it,
/// so the answer is read only until it says what is needed.
async fn is_ready(port: u16) -> bool {
    let ask = async {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
        stream.write_all(&request("/status")).await?;
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

/// Asks chromedriver to quit, blocking, for use in `Drop`, where nothing can be awaited.
fn shutdown_blocking(port: u16) -> std::io::Result<()> {
    let timeout = Duration::from_secs(5);
    let mut stream =
        StdTcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), timeout)?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(&request("/shutdown"))?;
    // The answer does not matter: `Drop` then waits for the process to exit.
    stream.set_read_timeout(Some(timeout))?;
    let _ = stream.read(&mut [0; 1024])?;
    Ok(())
}

/// A GET request for `path` on chromedriver.
fn request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").into_bytes()
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
