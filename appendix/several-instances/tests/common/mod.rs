//! Instances of the add-on, started as a user starts them (the binary, a port, a
//! `DATABASE_URL`), and the few HTTP requests the tests send them, written by hand.

#![allow(dead_code)] // Each test file uses its own part of this.

pub mod postgres;

use std::process::{Command, Stdio};

use test_kit::{Server, cookie_from};

/// One running instance of the add-on, stopped (killed, as a crash would) when dropped.
/// The kit's [`Server`] starts it and reads its log; this adds the few requests the
/// tests send, with the session cookie passed by hand from one instance to another.
pub struct Instance {
    server: Server,
}

/// The `SESSION_SECRET` every test instance gets, as `cargo xtask secret` prints one:
/// instances that share sessions must sign their cookies with the same key.
pub const SHARED_SECRET: &str =
    "x/lbrfz/35qk862GRk+PivPUGfWpagnx+Mrty7Qkf6QZ93U59fUUw9CuT4o3mZchJYlR09KxtG+GNtHqV/lrcQ==";

/// The binary with `database_url`, on a port the system picks, its output piped, for a
/// test that watches it stop.
pub fn command(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_appendix-several-instances"));
    command
        // The tester's own settings must not leak in; every instance gets the same key.
        .env("SESSION_SECRET", SHARED_SECRET)
        .env_remove("ADMIN_PASSWORD_HASH")
        .env_remove("RUST_LOG")
        .env("PORT", "0")
        .env("DATABASE_URL", database_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

impl Instance {
    /// Starts the binary on a free port with `database_url` and waits for its `listening
    /// on` line; panics with what it wrote when it stops instead.
    pub fn start(database_url: &str) -> Self {
        let binary = env!("CARGO_BIN_EXE_appendix-several-instances");
        Self {
            server: Server::start(
                binary,
                &[
                    ("DATABASE_URL", database_url),
                    ("SESSION_SECRET", SHARED_SECRET),
                ],
            ),
        }
    }

    /// `cookie` is a `Cookie` header's value, or `""` for none.
    pub fn get(&self, path: &str, cookie: &str) -> Response {
        let text = self
            .server
            .request(&format!("GET {path} HTTP/1.1{}", cookie_header(cookie)));
        Response { text }
    }

    /// A form post, as curl sends it: no `Origin` or `Sec-Fetch-Site`, which step 5's
    /// cross-origin check lets through.
    pub fn post(&self, path: &str, cookie: &str, form: &str) -> Response {
        let text = self.server.request_with_body(
            &format!("POST {path} HTTP/1.1{}", cookie_header(cookie)),
            "application/x-www-form-urlencoded",
            form,
        );
        Response { text }
    }

    /// Logs in as the demo user; the session cookie, as a `Cookie` header carries it.
    pub fn log_in(&self) -> String {
        self.server.log_in()
    }
}

/// The header line for `cookie`, after the request line, or nothing.
fn cookie_header(cookie: &str) -> String {
    if cookie.is_empty() {
        String::new()
    } else {
        format!("\r\nCookie: {cookie}")
    }
}

/// An HTTP answer, headers and page together.
pub struct Response {
    pub text: String,
}

impl Response {
    /// `200`, `401`...
    pub fn status(&self) -> &str {
        self.text.get(9..12).unwrap_or("")
    }

    /// The session cookie this answer sets, as `name=value`.
    pub fn cookie(&self) -> Option<String> {
        cookie_from(&self.text)
    }
}
