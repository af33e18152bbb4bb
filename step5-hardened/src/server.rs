//! Running the application as a server: the Express tutorial's `app.listen(3000)`, with
//! limits on how long a client may hold the server.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use tokio::net::TcpListener;

/// How long a client may take to send a request's headers, in total. Past it the
/// connection is closed. It also closes a kept-alive connection that sends nothing more.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the requests in flight get to finish once the server is told to stop
/// (Ctrl-C, SIGTERM). Then their connections are closed, whatever the clients are doing.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Listens on `addr` and serves `app` until Ctrl-C or SIGTERM; then the requests in
/// flight get [`SHUTDOWN_GRACE`] to finish. The error is one line for the user.
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

    // `axum::serve` gives hyper no timer, and without one hyper has no limit on the time
    // a client takes to send its headers: a client that sent a header line every few
    // seconds could hold a connection forever, and a graceful shutdown would wait for it.
    // axum-server installs the timer, and its handle closes what is left after the grace.
    let handle = Handle::new();
    let stopping = handle.clone();
    tokio::spawn(async move {
        stop.await;
        stopping.graceful_shutdown(Some(SHUTDOWN_GRACE));
    });
    let listener = listener
        .into_std()
        .map_err(|err| format!("cannot listen on {addr}: {err}"))?;
    let mut server = axum_server::from_tcp(listener)
        .map_err(|err| format!("cannot listen on {addr}: {err}"))?
        .handle(handle);
    server
        .http_builder()
        .http1()
        .header_read_timeout(HEADER_TIMEOUT);
    server
        // Each request learns the client's address (axum's `ConnectInfo`), for the log.
        .serve(app.into_make_service_with_connect_info::<SocketAddr>())
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
