//! Helpers for the reliability tests: serve a step over real TCP, talk to it like a
//! browser (one cookie jar per client), start and kill the real binaries, and check the
//! SQLite file afterwards. The tests themselves are in `tests/`; README.md says what each
//! one proves and which environment variables make them longer.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use test_kit::CookieJar;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

// ---- knobs -------------------------------------------------------------------------

/// `RELIABILITY_LONG=1` turns on the slow tests and the longer defaults (README.md).
pub fn long_mode() -> bool {
    std::env::var("RELIABILITY_LONG").is_ok_and(|value| value == "1")
}

/// A whole number from the environment, or `default` when unset or unreadable.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(default)
}

/// How long the load test runs: `RELIABILITY_LOAD_SECS`, else 3 s in CI and 10 s in long mode.
pub fn load_duration() -> Duration {
    Duration::from_secs(env_number(
        "RELIABILITY_LOAD_SECS",
        if long_mode() { 10 } else { 3 },
    ))
}

/// How many clients the load test runs at once: `RELIABILITY_CLIENTS`, else 200.
pub fn load_clients() -> usize {
    usize::try_from(env_number("RELIABILITY_CLIENTS", 200)).unwrap_or(200)
}

/// Serialises the tests that use both cores flat out (load, kill -9), so two of them in
/// one test binary do not run at once and starve each other into timeouts.
pub async fn heavy_test() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

// ---- the steps under test ----------------------------------------------------------

/// The two steps that keep sessions in SQLite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Four,
    Five,
}

impl Step {
    pub const BOTH: [Step; 2] = [Step::Four, Step::Five];

    /// The package name, which is also the binary's name.
    pub fn name(self) -> &'static str {
        match self {
            Step::Four => "step4-persistent",
            Step::Five => "step5-hardened",
        }
    }

    /// The app as `main` builds it, on the SQLite database at `url`.
    pub async fn app(self, url: &str) -> Router {
        self.app_with_password_hash(url, None).await
    }

    /// [`Step::app`], with step 5's admin password checked against `hash` instead of
    /// the demo hash (step 4 compares plain text and ignores it).
    pub async fn app_with_password_hash(self, url: &str, hash: Option<String>) -> Router {
        match self {
            Step::Four => {
                let store = step4_persistent::store::open(url)
                    .await
                    .expect("step 4's store opens on a fresh file");
                step4_persistent::app(store)
            }
            Step::Five => {
                let store = step5_hardened::store::open(url)
                    .await
                    .expect("step 5's store opens on a fresh file");
                let mut settings = step5_hardened::Settings::new(
                    tower_sessions::cookie::Key::try_generate().expect("the OS has randomness"),
                );
                if let Some(hash) = hash {
                    settings.admin_password_hash = hash.into();
                }
                step5_hardened::app(store, settings)
            }
        }
    }

    /// The real binary, next to this test's executable in the target folder.
    pub fn binary(self) -> PathBuf {
        let exe = std::env::current_exe().expect("the test knows its own path");
        // target/debug/deps/reliability-<hash> → target/debug/<step>
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test runs from target/<profile>/deps");
        let binary = dir.join(self.name());
        assert!(
            binary.exists(),
            "{} is missing: run `cargo test --workspace` (which builds it) or \
             `cargo build -p {}` first",
            binary.display(),
            self.name()
        );
        binary
    }
}

/// An argon2id hash of `1234` with the smallest settings argon2 allows: it checks in
/// microseconds, so 200 clients logging in to step 5 at once (a few checks at a time,
/// one per core, as step 5 runs them) do not wait seconds for the deliberately slow demo
/// hash.
pub fn cheap_password_hash() -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(8, 1, 1, None).expect("valid minimum parameters");
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"reliability-salt").expect("a valid salt");
    argon
        .hash_password(b"1234", &salt)
        .expect("hashing works")
        .to_string()
}

/// A sqlx URL for the file at `path`.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// `PRAGMA integrity_check` of the database at `path`: `"ok"` when it is sound.
pub async fn integrity_check(path: &Path) -> String {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&sqlite_url(path))
        .await
        .expect("the test can open the database");
    let (verdict,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .expect("integrity_check runs");
    verdict
}

