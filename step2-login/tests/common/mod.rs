//! What the tests need to know of this step: its app, its binary and its session cookie.
//! The helpers themselves (the browser, the server harness, the test store) are the
//! course's test kit, the `test-kit` crate, shared by every step.
#![allow(dead_code, unused_imports)] // each test file uses its own subset of these helpers

pub use test_kit::{App, Browser, Operation, Page, Server, TestStore, cookie_from};
use tower_sessions::{MemoryStore, SessionStore};

/// The session cookie's name: tower-sessions' default.
pub const COOKIE: &str = "id";

/// This step's binary, which `cargo test` builds for the tests that start it.
pub const BINARY: &str = env!("CARGO_BIN_EXE_step2-login");

/// The application with a fresh memory store, as `main` builds it.
pub fn app() -> App {
    app_on(MemoryStore::default())
}

/// The application on `store`.
pub fn app_on(store: impl SessionStore + Clone) -> App {
    App::new(step2_login::app(store), COOKIE)
}
