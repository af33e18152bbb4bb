//! Exercise 1.1, "Count per page": `GET /about` counts its own visits under a key of its
//! own, `about_views`, and shows the panel with that key.

mod common;

use common::{Browser, Page, app};

/// `GET /about`, which must be a page before anything else about it can be checked. Every
/// test asks with the same words, so a missing route is one line of the verdict, not one
/// misleading complaint per test.
async fn about(browser: &mut Browser) -> Page {
    let page = browser.get("/about").await;
    assert!(
        page.status == 200,
        "GET /about should be a page, but it answers {} (is there a .route(\"/about\", ...) in src/routes/mod.rs?)",
        page.status
    );
    page
}

#[tokio::test]
async fn the_about_page_counts_its_own_visits() {
    let mut browser = Browser::new(&app());

    let first = about(&mut browser).await;
    let second = about(&mut browser).await;

    assert!(
        first.body.contains("About visits: 1"),
        "GET /about should count its own visits: expected 'About visits: 1' on the first visit"
    );
    assert!(
        second.body.contains("About visits: 2"),
        "GET /about should count its own visits: expected 'About visits: 2' on the second visit"
    );
}

#[tokio::test]
async fn each_browser_has_its_own_about_count() {
    let app = app();
    let mut first = Browser::new(&app);
    let mut second = Browser::new(&app);
    about(&mut first).await;
    about(&mut first).await;

    let page = about(&mut second).await;

    assert!(
        page.body.contains("About visits: 1"),
        "GET /about should count each browser's visits in its session: after two visits from one browser, another browser's first visit should say 'About visits: 1' (a count kept in the server counts everybody's)"
    );
}

#[tokio::test]
async fn the_two_pages_keep_separate_counts() {
    let mut browser = Browser::new(&app());

    browser.get("/").await;
    browser.get("/").await;
    let about = about(&mut browser).await;
    let counter = browser.get("/").await;

    assert!(
        about.body.contains("About visits: 1"),
        "visits to / should not count on /about: after two visits to / and one to /about, expected 'About visits: 1'"
    );
    assert!(
        counter.body.contains("Number of visits: 3"),
        "visits to /about should not count on /: after two visits to /, one to /about and one more to /, expected 'Number of visits: 3'"
    );
}

#[tokio::test]
async fn the_about_page_shows_the_panel_with_the_new_key() {
    let mut browser = Browser::new(&app());

    let page = about(&mut browser).await;

    // Three different things can be missing; each verdict names the one that is.
    assert!(
        page.body.contains("What the server knows about you"),
        "the /about page should show the panel \"What the server knows about you\", as / does (its template includes panel.html)"
    );
    assert!(
        page.body.contains("<code>about_views</code>"),
        "the panel on /about should list the key about_views, but it does not (the panel shows the keys in KEYS, in src/session_data.rs, that the session holds when it is read: count the visit first)"
    );
    assert!(
        page.body
            .contains("<code>about_views</code></td><td><code>1</code>"),
        "the panel on /about lists about_views, but should show it with the value 1 after the first visit (count the visit before reading the panel)"
    );
}
