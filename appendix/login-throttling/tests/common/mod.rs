//! Test helpers: logins sent to the app in-process, from a chosen client address, and the
//! real server for what only it shows (its configuration, its log). The browser and the
//! server harness are the course's test kit (`test-kit`).
#![allow(dead_code, unused_imports)] // each test file uses its own subset of these helpers

use std::net::SocketAddr;

use appendix_login_throttling::{Limits, Throttle, throttle_logins};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, header};
use step5_hardened::{COOKIE_NAME, Settings};
use test_kit::{Browser, Page};
use tower_sessions::MemoryStore;
use tower_sessions::cookie::Key;

pub use test_kit::{App, GOOD_FORM, Server, line_with};

/// The add-on's binary, which `cargo test` builds for the tests that start it.
pub const BINARY: &str = env!("CARGO_BIN_EXE_appendix-login-throttling");

/// Step 5's app on a memory store, throttled with `limits`.
pub fn app(limits: Limits) -> App {
    let app = step5_hardened::app(MemoryStore::default(), Settings::new(Key::generate()));
    App::new(throttle_logins(app, Throttle::new(limits)), COOKIE_NAME)
}

/// A client address, `203.0.113.<last>` (a range kept for documentation).
pub fn addr(last: u8) -> SocketAddr {
    SocketAddr::from(([203, 0, 113, last], 40000))
}

/// The request `POST /login` from `from`, with the address as `serve` gives it.
pub fn login_request(from: SocketAddr, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::post("/login")
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .expect("a valid request");
    request.extensions_mut().insert(ConnectInfo(from));
    request
}

/// A login from `from`, as a form (`username=...&password=...`).
pub async fn login(app: &App, from: SocketAddr, form: &str) -> Page {
    let form_type = "application/x-www-form-urlencoded";
    send(app, login_request(from, form_type, form.to_string())).await
}

/// `request`, sent by a browser with no cookie: each login comes from a new visitor.
pub async fn send(app: &App, request: Request<Body>) -> Page {
    Browser::new(app).send(request).await
}

/// A login as a form to the real server, with `headers` (lines ending in `\r\n`); the
/// whole raw answer.
pub fn login_over_tcp(server: &Server, headers: &str, form: &str) -> String {
    let head = format!("POST /login HTTP/1.1\r\n{headers}");
    let form_type = "application/x-www-form-urlencoded";
    server.request_with_body(head.trim_end(), form_type, form)
}
