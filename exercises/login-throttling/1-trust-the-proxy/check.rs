//! Exercise login-throttling.1, "Trust the proxy, carefully": with `TRUSTED_PROXY` set to
//! the proxy's address, the throttle counts a failed login against the right-most address
//! in `X-Forwarded-For`, but only when the connection comes from that proxy. The check runs
//! the real server and connects from 127.0.0.1: the proxy when `TRUSTED_PROXY=127.0.0.1`,
//! a client sending a forged header otherwise. The address the throttle counts is the one
//! its `failed login counted` line names as `client=`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BINARY, Server, login_over_tcp};

/// A failed login sent with `X-Forwarded-For: forwarded_for`; the `client=` the throttle
/// logged for it.
fn counted_address(server: &Server, forwarded_for: &str) -> String {
    let header = format!("X-Forwarded-For: {forwarded_for}\r\n");
    let login = login_over_tcp(&server, &header, "username=admin&password=wrong");
    assert!(
        login.starts_with("HTTP/1.1 401"),
        "a wrong password sent through the proxy should answer 401, but the answer starts {:?}",
        login.lines().next().unwrap_or_default()
    );
    let log = server.log_with("failed login counted");
    let line = log
        .lines()
        .find(|line| line.contains("failed login counted"))
        .expect("the throttle logs each failed login it counts");
    line.split_whitespace()
        .find_map(|word| word.strip_prefix("client="))
        .expect("the failed login line names a client address")
        .to_string()
}

#[test]
fn the_proxy_s_forwarded_address_is_the_client_s() {
    let server = Server::start(BINARY, &[("TRUSTED_PROXY", "127.0.0.1")]);

    let address = counted_address(&server, "198.51.100.7");

    assert!(
        address == "198.51.100.7",
        "with TRUSTED_PROXY=127.0.0.1, a failed login that the proxy (127.0.0.1) forwards with 'X-Forwarded-For: 198.51.100.7' should count against 198.51.100.7, but the throttle counted (and logged) client={address}"
    );
}

#[test]
fn the_right_most_forwarded_address_is_the_one_the_proxy_added() {
    let server = Server::start(BINARY, &[("TRUSTED_PROXY", "127.0.0.1")]);

    // The client sent `X-Forwarded-For: 203.0.113.66` itself; the proxy appended the
    // address it saw. Only that last one is the proxy's word.
    let address = counted_address(&server, "203.0.113.66, 198.51.100.7");

    assert!(
        address == "198.51.100.7",
        "with 'X-Forwarded-For: 203.0.113.66, 198.51.100.7' from the trusted proxy, the client is the right-most address, 198.51.100.7 (the proxy added it; the client can write anything before it), but the throttle counted client={address}"
    );
}

#[test]
fn a_forged_header_from_a_client_that_is_not_the_proxy_is_ignored() {
    let server = Server::start(BINARY, &[("TRUSTED_PROXY", "192.0.2.1")]);

    let address = counted_address(&server, "198.51.100.7");

    assert!(
        address == "127.0.0.1",
        "with TRUSTED_PROXY=192.0.2.1, a client at 127.0.0.1 that sends 'X-Forwarded-For: 198.51.100.7' is not the proxy: its header must be ignored and the failure counted against 127.0.0.1, but the throttle counted client={address}"
    );
}

#[test]
fn a_second_forwarded_for_line_is_read_too() {
    let server = Server::start(BINARY, &[("TRUSTED_PROXY", "127.0.0.1")]);
    // Two header lines: the client's own, then the one the proxy added. HTTP reads them
    // as one list, `203.0.113.66, 198.51.100.7`.
    let address = counted_address(&server, "203.0.113.66\r\nX-Forwarded-For: 198.51.100.7");

    assert!(
        address == "198.51.100.7",
        "with two X-Forwarded-For lines from the trusted proxy ('203.0.113.66' from the client, then '198.51.100.7' the proxy added), the client is the right-most address of the last line, 198.51.100.7, but the throttle counted client={address}"
    );
}

#[test]
fn without_trusted_proxy_the_header_is_ignored() {
    let server = Server::start(BINARY, &[]);

    let address = counted_address(&server, "198.51.100.7");

    assert!(
        address == "127.0.0.1",
        "without TRUSTED_PROXY there is no proxy to believe: a client at 127.0.0.1 that sends 'X-Forwarded-For: 198.51.100.7' must be counted against 127.0.0.1 (or any client picks the address it is throttled under), but the throttle counted client={address}"
    );
}

#[test]
fn a_trusted_proxy_that_is_not_an_address_stops_the_server_with_one_line() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
    let mut server = Command::new(env!("CARGO_BIN_EXE_appendix-login-throttling"))
        .env("TRUSTED_PROXY", "my-proxy")
        .env("PORT", "0")
        .env("DATABASE_URL", url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.try_wait().expect("the server can be waited for") {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(5) {
            let _ = server.kill();
            let _ = server.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = server.wait_with_output().expect("the output can be read");
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert!(
        status.is_some_and(|status| !status.success())
            && stderr.trim().lines().count() == 1
            && stderr.contains("TRUSTED_PROXY"),
        "TRUSTED_PROXY=my-proxy is not an IP address: the server should stop with one line that names TRUSTED_PROXY, like any bad setting, but it {}",
        match status {
            None => "started anyway".to_string(),
            Some(_) => format!("wrote {:?}", stderr.trim()),
        }
    );
}
