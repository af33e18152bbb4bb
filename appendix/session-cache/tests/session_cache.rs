//! The lesson: step 5's app with a session cache, and the same rules. Reads are answered
//! from memory, saves that only move an expiry a little are skipped, and still a
//! logged-out session never comes back, through the cache or through the table.

use std::time::Duration;

use appendix_session_cache::cache::Cache;
use appendix_session_cache::{CachedStore, touch_interval};
use sqlx::SqlitePool;
use step5_hardened::{COOKIE_NAME, Settings, Timeouts, store};
use test_kit::{App, Browser, GOOD_FORM};
use time::OffsetDateTime;
use tower_sessions::SessionStore;
use tower_sessions::cookie::Key;
use tower_sessions::session::{Id, Record};

/// A session an hour from expiry that has counted `views` visits.
fn session(id: Id, views: i32) -> Record {
    Record {
        id,
        data: [("views".to_string(), views.into())].into(),
        expiry_date: OffsetDateTime::now_utc() + time::Duration::hours(1),
    }
}

/// The visit count in a loaded session, if there is one.
fn views(record: Option<Record>) -> Option<i64> {
    record.and_then(|record| record.data.get("views")?.as_i64())
}

/// A fresh database in a folder that lives as long as the returned guard.
fn database_url() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
    (dir, url)
}

async fn open(url: &str) -> CachedStore {
    let store = CachedStore::open(url, Duration::from_secs(60)).await;
    store.expect("the store opens")
}

/// A store on a fresh database, holding one session of 1 visit that was read once, so
/// that it is in memory.
async fn store_with_a_session() -> (tempfile::TempDir, String, CachedStore, Record) {
    let (dir, url) = database_url();
    let store = open(&url).await;
    let mut record = session(Id::default(), 1);
    store.create(&mut record).await.expect("stored");
    store.load(&record.id).await.expect("loads");
    (dir, url, store, record)
}

/// Takes the session table away, so that every query on it fails as on a broken disk.
const BREAK: &str = "ALTER TABLE tower_sessions RENAME TO away";
const REPAIR: &str = "ALTER TABLE away RENAME TO tower_sessions";

/// Runs `sql` on the database file as another program would, and returns the first
/// number it gives (for `SELECT count(*)`).
async fn sql(url: &str, sql: &str) -> i64 {
    let pool = SqlitePool::connect(url).await.expect("the test opens it");
    let number: Result<Option<i64>, _> = sqlx::query_scalar(sql).fetch_optional(&pool).await;
    number.expect("the statement runs").unwrap_or_default()
}

const ROWS: &str = "SELECT count(*) FROM tower_sessions";

/// The session `id` as the table holds it, read by step 5's store, which has no cache.
async fn in_table(url: &str, id: &Id) -> Option<Record> {
    let table = store::open(url).await.expect("step 5's store opens");
    table.load(id).await.expect("loads")
}

// The cache's rule, with the moments of a race taken one at a time: a read or a save of
// the table takes the cache's change count first, and a logout (or a newer save) in
// between refuses the copy it brings back.

#[tokio::test]
async fn a_read_that_began_before_a_logout_does_not_put_the_session_back_in_memory() {
    let cache = Cache::new(100);
    let record = session(Id::default(), 1);

    // A request misses the cache and reads the row; meanwhile another tab logs out (the
    // row is deleted, the cache told); then the read comes back with what it read.
    let before = cache.change_count().await;
    cache.forget(&[record.id]).await;
    let kept = cache.fill(before, &record).await;

    assert!(!kept);
    assert_eq!(cache.get(&record.id).await, None);
}

#[tokio::test]
async fn a_save_that_found_the_row_before_a_logout_does_not_put_the_session_back_in_memory() {
    let cache = Cache::new(100);
    let record = session(Id::default(), 2);

    // The save's UPDATE finds the live row and commits; a logout deletes the row before
    // the save updates the cache; then the save reports the session as updated.
    let before = cache.change_count().await;
    cache.forget(&[record.id]).await;
    cache.saved(before, &[&record], &[]).await;

    assert_eq!(cache.get(&record.id).await, None);
}

