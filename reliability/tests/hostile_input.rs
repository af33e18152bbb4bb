//! Hostile input: random requests into every step's router, headers and cookies at and
//! past the limits over real TCP, and clients that send a request very slowly. The
//! server may refuse (4xx) or close the connection, but never answers 5xx, never panics
//! and keeps serving everybody else.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use reliability::{Client, Step, raw_exchange, raw_status, serve, sqlite_url};
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;
use tower_sessions::MemoryStore;

/// Every step's app on a fresh store; the folder holds the SQLite files of steps 4 and 5.
async fn every_step(dir: &tempfile::TempDir) -> Vec<(&'static str, Router)> {
    let file = |name: &str| sqlite_url(&dir.path().join(name));
    vec![
        ("step1-basic", step1_basic::app(MemoryStore::default())),
        ("step2-login", step2_login::app(MemoryStore::default())),
        ("step3-logout", step3_logout::app(MemoryStore::default())),
        ("step4-persistent", Step::Four.app(&file("4.db")).await),
        ("step5-hardened", Step::Five.app(&file("5.db")).await),
    ]
}

// ---- random requests ------------------------------------------------------------------

/// One random request, kept as plain parts so proptest can print and shrink it.
#[derive(Debug, Clone)]
struct Random {
    method: String,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    cookie: Option<String>,
    body: Vec<u8>,
}

fn random_request() -> impl Strategy<Value = Random> {
    let method = prop_oneof![
        4 => prop::sample::select(vec!["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"])
            .prop_map(str::to_string),
        1 => "[A-Z]{1,10}",
    ];
    let path = prop_oneof![
        3 => prop::sample::select(vec!["/", "/login", "/logout", "/dashboard", "/style.css"])
            .prop_map(str::to_string),
        2 => "/[a-zA-Z0-9%._~!$&'()*+,;=:@/-]{0,40}",
        1 => "/login\\?[a-zA-Z0-9%=&_-]{0,40}",
    ];
    let header_name = prop_oneof![
        prop::sample::select(vec![
            "content-type",
            "accept",
            "origin",
            "sec-fetch-site",
            "x-csrf-token",
            "host",
            "referer",
            "user-agent",
            "accept-encoding",
            "x-forwarded-for",
        ])
        .prop_map(str::to_string),
        "x-[a-z0-9-]{1,20}",
    ];
    let header_value = prop_oneof![
        prop::sample::select(vec![
            "application/x-www-form-urlencoded",
            "application/json",
            "text/plain",
            "multipart/form-data; boundary=x",
            "same-origin",
            "cross-site",
            "null",
            "http://evil.example",
        ])
        .prop_map(|value| value.as_bytes().to_vec()),
        // Visible ASCII, and the bytes above 127 that HTTP allows as "obs-text".
        prop::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff], 0..80),
    ];
    let cookie = prop::option::of(prop_oneof![
        "(id|__Host-session)=[a-zA-Z0-9+/=_-]{0,80}",
        "[ -~&&[^;]]{0,60}(; [a-z]{1,5}=[a-z]{0,5}){0,3}",
    ]);
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        ("[a-z]{0,12}", "[ -~]{0,20}", "[a-zA-Z0-9_-]{0,50}").prop_map(|(user, pass, csrf)| {
            format!("username={user}&password={pass}&_csrf={csrf}").into_bytes()
        }),
        ("[a-z]{0,12}", "[ -~&&[^\"\\\\]]{0,20}").prop_map(|(user, pass)| format!(
            r#"{{"username":"{user}","password":"{pass}"}}"#
        )
        .into_bytes()),
    ];
    (
        method,
        path,
        prop::collection::vec((header_name, header_value), 0..8),
        cookie,
        body,
    )
        .prop_map(|(method, path, headers, cookie, body)| Random {
            method,
            path,
            headers,
            cookie,
            body,
        })
}

impl Random {
    /// The request, or `None` for the rare combination `http` itself refuses to build
    /// (no server would ever receive it).
    fn build(&self) -> Option<Request<Body>> {
        let mut request = Request::builder()
            .method(Method::from_bytes(self.method.as_bytes()).ok()?)
            .uri(&self.path);
        for (name, value) in &self.headers {
            request = request.header(
                HeaderName::from_bytes(name.as_bytes()).ok()?,
                HeaderValue::from_bytes(value).ok()?,
            );
        }
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", HeaderValue::from_str(cookie).ok()?);
        }
        request.body(Body::from(self.body.clone())).ok()
    }
}

/// Cases per step: `PROPTEST_CASES`, else 1000 (20 000 with `RELIABILITY_LONG=1`).
fn cases() -> u32 {
    let default: u32 = if reliability::long_mode() {
        20_000
    } else {
        1000
    };
    let cases = reliability::env_number("PROPTEST_CASES", default.into());
    u32::try_from(cases).unwrap_or(default)
}

#[test]
fn random_requests_never_get_a_5xx_or_a_panic_from_any_step() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let steps = runtime.block_on(every_step(&dir));
    let config = Config {
        cases: cases(),
        // Regressions go in the failure message, not in files beside the sources.
        failure_persistence: None,
        ..Config::default()
    };
    for (name, app) in steps {
        // A fixed seed: CI runs the same requests every time, so a failure reproduces.
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[42; 32]);
        let mut runner = TestRunner::new_with_rng(config.clone(), rng);
        let started = Instant::now();
        let sent = std::cell::Cell::new(0u32);
        let result = runner.run(&random_request(), |random| {
            let Some(request) = random.build() else {
                return Ok(());
            };
            sent.set(sent.get() + 1);
            let response = runtime
                .block_on(app.clone().oneshot(request))
                .map_err(|never| TestCaseError::fail(format!("{never:?}")))?;
            prop_assert!(
                !response.status().is_server_error(),
                "{name} answered {} to {random:?}",
                response.status()
            );
            Ok(())
        });
        println!(
            "{name}: {} random requests sent ({} cases) in {:.1?}",
            sent.get(),
            config.cases,
            started.elapsed()
        );
        if let Err(failure) = result {
            panic!("{name}: {failure}");
        }
    }
}

