//! The proxy in front of a small app, both on free ports of this machine, reached over real
//! TLS by a client that trusts the certificate the proxy made (as a browser does once you
//! accept it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::routing::any;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use local_https::{SelfSigned, serve};
use rustls::ClientConfig;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;

/// The cookie step 5 sets, flags and all.
const SESSION_COOKIE: &str = "__Host-session=abc123; HttpOnly; SameSite=Lax; Secure; Path=/";

/// An app that sets [`SESSION_COOKIE`] and answers with what it was sent: the request line,
/// the headers the tests look at, and the body.
async fn start_app() -> SocketAddr {
    async fn echo(
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: String,
    ) -> impl axum::response::IntoResponse {
        let value_of = |name: &str| {
            headers
                .get_all(name)
                .iter()
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let text = format!(
            "{method} {uri}\nhost: {}\norigin: {}\ncontent-type: {}\nx-lesson: {}\n\
             x-forwarded-proto: {}\nx-forwarded-for: {}\n\n{body}",
            value_of("host"),
            value_of("origin"),
            value_of("content-type"),
            value_of("x-lesson"),
            value_of("x-forwarded-proto"),
            value_of("x-forwarded-for"),
        );
        ([(header::SET_COOKIE, SESSION_COOKIE)], text)
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind app");
    let addr = listener.local_addr().expect("app address");
    let app = Router::new().fallback(any(echo));
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A port on which nothing listens: bound, read, and let go.
async fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("address")
}

struct Proxy {
    addr: SocketAddr,
    cert: CertificateDer<'static>,
}

/// The proxy on a free port, in front of `target`, with a certificate of its own.
async fn start_proxy(target: SocketAddr) -> Proxy {
    start_proxy_until(target, std::future::pending()).await.0
}

async fn start_proxy_until(
    target: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> (Proxy, tokio::task::JoinHandle<()>) {
    let certificate = SelfSigned::generate().expect("certificate");
    let tls = certificate.server_config().expect("TLS settings");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("proxy address");
    let served = tokio::spawn(serve(listener, target, tls, shutdown));
    let proxy = Proxy {
        addr,
        cert: certificate.cert.clone(),
    };
    (proxy, served)
}

/// Opens a TLS connection to the proxy, checking its certificate for `name` against a
/// root store that holds only the proxy's own certificate.
async fn connect(
    proxy: &Proxy,
    name: &str,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, std::io::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(proxy.cert.clone())
        .expect("trust the certificate");
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    let tcp = TcpStream::connect(proxy.addr).await?;
    let name = ServerName::try_from(name.to_string()).expect("server name");
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

/// Sends `request` to the proxy over HTTPS, as a browser on `https://localhost:PORT` would.
async fn send(proxy: &Proxy, request: Request<Full<Bytes>>) -> Answer {
    let tls = connect(proxy, "localhost").await.expect("TLS handshake");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("HTTP handshake");
    tokio::spawn(connection);
    let response = sender.send_request(request).await.expect("response");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).expect("UTF-8 body"),
    }
}

/// A `GET` as a browser on `https://localhost:PORT` sends it.
fn get(proxy: &Proxy, path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header(header::HOST, format!("localhost:{}", proxy.addr.port()))
        .body(Full::default())
        .expect("request")
}

#[tokio::test]
async fn a_page_comes_back_over_https_with_its_secure_cookie_unchanged() {
    let proxy = start_proxy(start_app().await).await;

    let answer = send(&proxy, get(&proxy, "/login?next=%2Fdashboard")).await;

    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.body.starts_with("GET /login?next=%2Fdashboard\n"),
        "{}",
        answer.body
    );
    let cookies: Vec<_> = answer.headers.get_all(header::SET_COOKIE).iter().collect();
    assert_eq!(cookies, [SESSION_COOKIE], "the cookie as the app set it");
}

#[tokio::test]
async fn the_app_sees_the_browsers_host_and_learns_it_used_https_from_which_address() {
    let proxy = start_proxy(start_app().await).await;

    let answer = send(&proxy, get(&proxy, "/")).await;

    let host = format!("host: localhost:{}\n", proxy.addr.port());
    assert!(answer.body.contains(&host), "{}", answer.body);
    assert!(
        answer.body.contains("x-forwarded-proto: https\n"),
        "{}",
        answer.body
    );
    assert!(
        answer.body.contains("x-forwarded-for: 127.0.0.1\n"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn a_form_post_reaches_the_app_with_its_method_headers_and_body_unchanged() {
    let proxy = start_proxy(start_app().await).await;
    let origin = format!("https://localhost:{}", proxy.addr.port());
    let request = Request::post("/login")
        .header(header::HOST, format!("localhost:{}", proxy.addr.port()))
        .header(header::ORIGIN, &origin)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("x-lesson", "5")
        .body(Full::new(Bytes::from(
            "_csrf=t0k3n&username=admin&password=1234",
        )))
        .expect("request");

    let answer = send(&proxy, request).await;

    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.starts_with("POST /login\n"), "{}", answer.body);
    assert!(
        answer.body.contains(&format!("origin: {origin}\n")),
        "{}",
        answer.body
    );
    assert!(
        answer
            .body
            .contains("content-type: application/x-www-form-urlencoded\n"),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("x-lesson: 5\n"), "{}", answer.body);
    assert!(
        answer
            .body
            .ends_with("\n\n_csrf=t0k3n&username=admin&password=1234"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn a_client_cannot_choose_its_own_forwarded_headers() {
    let proxy = start_proxy(start_app().await).await;
    let mut request = get(&proxy, "/");
    let headers = request.headers_mut();
    headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));

    let answer = send(&proxy, request).await;

    assert!(
        answer.body.contains("x-forwarded-for: 127.0.0.1\n"),
        "{}",
        answer.body
    );
    assert!(
        answer.body.contains("x-forwarded-proto: https\n"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn with_no_app_behind_it_the_answer_is_a_502_page_that_says_what_to_start() {
    let target = free_port().await;
    let proxy = start_proxy(target).await;

    let answer = send(&proxy, get(&proxy, "/login")).await;

    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert!(
        answer
            .body
            .contains(&format!("nothing answers on {target}")),
        "{}",
        answer.body
    );
    // The app's port is not 3000 here, so the command says which port to start it on.
    let command = format!("PORT={} cargo run -p step5-hardened", target.port());
    assert!(answer.body.contains(&command), "{}", answer.body);
}

#[tokio::test]
async fn the_certificate_is_valid_for_localhost_and_the_loopback_addresses_only() {
    let proxy = start_proxy(start_app().await).await;

    for name in ["localhost", "127.0.0.1", "::1"] {
        assert!(connect(&proxy, name).await.is_ok(), "{name}");
    }
    // The check is real: another name is refused.
    assert!(connect(&proxy, "example.com").await.is_err());
}

#[tokio::test]
async fn after_shutdown_it_stops_and_refuses_new_connections() {
    let (stop, stopped) = oneshot::channel::<()>();
    let (proxy, served) = start_proxy_until(start_app().await, async {
        let _ = stopped.await;
    })
    .await;
    // It serves until told to stop...
    let answer = send(&proxy, get(&proxy, "/")).await;
    assert_eq!(answer.status, StatusCode::OK);

    stop.send(()).expect("proxy still running");

    // ...then returns (the limit only keeps a broken shutdown from hanging the test)...
    tokio::time::timeout(Duration::from_secs(30), served)
        .await
        .expect("serve returned")
        .expect("serve did not panic");
    // ...and its port is closed.
    assert!(TcpStream::connect(proxy.addr).await.is_err());
}
