//! The lesson: the hardened app made fast, with the same rules. Reads are answered from
//! memory, writes are committed in batches, and still a logged-out session never comes
//! back, through the cache or through the table.

mod common;

use appendix_fast_sqlite::cache::Cache;
use appendix_fast_sqlite::store;
use common::{Browser, COOKIE, app_and_database, database_url, settings};
use sqlx::SqlitePool;
use time::OffsetDateTime;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};

const GOOD_FORM: &str = "username=admin&password=1234";

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

/// The database file as another program sees it: its rows, and a way to break it.
struct Database {
    pool: SqlitePool,
}

impl Database {
    async fn open(url: &str) -> Self {
        let pool = SqlitePool::connect(url)
            .await
            .expect("the test can open the database");
        Self { pool }
    }

    /// Rows in the session table.
    async fn session_rows(&self) -> i64 {
        let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM tower_sessions")
            .fetch_one(&self.pool)
            .await
            .expect("the session table exists");
        rows
    }

    /// Takes the session table away, so that every query on it fails, as a broken
    /// database would; [`Database::repair`] puts it back.
    async fn break_table(&self) {
        self.rename("tower_sessions", "tower_sessions_away").await;
    }

    async fn repair(&self) {
        self.rename("tower_sessions_away", "tower_sessions").await;
    }

    async fn rename(&self, from: &str, to: &str) {
        sqlx::query(&format!("ALTER TABLE {from} RENAME TO {to}"))
            .execute(&self.pool)
            .await
            .expect("rename the table");
    }
}

// The cache's rule, with the moments of a race taken one at a time: a read or a save of
// the table notes the cache's change count first, and a logout (or a newer save) in
// between refuses the copy it brings back.

#[tokio::test]
async fn a_session_read_with_nothing_in_between_is_kept_in_memory() {
    let cache = Cache::new(100);
    let record = session(Id::default(), 1);

    let seen = cache.note().await;
    let kept = cache.fill(seen, &record).await;

    assert!(kept);
    assert_eq!(views(cache.get(&record.id).await), Some(1));
}

#[tokio::test]
async fn a_read_that_began_before_a_logout_does_not_put_the_session_back_in_memory() {
    let cache = Cache::new(100);
    let record = session(Id::default(), 1);

    // A request misses the cache and reads the row...
    let seen = cache.note().await;
    // ...meanwhile another tab logs out: the row is deleted, the cache told...
    cache.forget(&[record.id]).await;
    // ...and the first request comes back with the row it read before the logout.
    let kept = cache.fill(seen, &record).await;

    assert!(!kept);
    assert_eq!(cache.get(&record.id).await, None);
}

#[tokio::test]
async fn a_save_that_found_the_row_before_a_logout_does_not_put_the_session_back_in_memory() {
    let cache = Cache::new(100);
    let record = session(Id::default(), 2);

    // The writer's UPDATE finds the live row and commits...
    let seen = cache.note().await;
    // ...a logout deletes the row before the writer updates the cache...
    cache.forget(&[record.id]).await;
    // ...and the writer reports the session as updated.
    cache.saved(seen, &[&record], &[]).await;

    assert_eq!(cache.get(&record.id).await, None);
}

#[tokio::test]
async fn a_read_that_began_before_a_save_does_not_replace_the_saved_state_in_memory() {
    let cache = Cache::new(100);
    let id = Id::default();

    // A request reads the session with 1 visit; meanwhile another tab's save of 2
    // visits commits and reaches the cache; then the read comes back with 1.
    let read_seen = cache.note().await;
    let save_seen = cache.note().await;
    cache.saved(save_seen, &[&session(id, 2)], &[]).await;
    cache.fill(read_seen, &session(id, 1)).await;

    assert_eq!(views(cache.get(&id).await), Some(2));
}

// The store: the cache and the batched writer together, through the `SessionStore`
// methods tower-sessions calls.

#[tokio::test]
async fn a_session_read_once_is_answered_from_memory_while_the_table_is_unreadable() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let store = store::open(&url).await.expect("the store opens");
    let database = Database::open(&url).await;
    let mut record = session(Id::default(), 1);
    store.create(&mut record).await.expect("stored");
    store.load(&record.id).await.expect("the first read");

    database.break_table().await;
    let from_memory = store.load(&record.id).await;
    let never_read = store.load(&Id::default()).await;
    database.repair().await;

    assert_eq!(views(from_memory.expect("no database needed")), Some(1));
    assert!(
        never_read.is_err(),
        "an unknown session is looked up in SQLite"
    );
}

