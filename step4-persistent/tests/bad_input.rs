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

#[tokio::test]
async fn a_login_with_a_missing_field_is_a_4xx_page() {
    let page = Browser::new(&app())
        .post_form("/login", "username=admin")
        .await;

    assert_eq!(page.status, 422);
    assert!(
        page.body.contains("password"),
        "says which field: {}",
        page.body
    );
}

#[tokio::test]
async fn malformed_json_is_400() {
    let page = Browser::new(&app())
        .post_json("/login", r#"{"username": "admin", "#)
        .await;

    assert_eq!(page.status, 400);
    assert!(page.body.contains("Bad request"), "{}", page.body);
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_422() {
    let page = Browser::new(&app())
        .post_json("/login", r#"{"username": 1, "password": []}"#)
        .await;

    assert_eq!(page.status, 422);
}

#[tokio::test]
async fn a_login_in_plain_text_is_415() {
    let page = Browser::new(&app())
        .post("/login", "text/plain", "admin 1234")
        .await;

    assert_eq!(page.status, 415);
    assert!(
        page.body.contains("application/json"),
        "says what to send: {}",
        page.body
    );
}

#[tokio::test]
async fn a_login_without_a_content_type_is_415() {
    let request = Request::post("/login")
        .body(Body::from("username=admin"))
        .expect("valid");

    let page = Browser::new(&app()).send(request).await;

    assert_eq!(page.status, 415);
}

#[tokio::test]
async fn a_form_that_is_not_utf8_is_a_4xx_page() {
    let body = b"username=\xff\xfe&password=1234".to_vec();

    let page = Browser::new(&app())
        .post("/login", "application/x-www-form-urlencoded", body)
        .await;

    assert!(page.status.is_client_error(), "{}", page.status);
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let body = format!(
        "username=admin&password={}",
        "x".repeat(step4_persistent::BODY_LIMIT)
    );

    let page = Browser::new(&app()).post_form("/login", &body).await;

    assert_eq!(page.status, 413);
    assert!(page.body.contains("Request too large"), "{}", page.body);
}

#[tokio::test]
async fn a_typed_username_is_shown_back_escaped() {
    let body = "username=%3Cscript%3Ealert(1)%3C%2Fscript%3E&password=x";

    let page = Browser::new(&app()).post_form("/login", body).await;

    assert_eq!(page.status, 401);
    assert!(
        !page.body.contains("<script>alert(1)</script>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("&#60;script&#62;") || page.body.contains("&lt;script&gt;"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn json_details_are_escaped_in_the_error_page() {
    let page = Browser::new(&app())
        .post_json("/login", r#"{"<b>": 1"#)
        .await;

    assert!(page.status.is_client_error());
    assert!(!page.body.contains("<b>"), "{}", page.body);
}
