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
//! Settings, all optional (the README explains each): `PORT`, `DATABASE_URL` (default
//! `step5-hardened/sessions.db`), `SESSION_SECRET` (base64, at least 64 random bytes:
//! `openssl rand -base64 64`), `SESSION_IDLE_TIMEOUT_SECS` (default 1800),
//! `SESSION_ABSOLUTE_TIMEOUT_SECS` (default 28800), `ADMIN_PASSWORD_HASH` (an argon2id
//! PHC string), `RUST_LOG`.
//!
//! This file only reads the configuration, opens the database and serves; the application
//! itself (the Express tutorial's `app.js`) is built by [`step5_hardened::app`] in
//! `lib.rs`, so tests can drive it without a network.

use std::process::ExitCode;
use std::time::Duration;

use step5_hardened::{Config, Settings, server, store};

/// How often expired sessions are deleted from the database.
const CLEANUP_PERIOD: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> ExitCode {
    server::log_to(std::io::stdout);
    // A bad setting or a database that cannot be opened is the user's to fix, not a bug:
    // one line that says what is wrong, then exit 1.
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
    let settings = Settings::from_config(&config, store.stored_key()).await?;
    let cleanup = tokio::spawn(store::delete_expired_every(store.clone(), CLEANUP_PERIOD));

    let served = step5_hardened::serve(config.addr, step5_hardened::app(store, settings)).await;
    // The clean-up task holds no transaction between rounds: stopping it is safe.
    cleanup.abort();
    served
}
