//! Exercise 5.2, "Lock out less": a locked account stays locked for everybody, except
//! for a login from an address that has logged in to that account before.

mod common;

use std::net::SocketAddr;

use axum::Router;
use common::{Browser, app};

const GOOD_FORM: &str = "username=admin&password=1234";

fn addr(last: u8) -> SocketAddr {
    SocketAddr::from(([203, 0, 113, last], 40000))
}

/// Five wrong passwords for `username`, each from another address: the account locks
/// (with failures counted before, it locks sooner and the last ones are refused).
async fn lock(app: &Router, username: &str) {
    for n in 10..15 {
        let page = Browser::from_addr(app, addr(n))
            .post_form("/login", &format!("username={username}&password=guess"))
            .await;
        assert!(
            page.status == 401 || page.status == 429,
            "a wrong password answers 401, or 429 once the account is locked"
        );
    }
}

#[tokio::test]
async fn an_address_that_logged_in_before_gets_past_the_account_lock() {
    let app = app();
    let office = addr(1);
    let first = Browser::from_addr(&app, office)
        .post_form("/login", GOOD_FORM)
        .await;
    assert!(first.status == 200, "the first login works");
    lock(&app, "admin").await;

    // A new browser at the office (the old session may be long gone).
    let again = Browser::from_addr(&app, office)
        .post_form("/login", GOOD_FORM)
        .await;

    assert!(
        again.status == 200,
        "after five wrong passwords from other addresses lock 'admin', the right password from an address that logged in as admin before should still work (200), but it answers {}",
        again.status
    );
}

#[tokio::test]
async fn the_lock_still_holds_for_every_other_address() {
    let app = app();
    Browser::from_addr(&app, addr(1))
        .post_form("/login", GOOD_FORM)
        .await;
    // This one only failed: a wrong password must not make an address known.
    Browser::from_addr(&app, addr(2))
        .post_form("/login", "username=admin&password=typo")
        .await;
    lock(&app, "admin").await;

    let stranger = Browser::from_addr(&app, addr(99))
        .post_form("/login", GOOD_FORM)
        .await;
    let failed_before = Browser::from_addr(&app, addr(2))
        .post_form("/login", GOOD_FORM)
        .await;

    assert!(
        stranger.status == 429,
        "a locked account must stay locked (429) for an address that never logged in, even with the right password, but it answers {}",
        stranger.status
    );
    assert!(
        failed_before.status == 429,
        "an address whose only login failed is not known: the locked account must answer it 429, but it answers {}",
        failed_before.status
    );
}

#[tokio::test]
async fn an_address_is_known_for_the_account_it_logged_in_to_only() {
    let app = app();
    let office = addr(1);
    Browser::from_addr(&app, office)
        .post_form("/login", GOOD_FORM)
        .await;
    lock(&app, "root").await;

    let page = Browser::from_addr(&app, office)
        .post_form("/login", "username=root&password=guess")
        .await;

    assert!(
        page.status == 429,
        "an address that logged in as admin is known for admin only: the locked account 'root' must still answer it 429, but it answers {}",
        page.status
    );
}
