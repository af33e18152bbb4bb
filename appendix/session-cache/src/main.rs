//! # Appendix — session cache
//!
//! Step 5's app, unchanged, on a store with a memory cache in front of step 5's
//! ([`CachedStore`]): a session read recently is answered from memory, a save that only
//! moves its expiry a little is skipped, and still a logged-out session never comes back.
//! One server per database file: a second one on the same file refuses to start.
//!
//! ```text
//! cargo run -p appendix-session-cache    # then open http://localhost:3000/login (Chrome or Firefox)
//! cargo test -p appendix-session-cache
//! ```
//!
//! Settings: step 5's, read by step 5 (`PORT`, `DATABASE_URL`, default
//! `appendix/session-cache/sessions.db` under `cargo run`, `SESSION_SECRET`, the timeouts,
//! `ADMIN_PASSWORD_HASH`), and `RUST_LOG` (default `info`).

use std::process::ExitCode;
use std::time::Duration;

use appendix_session_cache::{CachedStore, touch_interval};
use step5_hardened::{Config, Settings, store};
use tracing_subscriber::EnvFilter;

/// How often expired sessions are deleted from the database.
const CLEANUP_PERIOD: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
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
    let store =
        CachedStore::open(&config.database_url, touch_interval(config.idle_timeout)).await?;
    let settings = Settings::from_config(&config)?;
    let cleanup = tokio::spawn(store::delete_expired_every(store.clone(), CLEANUP_PERIOD));

    let served = step5_hardened::serve(config.addr, step5_hardened::app(store, settings)).await;
    cleanup.abort();
    served
}
