//! # Appendix — fast SQLite
//!
//! The course's hardened app, made fast, with the same rules. Two things do it, both in
//! the session store: a memory cache of the sessions read recently, so a returning visitor
//! costs no trip to SQLite ([`appendix_fast_sqlite::cache`]), and one writer that commits
//! the session writes of many requests in one statement (group commit, in
//! [`appendix_fast_sqlite::store`]). Nobody is answered before their change is committed,
//! and a logged-out session never comes back, from the table or from memory. Everything
//! else (pages, cookies, timeouts, settings) is the hardened app's.
//!
//! ```text
//! cargo run -p appendix-fast-sqlite    # then open http://localhost:3000/login (Chrome or Firefox)
//! cargo test -p appendix-fast-sqlite
//! ```
//!
//! Settings, all optional (the README explains each): `PORT`, `DATABASE_URL` (default
//! `appendix/fast-sqlite/sessions.db`), `SESSION_SECRET` (base64, at least 64 random bytes:
//! `openssl rand -base64 64`), `SESSION_IDLE_TIMEOUT_SECS` (default 1800),
//! `SESSION_ABSOLUTE_TIMEOUT_SECS` (default 28800), `SESSION_TOUCH_AFTER_SECS` (default
//! 60), `ADMIN_PASSWORD_HASH` (an argon2id PHC string), `RUST_LOG`.
//!
//! This file only reads the configuration, opens the database and the port and serves; the application
//! itself (the Express tutorial's `app.js`) is built by [`appendix_fast_sqlite::app`] in
//! `lib.rs`, so tests can drive it without a network.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use appendix_fast_sqlite::{Config, Settings, Timeouts, store, throttle};
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

    // The classroom defaults work out of the box, and say once why they are not for
    // production.
    let mut defaulted = Vec::new();
    let cookie_key = match config.session_secret {
        Some(key) => key,
        None => match store.stored_key().await {
            Ok(key) => {
                defaulted
                    .push("SESSION_SECRET (cookies are signed with a key kept in the database)");
                key
            }
            Err(err) => {
                eprintln!("error: cannot read or store the cookie key in the database: {err}");
                return ExitCode::FAILURE;
            }
        },
    };
    let admin_password_hash = config.admin_password_hash.unwrap_or_else(|| {
        defaulted.push("ADMIN_PASSWORD_HASH (the demo user admin/1234 can log in)");
        appendix_fast_sqlite::DEMO_PASSWORD_HASH.to_string()
    });
    if !defaulted.is_empty() {
        tracing::warn!(
            "not set, fine for a class but not for production: {}",
            defaulted.join("; ")
        );
    }
    let settings = Settings {
        cookie_key,
        timeouts: Timeouts {
            idle: config.idle_timeout,
            absolute: config.absolute_timeout,
            touch_after: config.touch_after,
        },
        admin_password_hash,
        throttle: throttle::Limits::default(),
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

    // `with_connect_info` hands each request the client's address, which the login
    // throttle counts failures by.
    let app = appendix_fast_sqlite::app(store, settings);
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
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
