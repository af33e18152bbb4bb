//! Exercise 3.2, "Redirect after logout": `POST /logout` answers a browser with
//! `303 See Other` to `/login`, and still ends the session on both sides.

mod common;

use axum::body::Body;
use axum::http::{Request, header};
use common::{Browser, app};

const GOOD_FORM: &str = "username=admin&password=1234";

fn logout_request() -> Request<Body> {
    Request::post("/logout")
        .body(Body::empty())
        .expect("valid request")
}

#[tokio::test]
async fn logout_redirects_to_the_login_form() {
    let mut browser = Browser::new(&app());
    browser.post_form("/login", GOOD_FORM).await;

    let page = browser.send(logout_request()).await;

    assert!(
        page.status == 303,
        "POST /logout should answer 303 See Other, but it answers {}",
        page.status
    );
    assert!(
        page.headers
            .get(header::LOCATION)
            .is_some_and(|location| location == "/login"),
        "POST /logout should redirect to /login (Location: /login), but it has Location {:?}",
        page.headers.get(header::LOCATION)
    );
}

#[tokio::test]
async fn the_redirect_still_ends_the_session() {
    let mut browser = Browser::new(&app());
    browser.post_form("/login", GOOD_FORM).await;

    let page = browser.send(logout_request()).await;
    let dashboard = browser.get("/dashboard").await;

    assert!(
        page.set_cookies().iter().any(|c| c.contains("Max-Age=0")),
        "the redirect should still tell the browser to drop its cookie (a Set-Cookie with Max-Age=0)"
    );
    assert!(
        dashboard.status == 401,
        "after the redirect, the dashboard should answer 401: the session must still be deleted"
    );
}
