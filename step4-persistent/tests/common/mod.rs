//! What the tests need to know of this step: its app, its binary and its session cookie.
//! The helpers themselves (the browser, the server harness, the test store) are the
//! course's test kit, the `test-kit` crate, shared by every step.
#![allow(dead_code, unused_imports)] // each test file uses its own subset of these helpers

use std::sync::Arc;

pub use test_kit::{App, Browser, Operation, Page, Server, TestStore, cookie_from};
use tower_sessions::{MemoryStore, SessionStore};

/// The session cookie's name: tower-sessions' default.
pub const COOKIE: &str = "id";

/// This step's binary, which `cargo test` builds for the tests that start it.
pub const BINARY: &str = env!("CARGO_BIN_EXE_step4-persistent");

/// The application with a fresh memory store. `main` opens SQLite, but the earlier
/// lessons' tests check the routes and the session layer, which are the same whatever the
/// store; what SQLite changes is tested on SQLite in persistence.rs and server.rs.
pub fn app() -> App {
    app_on(MemoryStore::default())
}

/// The application on `store`.
pub fn app_on(store: impl SessionStore + Clone) -> App {
    App::new(step4_persistent::app(store), COOKIE)
}

/// The application as `main` builds it, on a fresh SQLite database in a temporary
/// folder, and the URL of that database, for tests that look at the rows. The router owns
/// the folder (as an extension), so the database lives exactly as long as the app.
pub async fn app_and_database() -> (App, String) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let store = step4_persistent::store::open(&url)
        .await
        .expect("the store opens");
    let router = step4_persistent::app(store).layer(axum::Extension(Arc::new(dir)));
    (App::new(router, COOKIE), url)
}

/// A sqlx URL for a database file in `dir`.
pub fn database_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("sessions.db").display())
}
