//! The lesson: step 5's app made fast, with the same rules. Reads are answered from
//! memory, writes are committed in batches, and still a logged-out session never comes
//! back, through the cache or through the table.

use std::time::Duration;

use appendix_fast_sqlite::cache::Cache;
use appendix_fast_sqlite::{FastStore, touch_interval};
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

async fn open(url: &str) -> FastStore {
    FastStore::open(url, Duration::from_secs(60))
        .await
        .expect("the store opens")
}

/// A store on a fresh database, holding one session of 1 visit that was read once, so
/// that it is in memory.
async fn store_with_a_session() -> (tempfile::TempDir, String, FastStore, Record) {
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
// the table notes the cache's change count first, and a logout (or a newer save) in
// between refuses the copy it brings back.

#[tokio::test]
async fn a_read_that_began_before_a_logout_does_not_put_the_session_back_in_memory() {
    let cache = Cache::new(100);
    let record = session(Id::default(), 1);

    // A request misses the cache and reads the row; meanwhile another tab logs out (the
    // row is deleted, the cache told); then the read comes back with what it read.
    let seen = cache.note().await;
    cache.forget(&[record.id]).await;
    let kept = cache.fill(seen, &record).await;

    assert!(!kept);
    assert_eq!(cache.get(&record.id).await, None);
}

#[tokio::test]
async fn a_save_that_found_the_row_before_a_logout_does_not_put_the_session_back_in_memory() {
    let cache = Cache::new(100);
    let record = session(Id::default(), 2);

    // The writer's UPDATE finds the live row and commits; a logout deletes the row before
    // the writer updates the cache; then the writer reports the session as updated.
    let seen = cache.note().await;
    cache.forget(&[record.id]).await;
    cache.saved(seen, &[&record], &[]).await;

    assert_eq!(cache.get(&record.id).await, None);
}

#[tokio::test]
async fn a_read_that_began_before_a_save_does_not_replace_the_saved_state_in_memory() {
    let cache = Cache::new(100);
    let id = Id::default();

    // A request reads the session with 1 visit; meanwhile another tab's save of 2 visits
    // commits and reaches the cache; then the read comes back with 1.
    let read_seen = cache.note().await;
    let save_seen = cache.note().await;
    cache.saved(save_seen, &[&session(id, 2)], &[]).await;
    cache.fill(read_seen, &session(id, 1)).await;

    assert_eq!(views(cache.get(&id).await), Some(2));
}

// The store: the cache and the batched writer together, through the `SessionStore`
// methods tower-sessions calls.

// On this single-threaded runtime the writer runs only once the test waits, so the
// writes started together by one `join!` all reach it in one batch.
#[tokio::test]
async fn a_batch_of_saves_never_brings_back_a_deleted_session() {
    let (_dir, url) = database_url();
    let store = open(&url).await;
    let (mut live, mut logged_out) = (session(Id::default(), 1), session(Id::default(), 1));
    store.create(&mut live).await.expect("stored");
    store.create(&mut logged_out).await.expect("stored");
    // Both are read (so both are in memory), then one of them logs out.
    store.load(&live.id).await.expect("loads");
    store.load(&logged_out.id).await.expect("loads");
    store.delete(&logged_out.id).await.expect("deleted");

    live.data.insert("views".to_string(), 2.into());
    logged_out.data.insert("views".to_string(), 2.into());
    let (saved_live, saved_logged_out) = tokio::join!(store.save(&live), store.save(&logged_out));
    saved_live.expect("saved");
    saved_logged_out.expect("not an error: the session ended");

    assert_eq!(views(store.load(&live.id).await.expect("loads")), Some(2));
    assert_eq!(store.load(&logged_out.id).await.expect("loads"), None);
    assert_eq!(in_table(&url, &logged_out.id).await, None);
    assert_eq!(sql(&url, ROWS).await, 1);
}

#[tokio::test]
async fn new_sessions_that_draw_the_same_id_each_get_a_row_of_their_own() {
    let (_dir, url) = database_url();
    let store = open(&url).await;

    // One at a time: the id is taken by the time the second session is stored.
    let (mut first, mut second) = (session(Id(7), 1), session(Id(7), 2));
    store.create(&mut first).await.expect("stored");
    store.create(&mut second).await.expect("stored");
    // At the same moment: both reach the database in one statement.
    let (mut third, mut fourth) = (session(Id(8), 3), session(Id(8), 4));
    let (stored_third, stored_fourth) =
        tokio::join!(store.create(&mut third), store.create(&mut fourth));
    stored_third.expect("stored");
    stored_fourth.expect("stored");

    let ids: std::collections::HashSet<Id> = [first.id, second.id, third.id, fourth.id].into();
    assert_eq!(ids.len(), 4, "every session has an id of its own");
    for (record, count) in [(&first, 1), (&second, 2), (&third, 3), (&fourth, 4)] {
        assert_eq!(views(in_table(&url, &record.id).await), Some(count));
    }
}

#[tokio::test]
async fn of_simultaneous_saves_of_one_session_the_last_is_kept() {
    let (_dir, url, store, record) = store_with_a_session().await;

    let [two, three, four] = [2, 3, 4].map(|views| session(record.id, views));
    let saved = tokio::join!(store.save(&two), store.save(&three), store.save(&four));
    for result in [saved.0, saved.1, saved.2] {
        result.expect("saved");
    }

    assert_eq!(views(store.load(&record.id).await.expect("loads")), Some(4));
    assert_eq!(views(in_table(&url, &record.id).await), Some(4));
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

/// 4 608 sessions of 64 KiB written by 16 visitors at once: 288 MiB through SQLite's
/// write-ahead log, which would all stay in the `-wal` file if nothing started the log
/// over. The writer never checkpoints by itself; the checkpointer copies the log as it
/// grows and has it start over past 16 MiB. The file then holds the 16 MiB plus what the
/// writer adds while the last copy runs: 34 to 62 MiB in runs of this test (under 22 MB
/// with `bench/run`'s small sessions on a release build). No write is lost doing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_stream_of_writes_the_write_ahead_log_stays_bounded() {
    let (dir, url) = database_url();
    let store = open(&url).await;
    let wal = dir.path().join("sessions.db-wal");
    let page = "x".repeat(64 * 1024);

    let visitors: Vec<_> = (0..16)
        .map(|_| {
            let (store, wal, page) = (store.clone(), wal.clone(), page.clone());
            tokio::spawn(async move {
                let mut largest = 0;
                for _ in 0..288 {
                    let mut record = session(Id::default(), 1);
                    record.data.insert("page".into(), page.as_str().into());
                    store.create(&mut record).await.expect("stored");
                    let size = std::fs::metadata(&wal).map_or(0, |file| file.len());
                    largest = largest.max(size);
                }
                largest
            })
        })
        .collect();
    let mut largest = 0;
    for visitor in visitors {
        largest = largest.max(visitor.await.expect("no panic"));
    }

    const MIB: u64 = 1024 * 1024;
    assert!(largest > MIB, "the log was never written: {largest} bytes");
    assert!(
        largest < 128 * MIB,
        "the log grew to {} MiB for 288 MiB of sessions",
        largest / MIB
    );
    assert_eq!(sql(&url, ROWS).await, 16 * 288);
}

// The app: step 5's, on this store, as a visitor sees it.

/// Step 5's app on a fast store whose sessions end after `idle` without a request, with
/// the demo login admin / 1234.
async fn app(url: &str, idle: Duration) -> App {
    let mut settings = Settings::new(Key::try_generate().expect("randomness for a key"));
    settings.timeouts = Timeouts {
        idle,
        absolute: Duration::from_secs(3600),
    };
    let store = FastStore::open(url, touch_interval(idle)).await;
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
    let dashboard = browser.get("/dashboard").await;
    let refused = browser.get("/").await;
    sql(&url, REPAIR).await;
    let counted = browser.get("/").await.body;

    assert_eq!(dashboard.status, 200, "{}", dashboard.body);
    let page = &dashboard.body;
    assert!(page.contains("Welcome user 1 to the dashboard"), "{page}");
    assert_eq!(refused.status, 500, "{}", refused.body);
    let refused = &refused.body;
    assert!(refused.contains("could not save your session"), "{refused}");
    assert!(
        counted.contains("Welcome! First visit."),
        "not counted: {counted}"
    );
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
