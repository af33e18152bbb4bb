//! Exercise 3.1, "Log out everywhere": `POST /logout-everywhere` ends every session of the
//! logged-in user, in every browser, not only the one that asked.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::{Browser, app};

const GOOD_FORM: &str = "username=admin&password=1234";

fn logout_everywhere() -> Request<Body> {
    Request::post("/logout-everywhere")
        .body(Body::empty())
        .expect("valid request")
}

#[tokio::test]
async fn logging_out_everywhere_ends_the_other_browsers_login_too() {
    let app = app();
    let mut laptop = Browser::new(&app);
    let mut phone = Browser::new(&app);
    laptop.post_form("/login", GOOD_FORM).await;
    phone.post_form("/login", GOOD_FORM).await;

    let page = laptop.send(logout_everywhere()).await;

    assert!(
        page.status.is_success() || page.status.is_redirection(),
        "POST /logout-everywhere from a logged-in browser should work (a page or a redirect), but it answers {}",
        page.status
    );
    assert!(
        laptop.get("/dashboard").await.status == 401,
        "after POST /logout-everywhere, the browser that sent it should be logged out (its dashboard 401)"
    );
    assert!(
        phone.get("/dashboard").await.status == 401,
        "after POST /logout-everywhere in one browser, the user's other browser should be logged out too (its dashboard 401)"
    );
}

#[tokio::test]
async fn the_user_can_log_in_again_afterwards() {
    let app = app();
    let mut laptop = Browser::new(&app);
    let mut phone = Browser::new(&app);
    laptop.post_form("/login", GOOD_FORM).await;
    phone.post_form("/login", GOOD_FORM).await;
    laptop.send(logout_everywhere()).await;

    let mut tablet = Browser::new(&app);
    tablet.post_form("/login", GOOD_FORM).await;

    assert!(
        tablet.get("/dashboard").await.status == 200,
        "a login after POST /logout-everywhere should work as usual (its dashboard 200)"
    );
    assert!(
        phone.get("/dashboard").await.status == 401,
        "a browser logged out by POST /logout-everywhere should stay logged out when the user logs in again elsewhere: its session must be ended, not marked with a flag the next login lifts (its dashboard 401)"
    );
}

#[tokio::test]
async fn logging_out_everywhere_needs_a_login_and_a_post() {
    let mut stranger = Browser::new(&app());

    let anonymous = stranger.send(logout_everywhere()).await;
    let get = stranger.get("/logout-everywhere").await;

    assert!(
        anonymous.status == 401,
        "POST /logout-everywhere without a login should answer 401 (nobody to log out), but it answers {}",
        anonymous.status
    );
    assert!(
        get.status == 405,
        "GET /logout-everywhere should be refused with 405, like GET /logout, but it answers {}",
        get.status
    );
}
