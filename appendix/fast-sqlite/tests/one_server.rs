//! One server per database file: the cache is right only if every logout goes through
//! it, so a second server on the same file refuses to start.

use std::process::{Command, Stdio};
use std::time::Duration;

use test_kit::Server;

const BINARY: &str = env!("CARGO_BIN_EXE_appendix-fast-sqlite");

/// The server binary on the database `url`, on a port the system picks, for the one that
/// must refuse to start (the kit's [`Server`] waits for a server that listens).
fn server(url: &str) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env("PORT", "0")
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "info")
        .env_remove("SESSION_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

#[test]
fn a_second_server_on_the_same_database_refuses_to_start_and_a_killed_one_frees_it() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}", dir.path().join("sessions.db").display());

    let first = Server::start(BINARY, &[("DATABASE_URL", &url)]);
    let mut second = server(&url).spawn().expect("the second server runs");
    // It should stop at once; should it serve instead, it is killed after 30 s (and its
    // status is then no exit code at all).
    let _ = (0..300).find_map(|_| {
        std::thread::sleep(Duration::from_millis(100));
        second.try_wait().ok().flatten()
    });
    let _ = second.kill();
    let second = second.wait_with_output().expect("its status and errors");
    let message = String::from_utf8_lossy(&second.stderr);
    // Killed, not stopped: the operating system releases the lock all the same.
    first.crash();
    let third = Server::start(BINARY, &[("DATABASE_URL", &url)]);
    third.crash();

    assert_eq!(second.status.code(), Some(1), "{message}");
    assert!(
        message.starts_with("error: another server is using the session database"),
        "{message}"
    );
    assert_eq!(message.trim_end().lines().count(), 1, "one line: {message}");
}
