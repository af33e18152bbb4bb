//! The lesson's touch interval: reading pages keeps a session alive, yet its row is
//! written at most once per `touch_after`, not on every request.

mod common;

use std::time::Duration;

use appendix_fast_sqlite::{Settings, Timeouts};
use common::{Browser, Page, app_and_database, app_with, settings};
use sqlx::SqlitePool;
use time::OffsetDateTime;

const GOOD_FORM: &str = "username=admin&password=1234";

fn timeouts(idle_secs: u64, touch_after_secs: u64) -> Settings {
    let mut settings = settings();
    settings.timeouts = Timeouts {
        idle: Duration::from_secs(idle_secs),
        absolute: Duration::from_secs(600),
        touch_after: Duration::from_secs(touch_after_secs),
    };
    settings
}

/// The expiry in the session's row, read straight from the database file.
async fn row_expiry(url: &str) -> OffsetDateTime {
    let pool = SqlitePool::connect(url)
        .await
        .expect("the test can open the database");
    let (expiry,): (OffsetDateTime,) = sqlx::query_as("SELECT expiry_date FROM tower_sessions")
        .fetch_one(&pool)
        .await
        .expect("one session row");
    pool.close().await;
    expiry
}

/// The seconds in the panel's "Expires after N s without a request".
fn expires_in(page: &Page) -> i64 {
    page.body
        .split("Expires after ")
        .nth(1)
        .and_then(|rest| rest.split(" s").next())
        .and_then(|secs| secs.parse().ok())
        .expect("the page shows when the session expires")
}

#[tokio::test]
async fn reads_within_the_touch_interval_write_nothing_and_a_later_read_does() {
    let (app, url) = app_and_database(timeouts(10, 4)).await;
    let mut browser = Browser::new(&app);
    browser.post_form("/login", GOOD_FORM).await;
    let written_at_login = row_expiry(&url).await;

    // Within the 4 s interval: the session is read, and neither row nor cookie change.
    let quick = browser.get("/dashboard").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = browser.get("/dashboard").await;
    let expiry_within = row_expiry(&url).await;
    // Past the interval: this read moves the expiry.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let past = browser.get("/dashboard").await;
    let expiry_past = row_expiry(&url).await;

    for page in [&quick, &later, &past] {
        assert_eq!(page.status, 200, "{}", page.body);
    }
    assert!(quick.set_cookies().is_empty(), "{:?}", quick.set_cookies());
    assert!(later.set_cookies().is_empty(), "{:?}", later.set_cookies());
    assert_eq!(expiry_within, written_at_login, "the row was not written");
    // The panel counts from the last write, not from now: 10 s minus the time since.
    let shown = expires_in(&later);
    assert!((5..10).contains(&shown), "expires in {shown} s");
    assert!(
        past.set_cookies().iter().any(|c| c.contains("Max-Age=10")),
        "{:?}",
        past.set_cookies()
    );
    assert!(expiry_past > written_at_login, "the row got a later expiry");
    assert_eq!(expires_in(&past), 10);
}

#[tokio::test]
async fn reading_pages_keeps_a_session_alive_with_fewer_writes_than_reads() {
    let mut browser = Browser::new(&app_with(timeouts(6, 2)).await);
    browser.post_form("/login", GOOD_FORM).await;

    // Eight reads a second apart: 8 s in all, past the 6 s idle timeout.
    let mut writes = 0;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let page = browser.get("/dashboard").await;
        assert_eq!(page.status, 200, "logged out while reading");
        writes += usize::from(!page.set_cookies().is_empty());
    }

    assert!(writes > 0, "the expiry never moved");
    assert!(writes < 8, "every read wrote the session");
}

#[tokio::test]
async fn a_session_nobody_uses_for_the_idle_timeout_still_ends() {
    let mut browser = Browser::new(&app_with(timeouts(3, 1)).await);
    browser.post_form("/login", GOOD_FORM).await;
    let last = browser.get("/dashboard").await;
    assert_eq!(last.status, 200);

    // 3 s without a request, and a margin: the browser still sends its cookie.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let page = browser.get("/dashboard").await;

    assert_eq!(page.status, 401, "{}", page.body);
}
