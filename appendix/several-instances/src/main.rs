//! # Appendix — several instances
//!
//! Step 5's app, run as several copies behind a load balancer that share their logins.
//! With `DATABASE_URL=postgres://…` the sessions live in one PostgreSQL server that every
//! instance reads and writes (`PgStore`, in `postgres.rs`); the cookie only carries the
//! session id, so any instance can answer any request. A login through one instance is a
//! login on all, and a logout through any is final on all. Every instance must sign with
//! the same key, so on PostgreSQL `SESSION_SECRET` is required. Any other `DATABASE_URL`
//! goes to step 5's SQLite store, the right one for a single machine.
//!
//! ```text
//! cargo run -p appendix-several-instances    # one instance on SQLite: http://localhost:3000/login
//! cargo test -p appendix-several-instances   # needs the PostgreSQL programs (apt-get install postgresql)
//!
//! # two instances sharing a PostgreSQL server you can reach, and one key:
//! export SESSION_SECRET="$(cargo xtask secret)"
//! DATABASE_URL=postgres://app:app@localhost/sessions PORT=3001 cargo run -p appendix-several-instances
//! DATABASE_URL=postgres://app:app@localhost/sessions PORT=3002 cargo run -p appendix-several-instances
//! ```
//!
//! The other settings are step 5's (the timeouts, `ADMIN_PASSWORD_HASH`, `RUST_LOG`);
//! every instance must get the same ones.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use step5_hardened::{Config, Settings, store};
use tower_sessions::{ExpiredDeletion, SessionStore};
use tracing_subscriber::EnvFilter;

/// How often expired sessions are deleted from the database.
const CLEANUP_PERIOD: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> ExitCode {
    // The log as step 5's `main` sets it up: `RUST_LOG`, `info` by default.
    let colour = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_ansi(colour)
        .init();
    // A bad setting or a database that cannot be reached is the user's to fix, not a bug:
    // one line that says what is wrong (never a password), then exit 1.
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    // The store is chosen by the URL's scheme, the two sqlx and libpq accept for
    // PostgreSQL. Step 5's `Config` reads SQLite URLs only: for PostgreSQL it reads every
    // other setting, and the URL is this add-on's.
    let var = |name: &str| std::env::var(name).ok();
    let postgres = var("DATABASE_URL")
        .filter(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"));
    let Some(url) = postgres else {
        let config = Config::from_env()?;
        let store = store::open(&config.database_url)
            .await
            .map_err(|err| err.to_string())?;
        return serve_with(&config, store).await;
    };
    let config = Config::from_vars(|name| (name != "DATABASE_URL").then(|| var(name)).flatten())?;
    // A cookie signed by one instance must verify on every other: they all need the same
    // key, and step 5 would make a random one per instance.
    if config.session_secret.is_none() {
        return Err(
            "several instances must share one key: set SESSION_SECRET to the same \
                    value for every instance (make one with: cargo xtask secret)"
                .to_string(),
        );
    }
    let store = appendix_several_instances::open(&url).await?;
    serve_with(&config, store).await
}

/// Step 5's app on `store`, as step 5's `main` runs it.
async fn serve_with<S>(config: &Config, store: S) -> Result<(), String>
where
    S: SessionStore + ExpiredDeletion + Clone,
{
    let settings = Settings::from_config(config)?;
    // With several instances every one of them cleans up; the deletes overlap harmlessly.
    let cleanup = tokio::spawn(store::delete_expired_every(store.clone(), CLEANUP_PERIOD));
    let served = step5_hardened::serve(config.addr, step5_hardened::app(store, settings)).await;
    // The clean-up task holds no transaction between rounds: stopping it is safe.
    cleanup.abort();
    served
}
