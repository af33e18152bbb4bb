//! Step 3 in a real browser: the "Log out" button destroys the session, so the dashboard
//! is closed to this browser again.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Request, State};
use axum::middleware::map_request_with_state;
use e2e::{Browser, Driver, Engine, Server, serve};
use tower_sessions::MemoryStore;

/// How many times the server was asked for the dashboard.
#[derive(Clone, Default)]
struct DashboardRequests(Arc<AtomicUsize>);

async fn count_dashboard(State(count): State<DashboardRequests>, request: Request) -> Request {
    if request.uri().path() == "/dashboard" {
        count.0.fetch_add(1, Ordering::SeqCst);
    }
    request
}

/// Step 3's app, counting its dashboard requests in `count`, a driver and one browser
/// logged in and on the dashboard.
async fn on_the_dashboard_counting(count: &DashboardRequests) -> (Server, Driver, Browser) {
    let app = step3_logout::app(MemoryStore::default())
        .layer(map_request_with_state(count.clone(), count_dashboard));
    let server = serve(app).await;
    let driver = Driver::start().await;
    let browser = driver.new_browser().await;
    browser.goto(&server.url("/login")).await;
    browser.fill("Username", "admin").await;
    browser.fill("Password", "1234").await;
    browser.click_button("Log in").await;
    browser.wait_for_heading("Logged in successfully").await;
    browser.goto(&server.url("/dashboard")).await;
    browser
        .wait_for_heading("Welcome user 1 to the dashboard")
        .await;
    (server, driver, browser)
}

/// Step 3's app, a driver and one browser logged in and on the dashboard.
async fn on_the_dashboard() -> (Server, Driver, Browser) {
    on_the_dashboard_counting(&DashboardRequests::default()).await
}

#[tokio::test]
async fn the_log_out_button_logs_out() {
    // Arrange
    let (_server, _driver, browser) = on_the_dashboard().await;
    browser.screenshot("step3-dashboard").await;

    // Act
    browser.click_button("Log out").await;

    // Assert
    browser.wait_for_heading("Logged out successfully").await;
    browser.screenshot("step3-logged-out").await;
}

#[tokio::test]
async fn after_logging_out_the_dashboard_is_unauthorized() {
    // Arrange
    let (server, _driver, browser) = on_the_dashboard().await;
    browser.click_button("Log out").await;
    browser.wait_for_heading("Logged out successfully").await;

    // Act
    browser.goto(&server.url("/dashboard")).await;

    // Assert
    browser.wait_for_heading("Unauthorized").await;
    browser.assert_status(401).await;
    browser.screenshot("step3-unauthorized").await;
}

/// A known gap of this step, kept visible by this test: the dashboard is sent without
/// `Cache-Control: no-store`, so the browser keeps a copy, and after logging out the back
/// button shows it again without asking the server. Where the copy comes from differs:
/// Chromium and WebKit keep the very page, live, in their back/forward cache; Firefox
/// draws it again from its HTTP cache. The session really is gone (a reload says so), but
/// the page still shows what it showed, which matters on a shared computer. The hardened
/// step sends `no-store`, and its test turns the first assertion around. If this test
/// fails because the copy is no longer shown, this step got that fix: turn the assertion
/// around here too.
#[tokio::test]
async fn the_back_button_after_logging_out_shows_only_a_stale_copy_of_the_dashboard() {
    // Arrange
    let count = DashboardRequests::default();
    let (_server, _driver, browser) = on_the_dashboard_counting(&count).await;
    browser.mark_page().await;
    browser.click_button("Log out").await;
    browser.wait_for_heading("Logged out successfully").await;
    let asked = count.0.load(Ordering::SeqCst);

    // Act
    browser.back().await;

    // Assert: the dashboard again, without asking the server...
    browser
        .wait_for_heading("Welcome user 1 to the dashboard")
        .await;
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        asked,
        "the back button asked the server for the dashboard",
    );
    let restored = browser.is_marked_page().await;
    match browser.engine() {
        Engine::Chromium | Engine::WebKit => assert!(
            restored,
            "the back button showed the dashboard, but not from the back/forward cache",
        ),
        Engine::Firefox => assert!(
            !restored,
            "Firefox restored the dashboard from its back/forward cache, not its HTTP cache",
        ),
    }
    // ...and the server refuses it as soon as the browser asks again.
    browser.reload().await;
    browser.wait_for_heading("Unauthorized").await;
    browser.assert_status(401).await;
}
