//! Exercise 1.2, "A reset button": `POST /reset` sets the visit count back to zero, and the
//! counter page has a button that sends it.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::{Browser, app};

fn reset_request() -> Request<Body> {
    Request::post("/reset")
        .body(Body::empty())
        .expect("valid request")
}

#[tokio::test]
async fn resetting_starts_the_count_again() {
    let mut browser = Browser::new(&app());
    for _ in 0..3 {
        browser.get("/").await;
    }

    let reset = browser.send(reset_request()).await;
    let counter = browser.get("/").await;

    assert!(
        reset.status.is_success() || reset.status.is_redirection(),
        "POST /reset should work (a page or a redirect), but it answers {}",
        reset.status
    );
    assert!(
        !matches!(reset.status.as_u16(), 307 | 308),
        "POST /reset answers {}, which tells the browser to send the POST again, to /, where it gets a 405 page: answer with Redirect::to(\"/\"), a 303 See Other, which the browser follows with a GET",
        reset.status
    );
    assert!(
        counter.body.contains("Welcome! First visit."),
        "after POST /reset the next visit to / should be the first again: expected 'Welcome! First visit.'"
    );
}

#[tokio::test]
async fn the_reset_clears_the_stored_count() {
    let app = app();
    let mut browser = Browser::new(&app);
    for _ in 0..3 {
        browser.get("/").await;
    }
    let cookie = browser
        .session_cookie()
        .expect("the counter sets a session cookie");

    browser.send(reset_request()).await;
    // A browser that keeps its cookie (a second tab, or one that ignores the expiry)
    // still brings the same session id: what the store holds under it is what counts.
    let mut same_session = Browser::new(&app);
    same_session.set_session_cookie(&cookie);
    let counter = same_session.get("/").await;

    assert!(
        counter.body.contains("Welcome! First visit."),
        "POST /reset should clear the count in the session the server stores, not only tell the browser to forget its cookie: the same session id still counts on after the reset"
    );
}

/// Whether `html` has a `<form>` that posts to `/reset`, whatever the order, case and
/// quotes of its attributes (`<form action="/reset" method="post">` is as good).
fn has_reset_form(html: &str) -> bool {
    let lower = html.to_ascii_lowercase();
    lower.match_indices("<form").any(|(at, _)| {
        let tag = lower[at + "<form".len()..]
            .split('>')
            .next()
            .unwrap_or_default();
        let attribute = |name: &str| {
            tag.split_whitespace().find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                (key == name).then(|| value.trim_matches(['"', '\'', '/']).to_string())
            })
        };
        attribute("method").as_deref() == Some("post")
            && attribute("action").as_deref() == Some("reset")
    })
}

#[tokio::test]
async fn the_counter_page_has_a_reset_button() {
    let page = Browser::new(&app()).get("/").await;

    assert!(
        has_reset_form(&page.body),
        r#"the counter page should have a reset button: a <form method="post" action="/reset">"#
    );
}

#[tokio::test]
async fn a_get_does_not_reset() {
    let mut browser = Browser::new(&app());
    browser.get("/").await;
    browser.send(reset_request()).await;
    browser.get("/").await;

    let get = browser.get("/reset").await;
    let counter = browser.get("/").await;

    assert!(
        get.status == 405,
        "GET /reset should be refused with 405 Method Not Allowed (a link or a prefetch must not reset), but it answers {}",
        get.status
    );
    assert!(
        counter.body.contains("Number of visits: 2"),
        "a GET /reset should leave the count alone: expected 'Number of visits: 2'"
    );
}
