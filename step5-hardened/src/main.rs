//! # Step 5 — sessions hardened
//!
//! The Express tutorial's section 6 ("Best Practices"), done as OWASP asks: a signed
//! `__Host-` cookie that is `Secure`, `HttpOnly` and `SameSite=Lax`; idle and absolute
//! timeouts enforced on the server; a new session id at login (no fixation); a logout
//! that stays final; cross-origin form posts refused; the password kept only as an
//! argon2id hash; every request bounded in time; strict response headers; request logs
//! without secrets. Pages and texts are as in step 4.
//!
//! ```text
//! cargo run -p step5-hardened    # then open http://localhost:3000/login (Chrome or Firefox)
//! cargo test -p step5-hardened
//! ```
//!
//! `PORT` picks another port (`PORT=4000 cargo run -p step5-hardened`); `RUST_LOG=debug` shows
//! what the session layer does on each request. The sessions are kept in
//! `step5-hardened/sessions.db`; `DATABASE_URL=sqlite:///tmp/other.db` picks another
//! file, which is created if missing. The lesson's own settings, all optional (the README
//! explains each): `SESSION_SECRET` (at least 64 random bytes in base64, which `cargo
//! xtask secret` prints; without it a random key signs the cookies, and every session ends
//! when the server stops), `SESSION_IDLE_TIMEOUT_SECS` (1800), `SESSION_ABSOLUTE_TIMEOUT_SECS`
//! (28800) and `ADMIN_PASSWORD_HASH` (an argon2id hash: `cargo xtask hash`).
//!
//! This file only reads the configuration and starts the server ([`step5_hardened::serve`], in
//! `server.rs`); the application itself (the Express tutorial's `app.js`) is built by
//! [`step5_hardened::app`] in `lib.rs`, so tests can drive it without a network.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use step5_hardened::{Config, Settings, store};
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
    let settings = Settings::from_config(&config)?;
    let cleanup = tokio::spawn(store::delete_expired_every(store.clone(), CLEANUP_PERIOD));

    let served = step5_hardened::serve(config.addr, step5_hardened::app(store, settings)).await;
    // The clean-up task holds no transaction between rounds: stopping it is safe.
    cleanup.abort();
    served
}
