//! Exercise 4.1, "Count the logged-in sessions": the dashboard says how many sessions in
//! the database are logged in, as "Sessions logged in: N". The check drives the real
//! binary, on a database of its own, as several browsers would, and restarts it: a count
//! kept in the server's memory would be right until then, and wrong after.

mod common;

use std::str::FromStr;

use common::{BINARY, Server, cookie_from, database_url};
use time::{Duration, OffsetDateTime};
use tower_sessions::SessionStore;
use tower_sessions::session::Id;

/// Logs in over TCP as a browser submitting the form; returns its session cookie.
fn log_in(server: &Server) -> String {
    let login = server.request_with_body(
        "POST /login HTTP/1.1",
        "application/x-www-form-urlencoded",
        "username=admin&password=1234",
    );
    cookie_from(&login).expect("logging in sets a cookie")
}

fn dashboard(server: &Server, cookie: &str) -> String {
    server.request(&format!("GET /dashboard HTTP/1.1\r\nCookie: {cookie}"))
}

/// The page's text without its tags, spaces collapsed: `Sessions logged in:
/// <strong>2</strong>` reads `Sessions logged in: 2`, as a user sees it.
fn text_of(page: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in page.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether the page says "Sessions logged in: N".
fn says_count(page: &str, n: usize) -> bool {
    text_of(page).contains(&format!("Sessions logged in: {n}"))
}

/// What the page says about the count, for the verdict.
fn what_it_says(page: &str) -> String {
    let text = text_of(page);
    match text.split_once("Sessions logged in: ") {
        Some((_, rest)) => format!(
            "it says 'Sessions logged in: {}'",
            rest.split(' ').next().unwrap_or_default()
        ),
        None if !page.starts_with("HTTP/1.1 200") => {
            format!("it answers {}", page.lines().next().unwrap_or_default())
        }
        None => "it has no 'Sessions logged in: N' line".to_string(),
    }
}

#[test]
fn the_dashboard_counts_two_browsers_logged_in_and_not_a_visitor() {
    let server = Server::start(BINARY, &[]);
    let laptop = log_in(&server);
    let _phone = log_in(&server);
    // A third browser only counts its visits: it has a session (a row), but no login.
    let visitor = server.request("GET / HTTP/1.1");
    assert!(
        cookie_from(&visitor).is_some(),
        "a visit to / starts a session"
    );

    let page = dashboard(&server, &laptop);

    assert!(
        says_count(&page, 2),
        "after logging in from two browsers (and visiting / from a third, without logging in), the dashboard should say 'Sessions logged in: 2', but {}",
        what_it_says(&page)
    );
}

#[test]
fn the_count_is_read_from_the_database_after_a_restart() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let server = Server::start(BINARY, &[("DATABASE_URL", &url)]);
    let laptop = log_in(&server);
    let _phone = log_in(&server);
    server.terminate();

    // The two logins are rows in the database; the new process knows them only from there.
    let restarted = Server::start(BINARY, &[("DATABASE_URL", &url)]);
    let _tablet = log_in(&restarted);
    let page = dashboard(&restarted, &laptop);

    assert!(
        says_count(&page, 3),
        "after two logins, a restart of the server and one more login, the dashboard should say 'Sessions logged in: 3' (count the rows of the database, not something kept in the server's memory), but {}",
        what_it_says(&page)
    );
}

#[test]
fn a_logout_is_counted_at_once() {
    let server = Server::start(BINARY, &[]);
    let laptop = log_in(&server);
    let phone = log_in(&server);

    let logout = server.request(&format!("POST /logout HTTP/1.1\r\nCookie: {phone}"));
    assert!(logout.starts_with("HTTP/1.1 200"), "{logout}");
    let page = dashboard(&server, &laptop);

    assert!(
        says_count(&page, 1),
        "after two logins and one logout, the dashboard should say 'Sessions logged in: 1', but {}",
        what_it_says(&page)
    );
}

#[tokio::test]
async fn an_expired_login_is_not_counted() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let server = Server::start(BINARY, &[("DATABASE_URL", &url)]);
    let laptop = log_in(&server);
    let phone = log_in(&server);

    // The phone's session, as if its browser had been quiet for longer than a session
    // lives: its row is still in the table until the clean-up task's next round, but it
    // is no session any more (the store refuses to load it).
    let store = step4_persistent::store::open(&url)
        .await
        .expect("the server's database opens");
    let (_, id) = phone.split_once('=').expect("the cookie is name=id");
    let id = Id::from_str(id).expect("the cookie holds a session id");
    let mut record = store
        .load(&id)
        .await
        .expect("the database answers")
        .expect("the phone's session is in the database");
    record.expiry_date = OffsetDateTime::now_utc() - Duration::minutes(5);
    store.save(&record).await.expect("the database answers");
    let page = dashboard(&server, &laptop);

    assert!(
        says_count(&page, 1),
        "a session whose expiry date has passed is no login any more, even while its row waits for the clean-up task: after two logins, one of them expired, the dashboard should say 'Sessions logged in: 1', but {}",
        what_it_says(&page)
    );
}
