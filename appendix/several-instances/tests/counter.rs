//! The lesson: a session remembers one browser across requests, and only that browser.

mod common;

use common::{Browser, app};

#[tokio::test]
async fn the_first_visit_is_welcomed() {
    let mut browser = Browser::new(&app());

    let page = browser.get("/").await;

    assert_eq!(page.status, 200);
    assert!(page.body.contains("Welcome! First visit."), "{}", page.body);
}

#[tokio::test]
async fn the_second_visit_is_counted() {
    let mut browser = Browser::new(&app());

    browser.get("/").await;
    let page = browser.get("/").await;

    assert!(page.body.contains("Number of visits: 2"), "{}", page.body);
}

#[tokio::test]
async fn the_count_keeps_rising_with_each_visit() {
    let mut browser = Browser::new(&app());

    for _ in 0..4 {
        browser.get("/").await;
    }
    let page = browser.get("/").await;

    assert!(page.body.contains("Number of visits: 5"), "{}", page.body);
}

#[tokio::test]
async fn a_browser_without_the_cookie_starts_again() {
    let app = app();
    let mut with_cookie = Browser::new(&app);
    with_cookie.get("/").await;
    with_cookie.get("/").await;

    // Same server, same store, but no cookie: the server cannot tell who this is.
    let page = Browser::new(&app).get("/").await;

    assert!(page.body.contains("Welcome! First visit."), "{}", page.body);
}

#[tokio::test]
async fn two_browsers_have_separate_sessions() {
    let app = app();
    let mut alice = Browser::new(&app);
    let mut bob = Browser::new(&app);

    alice.get("/").await;
    alice.get("/").await;
    alice.get("/").await;
    let bobs_page = bob.get("/").await;
    let alices_page = alice.get("/").await;

    assert!(
        bobs_page.body.contains("Welcome! First visit."),
        "{}",
        bobs_page.body
    );
    assert!(
        alices_page.body.contains("Number of visits: 4"),
        "{}",
        alices_page.body
    );
    assert_ne!(
        alice.cookies(),
        bob.cookies(),
        "each browser has its own session id"
    );
}

#[tokio::test]
async fn the_cookie_holds_an_id_and_lives_for_the_idle_timeout() {
    let mut browser = Browser::new(&app());

    let page = browser.get("/").await;

    let cookie = page
        .set_cookies()
        .pop()
        .expect("the first visit sets a cookie");
    assert!(cookie.starts_with("__Host-session="), "{cookie}");
    assert!(
        cookie.contains("Max-Age=1799") || cookie.contains("Max-Age=1800"),
        "{cookie}"
    );
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("Secure"), "HTTPS only: {cookie}");
    assert!(
        !cookie.contains("views"),
        "the data stays on the server: {cookie}"
    );
}

#[tokio::test]
async fn the_panel_shows_what_the_session_holds() {
    let mut browser = Browser::new(&app());

    browser.get("/").await;
    let page = browser.get("/").await;

    assert!(
        page.body.contains("What the server knows about you"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<code>views</code></td><td><code>2</code>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Expires after 1800 s"), "{}", page.body);
}