// ---- serving in-process --------------------------------------------------------------

/// A step's router served on a free loopback port by the course's test kit, with the
/// client's address (which step 5's log lines carry). Steps 1 to 4 are served so by their
/// `main`; step 5's `main` serves with `step5_hardened::serve`, which adds a limit on the
/// time a client takes to send its headers (only its binary, [`Process`], has that).
/// Stops when dropped.
pub use test_kit::{Served, serve};

// ---- two tabs of one browser ----------------------------------------------------------

/// A fresh step on its own database file, served over TCP. The folder must outlive it.
pub async fn fresh(step: Step) -> (Served, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let app = step.app(&sqlite_url(&dir.path().join("sessions.db"))).await;
    (serve(app).await, dir)
}

/// A second tab: a new client holding the same cookies (and page) as `tab`.
pub fn tab_of(addr: SocketAddr, tab: &Client) -> Client {
    let mut other = Client::new(addr);
    other.set_cookie_header(&tab.cookie_header());
    other
}

/// Logs out from one tab while `others` tabs keep loading pages, `rounds` times, and
/// returns in how many rounds the old cookie was still logged in afterwards.
pub async fn race_logout_against_requests(step: Step, rounds: usize, others: usize) -> usize {
    let (served, _dir) = fresh(step).await;
    let mut resurrected = 0;
    for _ in 0..rounds {
        let mut leaving = Client::new(served.addr);
        assert_eq!(leaving.log_in().await.expect("login").status, 200);
        // The page with the logout button, as a user sees it before clicking.
        assert_eq!(
            leaving.get("/dashboard").await.expect("dashboard").status,
            200
        );
        let start = Arc::new(Barrier::new(others + 1));

        let mut tasks = Vec::new();
        for n in 0..others {
            let mut tab = tab_of(served.addr, &leaving);
            let start = Arc::clone(&start);
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                let path = if n % 2 == 0 { "/" } else { "/dashboard" };
                let reply = tab.get(path).await.expect("the server answers");
                // Whatever cookie the tab holds now (the old one, or a fresh
                // anonymous session) must not be logged in.
                (reply.status, tab)
            }));
        }
        start.wait().await;
        let logout = leaving
            .post_form("/logout", "")
            .await
            .expect("logout answers");
        assert_eq!(logout.status, 200, "{step:?}: {}", logout.body);

        let mut holders = Vec::new();
        for task in tasks {
            let (status, tab) = task.await.expect("a tab does not panic");
            assert!(status.as_u16() < 500, "{step:?}: a tab got {status}");
            holders.push(tab);
        }
        let mut still_in = false;
        for mut holder in holders {
            let dashboard = holder.get("/dashboard").await.expect("dashboard answers");
            still_in |= dashboard.status == 200;
        }
        resurrected += usize::from(still_in);
    }
    resurrected
}

// ---- a browser-like client ----------------------------------------------------------

/// What came back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: String,
}

impl Reply {
    /// The visit count the counter page shows, if this is the counter page.
    pub fn visits(&self) -> Option<u64> {
        if self.body.contains("Welcome! First visit.") {
            return Some(1);
        }
        let (_, rest) = self.body.split_once("Number of visits: ")?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    }

    /// The `500` page the steps show when the session store fails, saying so in words
    /// and leaking nothing of the database behind it.
    pub fn is_clean_store_failure(&self) -> bool {
        let leaks = [
            "tower_sessions",
            "sqlx",
            "SQLITE",
            "sqlite",
            "no such table",
            "locked",
        ];
        self.status == StatusCode::INTERNAL_SERVER_ERROR
            && (self.body.contains("Session store failed")
                || self.body.contains("Could not log out"))
            && !leaks.iter().any(|word| self.body.contains(word))
    }
}

