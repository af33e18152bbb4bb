//! # Step 3 — logging out
//!
//! The Express tutorial's section 4 ("Logging Out") in axum: `POST /logout` destroys the
//! session in the store, so its id means nothing any more, and tells the browser to drop
//! the cookie. Logging in, the dashboard and the visit counter are as in step 2.
//!
//! ```text
//! cargo run -p step3-logout     # then log in at http://localhost:3000/login and log out
//! cargo test -p step3-logout
//! ```
//!
//! `PORT` picks another port (`PORT=4000 cargo run -p step3-logout`); `RUST_LOG=debug` shows
//! what the session layer does on each request.
//!
//! This file only reads the configuration and starts the server ([`step3_logout::serve`], in
//! `server.rs`); the application itself (the Express tutorial's `app.js`) is built by
//! [`step3_logout::app`] in `lib.rs`, so tests can drive it without a network.

use std::io::IsTerminal;
use std::process::ExitCode;

use step3_logout::Config;
use tower_sessions::MemoryStore;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    // Colours only on a terminal: a log piped into a file or another program would be full
    // of escape codes. `NO_COLOR` (https://no-color.org) turns them off on a terminal too.
    let colour = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_ansi(colour)
        .init();

    // A bad setting, or a port or database that cannot be opened, is the user's to fix,
    // not a bug: one line that says what is wrong, then exit 1.
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let config = Config::from_env()?;
    // Where session data lives between requests: a map inside this process, like
    // express-session's default `MemoryStore`. Fine for a lesson, but every session is
    // forgotten when the server stops.
    let store = MemoryStore::default();
    step3_logout::serve(config.addr, step3_logout::app(store)).await
}
