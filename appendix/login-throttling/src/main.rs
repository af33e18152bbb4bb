//! # Appendix — login throttling
//!
//! Step 5's app with a layer around it that slows down password guessing: after a few
//! failed logins for one username, or many from one client address, logins for it are
//! answered `429 Too Many Requests` with `Retry-After`, the right password included,
//! for a back-off that doubles with each further failure. The layer is the whole lesson,
//! in `lib.rs`; step 5 itself does not change.
//!
//! ```text
//! cargo run -p appendix-login-throttling    # then open http://localhost:3000/login
//! cargo test -p appendix-login-throttling
//! ```
//!
//! Settings: step 5's (`PORT`, `DATABASE_URL`, `SESSION_SECRET`, ...); with no
//! `DATABASE_URL` the sessions are in `appendix/login-throttling/sessions.db`.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use appendix_login_throttling::{Limits, Throttle, throttle_logins};
use step5_hardened::{Config, Settings, store};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    // The log as step 5's `main` sets it up: `RUST_LOG`, `info` by default.
    let colour = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_ansi(colour)
        .init();
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
    let store = store::open(&config.database_url)
        .await
        .map_err(|err| err.to_string())?;
    let settings = Settings::from_config(&config)?;
    // Expired sessions are deleted from the database once a minute.
    let minute = Duration::from_secs(60);
    let cleanup = tokio::spawn(store::delete_expired_every(store.clone(), minute));

    // Step 5's app as it is, with the throttle put around it.
    let app = step5_hardened::app(store, settings);
    let app = throttle_logins(app, Throttle::new(Limits::default()));
    let served = step5_hardened::serve(config.addr, app).await;
    cleanup.abort();
    served
}
