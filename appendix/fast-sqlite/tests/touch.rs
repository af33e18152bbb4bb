//! The touch interval: a save that only moves a session's expiry a little is not written
//! (connect-mongo's `touchAfter`), and the idle timeout still ends a session nobody uses.

use std::time::Duration;

use appendix_fast_sqlite::{FastStore, touch_interval};
use axum::body::Body;
use axum::http::{Request, header};
use sqlx::SqlitePool;
use step5_hardened::{COOKIE_NAME, Settings, Timeouts, store};
use time::OffsetDateTime;
use tower::ServiceExt;
use tower_sessions::SessionStore;
use tower_sessions::cookie::Key;
use tower_sessions::session::{Id, Record};

fn database_url() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
    (dir, url)
}

/// The session's row as the table holds it, read by step 5's store, which has no cache.
async fn row(url: &str, id: &Id) -> Record {
    let table = store::open(url).await.expect("step 5's store opens");
    table
        .load(id)
        .await
        .expect("loads")
        .expect("the row is there")
}

/// Renames the session table (`broken`) or names it back, so that any write fails.
async fn break_table(url: &str, broken: bool) {
    let (from, to) = ("tower_sessions", "tower_sessions_away");
    let (from, to) = if broken { (from, to) } else { (to, from) };
    let pool = SqlitePool::connect(url).await.expect("the test opens it");
    let sql = format!("ALTER TABLE {from} RENAME TO {to}");
    sqlx::query(&sql).execute(&pool).await.expect("renamed");
}

fn later(record: &Record, secs: i64) -> Record {
    let mut later = record.clone();
    later.expiry_date += time::Duration::seconds(secs);
    later
}

#[tokio::test]
async fn a_save_that_moves_only_the_expiry_within_the_interval_writes_nothing() {
    let (_dir, url) = database_url();
    let store = FastStore::open(&url, Duration::from_secs(60))
        .await
        .expect("opens");
    let mut record = Record {
        id: Id::default(),
        data: [("user_id".to_string(), 1.into())].into(),
        expiry_date: OffsetDateTime::now_utc() + time::Duration::minutes(30),
    };
    store.create(&mut record).await.expect("stored");
    store
        .load(&record.id)
        .await
        .expect("read once, so in memory");
    let written = row(&url, &record.id).await;

    // Requests within the minute: each saves the session with its expiry moved along.
    // With the table gone, any write would fail: these do not write.
    break_table(&url, true).await;
    for secs in [1, 30, 59] {
        let touched = store.save(&later(&record, secs)).await;
        touched.expect("nothing to write");
    }
    break_table(&url, false).await;
    let after_touches = row(&url, &record.id).await;

    // A minute on, the expiry is written; so is any change to the data, at once.
    let past = later(&record, 61);
    store.save(&past).await.expect("written");
    let after_interval = row(&url, &record.id).await;
    let mut changed = later(&past, 1);
    changed.data.insert("views".to_string(), 1.into());
    store.save(&changed).await.expect("written");
    let after_change = row(&url, &record.id).await;

    assert_eq!(after_touches, written, "the row was not written");
    assert_eq!(after_interval.expiry_date, past.expiry_date);
    assert_eq!(after_change.data, changed.data);
}

#[test]
fn the_interval_is_a_minute_but_never_more_than_half_the_idle_timeout() {
    assert_eq!(
        touch_interval(Duration::from_secs(1800)),
        Duration::from_secs(60)
    );
    assert_eq!(
        touch_interval(Duration::from_secs(60)),
        Duration::from_secs(30)
    );
}

/// Step 5's app on a fast store whose sessions end after `idle` without a request.
async fn app(url: &str, idle: Duration) -> axum::Router {
    let mut settings = Settings::new(Key::try_generate().expect("randomness for a key"));
    settings.timeouts = Timeouts {
        idle,
        absolute: Duration::from_secs(600),
    };
    let store = FastStore::open(url, touch_interval(idle)).await;
    step5_hardened::app(store.expect("opens"), settings)
}

/// A request with the session cookie `cookie`: its status, and the cookie it sets.
async fn send(app: &axum::Router, method: &str, path: &str, cookie: &str) -> (u16, String) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("username=admin&password=1234"))
        .expect("a valid request");
    let response = app.clone().oneshot(request).await.expect("an answer");
    let set_cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok()?.split(';').next())
        .find(|cookie| cookie.starts_with(COOKIE_NAME));
    let cookie = set_cookie.unwrap_or_default().to_string();
    (response.status().as_u16(), cookie)
}

/// The expiry of the only session row.
async fn row_expiry(url: &str) -> OffsetDateTime {
    let pool = SqlitePool::connect(url).await.expect("the test opens it");
    let (expiry,): (OffsetDateTime,) = sqlx::query_as("SELECT expiry_date FROM tower_sessions")
        .fetch_one(&pool)
        .await
        .expect("one session row");
    expiry
}

#[tokio::test]
async fn reading_pages_keeps_a_session_alive_with_few_writes_and_idling_ends_it() {
    // An idle timeout of 4 s, so a touch interval of 2 s.
    let (_dir, url) = database_url();
    let app = app(&url, Duration::from_secs(4)).await;
    let (_, cookie) = send(&app, "POST", "/login", "").await;

    // Ten reads, half a second apart: 5 s in all, past the idle timeout. Each one saves
    // the session; the row is written only when its expiry is 2 s old.
    let mut expiries = vec![row_expiry(&url).await];
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (status, _) = send(&app, "GET", "/dashboard", &cookie).await;
        assert_eq!(status, 200, "logged out while reading");
        expiries.push(row_expiry(&url).await);
    }
    expiries.dedup();
    // Then nothing for longer than the idle timeout.
    tokio::time::sleep(Duration::from_millis(4200)).await;
    let (idle, _) = send(&app, "GET", "/dashboard", &cookie).await;

    assert!(expiries.len() > 1, "the expiry never moved");
    assert!(expiries.len() < 7, "written {} times in 11", expiries.len());
    assert_eq!(idle, 401, "the session outlived its idle timeout");
}
