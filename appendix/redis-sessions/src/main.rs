//! # Appendix — sessions in Redis
//!
//! Step 5's app with its sessions in a Redis server, which any number of instances share.
//! `REDIS_URL` says where Redis is (`redis://127.0.0.1:6379` by default); every instance
//! must sign with the same key, so `SESSION_SECRET` is required.
//!
//! ```text
//! redis-server                                   # in another terminal
//! export SESSION_SECRET="$(cargo xtask secret)"
//! PORT=3001 cargo run -p appendix-redis-sessions
//! PORT=3002 cargo run -p appendix-redis-sessions
//! cargo test -p appendix-redis-sessions          # needs redis-server (apt-get install redis-server)
//! ```
//!
//! The other settings are step 5's (the timeouts, `ADMIN_PASSWORD_HASH`, `RUST_LOG`);
//! every instance must get the same ones.

use std::io::IsTerminal;
use std::process::ExitCode;

use step5_hardened::{Config, Settings};
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
    // A bad setting or a Redis that does not answer is the user's to fix, not a bug: one
    // line that says what is wrong (never a password), then exit 1.
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let var = |name: &str| std::env::var(name).ok();
    // Step 5's `Config` reads every setting but the store's: its `DATABASE_URL` is
    // SQLite's, and this add-on's store is at `REDIS_URL`.
    let config = Config::from_vars(|name| (name != "DATABASE_URL").then(|| var(name)).flatten())?;
    // A cookie signed by one instance must verify on every other, and on this one after a
    // restart, since its sessions outlive it in Redis: step 5 would make a random key.
    if config.session_secret.is_none() {
        return Err(
            "sessions in Redis outlive the server and are shared by every instance: set \
             SESSION_SECRET to the same value for each (make one with: cargo xtask secret)"
                .to_string(),
        );
    }
    let url = var("REDIS_URL").filter(|url| !url.trim().is_empty());
    let url = url
        .as_deref()
        .unwrap_or(appendix_redis_sessions::DEFAULT_REDIS_URL);
    let store = appendix_redis_sessions::open(url).await?;
    let settings = Settings::from_config(&config)?;
    // No clean-up task, unlike step 5: each session is a key that Redis deletes itself
    // when its expiry passes.
    step5_hardened::serve(config.addr, step5_hardened::app(store, settings)).await
}
