//! One server per database file: the cache is right only if every logout goes through
//! it, so a second server on the same file refuses to start.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The server binary on the database `url`, on a port the system picks.
fn server(url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_appendix-session-cache"));
    command
        .env("PORT", "0")
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "info")
        .env_remove("SESSION_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Starts a server and waits for its "listening on" line.
fn start(url: &str) -> Child {
    let mut child = server(url).spawn().expect("the server starts");
    let stdout = child.stdout.take().expect("its output");
    let (lines, listening) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("listening on http://") {
                let _ = lines.send(());
            }
        }
    });
    if listening.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        panic!("the server did not say it was listening");
    }
    child
}

#[test]
fn a_second_server_on_the_same_database_refuses_to_start_and_a_killed_one_frees_it() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}", dir.path().join("sessions.db").display());

    let mut first = start(&url);
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
    first.kill().expect("killed");
    first.wait().expect("ended");
    let mut third = start(&url);
    third.kill().expect("killed");
    third.wait().expect("ended");

    assert_eq!(second.status.code(), Some(1), "{message}");
    assert!(
        message.starts_with("error: another server is using the session database"),
        "{message}"
    );
    assert_eq!(message.trim_end().lines().count(), 1, "one line: {message}");
}
