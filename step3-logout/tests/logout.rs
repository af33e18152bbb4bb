//! The lesson: logging out destroys the session on the server and in the browser.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::{Browser, Operation, TestStore, app, app_on};

const GOOD_FORM: &str = "username=admin&password=1234";

fn logout_request() -> Request<Body> {
    Request::post("/logout")
        .body(Body::empty())
        .expect("valid request")
}

#[tokio::test]
async fn the_dashboard_has_a_logout_button() {
    let mut browser = Browser::new(&app());
    browser.post_form("/login", GOOD_FORM).await;

    let page = browser.get("/dashboard").await;

    assert!(
        page.body
            .contains(r#"<form method="post" action="/logout">"#),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn logging_out_ends_the_login() {
    let mut browser = Browser::new(&app());
    browser.post_form("/login", GOOD_FORM).await;

    let page = browser.send(logout_request()).await;
    let dashboard = browser.get("/dashboard").await;

    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Logged out successfully"),
        "{}",
        page.body
    );
    assert_eq!(dashboard.status, 401);
}

#[tokio::test]
async fn the_logout_response_tells_the_browser_to_drop_the_cookie() {
    let mut browser = Browser::new(&app());
    browser.post_form("/login", GOOD_FORM).await;

    let page = browser.send(logout_request()).await;

    let cookie = page.set_cookies().pop().expect("logout sends a Set-Cookie");
    assert!(cookie.starts_with("id=;"), "the value is emptied: {cookie}");
    assert!(
        cookie.contains("Max-Age=0"),
        "and expires at once: {cookie}"
    );
    assert!(browser.cookies().is_empty(), "{:?}", browser.cookies());
}

#[tokio::test]
async fn replaying_the_old_cookie_after_logout_is_anonymous() {
    let app = app();
    let mut browser = Browser::new(&app);
    browser.get("/").await;
    browser.post_form("/login", GOOD_FORM).await;
    let stolen = browser.session_cookie().expect("logged in");

    browser.send(logout_request()).await;
    let mut attacker = Browser::new(&app);
    attacker.set_session_cookie(&stolen);
    let dashboard = attacker.get("/dashboard").await;
    let counter = attacker.get("/").await;

    assert_eq!(
        dashboard.status, 401,
        "the session was deleted on the server"
    );
    assert!(
        counter.body.contains("Welcome! First visit."),
        "{}",
        counter.body
    );
}

#[tokio::test]
async fn the_page_after_logout_shows_an_empty_session() {
    let mut browser = Browser::new(&app());
    browser.post_form("/login", GOOD_FORM).await;

    let page = browser.send(logout_request()).await;

    assert!(
        page.body.contains("this browser has no session yet"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn logout_cannot_be_triggered_by_a_get() {
    let mut browser = Browser::new(&app());
    browser.post_form("/login", GOOD_FORM).await;

    let page = browser.get("/logout").await;

    assert_eq!(page.status, 405);
    assert_eq!(
        browser.get("/dashboard").await.status,
        200,
        "still logged in"
    );
}

#[tokio::test]
async fn logging_out_without_a_session_is_harmless() {
    let mut browser = Browser::new(&app());

    let page = browser.send(logout_request()).await;

    assert_eq!(page.status, 200);
    assert!(page.set_cookies().is_empty(), "{:?}", page.set_cookies());
}

#[tokio::test]
async fn a_store_failure_during_logout_says_could_not_log_out_and_keeps_the_login() {
    let store = TestStore::default();
    let mut browser = Browser::new(&app_on(store.clone()));
    browser.post_form("/login", GOOD_FORM).await;

    store.fail(&[Operation::Delete]);
    let failed = browser.send(logout_request()).await;
    store.recover();
    let dashboard = browser.get("/dashboard").await;

    assert_eq!(failed.status, 500);
    assert!(failed.body.contains("Could not log out"), "{}", failed.body);
    assert!(
        !failed.body.contains("the test made"),
        "no internals: {}",
        failed.body
    );
    assert_eq!(
        dashboard.status, 200,
        "nothing was lost: {}",
        dashboard.body
    );
}

#[tokio::test]
async fn after_the_store_recovers_logout_works() {
    let store = TestStore::default();
    let mut browser = Browser::new(&app_on(store.clone()));
    browser.post_form("/login", GOOD_FORM).await;
    store.fail(&[Operation::Delete]);
    browser.send(logout_request()).await;

    store.recover();
    let page = browser.send(logout_request()).await;

    assert!(
        page.body.contains("Logged out successfully"),
        "{}",
        page.body
    );
    assert_eq!(browser.get("/dashboard").await.status, 401);
}
