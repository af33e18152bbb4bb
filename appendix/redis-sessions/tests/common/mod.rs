//! A throwaway Redis server for the tests, and the app on it: in the test's process, or
//! the binary started as a user starts it.
//!
//! Written here rather than taken from a crate: `testcontainers` needs Docker, and the
//! crates that start `redis-server` themselves cannot restart it on the same port and
//! files, which the restart tests need. Nothing to set up but Debian's `redis-server`
//! package (or Homebrew's `redis`), which brings `redis-cli` too.

#![allow(dead_code)] // Each test file uses its own part of this.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use step5_hardened::Settings;
pub use test_kit::{App, Browser, GOOD_FORM, Server, TEST_SECRET};
use tower_sessions::cookie::Key;

/// What a machine without Redis is told, in one line.
const NOT_INSTALLED: &str = "these tests start a Redis server of their own, and redis-server or \
     redis-cli is missing: apt-get install redis-server (Debian, Ubuntu) or brew install redis (macOS)";

/// One Redis server on a free port, its files in a temporary folder. It can be crashed,
/// stopped and started again on the same port and files, as a Redis restart does.
pub struct Redis {
    server: Option<Child>,
    port: u16,
    options: Vec<String>,
    dir: tempfile::TempDir,
}

impl Redis {
    /// A new, empty Redis with its persistence `options` (`["--appendonly", "yes"]`).
    pub fn start(options: &[&str]) -> Self {
        let mut redis = Self {
            server: None,
            port: free_port(),
            options: options.iter().map(ToString::to_string).collect(),
            dir: tempfile::tempdir().expect("a temporary folder"),
        };
        redis.start_again();
        redis
    }

    /// Starts the server on the same port and folder, and waits until it answers.
    pub fn start_again(&mut self) {
        let server = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.options)
            .stdout(Stdio::null())
            .spawn()
            .expect(NOT_INSTALLED);
        self.server = Some(server);
        let started = Instant::now();
        // `PONG` once it listens and has read its files back (before, it answers LOADING).
        while self.cli(&["PING"]) != "PONG" {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "Redis did not answer within 30 s on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server at once (SIGKILL), as a crash or an out-of-memory kill would: it
    /// writes nothing more to its files.
    pub fn crash(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    /// Stops the server as `systemctl restart` does: it finishes its files first.
    pub fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            self.cli(&["SHUTDOWN"]);
            let _ = server.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// What `redis-cli` prints for `args`, as a student would type it: nothing while the
    /// server does not answer (redis-cli says why on its error output).
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .stderr(Stdio::null())
            .output()
            .expect(NOT_INSTALLED);
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// The keys Redis holds now: one per session.
    pub fn keys(&self) -> Vec<String> {
        // Printed one a line, as redis-cli does when its output is not a terminal.
        let keys = self.cli(&["KEYS", "*"]);
        keys.lines().map(ToString::to_string).collect()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.crash();
    }
}

/// A port nobody listens on: bound, then released.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("an address").port()
}

/// Step 5's settings with one key, which every instance of a test gets (a clone).
pub fn settings() -> Settings {
    Settings::new(Key::generate())
}

/// The add-on's store on `redis`, on connections of its own, as `main` opens it.
pub async fn store(redis: &Redis) -> appendix_redis_sessions::Store {
    let opened = appendix_redis_sessions::open(&redis.url()).await;
    opened.expect("Redis answers")
}

/// An instance of the app in the test's process, on its own connections to `redis`.
pub async fn instance(redis: &Redis, settings: Settings) -> App {
    let store = store(redis).await;
    App::new(
        step5_hardened::app(store, settings),
        step5_hardened::COOKIE_NAME,
    )
}

/// A browser logged in on `app`, and its session cookie.
pub async fn logged_in(app: &App) -> (Browser, String) {
    let mut browser = Browser::new(app);
    let login = browser.post_form("/login", GOOD_FORM).await;
    assert!(
        login.body.contains("Logged in successfully"),
        "{}",
        login.body
    );
    let cookie = browser.session_cookie().expect("logging in sets a cookie");
    (browser, cookie)
}

/// Logs out whoever holds `cookie`, through `app`.
pub async fn log_out(app: &App, cookie: &str) {
    let mut browser = Browser::new(app);
    browser.set_session_cookie(cookie);
    let logout = browser.post_form("/logout", "").await;
    assert!(
        logout.body.contains("Logged out successfully"),
        "{}",
        logout.body
    );
}

/// The status of `/dashboard` for whoever holds `cookie` (a second tab, a thief).
pub async fn dashboard(app: &App, cookie: &str) -> u16 {
    let mut browser = Browser::new(app);
    browser.set_session_cookie(cookie);
    browser.get("/dashboard").await.status.as_u16()
}

/// The binary, as `cargo run` starts it, on `redis`, with the key every instance shares.
pub fn binary(redis: &Redis) -> Server {
    let binary = env!("CARGO_BIN_EXE_appendix-redis-sessions");
    let url = redis.url();
    Server::start(
        binary,
        &[("REDIS_URL", &url), ("SESSION_SECRET", TEST_SECRET)],
    )
}

/// The status line's code of a raw HTTP answer: `200`, `401`...
pub fn status(response: &str) -> &str {
    response.get(9..12).unwrap_or("")
}
