//! Step 3 in a real browser: the "Log out" button destroys the session, so the dashboard
//! is closed to this browser again.

use e2e::{Browser, Chromedriver, Server, serve};
use tower_sessions::MemoryStore;

/// Step 3's app, a chromedriver and one browser logged in and on the dashboard.
async fn on_the_dashboard() -> (Server, Chromedriver, Browser) {
    let server = serve(step3_logout::app(MemoryStore::default())).await;
    let driver = Chromedriver::start().await;
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
    assert_eq!(browser.status().await, 401);
    browser.screenshot("step3-unauthorized").await;
}

/// A known gap of this step, kept visible by this test: the dashboard is sent without
/// `Cache-Control: no-store`, so Chromium keeps it in its back/forward cache, and after
/// logging out the back button shows it again without asking the server. The session
/// really is gone (a reload says so), but the page still shows what it showed, which
/// matters on a shared computer. The hardened step sends `no-store`, and its test turns
/// the first assertion around. If this test fails because the copy is no longer shown,
/// this step got that fix: turn the assertion around here too.
#[tokio::test]
async fn the_back_button_after_logging_out_shows_only_a_stale_copy_of_the_dashboard() {
    // Arrange
    let (_server, _driver, browser) = on_the_dashboard().await;
    browser.mark_page().await;
    browser.click_button("Log out").await;
    browser.wait_for_heading("Logged out successfully").await;

    // Act
    browser.back().await;

    // Assert: the very document from before, restored without asking the server...
    browser
        .wait_for_heading("Welcome user 1 to the dashboard")
        .await;
    assert!(
        browser.is_marked_page().await,
        "the back button showed the dashboard, but not from the back/forward cache",
    );
    // ...and the server refuses it as soon as the browser asks again.
    browser.reload().await;
    browser.wait_for_heading("Unauthorized").await;
    assert_eq!(browser.status().await, 401);
}
