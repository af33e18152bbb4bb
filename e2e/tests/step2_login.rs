//! Step 2 in a real browser: the login form puts the user's id in the session, and the
//! dashboard lets in only a session that has one.

use e2e::{Browser, Driver, Server, serve};
use tower_sessions::MemoryStore;

/// Step 2's app, a driver and one browser on the login form.
async fn on_the_login_form() -> (Server, Driver, Browser) {
    let server = serve(step2_login::app(MemoryStore::default())).await;
    let driver = Driver::start().await;
    let browser = driver.new_browser().await;
    browser.goto(&server.url("/login")).await;
    browser.wait_for_heading("Log in").await;
    (server, driver, browser)
}

#[tokio::test]
async fn logging_in_through_the_form_opens_the_dashboard() {
    // Arrange
    let (_server, _driver, browser) = on_the_login_form().await;
    browser.screenshot("step2-login").await;

    // Act
    browser.fill("Username", "admin").await;
    browser.fill("Password", "1234").await;
    browser.click_button("Log in").await;
    browser.wait_for_heading("Logged in successfully").await;
    browser.click_link("Go to the dashboard").await;

    // Assert
    browser
        .wait_for_heading("Welcome user 1 to the dashboard")
        .await;
    browser.assert_status(200).await;
    browser.screenshot("step2-dashboard").await;
}

#[tokio::test]
async fn a_wrong_password_shows_invalid_credentials() {
    // Arrange
    let (_server, _driver, browser) = on_the_login_form().await;

    // Act
    browser.fill("Username", "admin").await;
    browser.fill("Password", "wrong").await;
    browser.click_button("Log in").await;

    // Assert: still the form, now with the error, and no way into the dashboard.
    browser.wait_for_text("Invalid credentials").await;
    browser.wait_for_heading("Log in").await;
    browser.assert_status(401).await;
    browser.screenshot("step2-login-error").await;
}
