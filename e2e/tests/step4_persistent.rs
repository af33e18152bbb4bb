//! Step 4 in a real browser: sessions live in a SQLite file, so a browser stays logged in
//! when the server restarts.

use e2e::{Driver, serve};
use step4_persistent::store;

#[tokio::test]
async fn a_logged_in_browser_is_still_logged_in_after_a_server_restart() {
    // Arrange: a browser logged in to a server whose sessions are in a database file.
    let folder = tempfile::tempdir().expect("a temporary folder for the database");
    let database = format!("sqlite://{}", folder.path().join("sessions.db").display());
    let open = || async {
        store::open(&database)
            .await
            .expect("the session database opens")
    };
    let server = serve(step4_persistent::app(open().await)).await;
    let driver = Driver::start().await;
    let browser = driver.new_browser().await;
    browser.goto(&server.url("/login")).await;
    browser.fill("Username", "admin").await;
    browser.fill("Password", "1234").await;
    browser.click_button("Log in").await;
    browser.wait_for_heading("Logged in successfully").await;

    // Act: a new server process in all but name, with only the database file in common.
    let server = server.restart(step4_persistent::app(open().await)).await;
    browser.goto(&server.url("/dashboard")).await;

    // Assert
    browser
        .wait_for_heading("Welcome user 1 to the dashboard")
        .await;
    browser.screenshot("step4-dashboard-after-restart").await;
}
