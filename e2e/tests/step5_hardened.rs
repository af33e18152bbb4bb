//! Step 5 in a real browser: the protections of the hardened step seen from where they
//! matter, a browser. The site's own forms work, and the same forms sent from a page of
//! another site are refused; the cookie is out of reach of page scripts, logging out
//! removes it, the back button does not bring a logged-out dashboard back, and a login
//! survives a restart.
//!
//! The app's `__Host-` cookie is `Secure`. Chromium and Firefox count `http://localhost`
//! as secure and accept the cookie there; WebKit (Safari's engine) does not, so a student
//! with Safari reaches the step through the course's `local-https` proxy. The tests reach
//! the app the way the lesson's page tells a student of the run's engine to ([`Site`]), and
//! two tests check that advice itself in every engine: the login over plain
//! `http://localhost`, and through `local-https`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::map_request_with_state;
use axum::response::Html;
use axum::routing::get;
use e2e::{Browser, Driver, Engine, Server, serve};
use serde_json::Value;
use step5_hardened::{COOKIE_NAME, Settings, store};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower_sessions::cookie::Key;

/// Step 5's app on a fresh session database in `folder`, signing cookies with `key`.
/// Serving it again with the same folder and key is a restart of the same server.
async fn app(folder: &TempDir, key: &Key) -> Router {
    let database = format!("sqlite://{}", folder.path().join("sessions.db").display());
    let store = store::open(&database)
        .await
        .expect("the session database opens");
    step5_hardened::app(store, Settings::new(key.clone()))
}

/// The course's `local-https` proxy in front of an app at `target`, on a free port, as
/// `cargo run -p local-https` runs it: a self-signed certificate for `localhost` made at
/// start, which the browsers are told to accept as a student clicks through the warning.
/// It stops when dropped.
struct HttpsFront {
    port: u16,
    // Dropping the sender is the signal to stop.
    _stop: oneshot::Sender<()>,
}

impl HttpsFront {
    async fn start(target: SocketAddr) -> Self {
        let tls = local_https::SelfSigned::generate()
            .expect("a self-signed certificate")
            .server_config()
            .expect("TLS settings for the certificate");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port for the proxy");
        let port = listener.local_addr().expect("the proxy's address").port();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(local_https::serve(listener, target, tls, async {
            let _ = stopped.await;
        }));
        Self { port, _stop: stop }
    }

    /// The address of `path` through the proxy, by the name its certificate holds.
    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }
}

/// Step 5 served as the lesson's page tells a student of the run's engine to open it: at
/// `http://localhost` for Chromium and Firefox; through `local-https` for WebKit, which
/// drops a `Secure` cookie that came over plain HTTP, even from `localhost`.
struct Site {
    app: Server,
    front: Option<HttpsFront>,
}

impl Site {
    async fn serve(app: Router) -> Self {
        let app = serve(app).await;
        let front = match Engine::from_env() {
            Engine::Chromium | Engine::Firefox => None,
            Engine::WebKit => Some(HttpsFront::start(app.addr).await),
        };
        Self { app, front }
    }

    /// The address the browser opens for `path`.
    fn url(&self, path: &str) -> String {
        match &self.front {
            Some(front) => front.url(path),
            None => self.app.url(path),
        }
    }

    /// Restarts the app behind the same address (the proxy, if any, stays).
    async fn restart(self, app: Router) -> Self {
        Self {
            app: self.app.restart(app).await,
            front: self.front,
        }
    }
}

/// The `Sec-Fetch-Site` header of every `POST` the app received, with its path, in order
/// (`"(none)"` when the header was missing): how the browser labelled each form it sent.
#[derive(Clone, Default)]
struct PostLabels(Arc<Mutex<Vec<(String, String)>>>);

impl PostLabels {
    /// `app` with a layer around it that writes down each `POST`'s label.
    fn record(&self, app: Router) -> Router {
        app.layer(map_request_with_state(self.clone(), record_label))
    }

