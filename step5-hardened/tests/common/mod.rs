//! Test helpers: a tiny browser for the in-process app, and a real server process.
#![allow(dead_code)] // each test file uses its own subset of these helpers

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use step5_hardened::Settings;
use tower::ServiceExt;
use tower_sessions::cookie::Key;
use tower_sessions::session::{Id, Record};
use tower_sessions::{MemoryStore, SessionStore, session_store};

/// The session cookie's name.
pub const COOKIE: &str = step5_hardened::COOKIE_NAME;

/// The `SESSION_SECRET` the test servers get: 64 bytes in base64, as `cargo xtask secret`
/// prints them (made once for the tests; no real server uses it).
pub const TEST_SECRET: &str =
    "x/lbrfz/35qk862GRk+PivPUGfWpagnx+Mrty7Qkf6QZ93U59fUUw9CuT4o3mZchJYlR09KxtG+GNtHqV/lrcQ==";

/// The default settings with a fresh random cookie key.
pub fn settings() -> Settings {
    Settings::new(Key::generate())
}

/// The application with a fresh memory store. `main` opens SQLite, but the earlier
/// lessons' tests check the routes and the session layer, which are the same whatever the
/// store; what SQLite changes is tested on SQLite in persistence.rs and server.rs.
pub fn app() -> Router {
    step5_hardened::app(MemoryStore::default(), settings())
}

/// [`app_and_database`] without the URL.
pub async fn app_with(settings: Settings) -> Router {
    app_and_database(settings).await.0
}

/// The application as `main` builds it, with `settings`, on a fresh SQLite database in a
/// temporary folder, and the URL of that database, for tests that look at the rows. The
/// router owns the folder (as an extension), so the database lives exactly as long as the
/// app.
pub async fn app_and_database(settings: Settings) -> (Router, String) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let store = step5_hardened::store::open(&url)
        .await
        .expect("the store opens");
    let app = step5_hardened::app(store, settings).layer(axum::Extension(Arc::new(dir)));
    (app, url)
}

/// A sqlx URL for a database file in `dir`.
pub fn database_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("sessions.db").display())
}

/// A memory store with a switch that makes every operation fail, to show what a visitor
/// sees when the session store is down.
#[derive(Clone, Debug, Default)]
pub struct FlakyStore {
    inner: MemoryStore,
    broken: Arc<AtomicBool>,
    deletes_broken: Arc<AtomicBool>,
}

impl FlakyStore {
    pub fn set_broken(&self, broken: bool) {
        self.broken.store(broken, Ordering::SeqCst);
    }

    /// Breaks only deleting: the session still loads (so the timeouts can be checked)
    /// but logging out fails, as when the database goes away mid-request.
    pub fn set_deletes_broken(&self, broken: bool) {
        self.deletes_broken.store(broken, Ordering::SeqCst);
    }

    fn check(&self) -> session_store::Result<()> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(session_store::Error::Backend(
                "the test broke the store".into(),
            ));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl SessionStore for FlakyStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.check()?;
        self.inner.create(record).await
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.check()?;
        self.inner.save(record).await
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.check()?;
        self.inner.load(id).await
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.check()?;
        if self.deletes_broken.load(Ordering::SeqCst) {
            return Err(session_store::Error::Backend(
                "the test broke deleting".into(),
            ));
        }
        self.inner.delete(id).await
    }
}

/// A response as a user would see it: status, headers and page text.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The `Set-Cookie` headers of this response.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|value| value.to_str().expect("Set-Cookie is ASCII").to_string())
            .collect()
    }
}

