//! The proxy: TLS from the browser, plain HTTP/1.1 to the app.
//!
//! This is what nginx or Caddy do in front of an app in production ("TLS termination"):
//! the proxy holds the certificate and does the encryption, and the app behind it speaks
//! plain HTTP on a private connection. The app's code does not change with the
//! certificate, and one proxy can serve many apps. Here the private connection is
//! loopback (`127.0.0.1`), which never leaves this computer.
//!
//! Each request is forwarded as HTTP, not as bytes, so the proxy can add what a production
//! proxy adds: `X-Forwarded-Proto: https` (the browser used HTTPS) and `X-Forwarded-For`
//! (who the browser is), and can answer with a readable page when the app is not running.
//! Method, path, body and the end-to-end headers pass unchanged, `Host` included: the app
//! sees `Host: localhost:3443`, the same host the browser puts in `Origin`, so same-origin
//! checks that compare the two keep working.

use std::convert::Infallible;
use std::error::Error as _;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{Either, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulShutdown;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

/// A response body: the app's, streamed through as it arrives, or a page of our own.
pub type Body = Either<Incoming, Full<Bytes>>;

/// The connection to the app: plain HTTP/1.1, kept open between requests.
type AppClient = Client<HttpConnector, Incoming>;

/// Which protocol the browser used. An app behind a proxy sees only plain HTTP, so this
/// is how it can learn that the page was fetched over HTTPS (to build `https://` links,
/// for instance). Set here, never passed on from the browser: a client could claim anything.
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The browser's IP address. The app sees every connection come from this proxy, so a
/// proxy says who its client was. Replaced, never appended to: this proxy is the first
/// hop, and any value a client sent itself would be a lie the app might believe.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Headers about one connection rather than the request (RFC 9110, section 7.6.1): they
/// are for the proxy and stop here, as in nginx and Caddy. The connection to the app has
/// its own, set by hyper. `Transfer-Encoding` is among them because each side frames the
/// body its own way; hyper does that from the body's length.
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("keep-alive"),
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// A browser that opens a connection gets this long to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// On shutdown, requests in flight get this long to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves HTTPS on `listener` with `tls`, forwarding every request to `http://{target}`,
/// until `shutdown` resolves; then stops accepting, lets the requests in flight finish
/// (for [`SHUTDOWN_GRACE`] at most), and returns.
pub async fn serve(
    listener: TcpListener,
    target: SocketAddr,
    tls: Arc<ServerConfig>,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let client: AppClient = Client::builder(TokioExecutor::new()).build_http();
    let connections = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);

    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, say: wait instead of failing in a busy loop.
                    eprintln!("local-https: cannot accept a connection: {err}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let client = client.clone();
        let watcher = connections.watcher();
        tokio::spawn(async move {
            // A failed handshake is not reported: browsers abort them as a matter of
            // course, for instance each time they show the certificate warning.
            let Ok(Ok(tls)) = timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
                return;
            };
            let service = service_fn(move |request| forward(client.clone(), target, peer, request));
            let connection = http1::Builder::new().serve_connection(TokioIo::new(tls), service);
            // An error here is a browser that went away mid-request: nothing to tell.
            let _closed = watcher.watch(connection).await;
        });
    }

    // No new connections from here on; idle ones close at once, busy ones after their
    // current request.
    drop(listener);
    if timeout(SHUTDOWN_GRACE, connections.shutdown())
        .await
        .is_err()
    {
        eprintln!("local-https: some requests were still running; they are cut off");
    }
}

/// Sends one request on to the app and its answer back to the browser.
async fn forward(
    client: AppClient,
    target: SocketAddr,
    peer: SocketAddr,
    mut request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    // The browser asked for `/path?query`; the client needs the full address to know
    // where to connect. It sends only `/path?query` on the wire, and keeps `Host`.
    let path = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let Ok(uri) = format!("http://{target}{path}").parse::<Uri>() else {
        return Ok(page(
            StatusCode::BAD_REQUEST,
            format!("400 Bad Request\n\nlocal-https cannot forward the address {path:?}.\n"),
        ));
    };
    *request.uri_mut() = uri;

    let headers = request.headers_mut();
    remove_hop_by_hop(headers);
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
    headers.remove(X_FORWARDED_FOR);
    // An IP address is always a valid header value; the `if let` only avoids an unwrap.
    if let Ok(ip) = HeaderValue::from_str(&peer.ip().to_string()) {
        headers.insert(X_FORWARDED_FOR, ip);
    }

    match client.request(request).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            remove_hop_by_hop(&mut parts.headers);
            // Everything else, `Set-Cookie` with its `Secure` flag included, goes back
            // to the browser exactly as the app wrote it.
            Ok(Response::from_parts(parts, Either::Left(body)))
        }
        Err(err) if err.is_connect() => Ok(page(
            StatusCode::BAD_GATEWAY,
            format!(
                "502 Bad Gateway\n\n\
                 local-https is running, but nothing answers on {target}: start a lesson with \
                 {command} in another terminal, then reload this page.\n",
                command = start_command(target),
            ),
        )),
        Err(err) => {
            let reason = with_causes(&err);
            eprintln!("local-https: the app on {target} did not answer: {reason}");
            Ok(page(
                StatusCode::BAD_GATEWAY,
                format!(
                    "502 Bad Gateway\n\n\
                     The app on {target} took the request but gave no answer ({reason}). \
                     Its terminal may say why.\n"
                ),
            ))
        }
    }
}

/// The command that starts step 5 on the port the proxy forwards to.
pub fn start_command(target: SocketAddr) -> String {
    match target.port() {
        3000 => "cargo run -p step5-hardened".to_string(),
        port => format!("PORT={port} cargo run -p step5-hardened"),
    }
}

/// Removes [`HOP_BY_HOP`] and any header that `Connection` names as hop-by-hop.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(&HOP_BY_HOP) {
        headers.remove(name);
    }
}

/// A plain-text page of our own, for when there is no answer from the app to pass on.
fn page(status: StatusCode, text: String) -> Response<Body> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(text))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// An error and the errors that caused it, in one line: hyper's own message ("client
/// error (SendRequest)") says little without them.
fn with_causes(err: &hyper_util::client::legacy::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(err) = cause {
        text.push_str(": ");
        text.push_str(&err.to_string());
        cause = err.source();
    }
    text
}
