//! The real binary over TCP: the wiring in `main` (port, logging, shutdown) works.

mod common;

use std::process::Command;

use common::{BINARY, Server, cookie_from};

#[test]
fn the_binary_serves_the_counter_and_remembers_the_browser() {
    let server = Server::start(BINARY, &[]);

    let first = server.request("GET / HTTP/1.1");
    let cookie = cookie_from(&first).expect("the first visit sets a cookie");
    let second = server.request(&format!("GET / HTTP/1.1\r\nCookie: {cookie}"));

    assert!(first.starts_with("HTTP/1.1 200 OK"), "{first}");
    assert!(first.contains("Welcome! First visit."), "{first}");
    assert!(second.contains("Number of visits: 2"), "{second}");
}

#[test]
fn the_log_gives_the_address_as_localhost_without_colour_codes() {
    let server = Server::start(BINARY, &[]);

    // `localhost`, the name the pages use: a browser keeps separate cookies for it and for
    // `127.0.0.1`. And stdout is a pipe here, where colour codes would be noise.
    assert!(
        server.log_line.contains("listening on http://localhost:"),
        "{:?}",
        server.log_line
    );
    assert!(!server.log_line.contains('\u{1b}'), "{:?}", server.log_line);
}

// Unix only: Windows has no SIGTERM to send (see `Server::terminate`).
#[cfg(unix)]
#[test]
fn sigterm_shuts_the_server_down_cleanly() {
    let server = Server::start(BINARY, &[]);

    let status = server.terminate();

    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}

#[test]
fn a_bad_port_is_refused_with_one_line() {
    let output = Command::new(BINARY)
        .env("PORT", "eighty")
        .output()
        .expect("the binary runs");

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("PORT"), "{stderr}");
}

#[test]
fn the_binary_logs_in_by_json_over_tcp() {
    let server = Server::start(BINARY, &[]);
    let body = r#"{"username":"admin","password":"1234"}"#;

    let login = server.request_with_body("POST /login HTTP/1.1", "application/json", body);
    let cookie = cookie_from(&login).expect("logging in sets a cookie");
    let dashboard = server.request(&format!("GET /dashboard HTTP/1.1\r\nCookie: {cookie}"));

    assert!(login.contains("Logged in successfully"), "{login}");
    assert!(
        dashboard.contains("Welcome user 1 to the dashboard"),
        "{dashboard}"
    );
}
