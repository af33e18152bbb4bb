//! Running the application as a server: the Express tutorial's `app.listen(3000)`.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

/// Listens on `addr` and serves `app` until Ctrl-C or SIGTERM; then the requests in
/// flight finish and the server stops. The error is one line for the user.
pub async fn serve(addr: SocketAddr, app: Router) -> Result<(), String> {
    // The handlers are installed before the server says it is listening, so a signal
    // sent right after that line is never missed.
    let stop =
        shutdown_signal().map_err(|err| format!("cannot listen for Ctrl-C and SIGTERM: {err}"))?;
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

    // When `stop` resolves, `axum::serve` stops accepting connections and lets the
    // requests in flight finish.
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
        .map_err(|err| format!("the server stopped: {err}"))
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