    fn seen(&self) -> Vec<(String, String)> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn record_label(State(labels): State<PostLabels>, request: Request) -> Request {
    if request.method() == axum::http::Method::POST {
        let label = request
            .headers()
            .get("sec-fetch-site")
            .map_or("(none)".to_string(), |value| {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            });
        labels
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((request.uri().path().to_string(), label));
    }
    request
}

/// The label a `POST` to `path` came with, as `(path, label)` pairs for comparing.
fn post(path: &str, label: &str) -> (String, String) {
    (path.to_string(), label.to_string())
}

/// A temporary folder for the session database and a fresh cookie-signing key.
fn folder_and_key() -> (TempDir, Key) {
    let folder = tempfile::tempdir().expect("a temporary folder for the database");
    (folder, Key::generate())
}

/// Fills in the login form the browser shows and sends it.
async fn submit_login(browser: &Browser, username: &str, password: &str) {
    browser.fill("Username", username).await;
    browser.fill("Password", password).await;
    browser.click_button("Log in").await;
}

/// Logs `browser` in through the form at `login` and waits for the answer.
async fn log_in(browser: &Browser, login: &str) {
    browser.goto(login).await;
    submit_login(browser, "admin", "1234").await;
    browser.wait_for_heading("Logged in successfully").await;
}

/// Takes a screenshot of a page whose session panel shows a session.
///
/// The panel lists the session's start time (a Unix timestamp): shown as it is, every run
/// would produce a different PNG and a needless change in git. So just before the shot
/// that value is replaced with bullets of the same length, in the browser's copy of the
/// page only: nothing the tests assert on is changed, and the layout stays as it really
/// is.
async fn screenshot_with_panel(browser: &Browser, name: &str) {
    let masked = browser
        .client()
        .execute(
            "let masked = 0;\
             for (const row of document.querySelectorAll('.panel tbody tr')) {\
               const [key, value] = row.querySelectorAll('code');\
               if (key && value && key.textContent === 'started_at') {\
                 value.textContent = value.textContent.replace(/[^\"]/g, '\u{2022}');\
                 masked += 1;\
               }\
             }\
             return masked;",
            vec![],
        )
        .await
        .expect("the page runs a script");
    // Every stored session has a start; if the panel ever stops showing it, or shows a
    // second one, this says so instead of leaving a screenshot that changes.
    assert_eq!(
        masked,
        Value::from(1),
        "the panel should show one started_at to mask before {name}",
    );
    browser.screenshot(name).await;
}

#[tokio::test]
async fn logging_in_through_the_form_opens_the_dashboard() {
    // Arrange
    let (folder, key) = folder_and_key();
    let labels = PostLabels::default();
    let site = Site::serve(labels.record(app(&folder, &key).await)).await;
    let driver = Driver::start().await;
    let browser = driver.new_browser().await;
    browser.goto(&site.url("/login")).await;
    browser.wait_for_heading("Log in").await;
    // Showing the form stores nothing: the session starts with the login.
    browser
        .wait_for_text("Nothing: this browser has no session yet.")
        .await;
    browser.screenshot("step5-login").await;

    // Act: the browser labels the post with `Sec-Fetch-Site` and `Origin` as it sees fit,
    // under the page's `Referrer-Policy`; the cross-origin check must let the site's
    // own form through.
    submit_login(&browser, "admin", "1234").await;
    browser.wait_for_heading("Logged in successfully").await;
    browser.click_link("Go to the dashboard").await;

    // Assert
    browser
        .wait_for_heading("Welcome user 1 to the dashboard")
        .await;
    browser.assert_status(200).await;
    assert_eq!(labels.seen(), [post("/login", "same-origin")]);
    screenshot_with_panel(&browser, "step5-dashboard").await;
}

#[tokio::test]
async fn page_scripts_cannot_read_the_session_cookie() {
    // Arrange: a logged-in browser, plus an ordinary cookie set by a page script, to
    // show that `document.cookie` works and only the session cookie is missing from it.
    let (folder, key) = folder_and_key();
    let site = Site::serve(app(&folder, &key).await).await;
    let driver = Driver::start().await;
    let browser = driver.new_browser().await;
    log_in(&browser, &site.url("/login")).await;
    browser
        .client()
        .execute("document.cookie = 'theme=dark; path=/'", vec![])
        .await
        .expect("the page runs a script");

    // Act: what the browser holds, and what a script in the page can see.
    let session_cookie = browser
        .client()
        .get_named_cookie(COOKIE_NAME)
        .await
        .expect("the browser holds the session cookie");
    let script_sees = browser
        .client()
        .execute("return document.cookie", vec![])
        .await
        .expect("the page runs a script");

    // Assert
    assert_eq!(session_cookie.http_only(), Some(true), "{session_cookie}");
    assert_eq!(session_cookie.secure(), Some(true), "{session_cookie}");
    let script_sees = script_sees.as_str().unwrap_or_default();
    assert!(
        script_sees.contains("theme=dark"),
        "document.cookie should show the ordinary cookie: {script_sees:?}",
    );
    assert!(
        !script_sees.contains(COOKIE_NAME),
        "document.cookie must not show the HttpOnly session cookie: {script_sees:?}",
    );
}

/// A stranger's page, served from `http://127.0.0.1:...`, that sends a form to `action`
/// (an address of the app) with the hidden `fields` as soon as it has loaded: a visitor
/// only has to open it.
fn attacker_site(action: &str, fields: &[(&str, &str)]) -> Router {
    let inputs: String = fields
        .iter()
        .map(|(name, value)| format!("<input type=\"hidden\" name=\"{name}\" value=\"{value}\">"))
        .collect();
    let page = format!(
        "<!doctype html>\
         <title>Free prize</title>\
         <body onload=\"document.forms[0].submit()\">\
         <h1>You have won a prize!</h1>\
         <form method=\"post\" action=\"{action}\">{inputs}</form>\
         </body>"
    );
    Router::new().route("/", get(move || async move { Html(page) }))
}

/// Waits for the page the app shows for a form sent from another site.
async fn wait_for_forbidden_page(browser: &Browser) {
    browser.wait_for_heading("Forbidden").await;
    browser
        .wait_for_text("This form was sent from another site's page")
        .await;
    browser.assert_status(403).await;
}

#[tokio::test]
async fn a_page_on_another_site_cannot_log_the_browser_out() {
    // Arrange: a logged-in browser, and another site whose page posts to `/logout`.
    let (folder, key) = folder_and_key();
    let labels = PostLabels::default();
    let site = Site::serve(labels.record(app(&folder, &key).await)).await;
    let attacker = serve(attacker_site(&site.url("/logout"), &[])).await;
    let driver = Driver::start().await;
    let browser = driver.new_browser().await;
    log_in(&browser, &site.url("/login")).await;

    // Act: the browser opens the other site's page, which sends the form by itself.
    browser.goto(&attacker.url_by_ip("/")).await;

    // Assert: refused, by the browser's own label on the request. (The `SameSite=Lax`
    // cookie does not even travel with this cross-site POST; the 403 is the server
    // refusing to act on a form from another site at all.)
    wait_for_forbidden_page(&browser).await;
    assert_eq!(
        labels.seen(),
        [post("/login", "same-origin"), post("/logout", "cross-site")],
    );
    browser.screenshot("step5-forbidden").await;
    // ...and the user is still logged in.
    browser.goto(&site.url("/dashboard")).await;
    browser
        .wait_for_heading("Welcome user 1 to the dashboard")
        .await;
}

/// Login forgery: another site logs the visitor in to an account of the attacker's
/// choosing (here the demo account), so that whatever they do next is recorded there.
/// `SameSite` does not stop it, since no cookie is needed to log in and a cookie set by
/// the answer to a top-level navigation is kept; the cross-origin check does.
#[tokio::test]
async fn a_page_on_another_site_cannot_log_the_browser_in() {
    // Arrange: a browser that has never been to the app, and another site whose page
    // posts a login to it.
    let (folder, key) = folder_and_key();
    let labels = PostLabels::default();
    let site = Site::serve(labels.record(app(&folder, &key).await)).await;
    let attacker = serve(attacker_site(
        &site.url("/login"),
        &[("username", "admin"), ("password", "1234")],
    ))
    .await;
    let driver = Driver::start().await;
    let browser = driver.new_browser().await;

    // Act
    browser.goto(&attacker.url_by_ip("/")).await;

    // Assert: refused, and the browser holds no session of the app's.
    wait_for_forbidden_page(&browser).await;
    assert_eq!(labels.seen(), [post("/login", "cross-site")]);
    let cookies = browser.client().get_all_cookies().await.expect("cookies");
    assert!(
        cookies.iter().all(|cookie| cookie.name() != COOKIE_NAME),
        "another site's form left a session cookie: {cookies:?}",
    );
    browser.goto(&site.url("/dashboard")).await;
    browser.wait_for_heading("Unauthorized").await;
}

/// tower-sessions writes the cookie that deletes the session cookie without `Secure`,
/// and a browser refuses every `__Host-` cookie without it, the deleting one included:
/// the dead cookie would stay. The app gives the removal the attributes the cookie was
/// set with; here a real browser shows that it obeys.
#[tokio::test]
async fn logging_out_removes_the_cookie_from_the_browser() {
    // Arrange
    let (folder, key) = folder_and_key();
    let site = Site::serve(app(&folder, &key).await).await;
    let driver = Driver::start().await;
    let browser = driver.new_browser().await;
    log_in(&browser, &site.url("/login")).await;
    browser.goto(&site.url("/dashboard")).await;
    browser
        .wait_for_heading("Welcome user 1 to the dashboard")
        .await;
    let names = |cookies: Vec<fantoccini::cookies::Cookie<'static>>| {
        cookies
            .iter()
            .map(|cookie| cookie.name().to_string())
            .collect::<Vec<_>>()
    };
    let before = names(browser.client().get_all_cookies().await.expect("cookies"));
    assert!(before.iter().any(|name| name == COOKIE_NAME), "{before:?}");