/// One browser: it keeps the cookies the server sets and sends them back, so a test
/// reads like a person clicking through the site. Requests go straight into the
/// router (`oneshot`): no port, no network.
pub struct Browser {
    app: Router,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    /// A browser with an empty cookie jar, talking to `app`. Clones of one router share
    /// its session store, so several browsers can visit the same server.
    pub fn new(app: &Router) -> Self {
        Self {
            app: app.clone(),
            cookies: BTreeMap::new(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = Request::get(path)
            .body(Body::empty())
            .expect("valid request");
        self.send(request).await
    }

    /// Submits a form, as the browser does when a button is pressed. (It sends no
    /// `Sec-Fetch-Site` or `Origin`, as curl does; the tests of the cross-origin check
    /// add them.)
    pub async fn post_form(&mut self, path: &str, body: &str) -> Page {
        self.post(path, "application/x-www-form-urlencoded", body.to_string())
            .await
    }

    /// Posts JSON, as an API client does.
    pub async fn post_json(&mut self, path: &str, body: &str) -> Page {
        self.post(path, "application/json", body.to_string()).await
    }

    /// Posts any body.
    pub async fn post(&mut self, path: &str, content_type: &str, body: impl Into<Body>) -> Page {
        let request = Request::post(path)
            .header(header::CONTENT_TYPE, content_type)
            .body(body.into())
            .expect("valid request");
        self.send(request).await
    }

    /// The session cookie's value, if the browser has one.
    pub fn session_cookie(&self) -> Option<String> {
        self.cookies.get(COOKIE).cloned()
    }

    /// Sends `request` with this browser's cookies and stores the ones it gets back.
    pub async fn send(&mut self, mut request: Request<Body>) -> Page {
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let value = jar.join("; ").parse().expect("cookie header is valid");
            request.headers_mut().insert(header::COOKIE, value);
        }
        let response = self
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body can be read")
            .to_bytes();
        let page = Page {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        for set_cookie in page.set_cookies() {
            self.store_cookie(&set_cookie);
        }
        page
    }

    /// Applies one `Set-Cookie` header the way a browser does: a cookie with
    /// `Max-Age=0` (or an empty value) is deleted, any other replaces the old one.
    ///
    /// Like a browser, it ignores a `__Host-` cookie that is not `Secure`, has a `Domain`
    /// or a `Path` other than `/`, and a `__Secure-` cookie that is not `Secure`. Such a
    /// header changes nothing, even when it is meant to delete the cookie.
    fn store_cookie(&mut self, set_cookie: &str) {
        let mut parts = set_cookie.split(';').map(str::trim);
        let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let attributes: Vec<(String, &str)> = parts
            .map(|attr| {
                let (key, value) = attr.split_once('=').unwrap_or((attr, ""));
                (key.trim().to_ascii_lowercase(), value.trim())
            })
            .collect();
        let get = |key: &str| attributes.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
        let secure = get("secure").is_some();
        let host_only_root = get("domain").is_none() && get("path") == Some("/");
        if (name.starts_with("__Secure-") && !secure)
            || (name.starts_with("__Host-") && !(secure && host_only_root))
        {
            return;
        }
        let expired = get("max-age") == Some("0");
        if expired || value.is_empty() {
            self.cookies.remove(name);
        } else {
            self.cookies.insert(name.to_string(), value.to_string());
        }
    }

    /// The cookie jar, to copy it into another browser or tamper with it.
    pub fn cookies(&self) -> &BTreeMap<String, String> {
        &self.cookies
    }

    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.insert(name.to_string(), value.to_string());
    }
}

/// The real binary, started with `PORT=0` so the system picks a free port, which the
/// test reads from the server's "listening on" log line.
pub struct Server {
    pub child: Child,
    /// Where to connect: the logged address, with `localhost` as `127.0.0.1`.
    pub addr: String,
    /// The "listening on" line exactly as the server wrote it.
    pub log_line: String,
    /// Held only so that the server's database folder lives as long as the server.
    dir: tempfile::TempDir,
    /// Every line the server has logged so far.
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts the server with `envs`, on a database in a temporary folder of its own, never
    /// the default file; a `DATABASE_URL` in `envs` is set after it and wins.
    ///
    /// It gets [`TEST_SECRET`] as `SESSION_SECRET` (`envs` may set another), so that a
    /// server started again on the same database keeps its sessions.
    pub fn start(envs: &[(&str, &str)]) -> Self {
        let mut with_secret = vec![("SESSION_SECRET", TEST_SECRET)];
        with_secret.extend_from_slice(envs);
        Self::start_without_secret(&with_secret)
    }

