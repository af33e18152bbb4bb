//! The lesson: sessions live in SQLite, so they outlive the server process.

mod common;

use std::time::Duration;

use common::{Browser, Server, app_and_database, database_url, settings};
use sqlx::SqlitePool;
use step5_hardened::store;
use time::OffsetDateTime;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};

const GOOD_FORM: &str = "username=admin&password=1234";

/// Logs in over TCP and returns the session cookie.
fn log_in(server: &Server) -> String {
    server.log_in()
}

fn dashboard(server: &Server, cookie: &str) -> String {
    server.request(&format!("GET /dashboard HTTP/1.1\r\nCookie: {cookie}"))
}

/// Rows in the session table, read straight from the database file.
async fn session_rows(url: &str) -> i64 {
    let pool = SqlitePool::connect(url)
        .await
        .expect("the test can open the database");
    let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM tower_sessions")
        .fetch_one(&pool)
        .await
        .expect("the session table exists");
    pool.close().await;
    rows
}

/// Renames a table behind the running app's back: taking `tower_sessions` away makes every
/// store operation fail, as a broken database would; renaming it back repairs it.
async fn rename_table(admin: &SqlitePool, from: &str, to: &str) {
    sqlx::query(&format!("ALTER TABLE {from} RENAME TO {to}"))
        .execute(admin)
        .await
        .expect("rename the table");
}

#[test]
fn a_login_survives_a_graceful_restart() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let server = Server::start(&[("DATABASE_URL", &url)]);
    let cookie = log_in(&server);
    server.request(&format!("GET / HTTP/1.1\r\nCookie: {cookie}"));

    server.terminate();
    let restarted = Server::start(&[("DATABASE_URL", &url)]);

    let page = dashboard(&restarted, &cookie);
    assert!(page.contains("Welcome user 1 to the dashboard"), "{page}");
    let counter = restarted.request(&format!("GET / HTTP/1.1\r\nCookie: {cookie}"));
    assert!(
        counter.contains("Number of visits: 2"),
        "the count was kept: {counter}"
    );
}

#[test]
fn a_login_survives_the_server_being_killed() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let server = Server::start(&[("DATABASE_URL", &url)]);
    let cookie = log_in(&server);

    // SIGKILL right after the 200: no shutdown code runs, nothing is flushed by us.
    server.crash();
    let restarted = Server::start(&[("DATABASE_URL", &url)]);

    let page = dashboard(&restarted, &cookie);
    assert!(page.contains("Welcome user 1 to the dashboard"), "{page}");
}

#[test]
fn a_logout_survives_a_restart() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let server = Server::start(&[("DATABASE_URL", &url)]);
    let cookie = log_in(&server);
    let logout = server.log_out(&cookie);
    assert!(logout.contains("Logged out successfully"), "{logout}");

    server.crash();
    let restarted = Server::start(&[("DATABASE_URL", &url)]);

    let page = dashboard(&restarted, &cookie);
    assert!(page.starts_with("HTTP/1.1 401"), "{page}");
}

#[test]
fn the_database_file_is_created_when_missing() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("new.db");
    assert!(!path.exists());

    let server = Server::start(&[("DATABASE_URL", &format!("sqlite://{}", path.display()))]);

    assert!(path.exists());
    log_in(&server);
}

#[test]
fn a_database_that_cannot_be_opened_stops_the_server_with_one_line() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let not_a_database = dir.path().join("notes.txt");
    std::fs::write(
        &not_a_database,
        "these are not the sessions you are looking for\n",
    )
    .expect("write a text file");
    let cases = [
        format!(
            "sqlite://{}/missing/folder/sessions.db",
            dir.path().display()
        ),
        format!("sqlite://{}", not_a_database.display()),
        "postgres://localhost/sessions".to_string(),
    ];

    for url in cases {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_step5-hardened"))
            .env("DATABASE_URL", &url)
            .env("PORT", "0")
            .output()
            .expect("the binary runs");

        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{url} was accepted");
        assert_eq!(stderr.trim().lines().count(), 1, "{url}: {stderr}");
        assert!(stderr.starts_with("error: "), "{url}: {stderr}");
        assert!(!stderr.contains("panicked"), "{url}: {stderr}");
    }
}

