//! The real server, as `cargo run` starts it: the throttle is in place, and every failure
//! and every refusal is in the log with the username and the client's address (OWASP ASVS
//! 7.2.1), so whoever watches the log can see a guesser at work.

mod common;

use common::Server;

/// The first line of `log` that contains `text`.
fn line_with<'log>(log: &'log str, text: &str) -> &'log str {
    log.lines()
        .find(|line| line.contains(text))
        .unwrap_or_else(|| panic!("no {text:?} in the log:\n{log}"))
}

#[test]
fn failures_and_refusals_are_logged_with_the_username_and_the_address() {
    let server = Server::start(&[]);
    for _ in 0..5 {
        let answer = server.login("", "username=mallory&password=hunter2");
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }

    let answer = server.login("", "username=mallory&password=hunter3");

    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(answer.contains("retry-after: "), "{answer}");
    let log = server.log_with("login throttled");
    let counted = line_with(&log, "failed login counted");
    let throttled = line_with(&log, "login throttled");
    for line in [counted, throttled] {
        assert!(line.contains(r#"username="mallory""#), "{line}");
        assert!(line.contains("client=127.0.0.1"), "{line}");
    }
    assert!(!log.contains("hunter"), "no password in the log:\n{log}");
}
