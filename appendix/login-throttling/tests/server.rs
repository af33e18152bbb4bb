//! The real server, as `cargo run` starts it: the throttle is in place, and every failure
//! and every refusal is in the log with the username and the client's address (OWASP ASVS
//! 7.2.1), so whoever watches the log can see a guesser at work.

mod common;

use common::{BINARY, Server, line_with, login_over_tcp};

#[test]
fn failures_and_refusals_are_logged_with_the_username_and_the_address() {
    let server = Server::start(BINARY, &[]);
    for _ in 0..5 {
        let answer = login_over_tcp(&server, "", "username=mallory&password=hunter2");
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }

    let answer = login_over_tcp(&server, "", "username=mallory&password=hunter3");

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
