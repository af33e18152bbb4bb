//! Test helpers: logins sent to the app in-process, from a chosen client address, and the
//! real server for what only it shows (its configuration, its log).
#![allow(dead_code)] // each test file uses its own subset of these helpers

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use appendix_login_throttling::{Limits, Throttle, throttle_logins};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use step5_hardened::Settings;
use tower::ServiceExt;
use tower_sessions::MemoryStore;
use tower_sessions::cookie::Key;

pub const GOOD_FORM: &str = "username=admin&password=1234";

/// Step 5's app on a memory store, throttled with `limits`.
pub fn app(limits: Limits) -> Router {
    let app = step5_hardened::app(MemoryStore::default(), Settings::new(Key::generate()));
    throttle_logins(app, Throttle::new(limits))
}

/// A client address, `203.0.113.<last>` (a range kept for documentation).
pub fn addr(last: u8) -> SocketAddr {
    SocketAddr::from(([203, 0, 113, last], 40000))
}

/// What the app answered.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

/// The request `POST /login` from `from`, with the address as `serve` gives it.
pub fn login_request(from: SocketAddr, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::post("/login")
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .expect("a valid request");
    request.extensions_mut().insert(ConnectInfo(from));
    request
}

/// A login from `from`, as a form (`username=...&password=...`).
pub async fn login(app: &Router, from: SocketAddr, form: &str) -> Answer {
    let form_type = "application/x-www-form-urlencoded";
    send(app, login_request(from, form_type, form.to_string())).await
}

pub async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("a body").to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// The add-on's binary, running on a free port with a database in a temporary folder,
/// its log collected as it is written.
pub struct Server {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Server {
    pub fn start(envs: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
        let mut child = Command::new(env!("CARGO_BIN_EXE_appendix-login-throttling"))
            .env("PORT", "0")
            .env("DATABASE_URL", url)
            .env_remove("RUST_LOG")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary starts");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut lines = stdout.lines().map_while(Result::ok);
        let mut log = String::new();
        let port = loop {
            let line = lines.next().expect("the server says where it listens");
            log.push_str(&format!("{line}\n"));
            if let Some((_, port)) = line.split_once("listening on http://localhost:") {
                break port.trim().parse().expect("a port number");
            }
        };
        let log = Arc::new(Mutex::new(log));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines {
                sink.lock()
                    .expect("not poisoned")
                    .push_str(&format!("{line}\n"));
            }
        });
        Self {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    /// A login as a form, with `headers` (lines ending in `\r\n`); the whole raw answer.
    pub fn login(&self, headers: &str, form: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connects");
        let request = format!(
            "POST /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{headers}\r\n{form}",
            form.len()
        );
        stream.write_all(request.as_bytes()).expect("sends");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("reads");
        answer
    }

    /// The log so far, once it holds `text` (waiting up to ten seconds for it).
    pub fn log_with(&self, text: &str) -> String {
        let started = Instant::now();
        loop {
            let log = self.log.lock().expect("not poisoned").clone();
            if log.contains(text) || started.elapsed() > Duration::from_secs(10) {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
