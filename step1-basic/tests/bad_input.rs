//! Whatever a browser sends, the server answers with a page, never a crash or a 5xx.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::{Browser, app};

#[tokio::test]
async fn a_garbled_session_cookie_is_treated_as_no_session() {
    let mut browser = Browser::new(&app());
    browser.set_session_cookie("%%%not-an-id%%%");

    let page = browser.get("/").await;

    assert_eq!(page.status, 200);
    assert!(page.body.contains("Welcome! First visit."), "{}", page.body);
}

#[tokio::test]
async fn an_id_the_server_never_issued_is_not_adopted() {
    let mut browser = Browser::new(&app());
    // Well-formed (22 base64url characters) but unknown to the store.
    browser.set_session_cookie("AAAAAAAAAAAAAAAAAAAAAA");

    let page = browser.get("/").await;

    assert!(page.body.contains("Welcome! First visit."), "{}", page.body);
    let cookie = browser.session_cookie().expect("a new session was issued");
    assert_ne!(cookie, "AAAAAAAAAAAAAAAAAAAAAA");
}

#[tokio::test]
async fn an_unknown_path_gets_a_404_page() {
    let page = Browser::new(&app()).get("/no/such/page").await;

    assert_eq!(page.status, 404);
    assert!(page.body.contains("Page not found"), "{}", page.body);
}

#[tokio::test]
async fn a_post_to_the_counter_is_refused_with_405() {
    let request = Request::post("/")
        .body(Body::from("views=1000"))
        .expect("valid request");

    let page = Browser::new(&app()).send(request).await;

    assert_eq!(page.status, 405);
    assert!(page.body.contains("Method not allowed"), "{}", page.body);
}

#[tokio::test]
async fn the_stylesheet_is_served_from_any_working_directory() {
    let page = Browser::new(&app()).get("/style.css").await;

    assert_eq!(page.status, 200);
    assert_eq!(page.headers["content-type"], "text/css; charset=utf-8");
    assert!(page.body.contains("body"));
}