#[tokio::test]
async fn a_read_that_began_before_a_save_does_not_replace_the_saved_state_in_memory() {
    let cache = Cache::new(100);
    let id = Id::default();

    // A request reads the session with 1 visit; meanwhile another tab's save of 2 visits
    // commits and reaches the cache; then the read comes back with 1.
    let read_began = cache.change_count().await;
    let save_began = cache.change_count().await;
    cache.saved(save_began, &[&session(id, 2)], &[]).await;
    let kept = cache.fill(read_began, &session(id, 1)).await;

    assert!(!kept);

    assert_eq!(views(cache.get(&id).await), Some(2));
}

#[tokio::test]
async fn two_tabs_saving_one_session_at_once_leave_the_later_save_in_memory() {
    let cache = Cache::new(100);
    let id = Id::default();

    // Two tabs' saves begin together; the writer commits them one after the other and
    // tells the cache of each in that order.
    let first_began = cache.change_count().await;
    let second_began = cache.change_count().await;
    cache.saved(first_began, &[&session(id, 2)], &[]).await;
    cache.saved(second_began, &[&session(id, 3)], &[]).await;

    assert_eq!(views(cache.get(&id).await), Some(3), "answered from memory");
}

// The store, through the `SessionStore` methods tower-sessions calls.

#[tokio::test]
async fn a_save_that_comes_after_a_logout_brings_back_nothing() {
    let (_dir, url, store, record) = store_with_a_session().await;

    // A slow request of another tab saves the session once the logout has answered.
    store.delete(&record.id).await.expect("logged out");
    store
        .save(&session(record.id, 2))
        .await
        .expect("not an error: the session ended");

    assert_eq!(store.load(&record.id).await.expect("loads"), None);
    assert_eq!(sql(&url, ROWS).await, 0);
}

#[tokio::test]
async fn a_save_the_database_refused_is_not_remembered_in_memory() {
    let (_dir, url, store, record) = store_with_a_session().await;

    sql(&url, BREAK).await;
    let refused = store.save(&session(record.id, 2)).await;
    sql(&url, REPAIR).await;

    assert!(refused.is_err());
    let now = store.load(&record.id).await.expect("loads");
    assert_eq!(views(now), Some(1), "the session is as the table has it");
}

/// Many rounds of one session's tabs reading and saving while one of them logs out, on
/// two threads, so that the store's steps interleave in many orders. Whatever the order,
/// once the logout has answered the session is gone from memory and from the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_racing_other_tabs_never_brings_the_session_back() {
    let (_dir, url) = database_url();
    let store = open(&url).await;

    for round in 0..1000 {
        let mut record = session(Id::default(), 1);
        store.create(&mut record).await.expect("stored");
        let id = record.id;
        // Every other round the session starts in memory; otherwise the readers fill it.
        if round % 2 == 0 {
            store.load(&id).await.expect("loads");
        }
        let tabs: Vec<_> = (0..6)
            .map(|tab| {
                let store = store.clone();
                tokio::spawn(async move {
                    if tab % 2 == 0 {
                        store.load(&id).await.map(drop)
                    } else {
                        store.save(&session(id, 2 + tab)).await
                    }
                })
            })
            .collect();
        let logout = {
            let store = store.clone();
            tokio::spawn(async move { store.delete(&id).await })
        };
        for tab in tabs {
            tab.await.expect("no panic").expect("the store works");
        }
        logout.await.expect("no panic").expect("logged out");

        let after = store.load(&id).await.expect("loads");
        assert_eq!(after, None, "round {round}: the session came back");
    }
    assert_eq!(sql(&url, ROWS).await, 0);
}

// One server per file, here two stores in one process: the lock is the same.

#[cfg(unix)]
#[tokio::test]
async fn a_second_store_on_the_same_file_is_refused_whatever_path_leads_to_it() {
    let (dir, url, store, _) = store_with_a_session().await;
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(dir.path().join("sessions.db"), &link).expect("a link");
    let by_link = format!("sqlite://{}", link.display());
    let folder = dir.path().file_name().expect("a name").to_string_lossy();
    let roundabout = format!("sqlite://{}/../{folder}/sessions.db", dir.path().display());

    let mut refused = Vec::new();
    for url in [&url, &by_link, &roundabout] {
        let second = CachedStore::open(url, Duration::from_secs(60)).await;
        refused.push(second.err().unwrap_or_default());
    }
    drop(store);
    let reopened = CachedStore::open(&by_link, Duration::from_secs(60)).await;

    for message in refused {
        assert!(
            message.starts_with("another server is using"),
            "{message:?}"
        );
    }
    assert!(reopened.is_ok(), "the lock ends with the last clone");
}