#[tokio::test]
async fn a_save_that_finds_no_row_does_not_put_the_session_back_in_memory() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let store = store::open(&url).await.expect("the store opens");
    let mut record = session(Id::default(), 1);
    store.create(&mut record).await.expect("stored");
    // A slow request reads the session (and the cache keeps it)...
    let read = store
        .load(&record.id)
        .await
        .expect("loads")
        .expect("the session is there");
    // ...another tab logs out...
    store.delete(&record.id).await.expect("deleted");
    // ...and the slow request saves what it read, with one more visit.
    let mut changed = read;
    changed.data.insert("views".to_string(), 2.into());
    store
        .save(&changed)
        .await
        .expect("a save of a gone session is not an error");

    assert_eq!(store.load(&record.id).await.expect("loads"), None);
    assert_eq!(Database::open(&url).await.session_rows().await, 0);
}

// On this single-threaded runtime the writer runs only once the test waits, so the
// writes started together by `join!` all reach it in one batch.
#[tokio::test]
async fn a_batch_of_saves_never_brings_back_a_deleted_session() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let store = store::open(&url).await.expect("the store opens");
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
    saved_logged_out.expect("a save of a gone session is not an error");

    assert_eq!(views(store.load(&live.id).await.expect("loads")), Some(2));
    assert_eq!(store.load(&logged_out.id).await.expect("loads"), None);
    let reopened = store::open(&url).await.expect("the store opens again");
    assert_eq!(reopened.load(&logged_out.id).await.expect("loads"), None);
    assert_eq!(Database::open(&url).await.session_rows().await, 1);
}

// Single-threaded, as above: the writes started by one `join!` form one batch.
#[tokio::test]
async fn new_sessions_that_draw_the_same_id_each_get_a_row_of_their_own() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let store = store::open(&url).await.expect("the store opens");

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
    assert_eq!(Database::open(&url).await.session_rows().await, 4);
    // Read back through a second store, whose memory is empty: each row holds its own data.
    let reopened = store::open(&url).await.expect("the store opens again");
    for (record, count) in [(&first, 1), (&second, 2), (&third, 3), (&fourth, 4)] {
        let loaded = reopened.load(&record.id).await.expect("loads");
        assert_eq!(views(loaded), Some(count));
    }
}

// Single-threaded, as above: the three saves reach the writer in one batch.
#[tokio::test]
async fn of_simultaneous_saves_of_one_session_the_last_is_kept() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let store = store::open(&url).await.expect("the store opens");
    let mut record = session(Id::default(), 1);
    store.create(&mut record).await.expect("stored");
    store.load(&record.id).await.expect("loads");

    let (two, three, four) = (
        session(record.id, 2),
        session(record.id, 3),
        session(record.id, 4),
    );
    let saved = tokio::join!(store.save(&two), store.save(&three), store.save(&four));
    for result in [saved.0, saved.1, saved.2] {
        result.expect("saved");
    }

    let in_memory = store.load(&record.id).await.expect("loads");
    let reopened = store::open(&url).await.expect("the store opens again");
    let in_table = reopened.load(&record.id).await.expect("loads");
    assert_eq!(views(in_memory), Some(4));
    assert_eq!(views(in_table), Some(4));
    assert_eq!(Database::open(&url).await.session_rows().await, 1);
}

#[tokio::test]
async fn a_save_the_database_refused_is_not_remembered_in_memory() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let store = store::open(&url).await.expect("the store opens");
    let database = Database::open(&url).await;
    let mut record = session(Id::default(), 1);
    store.create(&mut record).await.expect("stored");
    store.load(&record.id).await.expect("loads");

    database.break_table().await;
    let refused = store.save(&session(record.id, 2)).await;
    database.repair().await;

    assert!(refused.is_err());
    assert_eq!(
        views(store.load(&record.id).await.expect("loads")),
        Some(1),
        "the session is as the database has it"
    );
}

