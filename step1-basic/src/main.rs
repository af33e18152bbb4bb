//! # Step 1 — a session cookie and a visit counter
//!
//! The Express tutorial's section 2 ("Basic session setup") in axum: every browser gets a
//! session the first time it visits, the server keeps a counter in it, and the browser only
//! ever holds the session's id in a cookie.
//!
//! ```text
//! cargo run -p step1-basic      # then open http://localhost:3000 and reload the page
//! cargo test -p step1-basic
//! ```
//!
//! `PORT` picks another port (`PORT=4000 cargo run -p step1-basic`); `RUST_LOG=debug` shows
//! what the session layer does on each request.
//!
//! This file only reads the configuration and starts the server ([`step1_basic::serve`], in
//! `server.rs`); the application itself (the Express tutorial's `app.js`) is built by
//! [`step1_basic::app`] in `lib.rs`, so tests can drive it without a network.

use std::io::IsTerminal;
use std::process::ExitCode;

use step1_basic::Config;
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
    step1_basic::serve(config.addr, step1_basic::app(store)).await
}