// The app: step 5's, on this store, as a visitor sees it.

/// Step 5's app on a cached store whose sessions end after `idle` without a request, with
/// the demo login admin / 1234.
async fn app(url: &str, idle: Duration) -> App {
    let mut settings = Settings::new(Key::try_generate().expect("randomness for a key"));
    settings.timeouts = Timeouts {
        idle,
        absolute: Duration::from_secs(3600),
    };
    let store = CachedStore::open(url, touch_interval(idle)).await;
    App::new(
        step5_hardened::app(store.expect("opens"), settings),
        COOKIE_NAME,
    )
}

#[tokio::test]
async fn the_dashboard_is_answered_from_memory_and_a_visit_that_cannot_be_saved_is_a_500_page() {
    let (_dir, url) = database_url();
    let mut browser = Browser::new(&app(&url, Duration::from_secs(1800)).await);
    browser.post_form("/login", GOOD_FORM).await;
    browser.get("/dashboard").await;

    // Reading the dashboard again needs no database: the session is in memory, and the
    // expiry moved too little to be written. Counting a visit is a write, and a write
    // must reach the database.
    sql(&url, BREAK).await;
    let dashboard = browser.get("/dashboard").await.body;
    let refused = browser.get("/").await;
    sql(&url, REPAIR).await;
    let counted = browser.get("/").await.body;

    assert!(
        dashboard.contains("Welcome user 1 to the dashboard"),
        "{dashboard}"
    );
    assert_eq!(refused.status, 500, "{}", refused.body);
    assert!(refused.body.contains("could not save your session"));
    assert!(counted.contains("Welcome! First visit."), "{counted}");
}

// The touch interval: a save that only moves the expiry a little is not written.

#[tokio::test]
async fn a_save_that_moves_only_the_expiry_within_the_interval_writes_nothing() {
    let (_dir, url, store, record) = store_with_a_session().await;
    let written = in_table(&url, &record.id).await;
    let later = |secs| Record {
        expiry_date: record.expiry_date + time::Duration::seconds(secs),
        ..record.clone()
    };

    // Requests within the minute, each saving the session with its expiry moved along.
    // With the table gone, any write would fail: these do not write.
    sql(&url, BREAK).await;
    for secs in [1, 30, 59] {
        store.save(&later(secs)).await.expect("nothing to write");
    }
    sql(&url, REPAIR).await;
    let after_touches = in_table(&url, &record.id).await;
    // Past the minute, the expiry is written; so is any change to the data, at once.
    store.save(&later(61)).await.expect("written");
    let after_interval = in_table(&url, &record.id).await;
    store.save(&session(record.id, 2)).await.expect("written");

    assert_eq!(after_touches, written, "the row was not written");
    assert_eq!(
        after_interval.map(|r| r.expiry_date),
        Some(later(61).expiry_date)
    );
    assert_eq!(views(in_table(&url, &record.id).await), Some(2));
}

#[tokio::test]
async fn reading_pages_keeps_a_session_alive_with_few_writes_and_idling_ends_it() {
    // An idle timeout of 4 s, so a touch interval of 2 s.
    let (_dir, url) = database_url();
    let mut browser = Browser::new(&app(&url, Duration::from_secs(4)).await);
    browser.post_form("/login", GOOD_FORM).await;
    // The row's expiry in milliseconds (sqlx stores it as RFC 3339 text).
    let expiry = "SELECT CAST(julianday(substr(expiry_date, 1, 23)) * 86400000 AS INTEGER) \
                  FROM tower_sessions";

    // Ten reads, half a second apart: 5 s in all, past the idle timeout. Each one saves
    // the session; the row is written only when its expiry is 2 s old.
    let mut expiries = vec![sql(&url, expiry).await];
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let page = browser.get("/dashboard").await;
        assert_eq!(page.status, 200, "logged out while reading: {}", page.body);
        expiries.push(sql(&url, expiry).await);
    }
    expiries.dedup();
    // Then nothing for longer than the idle timeout.
    tokio::time::sleep(Duration::from_millis(4200)).await;
    let idle = browser.get("/dashboard").await.status;

    assert!(expiries.len() > 1, "the expiry never moved");
    assert!(expiries.len() < 7, "written {} times in 11", expiries.len());
    assert_eq!(idle, 401, "the session outlived its idle timeout");
}
