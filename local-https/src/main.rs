//! # local-https — a local HTTPS front for the lessons
//!
//! Step 5 sets its session cookie with `Secure`: "send this cookie over HTTPS only", so
//! that nobody on the network path (a café's Wi-Fi, a proxy) can read the session id and
//! take over the session. Browsers enforce it when they *store* the cookie too: a `Secure`
//! cookie set by a page that did not arrive over HTTPS is dropped. Chrome and Firefox
//! make one exception, `http://localhost`, since loopback traffic never leaves the
//! computer; Safari (and so every browser on an iPad or iPhone) makes none, so there the
//! login of step 5 does not stick over plain HTTP.
//!
//! This program gives such a browser real HTTPS: it listens on `https://localhost:3443`
//! (loopback only), makes a self-signed certificate for `localhost` at start (in memory,
//! nothing is written), and forwards every request to the app on `http://127.0.0.1:3000`,
//! the way nginx or Caddy terminate TLS in front of an app in production.
//!
//! ```text
//! cargo run -p step5-hardened    # first terminal: the lesson, on http://127.0.0.1:3000
//! cargo run -p local-https       # second terminal: then open https://localhost:3443/login
//! cargo test -p local-https
//! ```
//!
//! Settings, both optional: `HTTPS_PORT` (default 3443), the port to open in the browser;
//! `TARGET_PORT` (default 3000), the port the app listens on, i.e. the app's own `PORT`.
//! The browser warns about the certificate once per start: the lines printed at start say
//! how to go on, and give the certificate's fingerprint to compare.

use std::process::ExitCode;

use local_https::proxy::start_command;
use local_https::{SelfSigned, Settings, serve};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    // A bad setting is the user's mistake, not a bug: one line that names it, then exit 1.
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };

    let certificate = match SelfSigned::generate() {
        Ok(certificate) => certificate,
        Err(err) => {
            eprintln!("error: cannot make the certificate: {err}");
            return ExitCode::FAILURE;
        }
    };
    let tls = match certificate.server_config() {
        Ok(tls) => tls,
        Err(err) => {
            eprintln!("error: cannot set up TLS with the certificate: {err}");
            return ExitCode::FAILURE;
        }
    };

    let shutdown = match shutdown_signal() {
        Ok(shutdown) => shutdown,
        Err(err) => {
            eprintln!("error: cannot listen for Ctrl-C: {err}");
            return ExitCode::FAILURE;
        }
    };

    let listen_addr = settings.listen_addr();
    let listener = match TcpListener::bind(listen_addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!(
                "error: cannot listen on {listen_addr}: {err} (is local-https already running? \
                 stop it or set HTTPS_PORT)"
            );
            return ExitCode::FAILURE;
        }
    };
    // With `HTTPS_PORT=0` the system chose the port: show the one it chose.
    let port = listener
        .local_addr()
        .map_or(settings.https_port, |addr| addr.port());
    let target = settings.target_addr();

    println!(
        "local-https: https://localhost:{port} -> http://{target}\n\
         \n\
         Open https://localhost:{port}/login\n\
         \n\
         The browser will warn that the certificate is not trusted (\"This Connection Is Not\n\
         Private\", \"Your connection is not private\", \"Warning: Potential Security Risk\").\n\
         That is expected: this program made the certificate a moment ago and signed it\n\
         itself, and no authority the browser knows vouches for it. To go on:\n\
         \x20 Safari:  \"Show Details\", then \"visit this website\", then \"Visit Website\"\n\
         \x20 Chrome:  \"Advanced\", then \"Proceed to localhost (unsafe)\"\n\
         \x20 Firefox: \"Advanced...\", then \"Accept the Risk and Continue\"\n\
         \n\
         To check it is this certificate, compare its SHA-256 fingerprint in the browser's\n\
         certificate view (click the warning's \"view the certificate\", or the padlock) with:\n\
         \x20 {fingerprint}\n\
         A new certificate is made at every start, so the browser asks again after a restart.\n\
         \n\
         Start the app in another terminal if it is not running yet ({start}).\n\
         Ctrl-C stops local-https.",
        fingerprint = certificate.sha256_fingerprint(),
        start = start_command(target),
    );

    serve(listener, target, tls, shutdown).await;
    println!("local-https: stopped");
    ExitCode::SUCCESS
}

/// Installs the Ctrl-C (and, on Unix, SIGTERM) handlers and returns a future that resolves
/// when one arrives. They are installed before the start-up lines are printed, so a
/// signal sent right after them is never missed.
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
        println!("local-https: shutting down");
    })
}

/// Windows has no SIGTERM; Ctrl-C is the way to stop it there.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            println!("local-https: shutting down");
        }
    })
}
