//! # Step 4 — sessions in a database
//!
//! The Express tutorial's section 5 ("Storing Sessions in a Database") in axum: sessions
//! live in a SQLite file instead of the server's memory, so a restart, or even a crash,
//! logs nobody out. Expired sessions are deleted by a background task. Everything a
//! visitor sees is as in step 3.
//!
//! ```text
//! cargo run -p step4-persistent  # log in at http://localhost:3000/login, stop, run again
//! cargo test -p step4-persistent
//! ```
//!
//! `PORT` picks another port (`PORT=4000 cargo run -p step4-persistent`); `RUST_LOG=debug` shows
//! what the session layer does on each request. The sessions are kept in
//! `step4-persistent/sessions.db`; `DATABASE_URL=sqlite:///tmp/other.db` picks another
//! file, which is created if missing.
//!
//! This file only reads the configuration and starts the server ([`step4_persistent::serve`], in
//! `server.rs`); the application itself (the Express tutorial's `app.js`) is built by
//! [`step4_persistent::app`] in `lib.rs`, so tests can drive it without a network.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use step4_persistent::{Config, store};
use tracing_subscriber::EnvFilter;

/// How often expired sessions are deleted from the database.
const CLEANUP_PERIOD: Duration = Duration::from_secs(60);

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
    // Where session data lives between requests: a SQLite database, opened (and created
    // if missing) before the port, so a bad `DATABASE_URL` stops the server at once.
    let store = store::open(&config.database_url)
        .await
        .map_err(|err| err.to_string())?;
    let cleanup = tokio::spawn(store::delete_expired_every(store.clone(), CLEANUP_PERIOD));

    let served = step4_persistent::serve(config.addr, step4_persistent::app(store)).await;
    // The clean-up task holds no transaction between rounds: stopping it is safe.
    cleanup.abort();
    served
}
