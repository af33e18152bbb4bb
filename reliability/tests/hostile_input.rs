//! Hostile input: random requests into every step's router, headers and cookies at and
//! past the limits over real TCP, and clients that send a request very slowly. The
//! server may refuse (4xx) or close the connection, but never answers 5xx, never panics
//! and keeps serving everybody else.

use std::io::Read;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use reliability::{Client, Process, Step, raw_exchange, raw_status, serve, sqlite_url};
use test_kit::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;
use tower_http::timeout::{RequestBodyDeadlineLayer, RequestBodyTimeoutLayer};
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
            // `Sec-Fetch-Site` values, and `Origin`s that do and do not match a `Host`:
            // step 5's cross-origin check must refuse with a 4xx page, never fail.
            "same-origin",
            "same-site",
            "cross-site",
            "none",
            "null",
            "http://evil.example",
            "http://localhost",
            "localhost",
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
        ("[a-z]{0,12}", "[ -~]{0,20}")
            .prop_map(|(user, pass)| format!("username={user}&password={pass}").into_bytes()),
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

/// How long a slow client waits for the server in the tests below: the steps' 10 s
/// limits, and time to spare on a busy machine.
const PATIENCE: Duration = Duration::from_secs(13);

/// Sends a login's headers and the first byte of its 100-byte body, then one more byte
/// every `drip` (none at all if `None`), until the server answers and closes, or
/// `patience` runs out. Returns what came back (`(no answer in time)` if nothing did)
/// and when the exchange ended.
async fn slow_body(
    addr: SocketAddr,
    drip: Option<Duration>,
    patience: Duration,
) -> (String, Duration) {
    let began = Instant::now();
    let exchange = async {
        let (mut reader, mut writer) = TcpStream::connect(addr).await?.into_split();
        let head = format!(
            "POST /login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: 100\r\nConnection: close\r\n\r\nu"
        );
        writer.write_all(head.as_bytes()).await?;
        // Never the whole body: the server must give up on it, or hold it.
        let dripping = async move {
            if let Some(every) = drip {
                for _ in 0..98 {
                    tokio::time::sleep(every).await;
                    if writer.write_all(b"a").await.is_err() {
                        break;
                    }
                }
            }
            std::future::pending::<()>().await;
        };
        let mut response = Vec::new();
        tokio::select! {
            _ = reader.read_to_end(&mut response) => {}
            () = dripping => {}
        }
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&response).into_owned())
    };
    let response = match tokio::time::timeout(patience, exchange).await {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => format!("(connection failed: {err})"),
        Err(_) => "(no answer in time)".to_string(),
    };
    (response, began.elapsed())
}

/// Sends half a header line and goes quiet. Returns what came back and when.
async fn stalled_headers(addr: SocketAddr, patience: Duration) -> (String, Duration) {
    let began = Instant::now();
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nX-Half");
    let response = raw_exchange(addr, request.as_bytes(), patience).await;
    (response, began.elapsed())
}

