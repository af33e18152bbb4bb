//! # Step 1 — a session cookie and a visit counter
//!
//! The Express tutorial's section 2 ("Basic session setup") in axum: every browser gets a
//! session the first time it visits, the server keeps a counter in it, and the browser only
//! ever holds the session's id in a cookie.
//!
//! ```text
//! cargo run -p step1-basic      # then open http://localhost:3000 and reload the page
//! cargo test -p step1-basic
//! ```
//!
//! `PORT` picks another port (`PORT=4000 cargo run -p step1-basic`); `RUST_LOG=debug` shows
//! what the session layer does on each request.
//!
//! This file only reads the configuration, opens the port and serves; the application
//! itself (the Express tutorial's `app.js`) is built by [`step1_basic::app`] in
//! `lib.rs`, so tests can drive it without a network.

use std::io::IsTerminal;
use std::process::ExitCode;

use step1_basic::Config;
use tokio::net::TcpListener;
use tower_sessions::MemoryStore;
use tracing_subscriber::EnvFilter;

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

    // Where session data lives between requests: a map inside this process, like
    // express-session's default `MemoryStore`. Fine for a lesson, but every session is
    // forgotten when the server stops.
    let store = MemoryStore::default();

    let served = axum::serve(listener, step1_basic::app(store))
        .with_graceful_shutdown(shutdown)
        .await;
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
