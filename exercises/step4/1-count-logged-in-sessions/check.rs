//! Exercise 4.1, "Count the logged-in sessions": the dashboard says how many sessions in
//! the database are logged in, as "Sessions logged in: N". The check drives the real
//! binary, on a database of its own, as several browsers would.

mod common;

use common::{Server, cookie_from};

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

/// What the page says about the count, for the verdict.
fn what_it_says(page: &str) -> String {
    match page.split_once("Sessions logged in: ") {
        Some((_, rest)) => format!(
            "it says 'Sessions logged in: {}'",
            rest.split('<').next().unwrap_or_default().trim()
        ),
        None if !page.starts_with("HTTP/1.1 200") => {
            format!("it answers {}", page.lines().next().unwrap_or_default())
        }
        None => "it has no 'Sessions logged in: N' line".to_string(),
    }
}

#[test]
fn the_dashboard_counts_two_browsers_logged_in_and_not_a_visitor() {
    let server = Server::start(&[]);
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
        page.contains("Sessions logged in: 2"),
        "after logging in from two browsers (and visiting / from a third, without logging in), the dashboard should say 'Sessions logged in: 2', but {}",
        what_it_says(&page)
    );
}

#[test]
fn a_logout_is_counted_at_once() {
    let server = Server::start(&[]);
    let laptop = log_in(&server);
    let phone = log_in(&server);

    let logout = server.request(&format!("POST /logout HTTP/1.1\r\nCookie: {phone}"));
    assert!(logout.starts_with("HTTP/1.1 200"), "{logout}");
    let page = dashboard(&server, &laptop);

    assert!(
        page.contains("Sessions logged in: 1"),
        "after two logins and one logout, the dashboard should say 'Sessions logged in: 1', but {}",
        what_it_says(&page)
    );
}