/// What a slow client saw, in words for the test's output.
fn verdict(response: &str, after: Duration) -> String {
    match raw_status(response) {
        Some(status) => format!("answered {status} after {after:.1?}"),
        None if response.starts_with("(no answer") => {
            format!("still held open after {after:.1?}, no timeout")
        }
        None => format!("closed after {after:.1?}"),
    }
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
                tokio::spawn(slow_body(
                    addr,
                    Some(Duration::from_millis(100)),
                    Duration::from_secs(2),
                ))
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

/// Whether a slow client's exchange ended with a 4xx (or, when `closed_is_fine`, a
/// closed connection) at `limit`, neither before it nor long after.
fn ended_at_limit(response: &str, after: Duration, limit: Duration, closed_is_fine: bool) -> bool {
    let ended = match raw_status(response) {
        Some(status) => (400..500).contains(&status),
        None => closed_is_fine && !response.starts_with('('),
    };
    ended && after >= limit.mul_f64(0.9) && after < limit + Duration::from_millis(2500)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_steps_as_served_today_report_whether_they_time_out_a_stalled_client() {
    // Three slow clients against each step with a login form, served as its `main` serves
    // it: steps 2 to 4 in-process with `axum::serve`, step 5 as its own binary (its
    // `serve` adds the header timeout). One sends a byte of its body and goes quiet, one
    // trickles its body a byte every 500 ms, one stops in the middle of its headers.
    //
    // Step 5 is checked: it cuts a body, stalled or trickled, at `BODY_DEADLINE` after
    // the headers, and closes a connection whose headers are not in after
    // `HEADER_TIMEOUT`. Steps 2 to 4 are checked to cut a stalled body after
    // `BODY_TIMEOUT` of silence; that timeout counts from the last byte, so a trickle
    // resets it, and `axum::serve` has no header timeout: those two are printed as
    // FINDINGs, so the CI log shows them, not failed.
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut targets = Vec::new();
    let mut servers = Vec::new();
    for (name, app) in every_step(&dir).await {
        if name == "step1-basic" || name == "step5-hardened" {
            continue;
        }
        let served = serve(app).await;
        targets.push((name, served.addr));
        servers.push(served);
    }
    let step5 = Process::start(Step::Five, &sqlite_url(&dir.path().join("5-binary.db")));
    targets.push(("step5-hardened", step5.addr));

    // Every probe at once, so the whole test waits about `PATIENCE`, not twelve times it.
    let probes: Vec<_> = targets
        .iter()
        .map(|&(name, addr)| {
            tokio::spawn(async move {
                let (stalled, trickled, headers) = tokio::join!(
                    slow_body(addr, None, PATIENCE),
                    slow_body(addr, Some(Duration::from_millis(500)), PATIENCE),
                    stalled_headers(addr, PATIENCE),
                );
                (name, stalled, trickled, headers)
            })
        })
        .collect();
    for probe in probes {
        let (name, stalled, trickled, headers) = probe.await.expect("a probe does not panic");
        for (what, (response, after)) in [
            ("a stalled body", &stalled),
            ("a trickled body", &trickled),
            ("stalled headers", &headers),
        ] {
            // What steps 2 to 4 leave open is shown, not failed: a finding for the steps.
            let finding = if response.starts_with("(no answer") {
                "FINDING: "
            } else {
                ""
            };
            println!("{name}: {what}: {finding}{}", verdict(response, *after));
            assert!(
                raw_status(response).is_none_or(|s| s < 500),
                "{name}: {what}: {response:.300}"
            );
        }
        if name == "step5-hardened" {
            let deadline = step5_hardened::BODY_DEADLINE;
            for (what, (response, after)) in
                [("a stalled body", &stalled), ("a trickled body", &trickled)]
            {
                assert!(
                    ended_at_limit(response, *after, deadline, false),
                    "{name}: {what} should get a 4xx {deadline:?} after its headers, \
                     got after {after:.1?}: {response:.300}"
                );
            }
            let limit = step5_hardened::server::HEADER_TIMEOUT;
            let (response, after) = &headers;
            assert!(
                ended_at_limit(response, *after, limit, true),
                "{name}: stalled headers should be closed after {limit:?}, \
                 got after {after:.1?}: {response:.300}"
            );
        } else {
            let limit = step4_persistent::BODY_TIMEOUT;
            let (response, after) = &stalled;
            assert!(
                ended_at_limit(response, *after, limit, false),
                "{name}: a stalled body should get a 4xx after {limit:?} of silence, \
                 got after {after:.1?}: {response:.300}"
            );
        }
    }
    drop(servers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_off_by_a_deadline_but_not_by_a_between_frames_timeout() {
    // Why step 5 counts its body time from the start, and what steps 2 to 4 would need:
    // the two tower-http layers around the same app (step 4's, whose own 10 s timeout
    // never comes into it), with a 2 s limit so the difference shows in seconds. A client
    // that goes quiet is cut off by both; one that sends a byte every 250 ms resets the
    // between-frames timeout every time and is cut off only by the deadline.
    let limit = Duration::from_secs(2);
    let patience = Duration::from_secs(5);
    let drip = Some(Duration::from_millis(250));
    let dir = tempfile::tempdir().expect("a temporary folder");
    let app = async |file: &str| Step::Four.app(&sqlite_url(&dir.path().join(file))).await;
    let between_frames = serve(
        app("frames.db")
            .await
            .layer(RequestBodyTimeoutLayer::new(limit)),
    )
    .await;
    let deadline = serve(
        app("deadline.db")
            .await
            .layer(RequestBodyDeadlineLayer::new(limit)),
    )
    .await;

    let (frames_stalled, frames_trickled, deadline_stalled, deadline_trickled) = tokio::join!(
        slow_body(between_frames.addr, None, patience),
        slow_body(between_frames.addr, drip, patience),
        slow_body(deadline.addr, None, patience),
        slow_body(deadline.addr, drip, patience),
    );
    for (what, (response, after)) in [
        ("between-frames timeout, a stalled body", &frames_stalled),
        ("between-frames timeout, a trickled body", &frames_trickled),
        ("deadline, a stalled body", &deadline_stalled),
        ("deadline, a trickled body", &deadline_trickled),
    ] {
        println!("{what}: {}", verdict(response, *after));
    }
    for (what, (response, after)) in [
        ("between-frames timeout, a stalled body", &frames_stalled),
        ("deadline, a stalled body", &deadline_stalled),
        ("deadline, a trickled body", &deadline_trickled),
    ] {
        assert!(
            ended_at_limit(response, *after, limit, false),
            "{what}: should get a 4xx after {limit:?}, got after {after:.1?}: {response:.300}"
        );
    }
    let (response, _) = &frames_trickled;
    assert_eq!(
        response, "(no answer in time)",
        "a body that keeps coming is never cut off by a between-frames timeout"
    );
}

// ---- step 5's server: what the header timeout and the shutdown grace promise ----------

/// The header timeout counts from the start of the request, not from the last line: a
/// client that sends one header line a second, each well inside any per-read timeout,
/// is still closed once `HEADER_TIMEOUT` has passed.
#[test]
fn headers_sent_a_line_at_a_time_are_cut_off_at_the_header_timeout() {
    let server = Server::start(Step::Five.binary(), &[]);
    let many_lines = "X-Slow: a\r\n".repeat(10);
    let every = Duration::from_secs(1);
    let mut stream = server.trickle("GET / HTTP/1.1\r\n", &many_lines, every);
    let started = Instant::now();
    let limit = step5_hardened::server::HEADER_TIMEOUT;
    stream
        .set_read_timeout(Some(limit + Duration::from_secs(5)))
        .expect("a read timeout");

    // Reading ends when the server closes the connection (or when the test gives up).
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);

    assert!(
        started.elapsed() < limit + Duration::from_secs(5),
        "the connection stayed open {:?}",
        started.elapsed()
    );
}

/// SIGTERM ends the server within its grace even while a client is still sending a body:
/// a deploy never hangs on a slow or hostile client.
#[cfg(unix)]
#[test]
fn a_shutdown_ends_within_its_grace_whatever_a_client_does() {
    let mut server = Server::start(Step::Five.binary(), &[]);
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nu",
        server.addr
    );
    let _client = server.trickle(&head, "sername=admin&password=1234", Duration::from_secs(1));
    std::thread::sleep(Duration::from_secs(1));
    let grace = step5_hardened::server::SHUTDOWN_GRACE;

    server.send_sigterm();
    let started = Instant::now();
    let status = server.wait_at_most(grace + Duration::from_secs(3));

    let status =
        status.unwrap_or_else(|| panic!("still running {:?} after SIGTERM", started.elapsed()));
    assert!(status.success(), "{status:?}");
}