    // Act
    browser.click_button("Log out").await;
    browser.wait_for_heading("Logged out successfully").await;

    // Assert
    let after = names(browser.client().get_all_cookies().await.expect("cookies"));
    assert!(
        after.iter().all(|name| name != COOKIE_NAME),
        "the browser kept the session cookie after logging out: {after:?}",
    );
}

/// The counterpart of step 3's test of the same name, which shows the gap this closes:
/// step 5 sends every page with `Cache-Control: no-store`, so after logging out the
/// back button cannot show the dashboard from a cache; the browser asks the server,
/// which answers that the session is gone.
#[tokio::test]
async fn the_back_button_after_logging_out_does_not_show_the_dashboard() {
    // Arrange
    let (folder, key) = folder_and_key();
    let site = Site::serve(app(&folder, &key).await).await;
    let driver = Driver::start().await;
    let browser = driver.new_browser().await;
    log_in(&browser, &site.url("/login")).await;
    browser.goto(&site.url("/dashboard")).await;
    browser
        .wait_for_heading("Welcome user 1 to the dashboard")
        .await;
    browser.mark_page().await;
    browser.click_button("Log out").await;
    browser.wait_for_heading("Logged out successfully").await;

    // Act
    browser.back().await;

    // Assert: the server was asked again, and said no.
    browser.wait_for_heading("Unauthorized").await;
    assert!(
        !browser.is_marked_page().await,
        "the back button restored the old dashboard document from the back/forward cache",
    );
    browser.assert_status(401).await;
}

