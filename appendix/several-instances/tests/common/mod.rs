//! Instances of the add-on, started as a user starts them (the binary, a port, a
//! `DATABASE_URL`), and the few HTTP requests the tests send them, written by hand.

#![allow(dead_code)] // Each test file uses its own part of this.

pub mod postgres;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// One running instance of the add-on, stopped (killed, as a crash would) when dropped.
pub struct Instance {
    child: Child,
    pub port: u16,
}

/// The `SESSION_SECRET` every test instance gets, as `cargo xtask secret` prints one:
/// instances that share sessions must sign their cookies with the same key.
pub const SHARED_SECRET: &str =
    "x/lbrfz/35qk862GRk+PivPUGfWpagnx+Mrty7Qkf6QZ93U59fUUw9CuT4o3mZchJYlR09KxtG+GNtHqV/lrcQ==";

/// The binary with `database_url`, on a port the system picks, its output piped.
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
    /// on` line; panics with its error when it stops instead.
    pub fn start(database_url: &str) -> Self {
        let mut child = command(database_url).spawn().expect("the binary starts");

        // The log goes on being read (and dropped) after the line, so that the server
        // never blocks on a full pipe.
        let stdout = child.stdout.take().expect("stdout is piped");
        let (port_found, port) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some((_, port)) = line.split_once("listening on http://localhost:") {
                    let _ = port_found.send(port.trim().parse::<u16>());
                }
            }
        });
        let Ok(Ok(port)) = port.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            let stderr = child.wait_with_output().map(|out| out.stderr);
            let stderr = String::from_utf8_lossy(&stderr.unwrap_or_default()).into_owned();
            panic!("the instance did not start: {stderr}");
        };
        Self { child, port }
    }

    /// `cookie` is a `Cookie` header's value, or `""` for none.
    pub fn get(&self, path: &str, cookie: &str) -> Response {
        self.send(&format!(
            "GET {path} HTTP/1.1\r\n{}\r\n",
            cookie_header(cookie)
        ))
    }

    /// A form post, as curl sends it: no `Origin` or `Sec-Fetch-Site`, which step 5's
    /// cross-origin check lets through.
    pub fn post(&self, path: &str, cookie: &str, form: &str) -> Response {
        self.send(&format!(
            "POST {path} HTTP/1.1\r\n{}\
             Content-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{form}",
            cookie_header(cookie),
            form.len()
        ))
    }

    /// Logs in as the demo user; the session cookie, as a `Cookie` header carries it.
    pub fn log_in(&self) -> String {
        let page = self.post("/login", "", "username=admin&password=1234");
        let text = &page.text;
        assert!(text.contains("Logged in successfully"), "{text}");
        page.cookie().expect("a login sets the session cookie")
    }

    fn send(&self, head_and_body: &str) -> Response {
        let (head, body) = head_and_body.split_once("\r\n").expect("a request line");
        let request =
            format!("{head}\r\nHost: localhost\r\nConnection: close\r\n{body}").into_bytes();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("the instance is up");
        stream.write_all(&request).expect("the request is sent");
        let mut text = String::new();
        stream
            .read_to_string(&mut text)
            .expect("the answer arrives");
        Response { text }
    }
}

fn cookie_header(cookie: &str) -> String {
    if cookie.is_empty() {
        String::new()
    } else {
        format!("Cookie: {cookie}\r\n")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
        self.text.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            let (cookie, _attributes) = value.trim().split_once(';')?;
            name.eq_ignore_ascii_case("set-cookie")
                .then(|| cookie.to_string())
        })
    }
}