// ---- limits over real TCP -------------------------------------------------------------

/// A raw request to `addr` with the given extra header lines.
async fn with_headers(addr: SocketAddr, lines: &str) -> String {
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\n{lines}Connection: close\r\n\r\n");
    raw_exchange(addr, request.as_bytes(), Duration::from_secs(10)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_and_cookies_at_and_past_the_limits_never_get_a_5xx() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for (name, app) in every_step(&dir).await {
        let served = serve(app).await;
        let addr = served.addr;
        let filler = |count: usize| -> String {
            (0..count)
                .map(|n| format!("X-Filler-{n}: {n}\r\n"))
                .collect()
        };
        let cases = [
            // An 8 KiB cookie, as big as browsers let one site's cookies grow.
            (
                "an 8 KiB cookie",
                format!("Cookie: id={}\r\n", "a".repeat(8 * 1024)),
            ),
            // hyper's limit is 100 headers in all: Host, Connection and 98 more.
            ("100 headers", filler(98)),
            ("101 headers", filler(99)),
            ("500 headers", filler(500)),
            (
                "a 1 MiB header",
                format!("X-Huge: {}\r\n", "a".repeat(1 << 20)),
            ),
        ];
        for (what, lines) in cases {
            let response = with_headers(addr, &lines).await;
            let status = raw_status(&response);
            println!(
                "{name}: {what}: {}",
                status.map_or("connection closed".into(), |s| s.to_string())
            );
            assert!(
                status.is_none_or(|s| s < 500),
                "{name}: {what}: {response:.300}"
            );
        }
        // Still serving.
        let reply = Client::new(addr)
            .get("/")
            .await
            .expect("the server still answers");
        assert_eq!(reply.status, 200, "{name}");
    }
}

// ---- slow clients ---------------------------------------------------------------------

/// Opens a connection, sends a login's headers and one byte of its 100-byte body, then
/// goes quiet. Returns what the server said within `patience` (nothing, if it waits).
async fn stall_a_body(addr: SocketAddr, patience: Duration) -> String {
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 100\r\nConnection: close\r\n\r\nu"
    );
    raw_exchange(addr, head.as_bytes(), patience).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_body_does_not_hold_up_anybody_else() {
    for step in Step::BOTH {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let served = serve(step.app(&sqlite_url(&dir.path().join("s.db"))).await).await;
        let addr = served.addr;
        // Twenty slow clients, each dripping a byte of its body every 100 ms.
        let trickles: Vec<_> = (0..20)
            .map(|_| {
                tokio::spawn(async move {
                    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
                        return;
                    };
                    let head = format!(
                        "POST /login HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100\r\n\
                         Content-Type: application/x-www-form-urlencoded\r\n\r\n"
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    for _ in 0..20 {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        if stream.write_all(b"a").await.is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let began = Instant::now();
        let login = Client::new(addr)
            .log_in()
            .await
            .expect("a normal client gets in");
        let took = began.elapsed();
        for trickle in trickles {
            trickle.abort();
        }
        assert_eq!(login.status, 200, "{step:?}");
        assert!(
            took < Duration::from_secs(2),
            "{step:?}: a login took {took:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_cut_off_once_a_body_timeout_layer_is_added() {
    // The fix suggested for the steps (README.md), applied here from outside: with
    // `RequestBodyTimeoutLayer` the server gives up on a silent body and answers 4xx.
    for step in Step::BOTH {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let app = step.app(&sqlite_url(&dir.path().join("s.db"))).await.layer(
            tower_http::timeout::RequestBodyTimeoutLayer::new(Duration::from_secs(1)),
        );
        let served = serve(app).await;
        let began = Instant::now();
        let response = stall_a_body(served.addr, Duration::from_secs(5)).await;
        let status = raw_status(&response);
        println!(
            "{}: with a 1 s body timeout a stalled body got {status:?} after {:.1?}",
            step.name(),
            began.elapsed()
        );
        assert!(
            status.is_some_and(|s| (400..500).contains(&s)),
            "{step:?}: {response:.300}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_steps_as_served_today_report_whether_they_time_out_a_stalled_client() {
    // A finding, not a gate: `main` serves with plain `axum::serve`, which sets no read
    // timeout, so a client that stops mid-request holds its connection (a socket and a
    // task) for as long as it likes. Printed, so the CI log shows it until it is fixed.
    for step in Step::BOTH {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let served = serve(step.app(&sqlite_url(&dir.path().join("s.db"))).await).await;
        let body = stall_a_body(served.addr, Duration::from_secs(2)).await;
        let headers = raw_exchange(
            served.addr,
            format!("GET / HTTP/1.1\r\nHost: {}\r\nX-Half", served.addr).as_bytes(),
            Duration::from_secs(2),
        )
        .await;
        for (what, response) in [("a stalled body", body), ("stalled headers", headers)] {
            let verdict = match raw_status(&response) {
                Some(status) => format!("answered {status}"),
                None if response.starts_with("(no answer") => {
                    "FINDING: still held open after 2 s, no timeout".to_string()
                }
                None => "closed".to_string(),
            };
            println!("{}: {what}: {verdict}", step.name());
            assert!(
                raw_status(&response).is_none_or(|s| s < 500),
                "{step:?}: {response:.300}"
            );
        }
    }
}