    /// [`Server::start`] with no `SESSION_SECRET`, unless `envs` sets one.
    pub fn start_without_secret(envs: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut child = Command::new(env!("CARGO_BIN_EXE_step5-hardened"))
            .env("DATABASE_URL", database_url(&dir))
            .env("PORT", "0")
            .env("RUST_LOG", "info")
            // Not `NO_COLOR`: the log must come out plain because stdout is a pipe.
            .env_remove("NO_COLOR")
            .env_remove("SESSION_SECRET")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let mut early = Vec::new();
        let (log_line, addr) = loop {
            let line = lines
                .next()
                .expect("the server logs where it listens before exiting")
                .expect("log line is UTF-8");
            early.push(line.clone());
            if let Some((_, rest)) = line.split_once("listening on http://") {
                // The server listens on IPv4 loopback only; `localhost` may resolve to the
                // IPv6 `::1` first, which refuses (slowly, on Windows) before IPv4 is tried.
                let addr = rest.trim().replacen("localhost", "127.0.0.1", 1);
                break (line, addr);
            }
        };
        // Keep reading the log, so the server never blocks on a full pipe and the test
        // can read what it said.
        let log = Arc::new(Mutex::new(early));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().expect("log lock").push(line);
            }
        });
        Self {
            child,
            addr,
            log_line,
            dir,
            log,
        }
    }

    /// Sends one raw HTTP/1.1 request and returns the whole response as text, so the
    /// test sees exactly what crossed the wire.
    pub fn request(&self, head: &str) -> String {
        self.send_raw(&format!(
            "{head}\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        ))
    }

    /// Sends one raw HTTP/1.1 request with a body.
    pub fn request_with_body(&self, head: &str, content_type: &str, body: &str) -> String {
        self.send_raw(&format!(
            "{head}\r\nHost: {}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        ))
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }

    /// The log once it holds `text`, or after five seconds without it: another thread
    /// reads the log, and may not have read a line the server has just written.
    pub fn log_with(&self, text: &str) -> String {
        for _ in 0..50 {
            let log = self.log();
            if log.contains(text) {
                return log;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        self.log()
    }

    /// Logs in over TCP and returns the session cookie (`name=value`).
    pub fn log_in(&self) -> String {
        let login = self.request_with_body(
            "POST /login HTTP/1.1",
            "application/json",
            r#"{"username":"admin","password":"1234"}"#,
        );
        assert!(login.contains("Logged in successfully"), "{login}");
        cookie_from(&login).expect("logging in sets a cookie")
    }

    fn send_raw(&self, request: &str) -> String {
        let mut stream = TcpStream::connect(&self.addr).expect("server accepts connections");
        stream
            .write_all(request.as_bytes())
            .expect("request is sent");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("response is read");
        response
    }

    /// Stops the server as Ctrl-C or a service manager would, with SIGTERM, and waits for
    /// it to exit. Windows has no SIGTERM, and a console's Ctrl-C would reach the tests
    /// too, so there the server is ended outright: only on Unix does a test see the
    /// graceful shutdown.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        #[cfg(unix)]
        {
            use nix::sys::signal::{Signal, kill};
            use nix::unistd::Pid;
            let pid = i32::try_from(self.child.id()).expect("a process id fits in pid_t");
            kill(Pid::from_raw(pid), Signal::SIGTERM).expect("SIGTERM is sent");
        }
        #[cfg(not(unix))]
        self.child.kill().expect("the server is ended");
        self.child.wait().expect("server exits")
    }

    /// Ends the server at once, as a crash or `kill -9` would: it gets no chance to clean
    /// up (SIGKILL on Unix, `TerminateProcess` on Windows).
    pub fn crash(mut self) -> std::process::ExitStatus {
        self.child.kill().expect("the server is ended");
        self.child.wait().expect("server exits")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failing test must not leave a server behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `name=value` pair of the first `Set-Cookie` header in a raw response.
pub fn cookie_from(response: &str) -> Option<String> {
    response.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("set-cookie").then(|| {
            value
                .trim()
                .split(';')
                .next()
                .unwrap_or_default()
                .to_string()
        })
    })
}
