//! Exercise 2.2, "A second protected page": `GET /profile` is for logged-in sessions only,
//! like `/dashboard`, and answers everybody else with the same 401 page.

mod common;

use common::{Browser, app};

const GOOD_FORM: &str = "username=admin&password=1234";

#[tokio::test]
async fn the_profile_shows_the_logged_in_user() {
    let mut browser = Browser::new(&app());
    browser.post_form("/login", GOOD_FORM).await;

    let profile = browser.get("/profile").await;

    assert!(
        profile.status == 200,
        "GET /profile after logging in should be a page, but it answers {}",
        profile.status
    );
    assert!(
        profile.body.contains("Profile of user 1"),
        "GET /profile after logging in should say 'Profile of user 1'"
    );
}

#[tokio::test]
async fn the_profile_is_unauthorized_without_login() {
    let page = Browser::new(&app()).get("/profile").await;
    let dashboard = Browser::new(&app()).get("/dashboard").await;

    assert!(
        page.status == 401,
        "GET /profile without logging in should answer 401 Unauthorized, but it answers {}",
        page.status
    );
    // The whole page, not one word of it: every page's menu links to /login, so only the
    // same page proves the same rejection (`AppError::Unauthorized`).
    assert!(
        page.body == dashboard.body,
        "GET /profile without logging in should answer with the same 401 page as /dashboard (AppError::Unauthorized: \"This page is only for logged-in users.\"), but its page is different"
    );
}

#[tokio::test]
async fn the_dashboard_is_still_protected() {
    let mut browser = Browser::new(&app());

    let anonymous = browser.get("/dashboard").await;
    browser.post_form("/login", GOOD_FORM).await;
    let logged_in = browser.get("/dashboard").await;

    assert!(
        anonymous.status == 401,
        "GET /dashboard without logging in should still answer 401, but it answers {}",
        anonymous.status
    );
    assert!(
        logged_in.body.contains("Welcome user 1 to the dashboard"),
        "GET /dashboard after logging in should still say 'Welcome user 1 to the dashboard'"
    );
}

/// Every `.rs` file under `dir`, as text.
fn sources(dir: &std::path::Path) -> Vec<String> {
    let mut texts = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src/ can be read") {
        let path = entry.expect("src/ can be read").path();
        if path.is_dir() {
            texts.extend(sources(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            texts.push(std::fs::read_to_string(&path).expect("a source file can be read"));
        }
    }
    texts
}

/// The exercise asks for the check to be written once. Two copies of it behave the same
/// today, which is why no request can tell them apart: this test reads the code.
#[test]
fn the_login_check_is_written_once() {
    let src = sources(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let reads = src
        .iter()
        .flat_map(|text| text.lines())
        .filter(|line| line.contains("USER_ID") && line.contains(".get"))
        .count();

    assert!(
        src.iter().any(|text| text.contains("FromRequestParts")),
        "the login check should be a LoggedIn extractor (impl FromRequestParts for LoggedIn) that dashboard and profile both take, but src/ has no FromRequestParts"
    );
    assert!(
        reads <= 1,
        "the login check should be written once, in the LoggedIn extractor, but src/ reads the user id from the session in {reads} places: let dashboard and profile take a LoggedIn instead"
    );
}
