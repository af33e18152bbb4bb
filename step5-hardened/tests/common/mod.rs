//! What the tests need to know of this step: its app, its binary and its session cookie.
//! The helpers themselves (the browser, the server harness, the test store) are the
//! course's test kit, the `test-kit` crate, shared by every step.
#![allow(dead_code, unused_imports)] // each test file uses its own subset of these helpers

use std::sync::Arc;

use step5_hardened::Settings;
use step5_hardened::store::Store;
pub use test_kit::{App, Browser, Operation, Page, Server, TEST_SECRET, TestStore, cookie_from};
use tower_sessions::cookie::Key;
use tower_sessions::{MemoryStore, SessionStore};

/// The session cookie's name.
pub const COOKIE: &str = step5_hardened::COOKIE_NAME;

/// This step's binary, which `cargo test` builds for the tests that start it.
pub const BINARY: &str = env!("CARGO_BIN_EXE_step5-hardened");

/// The default settings with a fresh random cookie key.
pub fn settings() -> Settings {
    Settings::new(Key::generate())
}

/// The application with a fresh memory store. `main` opens SQLite, but the earlier
/// lessons' tests check the routes and the session layer, which are the same whatever the
/// store; what SQLite changes is tested on SQLite in persistence.rs and server.rs.
pub fn app() -> App {
    app_on(MemoryStore::default())
}

/// The application on `store`.
pub fn app_on(store: impl SessionStore + Clone) -> App {
    App::new(step5_hardened::app(store, settings()), COOKIE)
}

/// The application as `main` builds it, with `settings`, on a fresh SQLite database.
pub async fn app_with(settings: Settings) -> App {
    app_store_and_database(settings).await.0
}

/// The application as `main` builds it, with the default settings, on a fresh SQLite
/// database in a temporary folder, and the URL of that database, for tests that look at
/// the rows. The router owns the folder (as an extension), so the database lives exactly
/// as long as the app.
pub async fn app_and_database() -> (App, String) {
    let (app, _, url) = app_store_and_database(settings()).await;
    (app, url)
}

/// [`app_and_database`] with `settings`, and the store seen through a [`TestStore`] that the test keeps:
/// to hold a save back, or to make time pass for the sessions (each one's expiry, and the
/// `started_at` its absolute timeout counts from).
pub async fn app_store_and_database(settings: Settings) -> (App, TestStore<Store>, String) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let store = step5_hardened::store::open(&url)
        .await
        .expect("the store opens");
    let store = TestStore::new(store).with_timestamps(&["started_at"]);
    let router = step5_hardened::app(store.clone(), settings).layer(axum::Extension(Arc::new(dir)));
    (App::new(router, COOKIE), store, url)
}

/// A sqlx URL for a database file in `dir`.
pub fn database_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("sessions.db").display())
}
