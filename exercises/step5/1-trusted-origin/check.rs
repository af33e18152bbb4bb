//! Exercise 5.1, "Let a sibling site post": the setting `TRUSTED_ORIGIN` names one more
//! origin whose posts the cross-origin check accepts; every other origin is still refused,
//! and a value that is no origin stops the server with one line. The check drives the real
//! binary, as a browser on each origin would.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use common::{BINARY, Server, database_url};

const TRUSTED: &str = "http://localhost:4000";

/// A JSON login posted with the labels a browser adds (`Origin`, `Sec-Fetch-Site`).
fn log_in_with(server: &Server, labels: &[(&str, &str)]) -> String {
    let mut head = "POST /login HTTP/1.1".to_string();
    for (name, value) in labels {
        head.push_str(&format!("\r\n{name}: {value}"));
    }
    server.request_with_body(
        &head,
        "application/json",
        r#"{"username":"admin","password":"1234"}"#,
    )
}

/// The status line of a raw response, for the verdict.
fn status(response: &str) -> &str {
    response.lines().next().unwrap_or("nothing")
}

#[test]
fn a_login_from_the_trusted_origin_is_accepted() {
    let server = Server::start(BINARY, &[("TRUSTED_ORIGIN", TRUSTED)]);

    let login = log_in_with(
        &server,
        &[("Origin", TRUSTED), ("Sec-Fetch-Site", "same-site")],
    );

    assert!(
        login.starts_with("HTTP/1.1 200") && login.contains("Logged in successfully"),
        "with TRUSTED_ORIGIN={TRUSTED}, a login posted from a page of {TRUSTED} (Origin: {TRUSTED}, Sec-Fetch-Site: same-site) should be accepted with 200, but it answers {}",
        status(&login)
    );
}

#[test]
fn other_origins_are_still_refused() {
    let server = Server::start(BINARY, &[("TRUSTED_ORIGIN", TRUSTED)]);
    for origin in [
        "http://localhost:5000",
        "http://localhost:4000.evil.example",
    ] {
        let login = log_in_with(
            &server,
            &[("Origin", origin), ("Sec-Fetch-Site", "same-site")],
        );

        assert!(
            login.starts_with("HTTP/1.1 403"),
            "with TRUSTED_ORIGIN={TRUSTED}, a login posted from {origin} should still be refused with 403 Forbidden (only the exact origin is trusted), but it answers {}",
            status(&login)
        );
    }
}

#[test]
fn a_login_from_our_own_pages_still_works() {
    let server = Server::start(BINARY, &[("TRUSTED_ORIGIN", TRUSTED)]);
    let own = format!("http://{}", server.addr);

    let login = log_in_with(
        &server,
        &[("Origin", &own), ("Sec-Fetch-Site", "same-origin")],
    );

    assert!(
        login.starts_with("HTTP/1.1 200") && login.contains("Logged in successfully"),
        "with TRUSTED_ORIGIN set, a login posted from the server's own page should still be accepted with 200, but it answers {}",
        status(&login)
    );
}

#[test]
fn a_malformed_trusted_origin_stops_the_server_with_one_line() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut child = Command::new(env!("CARGO_BIN_EXE_step5-hardened"))
        .env("DATABASE_URL", database_url(&dir))
        .env("PORT", "0")
        .env("RUST_LOG", "info")
        .env("TRUSTED_ORIGIN", "not-an-origin")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    // The log goes to stdout: it ends when the server exits, or says it is listening.
    let stdout = child.stdout.take().expect("stdout is piped");
    let started = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("listening on"));
    if started {
        let _ = child.kill();
    }
    let exit = child.wait().expect("the server exits");
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }

    assert!(
        !started,
        "TRUSTED_ORIGIN=not-an-origin should stop the server with one line that names TRUSTED_ORIGIN, but the server started"
    );
    assert!(
        !exit.success(),
        "TRUSTED_ORIGIN=not-an-origin should stop the server with a failure (exit 1), but it exits with success"
    );
    assert!(
        stderr.trim().lines().count() == 1 && stderr.contains("TRUSTED_ORIGIN"),
        "TRUSTED_ORIGIN=not-an-origin should be reported in one line on stderr that names TRUSTED_ORIGIN, but stderr says {stderr:?}"
    );
}
