//! Checklist items 5 to 9: the session's life, from the login that gives it a new id to
//! the logout or the timeout that ends it for good.
//!
//! The timeouts are tested without waiting for them: the test store makes the time pass
//! for the stored sessions (their expiry, and the `started_at` the absolute timeout counts
//! from), and the app judges them by the real clock, as it would after the wait.

use std::time::Duration;

use crate::common::{Browser, Operation, Page, app_store_and_database, app_with, settings};
use crate::{GOOD_FORM, set_cookie};

const MINUTE: Duration = Duration::from_secs(60);

/// Checklist item 5: login issues a new id, and the one from before stops working.
#[tokio::test]
async fn a_pre_login_session_id_is_useless_after_login() {
    let app = app_with(settings()).await;
    let mut victim = Browser::new(&app);
    // The attacker got this id into the victim's browser before the login (fixation).
    victim.get("/").await;
    let planted = victim
        .session_cookie()
        .expect("the counter starts a session");

    victim.post_form("/login", GOOD_FORM).await;
    let mut attacker = Browser::new(&app);
    attacker.set_session_cookie(&planted);
    let page = attacker.get("/dashboard").await;

    let new = victim.session_cookie();
    assert_ne!(new, Some(planted), "login issued a new id");
    assert_eq!(page.status, 401, "the planted id does not follow the login");
}

/// Checklist item 6: a logout is final, even for a request already under way.
#[tokio::test]
async fn a_slow_request_that_started_before_logout_cannot_bring_the_session_back() {
    let (app, store, _) = app_store_and_database(settings()).await;
    let mut tab = Browser::new(&app);
    tab.post_form("/login", GOOD_FORM).await;
    let cookie = tab.session_cookie().expect("logged in");

    // Tab 1 loads the counter; its session is read, then its save is held back.
    let save = store.hold_next(Operation::Save);
    let mut slow_tab = Browser::new(&app);
    slow_tab.set_session_cookie(&cookie);
    let slow = tokio::spawn(async move { slow_tab.get("/").await });
    save.reached().await;
    // Tab 2 logs out while tab 1 is still busy.
    let logout = tab.post_form("/logout", "").await;
    save.release();
    slow.await.expect("the slow request finishes");

    let mut replay = Browser::new(&app);
    replay.set_session_cookie(&cookie);
    let page = replay.get("/dashboard").await;
    let said = &logout.body;
    assert!(said.contains("Logged out successfully"), "{said}");
    assert_eq!(page.status, 401, "the slow save brought the session back");
}

/// Checklist item 7: the idle timeout is enforced on the server.
#[tokio::test]
async fn an_idle_session_expires_on_the_server() {
    let settings = settings();
    let idle = settings.timeouts.idle;
    let (app, store, _) = app_store_and_database(settings).await;
    let mut browser = Browser::new(&app);
    browser.post_form("/login", GOOD_FORM).await;
    let cookie = browser.session_cookie().expect("logged in");

    store.pass_time(idle + MINUTE).await;
    // Even a browser that ignores Max-Age and sends the cookie gets nothing.
    let mut stubborn = Browser::new(&app);
    stubborn.set_session_cookie(&cookie);
    let page = stubborn.get("/dashboard").await;

    assert_eq!(page.status, 401);
}

/// Checklist item 8: the absolute timeout ends a session however active.
#[tokio::test]
async fn an_active_session_still_ends_at_the_absolute_timeout() {
    let settings = settings();
    let absolute = settings.timeouts.absolute;
    let (app, store, _) = app_store_and_database(settings).await;
    let mut browser = Browser::new(&app);
    browser.post_form("/login", GOOD_FORM).await;

    // A page every 20 minutes, well inside the idle timeout, until the absolute one.
    let mut since_login = Duration::ZERO;
    while since_login + 20 * MINUTE < absolute {
        store.pass_time(20 * MINUTE).await;
        since_login += 20 * MINUTE;
        let status = browser.get("/dashboard").await.status;
        assert_eq!(status, 200, "logged out after {since_login:?} of activity");
    }
    // Past the absolute timeout, 21 minutes after the last page: inside the idle timeout.
    store.pass_time(21 * MINUTE).await;
    // The cookie's `Max-Age` has run out too; a browser whose clock is behind, or that
    // ignores `Max-Age`, still sends it, and is told to delete it.
    let page = browser.get("/dashboard").await;

    assert_eq!(page.status, 401, "still logged in past {absolute:?}");
    assert_removes_the_cookie(&page);
    assert_eq!(browser.session_cookie(), None);
}

/// Checklist item 9: a garbled or tampered cookie is simply no session.
#[tokio::test]
async fn garbled_or_tampered_cookies_are_no_session_never_a_5xx() {
    let app = app_with(settings()).await;
    let values = [
        "",
        "=",
        "%%%",
        "AAAAAAAAAAAAAAAAAAAAAA",
        &"A".repeat(4000),
        "dGhpcyBpcyBub3QgYSBzaWduYXR1cmUgYXQgYWxsISEhIQ==AAAAAAAAAAAAAAAAAAAAAA",
    ];

    for value in values {
        let mut browser = Browser::new(&app);
        browser.set_session_cookie(value);
        let page = browser.get("/dashboard").await;
        assert_eq!(page.status, 401, "{value:?}");
        let page = browser.get("/").await;
        assert_eq!(page.status, 200, "{value:?}");
    }
}

#[tokio::test]
async fn reading_pages_counts_as_activity() {
    let settings = settings();
    let idle = settings.timeouts.idle;
    let (app, store, _) = app_store_and_database(settings).await;
    let mut browser = Browser::new(&app);
    browser.post_form("/login", GOOD_FORM).await;

    // Five reads, each two thirds of the idle timeout after the last: well past the idle
    // timeout in all, but never that long without a request. Reads change nothing in the
    // session's data.
    for _ in 0..5 {
        store.pass_time(idle * 2 / 3).await;
        let page = browser.get("/dashboard").await;
        assert_eq!(page.status, 200, "logged out while reading");
    }
}

/// Checks that `page` deletes the session cookie in a way a browser obeys. A browser
/// ignores any `__Host-` cookie that is not `Secure`, the one meant to delete it too, so
/// the removal needs the attributes the cookie was set with.
fn assert_removes_the_cookie(page: &Page) {
    let cookie = set_cookie(page);
    assert!(cookie.starts_with("__Host-session=;"), "{cookie}");
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    for attribute in ["; Secure", "; HttpOnly", "; SameSite=Lax", "; Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
}

#[tokio::test]
async fn logging_out_removes_the_cookie_and_a_tab_still_sending_it_is_told_again() {
    let app = app_with(settings()).await;
    let mut browser = Browser::new(&app);
    browser.post_form("/login", GOOD_FORM).await;
    let old = browser.session_cookie().expect("logged in");

    let logout = browser.post_form("/logout", "").await;
    // A second tab still holding the old cookie: signed by us, but its row is gone.
    let mut tab = Browser::new(&app);
    tab.set_session_cookie(&old);
    let page = tab.get("/dashboard").await;

    assert_removes_the_cookie(&logout);
    assert_eq!(browser.session_cookie(), None);
    assert_eq!(page.status, 401);
    assert_removes_the_cookie(&page);
    assert_eq!(tab.session_cookie(), None);
}
