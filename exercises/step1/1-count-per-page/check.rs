//! Exercise 1.1, "Count per page": `GET /about` counts its own visits under a key of its
//! own, `about_views`, and the panel shows that key.

mod common;

use common::{Browser, app};

#[tokio::test]
async fn the_about_page_counts_its_own_visits() {
    let mut browser = Browser::new(&app());

    let first = browser.get("/about").await;
    let second = browser.get("/about").await;

    assert!(
        first.status == 200,
        "GET /about should be a page, but it answers {}",
        first.status
    );
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
async fn the_two_pages_keep_separate_counts() {
    let mut browser = Browser::new(&app());

    browser.get("/").await;
    browser.get("/").await;
    let about = browser.get("/about").await;
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
async fn the_panel_shows_the_new_key() {
    let mut browser = Browser::new(&app());

    let page = browser.get("/about").await;

    assert!(
        page.body
            .contains("<code>about_views</code></td><td><code>1</code>"),
        "the panel on /about should show the key about_views with the value 1 (is it in KEYS?)"
    );
}
