//! Step 5 in a real browser: the protections of the hardened step seen from where they
//! matter, a browser. The cookie is out of reach of page scripts, a form on another site
//! is refused, logging out removes it, the back button does not bring a logged-out
//! dashboard back, and a login survives a restart.
//!
//! The app is reached at `http://localhost:...`: its `__Host-` cookie is `Secure`, and
//! browsers accept `Secure` cookies over plain HTTP only from a secure context, which
//! `localhost` is.

use std::time::Duration;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use e2e::{Browser, Chromedriver, Server, serve};
use fantoccini::Locator;
use serde_json::Value;
use step5_hardened::{COOKIE_NAME, Settings, store};
use tempfile::TempDir;
use tower_sessions::cookie::Key;

/// Step 5's app on a fresh session database in `folder`, signing cookies with `key`.
/// Serving it again with the same folder and key is a restart of the same server.
async fn app(folder: &TempDir, key: &Key) -> Router {
    app_with(folder, Settings::new(key.clone())).await
}

/// [`app`] with settings of the test's choosing.
async fn app_with(folder: &TempDir, settings: Settings) -> Router {
    let database = format!("sqlite://{}", folder.path().join("sessions.db").display());
    let store = store::open(&database)
        .await
        .expect("the session database opens");
    step5_hardened::app(store, settings)
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

/// Logs `browser` in through the form and waits for the answer.
async fn log_in(browser: &Browser, server: &Server) {
    browser.goto(&server.url("/login")).await;
    submit_login(browser, "admin", "1234").await;
    browser.wait_for_heading("Logged in successfully").await;
}

/// Takes a screenshot of a page whose session panel is showing.
///
/// The panel lists the session's CSRF token (random), its start time and the time its row
/// was last written (Unix timestamps): shown as they are, every run would produce a
/// different PNG and a needless change in git. So just before the shot those values are replaced
/// with bullets of the same length, in the browser's copy of the page only: nothing
/// the tests assert on is changed, and the layout stays as it really is.
async fn screenshot_with_panel(browser: &Browser, name: &str) {
    let masked = browser
        .client()
        .execute(
            "let masked = 0;\
             for (const row of document.querySelectorAll('.panel tbody tr')) {\
               const [key, value] = row.querySelectorAll('code');\
               if (key && value && ['csrf_token', 'started_at', 'touched_at'].includes(key.textContent)) {\
                 value.textContent = value.textContent.replace(/[^\"]/g, '\u{2022}');\
                 masked += 1;\
               }\
             }\
             return masked;",
            vec![],
        )
        .await
        .expect("the page runs a script");
    // The three are in every logged-in or form-showing session; if the panel ever stops
    // showing one, this says so instead of leaving a screenshot that changes.
    assert_eq!(
        masked,
        Value::from(3),
        "the panel should show a csrf_token, a started_at and a touched_at to mask before {name}",
    );
    browser.screenshot(name).await;
}

#[tokio::test]
async fn logging_in_through_the_form_opens_the_dashboard() {
    // Arrange
    let (folder, key) = folder_and_key();
    let server = serve(app(&folder, &key).await).await;
    let driver = Chromedriver::start().await;
    let browser = driver.new_browser().await;
    browser.goto(&server.url("/login")).await;
    browser.wait_for_heading("Log in").await;
    // The form carries the session's CSRF token, which the browser sends back unseen.
    let token = browser
        .client()
        .find(Locator::Css("form input[type=hidden][name=_csrf]"))
        .await
        .expect("the login form has a hidden CSRF field")
        .attr("value")
        .await
        .expect("the CSRF field can be read");
    assert!(
        token.as_ref().is_some_and(|token| token.len() >= 32),
        "the CSRF field should hold a long random token, not {token:?}",
    );
    screenshot_with_panel(&browser, "step5-login").await;

    // Act: a real browser sends `Origin` and `Sec-Fetch-Site` as it sees fit, under the
    // page's `Referrer-Policy`; the CSRF guard must let the site's own form through.
    submit_login(&browser, "admin", "1234").await;
    browser.wait_for_heading("Logged in successfully").await;
    browser.click_link("Go to the dashboard").await;

    // Assert
    browser
        .wait_for_heading("Welcome user 1 to the dashboard")
        .await;
    assert_eq!(browser.status().await, 200);
    screenshot_with_panel(&browser, "step5-dashboard").await;
}

#[tokio::test]
async fn page_scripts_cannot_read_the_session_cookie() {
    // Arrange: a logged-in browser, plus an ordinary cookie set by a page script, to
    // show that `document.cookie` works and only the session cookie is missing from it.
    let (folder, key) = folder_and_key();
    let server = serve(app(&folder, &key).await).await;
    let driver = Chromedriver::start().await;
    let browser = driver.new_browser().await;
    log_in(&browser, &server).await;
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

/// A stranger's page, served from `http://127.0.0.1:...`, with a harmless-looking
/// button that posts a form to the app's `/logout`, with a made-up CSRF token.
fn attacker_site(logout_url: &str) -> Router {
    let page = format!(
        "<!doctype html>\
         <title>Free prize</title>\
         <h1>You have won a prize!</h1>\
         <form method=\"post\" action=\"{logout_url}\">\
           <input type=\"hidden\" name=\"_csrf\" value=\"guessed\">\
           <button type=\"submit\">Claim it</button>\
         </form>"
    );
    Router::new().route("/", get(move || async move { Html(page) }))
}

#[tokio::test]
async fn a_form_posted_from_another_site_is_refused() {
    // Arrange: a logged-in browser visits another site.
    let (folder, key) = folder_and_key();
    let server = serve(app(&folder, &key).await).await;
    let attacker = serve(attacker_site(&server.url("/logout"))).await;
    let driver = Chromedriver::start().await;
    let browser = driver.new_browser().await;
    log_in(&browser, &server).await;
    browser.goto(&attacker.url_by_ip("/")).await;
    browser.wait_for_heading("You have won a prize!").await;

    // Act
    browser.click_button("Claim it").await;

    // Assert: refused, and by the origin check. (The `SameSite=Lax` cookie did not even
    // travel with this cross-site POST; the browser's `Sec-Fetch-Site: cross-site`
    // header is what the server refuses.)
    browser.wait_for_heading("Forbidden").await;
    browser
        .wait_for_text("This form was sent from another site.")
        .await;
    assert_eq!(browser.status().await, 403);
    browser.screenshot("step5-forbidden").await;
    // ...and the user is still logged in.
    browser.goto(&server.url("/dashboard")).await;
    browser
        .wait_for_heading("Welcome user 1 to the dashboard")
        .await;
}

/// tower-sessions writes the cookie that deletes the session cookie without `Secure`,
/// and a browser refuses every `__Host-` cookie without it, the deleting one included:
/// the dead cookie would stay. The app gives the removal the attributes the cookie was
/// set with; here a real browser shows that it obeys.
#[tokio::test]
async fn logging_out_removes_the_cookie_from_the_browser() {
    // Arrange
    let (folder, key) = folder_and_key();
    let server = serve(app(&folder, &key).await).await;
    let driver = Chromedriver::start().await;
    let browser = driver.new_browser().await;
    log_in(&browser, &server).await;
    browser.goto(&server.url("/dashboard")).await;
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
    let server = serve(app(&folder, &key).await).await;
    let driver = Chromedriver::start().await;
    let browser = driver.new_browser().await;
    log_in(&browser, &server).await;
    browser.goto(&server.url("/dashboard")).await;
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
    assert_eq!(browser.status().await, 401);
}

#[tokio::test]
async fn too_many_wrong_passwords_lock_the_account_even_for_the_right_one() {
    // Arrange: five wrong passwords, the number the default limits allow. The first
    // lock lasts 1 s by default, which a busy machine can spend between two clicks;
    // here it lasts long enough that the next attempt surely meets it.
    let (folder, key) = folder_and_key();
    let mut settings = Settings::new(key);
    settings.throttle.first_delay = Duration::from_secs(10 * 60);
    let allowed = settings.throttle.account_failures;
    let server = serve(app_with(&folder, settings).await).await;
    let driver = Chromedriver::start().await;
    let browser = driver.new_browser().await;
    for _ in 0..allowed {
        // A fresh form each time, so the error that appears is this attempt's own.
        browser.goto(&server.url("/login")).await;
        submit_login(&browser, "admin", "wrong").await;
        browser.wait_for_text("Invalid credentials").await;
        assert_eq!(browser.status().await, 401);
    }

    // Act: now the right password.
    browser.goto(&server.url("/login")).await;
    submit_login(&browser, "admin", "1234").await;

    // Assert: refused all the same, or the lock would tell a guesser when they hit it.
    browser.wait_for_heading("Too many attempts").await;
    assert_eq!(browser.status().await, 429);
    browser.screenshot("step5-too-many-attempts").await;
}

#[tokio::test]
async fn a_logged_in_browser_is_still_logged_in_after_a_server_restart() {
    // Arrange
    let (folder, key) = folder_and_key();
    let server = serve(app(&folder, &key).await).await;
    let driver = Chromedriver::start().await;
    let browser = driver.new_browser().await;
    log_in(&browser, &server).await;

    // Act: a new server in all but name, sharing only the database file and the key.
    let server = server.restart(app(&folder, &key).await).await;
    browser.goto(&server.url("/dashboard")).await;

    // Assert
    browser
        .wait_for_heading("Welcome user 1 to the dashboard")
        .await;
}
