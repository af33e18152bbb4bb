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
//! This file only reads the configuration, opens the database and the port and serves; the application
//! itself (the Express tutorial's `app.js`) is built by [`step4_persistent::app`] in
//! `lib.rs`, so tests can drive it without a network.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use step4_persistent::{Config, store};
use tokio::net::TcpListener;
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

    // A bad setting is the user's mistake, not a bug: one line that names it, then exit 1.
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };

    // Where session data lives between requests: a SQLite database, opened (and created
    // if missing) before the port, so a bad `DATABASE_URL` stops the server at once.
    let store = match store::open(&config.database_url).await {
        Ok(store) => store,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let cleanup = tokio::spawn(store::delete_expired_every(store.clone(), CLEANUP_PERIOD));

    let shutdown = match shutdown_signal() {
        Ok(shutdown) => shutdown,
        Err(err) => {
            eprintln!("error: cannot listen for Ctrl-C and SIGTERM: {err}");
            return ExitCode::FAILURE;
        }
    };

    let listener = match TcpListener::bind(config.addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!(
                "error: cannot listen on {}: {err} (is another step still running? stop it or set PORT)",
                config.addr
            );
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        // On loopback the address is given as `localhost`, the name the pages use: a browser
        // keeps separate cookies for `localhost` and `127.0.0.1`, so opening the other name
        // would start a new session.
        Ok(addr) if addr.ip().is_loopback() => {
            tracing::info!("listening on http://localhost:{}", addr.port())
        }
        Ok(addr) => tracing::info!("listening on http://{addr}"),
        Err(err) => tracing::warn!("listening, but the address is unknown: {err}"),
    }

    let served = axum::serve(listener, step4_persistent::app(store))
        .with_graceful_shutdown(shutdown)
        .await;
    // The clean-up task holds no transaction between rounds: stopping it is safe.
    cleanup.abort();
    if let Err(err) = served {
        eprintln!("error: the server stopped: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Installs the Ctrl-C and SIGTERM handlers and returns a future that resolves when
/// either arrives; `axum::serve` then stops accepting connections and lets the requests
/// in flight finish. The handlers are installed before the server says it is listening,
/// so a signal sent right after that line is never missed.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutting down");
    })
}

/// Windows has no SIGTERM; Ctrl-C is the way to stop a lesson server there.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("shutting down");
        }
    })
}