#[tokio::test]
async fn a_logged_in_browser_is_still_logged_in_after_a_server_restart() {
    // Arrange
    let (folder, key) = folder_and_key();
    let site = Site::serve(app(&folder, &key).await).await;
    let driver = Driver::start().await;
    let browser = driver.new_browser().await;
    log_in(&browser, &site.url("/login")).await;

    // Act: a new server in all but name, sharing only the database file and the key.
    let site = site.restart(app(&folder, &key).await).await;
    browser.goto(&site.url("/dashboard")).await;

    // Assert
    browser
        .wait_for_heading("Welcome user 1 to the dashboard")
        .await;
}

/// Whether each request for `/dashboard` came with the session cookie, in order: what the
/// browser did with the cookie, seen from the server.
#[derive(Clone, Default)]
struct CookieSent(Arc<Mutex<Vec<bool>>>);

impl CookieSent {
    fn record(&self, app: Router) -> Router {
        app.layer(map_request_with_state(self.clone(), record_cookie))
    }

    fn seen(&self) -> Vec<bool> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn record_cookie(State(sent): State<CookieSent>, request: Request) -> Request {
    if request.uri().path() == "/dashboard" {
        let prefix = format!("{COOKIE_NAME}=");
        let carried = request
            .headers()
            .get_all(axum::http::header::COOKIE)
            .iter()
            .any(|value| {
                String::from_utf8_lossy(value.as_bytes())
                    .split(';')
                    .any(|pair| pair.trim_start().starts_with(&prefix))
            });
        sent.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(carried);
    }
    request
}

/// What the lesson's page tells students about their browser, checked in each engine:
/// over plain `http://localhost` the login form is answered everywhere, but only an engine
/// that counts `localhost` as a secure origin keeps the `Secure` cookie and sends it back.
/// WebKit (as WebKitGTK here, Safari's engine) does not store it at all: the "Logged in
/// successfully" page is followed by an Unauthorized dashboard, Safari's symptom.
#[tokio::test]
async fn over_plain_http_localhost_the_login_sticks_in_chromium_and_firefox_but_not_in_webkit() {
    // Arrange: the app at http://localhost, whatever the engine.
    let (folder, key) = folder_and_key();
    let sent = CookieSent::default();
    let server = serve(sent.record(app(&folder, &key).await)).await;
    let driver = Driver::start().await;
    let browser = driver.new_browser().await;

    // Act
    log_in(&browser, &server.url("/login")).await;
    let cookies = browser.client().get_all_cookies().await.expect("cookies");
    let kept = cookies.iter().any(|cookie| cookie.name() == COOKIE_NAME);
    browser.goto(&server.url("/dashboard")).await;

    // Assert
    match browser.engine() {
        Engine::Chromium | Engine::Firefox => {
            browser
                .wait_for_heading("Welcome user 1 to the dashboard")
                .await;
            assert!(kept, "the browser holds no session cookie: {cookies:?}");
            assert_eq!(sent.seen(), [true], "the dashboard request had no cookie");
        }
        Engine::WebKit => {
            browser.wait_for_heading("Unauthorized").await;
            browser.assert_status(401).await;
            assert!(!kept, "WebKit kept the Secure cookie: {cookies:?}");
            assert_eq!(sent.seen(), [false], "WebKit sent a session cookie");
        }
    }
}

/// The page's advice for Safari: through `local-https`, the same cookie arrives over
/// HTTPS, and every engine keeps it and sends it back.
#[tokio::test]
async fn through_local_https_the_login_sticks_in_every_engine() {
    // Arrange: the app behind the course's HTTPS proxy.
    let (folder, key) = folder_and_key();
    let sent = CookieSent::default();
    let server = serve(sent.record(app(&folder, &key).await)).await;
    let front = HttpsFront::start(server.addr).await;
    let driver = Driver::start().await;
    let browser = driver.new_browser().await;

    // Act
    log_in(&browser, &front.url("/login")).await;
    browser.goto(&front.url("/dashboard")).await;

    // Assert
    browser
        .wait_for_heading("Welcome user 1 to the dashboard")
        .await;
    assert_eq!(browser.url().await, front.url("/dashboard"));
    assert_eq!(sent.seen(), [true], "the dashboard request had no cookie");
    let cookie = browser
        .client()
        .get_named_cookie(COOKIE_NAME)
        .await
        .expect("the browser holds the session cookie");
    assert_eq!(cookie.secure(), Some(true), "{cookie}");
}
