//! Exercise 2.3, "Redirect instead of 401": a browser that is not logged in is sent to the
//! login form; a client that asks for anything but HTML still gets `401`.

mod common;

use axum::body::Body;
use axum::http::{Request, header};
use common::{Browser, app};

const GOOD_FORM: &str = "username=admin&password=1234";

/// `GET /dashboard` with the `Accept` header a browser or an API client sends.
fn dashboard(accept: &str) -> Request<Body> {
    Request::get("/dashboard")
        .header(header::ACCEPT, accept)
        .body(Body::empty())
        .expect("valid request")
}

const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

#[tokio::test]
async fn a_browser_is_sent_to_the_login_form() {
    let page = Browser::new(&app()).send(dashboard(BROWSER)).await;

    assert!(
        page.status == 303,
        "GET /dashboard from a browser (Accept: text/html...) without a login should answer 303 See Other, but it answers {}",
        page.status
    );
    assert!(
        page.headers
            .get(header::LOCATION)
            .is_some_and(|location| location == "/login"),
        "the redirect should go to /login (Location: /login), but it has Location {:?}",
        page.headers.get(header::LOCATION)
    );
}

#[tokio::test]
async fn an_api_client_still_gets_401() {
    let json = Browser::new(&app())
        .send(dashboard("application/json"))
        .await;
    let no_accept = Browser::new(&app()).get("/dashboard").await;
    // What curl sends: anything will do, which is not asking for a web page.
    let anything = Browser::new(&app()).send(dashboard("*/*")).await;

    assert!(
        json.status == 401,
        "GET /dashboard with Accept: application/json and no login should still answer 401, but it answers {}",
        json.status
    );
    assert!(
        no_accept.status == 401,
        "GET /dashboard without an Accept header and no login should still answer 401, but it answers {}",
        no_accept.status
    );
    assert!(
        anything.status == 401,
        "GET /dashboard with Accept: */* (what curl sends) and no login should still answer 401, but it answers {}",
        anything.status
    );
}

#[tokio::test]
async fn a_logged_in_browser_gets_the_dashboard() {
    let mut browser = Browser::new(&app());
    browser.post_form("/login", GOOD_FORM).await;

    let page = browser.send(dashboard(BROWSER)).await;

    assert!(
        page.status == 200,
        "GET /dashboard from a logged-in browser should be the dashboard (200), but it answers {}",
        page.status
    );
}

#[tokio::test]
async fn a_browser_with_a_wrong_password_is_told_so() {
    let login = Request::post("/login")
        .header(header::ACCEPT, BROWSER)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("username=admin&password=wrong"))
        .expect("valid request");

    let page = Browser::new(&app()).send(login).await;

    assert!(
        page.status == 401 && page.body.contains("Invalid credentials"),
        "a browser that posts a wrong password should still get the login form saying 'Invalid credentials' (401), but it gets {}: only the protected pages send a browser to the form, a failed login must say why it failed",
        page.status
    );
}
