//! Running the application as a server: the log, the port and the way it stops. This is
//! the Express tutorial's `app.listen(3000)`, with limits on how long a client may hold
//! the server.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Extensions, Request};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How long a client may take to send a request's headers, in total. Past it the
/// connection is closed. It also closes a kept-alive connection that sends nothing more.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the requests in flight get to finish once the server is told to stop
/// (Ctrl-C, SIGTERM). Then it exits whatever the clients are doing.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What is logged when `RUST_LOG` is not set: `info`, but only warnings and errors from
/// the session crates. tower-sessions opens an `info` span around every request and
/// every session read and save, about ten a page: they print nothing of their own, yet
/// each is created, entered and closed by the log's bookkeeping, which took 5 % or more
/// of the server's time under load (`perf`, see `bench/FINDINGS.md`). Their warnings (a
/// garbled cookie) and errors (a failed save) are still logged.
const DEFAULT_LOG_FILTER: &str = "info,tower_sessions=warn,tower_sessions_core=warn";

/// Sends the log to `writer` (`std::io::stdout` in `main`), at the level `RUST_LOG`
/// asks for, [`DEFAULT_LOG_FILTER`] by default.
pub fn log_to<W>(writer: W)
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    // Colours only on a terminal: a log piped into a file or another program would be
    // full of escape codes. `NO_COLOR` (https://no-color.org) turns them off on a
    // terminal too.
    let colour = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| DEFAULT_LOG_FILTER.into()),
        )
        .with_ansi(colour)
        .with_writer(writer)
        .init();
}

/// Listens on `addr` and serves `app` until Ctrl-C or SIGTERM; then the requests in
/// flight get [`SHUTDOWN_GRACE`] to finish. The error is one line for the user.
///
/// Written with hyper itself rather than `axum::serve`, which gives hyper no timer: that
/// turns off hyper's limit on the time a client takes to send its headers, so a client
/// that sent a header line every few seconds could hold a connection forever, and a
/// graceful shutdown would wait for it.
pub async fn serve(addr: SocketAddr, app: Router) -> Result<(), String> {
    // The handlers are installed before the server says it is listening, so a signal
    // sent right after that line is never missed.
    let stop = shutdown_signal().map_err(|err| format!("cannot listen for Ctrl-C: {err}"))?;
    let listener = TcpListener::bind(addr).await.map_err(|err| {
        format!(
            "cannot listen on {addr}: {err} (is another step still running? stop it or set PORT)"
        )
    })?;
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

    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let connections = GracefulShutdown::new();
    let mut stop = pin!(stop);
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors, say: wait a moment rather than spin.
                Err(err) => {
                    tracing::warn!("cannot accept a connection: {err}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let app = app.clone();
        // Each request learns the client's address (axum's `ConnectInfo`), for the log.
        let service = service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(client));
            app.clone().oneshot(request)
        });
        let connection = connections.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!("connection closed: {err}");
            }
        });
    }
    // No new connections; the open ones finish their request and close.
    drop(listener);
    tokio::select! {
        () = connections.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("stopped with requests still open after {SHUTDOWN_GRACE:?}");
        }
    }
    Ok(())
}

/// The client's address as the log shows it, `unknown` when the request did not come
/// through [`serve`] (a test that calls the app directly).
pub fn client_address(extensions: &Extensions) -> String {
    extensions.get::<ConnectInfo<SocketAddr>>().map_or_else(
        || "unknown".to_string(),
        |ConnectInfo(addr)| addr.ip().to_string(),
    )
}

/// Installs the Ctrl-C and SIGTERM handlers and returns a future that resolves when
/// either arrives.
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