/// One browser: its own connection pool and its own cookie jar. A failed connection is
/// an `Err` with what went wrong.
pub struct Client {
    http: HttpClient<HttpConnector, Full<Bytes>>,
    base: String,
    cookies: CookieJar,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            http: HttpClient::builder(TokioExecutor::new()).build_http(),
            base: format!("http://{addr}"),
            cookies: CookieJar::default(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Result<Reply, String> {
        self.send(Method::GET, path, None).await
    }

    /// Posts a form as a browser posts one of the site's own forms: with the `Origin`
    /// and `Sec-Fetch-Site: same-origin` headers, which step 5's cross-origin check
    /// reads (steps 1 to 4 ignore them).
    pub async fn post_form(&mut self, path: &str, fields: &str) -> Result<Reply, String> {
        self.send(Method::POST, path, Some(fields.to_string()))
            .await
    }

    /// Logs in as admin with the login form's fields.
    pub async fn log_in(&mut self) -> Result<Reply, String> {
        self.post_form("/login", "username=admin&password=1234")
            .await
    }

    /// Logs out with the logout button's form.
    pub async fn log_out(&mut self) -> Result<Reply, String> {
        self.post_form("/logout", "").await
    }

    /// The cookies this browser holds, as a `Cookie` header would carry them.
    pub fn cookie_header(&self) -> String {
        self.cookies.header().unwrap_or_default()
    }

    /// Replaces the jar with `cookie_header` (`name=value; ...`): a second tab.
    pub fn set_cookie_header(&mut self, cookie_header: &str) {
        self.cookies = CookieJar::from_header(cookie_header);
    }

    /// Sends one request with this browser's cookies, and keeps the cookies the answer
    /// sets. A `form` body is sent as a form from one of the site's own pages.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        form: Option<String>,
    ) -> Result<Reply, String> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(cookies) = self.cookies.header() {
            request = request.header(header::COOKIE, cookies);
        }
        if form.is_some() {
            request = request
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::ORIGIN, &self.base)
                .header("sec-fetch-site", "same-origin");
        }
        let request = request
            .body(Full::new(Bytes::from(form.unwrap_or_default())))
            .map_err(|err| format!("bad request {path}: {err}"))?;
        let response = self
            .http
            .request(request)
            .await
            .map_err(|err| format!("{path}: {err:?}"))?;
        let status = response.status();
        for set_cookie in response.headers().get_all(header::SET_COOKIE) {
            self.cookies.store(set_cookie.to_str().unwrap_or_default());
        }
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|err| format!("{path}: body: {err}"))?
            .to_bytes();
        let body = String::from_utf8_lossy(&bytes).into_owned();
        Ok(Reply { status, body })
    }
}

// ---- raw TCP --------------------------------------------------------------------------

/// Writes `request` as it is and reads until the server closes or `patience` runs out.
/// Returns what came back (possibly nothing: a server may just close).
pub async fn raw_exchange(addr: SocketAddr, request: &[u8], patience: Duration) -> String {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        // A server may answer and close before reading everything (a 431 for a huge
        // header); a failed write is then not the test's concern, the answer is.
        let _ = stream.write_all(request).await;
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response).await;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&response).into_owned())
    };
    match tokio::time::timeout(patience, exchange).await {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => format!("(connection failed: {err})"),
        Err(_) => "(no answer in time)".to_string(),
    }
}

/// The status code of a raw HTTP/1.1 response, if it has one.
pub fn raw_status(response: &str) -> Option<u16> {
    response.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

// ---- the real binary ----------------------------------------------------------------

/// A step's real binary on a free loopback port, started by the course's test kit.
pub struct Process {
    server: test_kit::Server,
    pub addr: SocketAddr,
}

impl Process {
    /// Starts `step`'s binary on the database at `url` and waits for its "listening on"
    /// line.
    pub fn start(step: Step, url: &str) -> Self {
        let server = test_kit::Server::start(
            step.binary(),
            &[
                ("DATABASE_URL", url),
                // Step 5 keeps its sessions across a restart only with a key of its own.
                ("SESSION_SECRET", test_kit::TEST_SECRET),
                ("RUST_LOG", "warn,step4_persistent=info,step5_hardened=info"),
                ("NO_COLOR", "1"),
            ],
        );
        let addr = server.addr.parse().expect("the logged address parses");
        Self { server, addr }
    }

    /// `kill -9`: no shutdown code runs.
    pub fn kill_9(self) {
        self.server.crash();
    }
}
