//! Step 1 in a real browser: the visit counter lives in the session, so it counts per
//! browser.

use e2e::{Driver, serve};
use tower_sessions::MemoryStore;

#[tokio::test]
async fn reloading_the_counter_raises_it() {
    // Arrange
    let server = serve(step1_basic::app(MemoryStore::default())).await;
    let driver = Driver::start().await;
    let browser = driver.new_browser().await;
    browser.goto(&server.url("/")).await;
    browser.wait_for_heading("Welcome! First visit.").await;

    // Act
    browser.reload().await;

    // Assert
    browser.wait_for_heading("Number of visits: 2").await;
    browser.screenshot("step1-counter").await;
}

#[tokio::test]
async fn a_second_browser_starts_at_the_first_visit() {
    // Arrange: one browser has visited twice.
    let server = serve(step1_basic::app(MemoryStore::default())).await;
    let driver = Driver::start().await;
    let first = driver.new_browser().await;
    first.goto(&server.url("/")).await;
    first.goto(&server.url("/")).await;
    first.wait_for_heading("Number of visits: 2").await;

    // Act: another browser, with its own cookie jar, opens the same page.
    let second = driver.new_browser().await;
    second.goto(&server.url("/")).await;

    // Assert
    second.wait_for_heading("Welcome! First visit.").await;
}
