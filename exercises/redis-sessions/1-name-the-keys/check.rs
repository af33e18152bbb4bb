//! Exercise redis-sessions.1, "Name the keys as connect-redis does": every session is
//! stored under `sess:` and its id, and the store still keeps step 5's rules. The check
//! runs the app on a throwaway Redis server and looks at the keys it holds.

mod common;

use common::{App, Browser, GOOD_FORM, Redis, instance, settings, store};
use test_kit::{Operation, TestStore};

#[tokio::test]
async fn a_login_is_stored_under_sess_and_a_logout_deletes_it() {
    let redis = Redis::start(&[]);
    let app = instance(&redis, settings()).await;
    let mut browser = Browser::new(&app);

    let login = browser.post_form("/login", GOOD_FORM).await;
    let keys = redis.keys();
    let dashboard = browser.get("/dashboard").await;
    browser.post_form("/logout", "").await;
    let after_logout = redis.keys();

    assert!(
        login.body.contains("Logged in successfully"),
        "logging in should still work, but it answers {}: {}",
        login.status,
        login.body
    );
    assert!(
        keys.len() == 1 && keys[0].starts_with("sess:"),
        "after a login Redis should hold one key, `sess:` and the session id, but it holds {keys:?}"
    );
    assert!(
        dashboard.status == 200,
        "the dashboard should find the session under its `sess:` key, but it answers {}",
        dashboard.status
    );
    assert!(
        after_logout.is_empty(),
        "a logout should delete the session's key, but Redis still holds {after_logout:?}"
    );
}

#[tokio::test]
async fn the_key_expires_with_the_session() {
    let redis = Redis::start(&[]);
    let app = instance(&redis, settings()).await;
    Browser::new(&app).post_form("/login", GOOD_FORM).await;

    let keys = redis.keys();
    let key = keys.first().map(String::as_str).unwrap_or("(no key)");
    let ttl = redis.cli(&["TTL", key]);

    assert!(
        ttl.parse::<u32>()
            .is_ok_and(|seconds| (1..=1800).contains(&seconds)),
        "the session's key should expire with the session (TTL 1800: step 5's idle timeout of 30 minutes), but `TTL {key}` says {ttl} (-1: no expiry, -2: no such key)"
    );
}

#[tokio::test]
async fn a_save_that_ends_after_a_logout_writes_nothing_back() {
    let redis = Redis::start(&[]);
    let store = TestStore::new(store(&redis).await);
    let app = App::new(
        step5_hardened::app(store.clone(), settings()),
        step5_hardened::COOKIE_NAME,
    );
    let mut tab = Browser::new(&app);
    tab.post_form("/login", GOOD_FORM).await;
    let cookie = tab.session_cookie().expect("logging in sets a cookie");

    // A second tab loads the counter: its session is read, then its save is held back
    // until the first tab has logged out.
    let save = store.hold_next(Operation::Save);
    let mut slow_tab = Browser::new(&app);
    slow_tab.set_session_cookie(&cookie);
    let slow = tokio::spawn(async move { slow_tab.get("/").await });
    save.reached().await;
    tab.post_form("/logout", "").await;
    save.release();
    slow.await.expect("the slow request finishes");
    let keys = redis.keys();

    assert!(
        keys.is_empty(),
        "a save that finished after the logout wrote the session back ({keys:?}): a save must only replace a key that is still there (SetOptions::XX), or a logout is not final"
    );
}
