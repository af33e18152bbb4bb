//! # Appendix — several instances
//!
//! Step 5's app, run as several copies behind a load balancer that share their logins.
//! With `DATABASE_URL=postgres://…` the sessions live in one PostgreSQL server that every
//! instance reads and writes (`PgStore`, in `postgres.rs`); the cookie only carries the session id, so any
//! instance can answer any request. A login through one instance is a login on all, a
//! logout through any is final on all, and instances without `SESSION_SECRET` sign with one
//! key kept in the database. Any other `DATABASE_URL` goes to step 5's SQLite store, the
//! right one for a single machine.
//!
//! ```text
//! cargo run -p appendix-several-instances    # one instance on SQLite: http://localhost:3000/login
//! cargo test -p appendix-several-instances   # needs the PostgreSQL programs (apt-get install postgresql)
//!
//! # two instances sharing a PostgreSQL server you can reach:
//! DATABASE_URL=postgres://app:app@localhost/sessions PORT=3001 cargo run -p appendix-several-instances
//! DATABASE_URL=postgres://app:app@localhost/sessions PORT=3002 cargo run -p appendix-several-instances
//! ```
//!
//! The other settings are step 5's (`SESSION_SECRET`, the timeouts, `ADMIN_PASSWORD_HASH`,
//! `RUST_LOG`); every instance must get the same ones.

use std::fmt::Display;
use std::process::ExitCode;
use std::time::Duration;

use step5_hardened::{Config, Settings, server, store};
use tower_sessions::cookie::Key;
use tower_sessions::{ExpiredDeletion, SessionStore};

/// How often expired sessions are deleted from the database.
const CLEANUP_PERIOD: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> ExitCode {
    server::log_to(std::io::stdout);
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
    let config = Config::from_env()?;
    let url = &config.database_url;
    // The store is chosen by the URL's scheme, the two sqlx and libpq accept for
    // PostgreSQL. Everything else is step 5's, which opens `sqlite:` and refuses the rest.
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = appendix_several_instances::open(url).await?;
        serve_with(&config, store.clone(), store.stored_key()).await
    } else {
        let store = store::open(url).await.map_err(|err| err.to_string())?;
        serve_with(&config, store.clone(), store.stored_key()).await
    }
}

/// Step 5's app on `store`, as step 5's `main` runs it.
async fn serve_with<S, E>(
    config: &Config,
    store: S,
    stored_key: impl Future<Output = Result<Key, E>>,
) -> Result<(), String>
where
    S: SessionStore + ExpiredDeletion + Clone,
    E: Display,
{
    let settings = Settings::from_config(config, stored_key).await?;
    // With several instances every one of them cleans up; the deletes overlap harmlessly.
    let cleanup = tokio::spawn(store::delete_expired_every(store.clone(), CLEANUP_PERIOD));
    let served = step5_hardened::serve(config.addr, step5_hardened::app(store, settings)).await;
    // The clean-up task holds no transaction between rounds: stopping it is safe.
    cleanup.abort();
    served
}
