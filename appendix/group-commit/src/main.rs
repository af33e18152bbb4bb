//! # Appendix — group commit
//!
//! Step 5's app, unchanged, on `appendix-session-cache`'s store with a writer of its own:
//! the saves of many requests go to one task that commits them in one statement, then
//! answers them all ([`appendix_group_commit::open`]). Nobody is answered before their
//! change is committed, and a logged-out session never comes back.
//!
//! ```text
//! cargo run -p appendix-group-commit    # then open http://localhost:3000/login (Chrome or Firefox)
//! cargo test -p appendix-group-commit
//! ```
//!
//! Settings: step 5's, read by step 5 (`PORT`, `DATABASE_URL`, default
//! `appendix/group-commit/sessions.db` under `cargo run`, `SESSION_SECRET`,
//! `SESSION_IDLE_TIMEOUT_SECS`, `SESSION_ABSOLUTE_TIMEOUT_SECS`, `ADMIN_PASSWORD_HASH`),
//! and `RUST_LOG` (default `info`).

use std::process::ExitCode;
use std::time::Duration;

use appendix_session_cache::touch_interval;
use step5_hardened::{Config, Settings, store};
use tracing_subscriber::EnvFilter;

/// The memory allocator: mimalloc, which keeps small blocks in per-thread pages, where
/// glibc's `malloc` spends more on a request's few hundred small allocations, often freed
/// on another thread than the one that made them. Measured, not assumed: in paired runs of
/// `bench/run`'s scenarios (bench/FINDINGS.md) it answered 18 to 28 % more requests a
/// second on a and b, the hot session and the new ones; without it the hot session stayed
/// at 7 to 9× Express, short of its target of 10×.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let idle = config.idle_timeout;
    let store = appendix_group_commit::open(&config.database_url, touch_interval(idle)).await?;
    let settings = Settings::from_config(&config)?;
    let cleanup = tokio::spawn(store::delete_expired_every(store.clone(), CLEANUP_PERIOD));

    let served = step5_hardened::serve(config.addr, step5_hardened::app(store, settings)).await;
    cleanup.abort();
    served
}
