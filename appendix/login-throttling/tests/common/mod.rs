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
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.expect("a body");
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes.to_bytes()).into_owned(),
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
        let log = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("piped");
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut log = sink.lock().expect("not poisoned");
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut server = Self {
            child,
            port: 0,
            log,
            _dir: dir,
        };
        let listening = server.log_with("listening on http://localhost:");
        server.port = listening
            .split("listening on http://localhost:")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|port| port.parse().ok())
            .expect("the log gives the port");
        server
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sends `head` (request line and headers) with a body and `Connection: close`;
    /// returns the whole raw answer.
    pub fn request(&self, head: &str, content_type: &str, body: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connects");
        let request = format!(
            "{head}\r\nHost: localhost\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("sends");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("reads");
        answer
    }

    /// A login as a form; returns the raw answer.
    pub fn login(&self, form: &str) -> String {
        let form_type = "application/x-www-form-urlencoded";
        self.request("POST /login HTTP/1.1", form_type, form)
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
