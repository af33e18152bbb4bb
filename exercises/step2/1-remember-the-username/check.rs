//! Exercise 2.1, "Remember the username": the dashboard greets the user by name, looked up
//! from the id in the session, while the session itself still holds only the id.

mod common;

use std::str::FromStr;

use common::{Browser, app, app_on};
use tower_sessions::session::Id;
use tower_sessions::{MemoryStore, SessionStore};

const GOOD_FORM: &str = "username=admin&password=1234";

#[tokio::test]
async fn the_dashboard_greets_the_user_by_name() {
    let mut browser = Browser::new(&app());
    browser.post_form("/login", GOOD_FORM).await;

    let dashboard = browser.get("/dashboard").await;

    assert!(
        dashboard.body.contains("Welcome admin to the dashboard"),
        "after logging in as admin, the dashboard should say 'Welcome admin to the dashboard'"
    );
}

#[tokio::test]
async fn the_session_holds_the_id_not_the_name() {
    let store = MemoryStore::default();
    let mut browser = Browser::new(&app_on(store.clone()));
    browser.post_form("/login", GOOD_FORM).await;
    browser.get("/dashboard").await;

    // What the server stored for this browser, found by the id in its cookie.
    let cookie = browser
        .session_cookie()
        .expect("logging in sets the cookie");
    let id = Id::from_str(&cookie).expect("the cookie holds a session id");
    let record = store
        .load(&id)
        .await
        .expect("the memory store does not fail")
        .expect("the logged-in session is in the store");

    for (key, value) in &record.data {
        assert!(
            !value.to_string().contains("admin"),
            "the session should hold only the user id, not the name: look the name up from the id instead of storing it (key {key:?} holds {value})"
        );
    }
}

#[tokio::test]
async fn the_name_comes_from_the_id() {
    let store = MemoryStore::default();
    let mut browser = Browser::new(&app_on(store.clone()));
    browser.post_form("/login", GOOD_FORM).await;
    let cookie = browser
        .session_cookie()
        .expect("logging in sets the cookie");
    let id = Id::from_str(&cookie).expect("the cookie holds a session id");
    let mut record = store
        .load(&id)
        .await
        .expect("the memory store does not fail")
        .expect("the logged-in session is in the store");

    // The same session, now naming a user id nobody has.
    record.data.insert("user_id".to_string(), 7.into());
    store
        .save(&record)
        .await
        .expect("the memory store does not fail");
    let dashboard = browser.get("/dashboard").await;

    assert!(
        !dashboard.body.contains("Welcome admin"),
        "the name on the dashboard should be looked up from the user id in the session: a session whose user id is 7, a user that does not exist, is still greeted as admin (is the name written into the template or the handler?)"
    );
}
