//! The lesson: sessions live in SQLite, so they outlive the server process.

mod common;

use common::{BINARY, Browser, Server, TEST_SECRET, app_and_database, database_url};
use sqlx::SqlitePool;
use step5_hardened::store;
use time::{Duration, OffsetDateTime};
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};

const GOOD_FORM: &str = "username=admin&password=1234";

/// This step's server on the database at `url`, with a secret, so that its sessions
/// stay valid across a restart.
fn start(url: &str) -> Server {
    let secret = ("SESSION_SECRET", TEST_SECRET);
    Server::start(BINARY, &[("DATABASE_URL", url), secret])
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
async fn rename_table(url: &str, from: &str, to: &str) {
    let admin = SqlitePool::connect(url)
        .await
        .expect("the test can open the database");
    sqlx::query(&format!("ALTER TABLE {from} RENAME TO {to}"))
        .execute(&admin)
        .await
        .expect("rename the table");
    admin.close().await;
}

#[test]
fn a_login_survives_a_graceful_restart() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let server = start(&url);
    let cookie = server.log_in();
    server.request(&format!("GET / HTTP/1.1\r\nCookie: {cookie}"));

    server.terminate();
    let restarted = start(&url);

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
    let server = start(&url);
    let cookie = server.log_in();

    // SIGKILL right after the 200: no shutdown code runs, nothing is flushed by us.
    server.crash();
    let restarted = start(&url);

    let page = dashboard(&restarted, &cookie);
    assert!(page.contains("Welcome user 1 to the dashboard"), "{page}");
}

#[test]
fn a_logout_survives_a_restart() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let server = start(&url);
    let cookie = server.log_in();
    let logout = server.request(&format!("POST /logout HTTP/1.1\r\nCookie: {cookie}"));
    assert!(logout.contains("Logged out successfully"), "{logout}");

    server.crash();
    let restarted = start(&url);

    let page = dashboard(&restarted, &cookie);
    assert!(page.starts_with("HTTP/1.1 401"), "{page}");
}

#[test]
fn the_database_file_is_created_when_missing() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("new.db");
    assert!(!path.exists());

    let server = Server::start(
        BINARY,
        &[("DATABASE_URL", &format!("sqlite://{}", path.display()))],
    );

    assert!(path.exists());
    server.log_in();
}

#[test]
fn a_database_that_cannot_be_opened_stops_the_server_with_one_line() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let not_a_database = dir.path().join("notes.txt");
    std::fs::write(&not_a_database, "some notes, not a database\n").expect("write a text file");
    let cases = [
        format!(
            "sqlite://{}/missing/folder/sessions.db",
            dir.path().display()
        ),
        format!("sqlite://{}", not_a_database.display()),
        "postgres://localhost/sessions".to_string(),
    ];

    for url in cases {
        let output = std::process::Command::new(BINARY)
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
    let (_app, url) = app_and_database().await;

    // `mode=ro` opens it read-only, as SQLite quietly does with a file it may not write to.
    let opened = store::open(&format!("{url}?mode=ro")).await;

    assert!(opened.is_err(), "a read-only database was accepted");
}

#[tokio::test]
async fn visitors_who_store_nothing_cost_no_row_and_get_no_cookie() {
    let (app, url) = app_and_database().await;
    let mut browser = Browser::new(&app);

    let pages = [
        browser.get("/login").await,
        browser.get("/dashboard").await,
        browser
            .post_form("/login", "username=admin&password=wrong")
            .await,
    ];

    for page in &pages {
        assert!(page.set_cookies().is_empty(), "{:?}", page.set_cookies());
    }
    assert_eq!(session_rows(&url).await, 0);
}

#[tokio::test]
async fn a_login_is_one_row_and_logging_out_deletes_it() {
    let (app, url) = app_and_database().await;
    let mut browser = Browser::new(&app);

    browser.post_form("/login", GOOD_FORM).await;
    let after_login = session_rows(&url).await;
    browser.post_form("/logout", "").await;
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
    for expiry_date in [now - Duration::minutes(5), now + Duration::hours(1)] {
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

    let period = std::time::Duration::from_millis(20);
    let task = tokio::spawn(store::delete_expired_every(store, period));
    let mut rows = 2;
    for _ in 0..250 {
        rows = session_rows(&url).await;
        if rows == 1 {
            break;
        }
        tokio::time::sleep(period).await;
    }
    task.abort();

    assert_eq!(rows, 1, "the expired row is gone, the live one stays");
}

#[tokio::test]
async fn a_store_failure_is_a_500_page_and_the_first_request_after_repair_succeeds() {
    let (app, url) = app_and_database().await;
    let mut logged_in = Browser::new(&app);
    logged_in.post_form("/login", GOOD_FORM).await;

    // Break the store under the running app: its table disappears.
    rename_table(&url, "tower_sessions", "tower_sessions_away").await;
    let read_failure = logged_in.get("/dashboard").await;
    let save_failure = Browser::new(&app).get("/").await;
    rename_table(&url, "tower_sessions_away", "tower_sessions").await;
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
    let (app, url) = app_and_database().await;
    let mut browser = Browser::new(&app);
    browser.get("/").await;
    browser.get("/").await;

    rename_table(&url, "tower_sessions", "tower_sessions_away").await;
    let failed = browser.get("/").await;
    rename_table(&url, "tower_sessions_away", "tower_sessions").await;
    let next = browser.get("/").await;

    assert_eq!(failed.status, 500, "{}", failed.body);
    // The third visit was refused and its count never reached the database: the next
    // visit is the third one the database knows of.
    assert!(next.body.contains("Number of visits: 3"), "{}", next.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_simultaneous_logins_all_succeed() {
    let (app, url) = app_and_database().await;

    let mut logins = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let app = app.clone();
        logins.spawn(async move {
            let mut browser = Browser::new(&app);
            let login = browser.post_form("/login", GOOD_FORM).await;
            let dashboard = browser.get("/dashboard").await;
            (login.status, dashboard.status, login.body)
        });
    }

    while let Some(result) = logins.join_next().await {
        let (login, dashboard, body) = result.expect("the task does not panic");
        assert_eq!(login, 200, "{body}");
        assert_eq!(dashboard, 200);
        assert!(!body.contains("locked"), "{body}");
    }
    assert_eq!(session_rows(&url).await, 50);
}
