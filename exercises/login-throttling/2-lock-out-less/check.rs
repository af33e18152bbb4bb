//! Exercise login-throttling.2, "Lock out less": a locked account stays locked for
//! everybody, except for a login from an address that has logged in to that account
//! before. Only the account's lock is skipped, never the address's budget; and the owner
//! getting in does not open the account for the guessers.

mod common;

use std::time::Duration;

use appendix_login_throttling::Limits;
use common::{App, GOOD_FORM, addr, app, login};

/// Five wrong passwords for `username`, each from another address: the account locks
/// (with failures counted before, it locks sooner and the last ones are refused).
async fn lock(app: &App, username: &str) {
    for n in 10..15 {
        let page = login(app, addr(n), &format!("username={username}&password=guess")).await;
        assert!(
            page.status == 401 || page.status == 429,
            "a wrong password answers 401, or 429 once the account is locked"
        );
    }
}

#[tokio::test]
async fn an_address_that_logged_in_before_gets_past_the_account_lock() {
    let app = app(Limits::default());
    let office = addr(1);
    let first = login(&app, office, GOOD_FORM).await;
    assert!(first.status == 200, "the first login works");
    lock(&app, "admin").await;

    // A new browser at the office (the old session may be long gone).
    let again = login(&app, office, GOOD_FORM).await;

    assert!(
        again.status == 200,
        "after five wrong passwords from other addresses lock 'admin', the right password from an address that logged in as admin before should still work (200), but it answers {}",
        again.status
    );
}

#[tokio::test]
async fn the_lock_still_holds_for_every_other_address() {
    let app = app(Limits::default());
    login(&app, addr(1), GOOD_FORM).await;
    // This one only failed: a wrong password must not make an address known.
    login(&app, addr(2), "username=admin&password=typo").await;
    lock(&app, "admin").await;

    let stranger = login(&app, addr(99), GOOD_FORM).await;
    let failed_before = login(&app, addr(2), GOOD_FORM).await;

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
async fn the_owner_getting_in_does_not_open_the_account_for_the_guessers() {
    let app = app(Limits::default());
    let office = addr(1);
    login(&app, office, GOOD_FORM).await;
    lock(&app, "admin").await;
    let owner = login(&app, office, GOOD_FORM).await;
    assert!(
        owner.status == 200,
        "the right password from an address that logged in as admin before should get past the lock (200), but it answers {}",
        owner.status
    );

    let stranger = login(&app, addr(99), GOOD_FORM).await;

    assert!(
        stranger.status == 429,
        "the owner's login from a known address must not lift the lock for everybody: while 'admin' is locked, an unknown address must still get 429, but it got {} (a success that skipped the lock must not reset the account's failures)",
        stranger.status
    );
}

#[tokio::test]
async fn an_address_is_known_for_the_account_it_logged_in_to_only() {
    let app = app(Limits::default());
    let office = addr(1);
    login(&app, office, GOOD_FORM).await;
    lock(&app, "root").await;

    let page = login(&app, office, "username=root&password=guess").await;

    assert!(
        page.status == 429,
        "an address that logged in as admin is known for admin only: the locked account 'root' must still answer it 429, but it answers {}",
        page.status
    );
}

#[tokio::test]
async fn a_known_address_still_has_its_address_budget() {
    let app = app(Limits {
        address_attempts: 8,
        ..Limits::default()
    });
    let office = addr(1);
    login(&app, office, GOOD_FORM).await;
    lock(&app, "admin").await;
    // The known address sprays seven other accounts: its budget of eight is spent.
    for n in 0..7 {
        login(&app, office, &format!("username=user{n}&password=guess")).await;
    }

    let page = login(&app, office, GOOD_FORM).await;

    assert!(
        page.status == 429,
        "a known address skips the account's lock only, never its own budget: after eight attempts from it with a budget of eight, its next login must answer 429, but it answers {}",
        page.status
    );
}

#[tokio::test]
async fn the_known_addresses_are_bounded_like_the_counters() {
    let app = app(Limits {
        max_entries: 2,
        // Address budgets refill within a millisecond, so that the address counters
        // (bounded by the same maximum) always have room: only the known addresses fill up.
        address_refill: Duration::from_millis(1),
        first_delay: Duration::from_secs(60),
        max_delay: Duration::from_secs(600),
        ..Limits::default()
    });
    let pause = || tokio::time::sleep(Duration::from_millis(5));
    for n in 1..=3 {
        login(&app, addr(n), GOOD_FORM).await;
        pause().await;
    }
    for n in 10..15 {
        login(&app, addr(n), "username=admin&password=guess").await;
        pause().await;
    }
    let stranger = login(&app, addr(99), GOOD_FORM).await;
    assert!(
        stranger.status == 429,
        "five wrong passwords should lock 'admin' for an address that never logged in, but it answers {}",
        stranger.status
    );

    let mut got_in = 0;
    for n in 1..=3 {
        pause().await;
        if login(&app, addr(n), GOOD_FORM).await.status == 200 {
            got_in += 1;
        }
    }

    assert!(
        got_in <= 2,
        "the known addresses should be bounded like the counters (Limits::max_entries): with a maximum of 2, three addresses that logged in as admin all still get past its lock, so the map of known addresses grows without limit"
    );
}