#[tokio::test]
async fn a_database_that_can_only_be_read_is_refused_at_start() {
    let (_app, url) = app_and_database(settings()).await;

    // `mode=ro` opens it read-only, as SQLite quietly does with a file it may not write to.
    let opened = store::open(&format!("{url}?mode=ro")).await;

    assert!(opened.is_err(), "a read-only database was accepted");
}

#[tokio::test]
async fn visitors_who_store_nothing_cost_no_row_and_get_no_cookie() {
    let (app, url) = app_and_database(settings()).await;
    let mut browser = Browser::new(&app);

    // The login form is no longer among them: its CSRF token needs a session.
    let pages = [
        browser.get("/dashboard").await,
        browser.get("/style.css").await,
        browser.get("/no/such/page").await,
    ];

    for page in &pages {
        assert!(page.set_cookies().is_empty(), "{:?}", page.set_cookies());
    }
    assert_eq!(session_rows(&url).await, 0);
}

#[tokio::test]
async fn a_login_is_one_row_and_logging_out_deletes_it() {
    let (app, url) = app_and_database(settings()).await;
    let mut browser = Browser::new(&app);

    browser.post_form("/login", GOOD_FORM).await;
    let after_login = session_rows(&url).await;
    browser
        .post(
            "/logout",
            "application/x-www-form-urlencoded",
            String::new(),
        )
        .await;
    let after_logout = session_rows(&url).await;

    assert_eq!(after_login, 1);
    assert_eq!(after_logout, 0);
}

#[tokio::test]
async fn the_cleanup_task_deletes_expired_sessions_and_keeps_live_ones() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let store = store::open(&url).await.expect("the store opens");
    let now = OffsetDateTime::now_utc();
    for expiry_date in [
        now - time::Duration::minutes(5),
        now + time::Duration::hours(1),
    ] {
        let mut record = Record {
            id: Id::default(),
            data: Default::default(),
            expiry_date,
        };
        store
            .create(&mut record)
            .await
            .expect("the record is stored");
    }
    assert_eq!(session_rows(&url).await, 2);

    let task = tokio::spawn(store::delete_expired_every(
        store,
        Duration::from_millis(20),
    ));
    let mut rows = 2;
    for _ in 0..250 {
        rows = session_rows(&url).await;
        if rows == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();

    assert_eq!(rows, 1, "the expired row is gone, the live one stays");
}

#[tokio::test]
async fn a_store_failure_is_a_500_page_and_the_first_request_after_repair_succeeds() {
    let (app, url) = app_and_database(settings()).await;
    let mut logged_in = Browser::new(&app);
    logged_in.post_form("/login", GOOD_FORM).await;
    let admin = SqlitePool::connect(&url)
        .await
        .expect("the test can open the database");

    // Break the store under the running app: its table disappears.
    rename_table(&admin, "tower_sessions", "tower_sessions_away").await;
    let read_failure = logged_in.get("/dashboard").await;
    let save_failure = Browser::new(&app).get("/").await;
    rename_table(&admin, "tower_sessions_away", "tower_sessions").await;
    let repaired = logged_in.get("/dashboard").await;

    assert_eq!(read_failure.status, 500);
    assert!(
        read_failure.body.contains("Session store failed"),
        "{}",
        read_failure.body
    );
    assert_eq!(save_failure.status, 500);
    assert!(
        save_failure.body.contains("could not save your session"),
        "{}",
        save_failure.body
    );
    assert!(
        !save_failure.body.contains("tower_sessions"),
        "no internals: {}",
        save_failure.body
    );
    assert_eq!(repaired.status, 200, "{}", repaired.body);
}