/// Many rounds of one session's tabs reading and saving while one of them logs out, on
/// two threads, so that the store's steps interleave in many orders. Whatever the order,
/// once the logout has answered the session is gone from memory and from the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_racing_other_tabs_never_brings_the_session_back() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let store = store::open(&url).await.expect("the store opens");

    for round in 0..1000 {
        let mut record = session(Id::default(), 1);
        store.create(&mut record).await.expect("stored");
        let id = record.id;
        // Every other round the session starts in memory; otherwise the readers fill it.
        if round % 2 == 0 {
            store.load(&id).await.expect("loads");
        }

        let mut tabs = Vec::new();
        for tab in 0..6 {
            let store = store.clone();
            tabs.push(tokio::spawn(async move {
                if tab % 2 == 0 {
                    store.load(&id).await.map(drop)
                } else {
                    store.save(&session(id, 2 + tab)).await
                }
            }));
        }
        let logout = {
            let store = store.clone();
            tokio::spawn(async move { store.delete(&id).await })
        };
        for tab in tabs {
            tab.await.expect("no panic").expect("the store works");
        }
        logout.await.expect("no panic").expect("logged out");

        assert_eq!(
            store.load(&id).await.expect("loads"),
            None,
            "round {round}: the session came back"
        );
    }
    assert_eq!(Database::open(&url).await.session_rows().await, 0);
}

// The app: what a visitor sees.

#[tokio::test]
async fn the_dashboard_is_answered_from_memory_and_a_visit_that_cannot_be_saved_is_a_500_page() {
    let (app, url) = app_and_database(settings()).await;
    let database = Database::open(&url).await;
    let mut browser = Browser::new(&app);
    browser.post_form("/login", GOOD_FORM).await;
    let first = browser.get("/dashboard").await;

    // Reading the dashboard again needs no database: it is read-only, and the session
    // is in memory. Counting a visit is a write, and a write must reach the database.
    database.break_table().await;
    let dashboard = browser.get("/dashboard").await;
    let visit = browser.get("/").await;
    database.repair().await;
    let repaired = browser.get("/").await;

    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(dashboard.status, 200, "{}", dashboard.body);
    assert!(
        dashboard.body.contains("Welcome user 1 to the dashboard"),
        "{}",
        dashboard.body
    );
    assert_eq!(visit.status, 500, "{}", visit.body);
    assert!(
        visit.body.contains("could not save your session"),
        "{}",
        visit.body
    );
    assert!(
        repaired.body.contains("Welcome! First visit."),
        "the refused visit was not counted: {}",
        repaired.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_while_other_tabs_load_pages_logs_every_tab_out() {
    let settings = settings();
    let (app, url) = app_and_database(settings.clone()).await;

    for round in 0..10 {
        let mut browser = Browser::new(&app);
        browser.post_form("/login", GOOD_FORM).await;
        let cookie = browser.session_cookie().expect("logged in");
        // The dashboard holds the logout form, and its token.
        browser.get("/dashboard").await;
        let token = browser.token().await;

        // Other tabs read the dashboard and count visits (a write) while this one logs out.
        let tabs: Vec<_> = (0..4)
            .map(|tab| {
                let mut other = Browser::new(&app);
                other.set_cookie(COOKIE, &cookie);
                let path = if tab % 2 == 0 { "/dashboard" } else { "/" };
                tokio::spawn(async move {
                    for _ in 0..3 {
                        other.get(path).await;
                    }
                })
            })
            .collect();
        let logout = browser
            .post_raw(
                "/logout",
                "application/x-www-form-urlencoded",
                format!("_csrf={token}"),
                None,
            )
            .await;
        for tab in tabs {
            tab.await.expect("no panic");
        }

        assert!(
            logout.body.contains("Logged out successfully"),
            "round {round}: {}",
            logout.body
        );
        // The old cookie, from this server's memory and from a fresh server's table.
        let restarted = appendix_fast_sqlite::app(
            store::open(&url).await.expect("the store opens again"),
            settings.clone(),
        );
        for server in [&app, &restarted] {
            let mut late_tab = Browser::new(server);
            late_tab.set_cookie(COOKIE, &cookie);
            let page = late_tab.get("/dashboard").await;
            assert_eq!(page.status, 401, "round {round}: {}", page.body);
        }
    }
}