#[tokio::test]
async fn a_visit_that_could_not_be_saved_is_not_counted_afterwards() {
    let (app, url) = app_and_database(settings()).await;
    let mut browser = Browser::new(&app);
    browser.get("/").await;
    browser.get("/").await;
    let admin = SqlitePool::connect(&url)
        .await
        .expect("the test can open the database");

    rename_table(&admin, "tower_sessions", "tower_sessions_away").await;
    let failed = browser.get("/").await;
    rename_table(&admin, "tower_sessions_away", "tower_sessions").await;
    let next = browser.get("/").await;

    assert_eq!(failed.status, 500, "{}", failed.body);
    // The third visit was refused: the next visit is the third one the database knows of.
    assert!(next.body.contains("Number of visits: 3"), "{}", next.body);
}

#[tokio::test]
async fn a_new_session_whose_id_is_taken_gets_a_fresh_one() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let store = store::open(&url).await.expect("the store opens");
    let record = |views: i32| Record {
        id: Id(7),
        data: [("views".to_string(), views.into())].into(),
        expiry_date: OffsetDateTime::now_utc() + time::Duration::hours(1),
    };

    let (mut first, mut second) = (record(1), record(2));
    store.create(&mut first).await.expect("stored");
    store.create(&mut second).await.expect("stored");

    assert_ne!(
        first.id, second.id,
        "the second session has an id of its own"
    );
    for (session, views) in [(&first, 1), (&second, 2)] {
        let loaded = store.load(&session.id).await.expect("loads");
        assert_eq!(loaded.map(|r| r.data["views"].clone()), Some(views.into()));
    }
}

#[tokio::test]
async fn a_save_never_brings_back_a_deleted_or_expired_session() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let store = store::open(&url).await.expect("the store opens");
    let new_record = |expires_in: time::Duration| Record {
        id: Id::default(),
        data: [("views".to_string(), 1.into())].into(),
        expiry_date: OffsetDateTime::now_utc() + expires_in,
    };
    let mut live = new_record(time::Duration::hours(1));
    let mut logged_out = new_record(time::Duration::hours(1));
    let mut expired = new_record(time::Duration::seconds(-1));
    for record in [&mut live, &mut logged_out, &mut expired] {
        store.create(record).await.expect("stored");
    }
    store.delete(&logged_out.id).await.expect("deleted");

    // Each save carries an expiry an hour away, as a request that read the session
    // before it ended would.
    for record in [&mut live, &mut logged_out, &mut expired] {
        record.data.insert("views".to_string(), 2.into());
        record.expiry_date = OffsetDateTime::now_utc() + time::Duration::hours(1);
        store
            .save(record)
            .await
            .expect("a save of a gone session is not an error");
    }

    let loaded = store.load(&live.id).await.expect("loads");
    assert_eq!(loaded.map(|r| r.data["views"].clone()), Some(2.into()));
    assert_eq!(store.load(&logged_out.id).await.expect("loads"), None);
    assert_eq!(store.load(&expired.id).await.expect("loads"), None);
    assert_eq!(
        session_rows(&url).await,
        2,
        "the expired row waits for the clean-up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_simultaneous_logins_all_succeed() {
    // Fifty logins to one account at the same instant look like an attack to the
    // throttle; this test is about the database, so the throttle is relaxed.
    let mut settings = settings();
    settings.throttle.account_failures = 1000;
    let (app, url) = app_and_database(settings).await;

    let logins = (0..50).map(|_| {
        let app = app.clone();
        tokio::spawn(async move {
            let mut browser = Browser::new(&app);
            let login = browser.post_form("/login", GOOD_FORM).await;
            let dashboard = browser.get("/dashboard").await;
            (login.status, dashboard.status, login.body)
        })
    });
    let results = join_all(logins).await;

    for (login, dashboard, body) in results {
        assert_eq!(login, 200, "{body}");
        assert_eq!(dashboard, 200);
        assert!(!body.contains("locked"), "{body}");
    }
    assert_eq!(session_rows(&url).await, 50);
}

/// Waits for every task, in order.
async fn join_all<T>(tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut results = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        results.push(task.await.expect("the task does not panic"));
    }
    results
}
