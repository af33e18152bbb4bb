//! The lesson: tests for each item of the step's checklist ("The checklist" in this
//! step's README.md), each named after the attack it stops. Step 4's app has none of these protections; these
//! tests do not even compile against it, since its `app` takes no security settings.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHasher, SaltString};
use axum::body::{Body, Bytes};
use axum::http::{Request, header};
use common::{Browser, COOKIE, Page, Server, app_with, database_url, settings};
use sqlx::Connection;
use step5_hardened::{Timeouts, store};
use tokio::sync::Notify;
use tower_sessions::session::{Id, Record};
use tower_sessions::{SessionStore, session_store};

const GOOD_FORM: &str = "username=admin&password=1234";

/// The length of the HMAC-SHA256 signature in front of the id in a signed cookie.
const SIGNATURE_LEN: usize = 44;

fn set_cookie(page: &Page) -> String {
    page.set_cookies()
        .pop()
        .expect("the response sets the session cookie")
}

/// The bare session id inside a signed cookie value.
fn id_of(cookie_value: &str) -> &str {
    &cookie_value[SIGNATURE_LEN..]
}

/// A `SESSION_SECRET` as `openssl rand -base64 64` makes one.
fn random_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 64];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("hashing works")
        .to_string()
}

// ---- 1-4: the cookie --------------------------------------------------------------

#[tokio::test]
async fn the_session_cookie_is_secure_httponly_lax_and_host_only() {
    let page = Browser::new(&app_with(settings()).await).get("/").await;

    let cookie = set_cookie(&page);
    for attribute in ["; Secure", "; HttpOnly", "; SameSite=Lax", "; Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(!cookie.to_lowercase().contains("domain="), "{cookie}");
}

#[tokio::test]
async fn the_cookie_name_does_not_reveal_the_framework() {
    let page = Browser::new(&app_with(settings()).await).get("/").await;

    let cookie = set_cookie(&page);
    assert!(cookie.starts_with("__Host-session="), "{cookie}");
}

#[tokio::test]
async fn the_cookie_never_outlives_the_idle_timeout() {
    let mut settings = settings();
    settings.timeouts = Timeouts {
        idle: Duration::from_secs(600),
        absolute: Duration::from_secs(3600),
    };
    let mut browser = Browser::new(&app_with(settings).await);

    for page in [
        browser.get("/").await,
        browser.post_form("/login", GOOD_FORM).await,
    ] {
        let cookie = set_cookie(&page);
        let max_age: u64 = cookie
            .split("Max-Age=")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .and_then(|n| n.parse().ok())
            .expect("the cookie has a Max-Age");
        assert!(max_age <= 600, "{cookie}");
    }
}

#[tokio::test]
async fn the_session_id_never_appears_in_a_page_or_a_url() {
    let mut browser = Browser::new(&app_with(settings()).await);
    let mut pages = vec![browser.get("/").await, browser.get("/login").await];
    pages.push(browser.post_form("/login", GOOD_FORM).await);
    let id = id_of(&browser.session_cookie().expect("logged in")).to_string();
    pages.push(browser.get("/dashboard").await);
    pages.push(browser.get("/").await);

    for page in &pages {
        assert!(
            !page.body.contains(&id),
            "the id is in a page: {}",
            page.body
        );
        assert!(page.headers.get("location").is_none());
    }
}

#[tokio::test]
async fn a_cookie_with_a_forged_signature_is_no_session() {
    let mut browser = Browser::new(&app_with(settings()).await);
    browser.post_form("/login", GOOD_FORM).await;
    let cookie = browser.session_cookie().expect("logged in");
    // Keep the real id, change one character of the signature.
    let first = if cookie.starts_with('A') { "B" } else { "A" };
    let forged = format!("{first}{}", &cookie[1..]);

    let mut attacker = Browser::new(&app_with(settings()).await);
    attacker.set_cookie(COOKIE, &forged);
    let page = attacker.get("/dashboard").await;

    assert_eq!(page.status, 401);
}

#[tokio::test]
async fn a_bare_session_id_without_its_signature_is_no_session() {
    let app = app_with(settings()).await;
    let mut browser = Browser::new(&app);
    browser.post_form("/login", GOOD_FORM).await;
    let cookie = browser.session_cookie().expect("logged in");

    let mut attacker = Browser::new(&app);
    attacker.set_cookie(COOKIE, id_of(&cookie));
    let page = attacker.get("/dashboard").await;

    assert_eq!(page.status, 401);
}

#[test]
fn a_short_or_malformed_secret_stops_the_server_with_one_line() {
    for secret in ["mysecretkey", "bXlzZWNyZXRrZXk=", "not base64 at all!"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_step5-hardened"))
            .env("SESSION_SECRET", secret)
            .env("PORT", "0")
            .output()
            .expect("the binary runs");

        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{secret:?} was accepted");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("SESSION_SECRET"), "{stderr}");
        assert!(
            !stderr.contains(secret),
            "the secret is not repeated: {stderr}"
        );
    }
}

#[test]
fn with_no_secret_configured_sessions_end_at_restart_and_the_log_says_so() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let server = Server::start_without_secret(&[("DATABASE_URL", &url)]);
    let cookie = server.log_in();
    let log = server.log_with("SESSION_SECRET is not set");
    assert!(
        log.contains("every session ends when the server stops"),
        "{log}"
    );

    server.terminate();
    let restarted = Server::start_without_secret(&[("DATABASE_URL", &url)]);

    let page = restarted.request(&format!("GET /dashboard HTTP/1.1\r\nCookie: {cookie}"));
    assert!(page.starts_with("HTTP/1.1 401"), "{page}");
}

#[test]
fn sessions_signed_with_a_configured_secret_survive_a_restart_and_die_with_a_new_one() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let secret = random_secret();
    let server = Server::start(&[("DATABASE_URL", &url), ("SESSION_SECRET", &secret)]);
    let cookie = server.log_in();
    server.terminate();

    let same = Server::start(&[("DATABASE_URL", &url), ("SESSION_SECRET", &secret)]);
    let kept = same.request(&format!("GET /dashboard HTTP/1.1\r\nCookie: {cookie}"));
    same.terminate();
    let rotated = Server::start(&[("DATABASE_URL", &url), ("SESSION_SECRET", &random_secret())]);
    let dropped = rotated.request(&format!("GET /dashboard HTTP/1.1\r\nCookie: {cookie}"));

    assert!(kept.contains("Welcome user 1 to the dashboard"), "{kept}");
    assert!(
        dropped.starts_with("HTTP/1.1 401"),
        "a new key ends every session: {dropped}"
    );
}

// ---- 5-9: the session's life ------------------------------------------------------

#[tokio::test]
async fn a_pre_login_session_id_is_useless_after_login() {
    let app = app_with(settings()).await;
    let mut victim = Browser::new(&app);
    // The attacker got this id into the victim's browser before the login (fixation).
    victim.get("/").await;
    let planted = victim
        .session_cookie()
        .expect("the visit counter starts a session");

    victim.post_form("/login", GOOD_FORM).await;
    let mut attacker = Browser::new(&app);
    attacker.set_cookie(COOKIE, &planted);
    let page = attacker.get("/dashboard").await;

    assert_ne!(
        victim.session_cookie(),
        Some(planted),
        "login issued a new id"
    );
    assert_eq!(page.status, 401, "the planted id does not follow the login");
}

/// The real store, with saves that can be held until the test lets them go.
#[derive(Clone, Debug)]
struct HeldStore {
    inner: store::Store,
    hold: Arc<AtomicBool>,
    waiting: Arc<Notify>,
    release: Arc<Notify>,
}

#[async_trait::async_trait]
impl SessionStore for HeldStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.inner.create(record).await
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        if self.hold.swap(false, Ordering::SeqCst) {
            self.waiting.notify_one();
            self.release.notified().await;
        }
        self.inner.save(record).await
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.inner.load(id).await
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.inner.delete(id).await
    }
}

#[tokio::test]
async fn a_slow_request_that_started_before_logout_cannot_bring_the_session_back() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = HeldStore {
        inner: store::open(&database_url(&dir))
            .await
            .expect("the store opens"),
        hold: Arc::default(),
        waiting: Arc::default(),
        release: Arc::default(),
    };
    let app = step5_hardened::app(store.clone(), settings());
    let mut tab = Browser::new(&app);
    tab.post_form("/login", GOOD_FORM).await;
    let cookie = tab.session_cookie().expect("logged in");

    // Tab 1 loads the counter; its session is read, then its save is held back.
    store.hold.store(true, Ordering::SeqCst);
    let mut slow_tab = Browser::new(&app);
    slow_tab.set_cookie(COOKIE, &cookie);
    let slow = tokio::spawn(async move { slow_tab.get("/").await });
    store.waiting.notified().await;
    // Tab 2 logs out while tab 1 is still busy.
    let logout = tab.post_form("/logout", "").await;
    store.release.notify_one();
    slow.await.expect("the slow request finishes");

    let mut replay = Browser::new(&app);
    replay.set_cookie(COOKIE, &cookie);
    let page = replay.get("/dashboard").await;
    assert!(
        logout.body.contains("Logged out successfully"),
        "{}",
        logout.body
    );
    assert_eq!(
        page.status, 401,
        "the slow save did not bring the session back"
    );
}

fn short(idle_secs: u64, absolute_secs: u64) -> step5_hardened::Settings {
    let mut settings = settings();
    settings.timeouts = Timeouts {
        idle: Duration::from_secs(idle_secs),
        absolute: Duration::from_secs(absolute_secs),
    };
    settings
}

#[tokio::test]
async fn an_idle_session_expires_on_the_server() {
    let app = app_with(short(1, 60)).await;
    let mut browser = Browser::new(&app);
    browser.post_form("/login", GOOD_FORM).await;
    let cookie = browser.session_cookie().expect("logged in");

    tokio::time::sleep(Duration::from_millis(2100)).await;
    // Even a browser that ignores Max-Age and sends the cookie gets nothing.
    let mut stubborn = Browser::new(&app);
    stubborn.set_cookie(COOKIE, &cookie);
    let page = stubborn.get("/dashboard").await;

    assert_eq!(page.status, 401);
}

#[tokio::test]
async fn reading_pages_counts_as_activity() {
    let mut browser = Browser::new(&app_with(short(2, 60)).await);
    browser.post_form("/login", GOOD_FORM).await;

    // Five reads a second apart: 5 s in all, well past the 2 s idle timeout, but never
    // 2 s without a request. Reads change nothing in the session's data.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let page = browser.get("/dashboard").await;
        assert_eq!(page.status, 200, "logged out while reading");
    }
}

#[tokio::test]
async fn an_active_session_still_ends_at_the_absolute_timeout() {
    let mut browser = Browser::new(&app_with(short(2, 3)).await);
    browser.post_form("/login", GOOD_FORM).await;
    let start = Instant::now();

    let mut last = 200;
    while start.elapsed() < Duration::from_millis(4200) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        last = browser.get("/dashboard").await.status.as_u16();
    }

    assert_eq!(
        last, 401,
        "busy all along, but the 3 s limit still ended the session"
    );
}

#[tokio::test]
async fn garbled_or_tampered_cookies_are_no_session_never_a_5xx() {
    let app = app_with(settings()).await;
    let values = [
        "",
        "=",
        "%%%",
        "AAAAAAAAAAAAAAAAAAAAAA",
        &"A".repeat(4000),
        "dGhpcyBpcyBub3QgYSBzaWduYXR1cmUgYXQgYWxsISEhIQ==AAAAAAAAAAAAAAAAAAAAAA",
    ];

    for value in values {
        let mut browser = Browser::new(&app);
        browser.set_cookie(COOKIE, value);
        let page = browser.get("/dashboard").await;
        assert_eq!(page.status, 401, "{value:?}");
        let page = browser.get("/").await;
        assert_eq!(page.status, 200, "{value:?}");
    }
}

/// Checks that `page` deletes the session cookie in a way a browser obeys. A browser
/// ignores any `__Host-` cookie that is not `Secure`, the one meant to delete it too, so
/// the removal needs the attributes the cookie was set with.
fn assert_removes_the_cookie(page: &Page) {
    let cookie = set_cookie(page);
    assert!(cookie.starts_with("__Host-session=;"), "{cookie}");
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    for attribute in ["; Secure", "; HttpOnly", "; SameSite=Lax", "; Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
}

#[tokio::test]
async fn logging_out_removes_the_cookie_from_the_browser() {
    let mut browser = Browser::new(&app_with(settings()).await);
    browser.post_form("/login", GOOD_FORM).await;

    let page = browser.post_form("/logout", "").await;

    assert_removes_the_cookie(&page);
    assert_eq!(browser.session_cookie(), None);
}

#[tokio::test]
async fn past_the_absolute_timeout_the_cookie_is_removed_from_a_browser_still_sending_it() {
    // 5 s: the login (an argon2 hash, queued behind the other tests' logins on a busy
    // machine) must end well inside the limit, or there is no session to time out.
    let app = app_with(short(60, 5)).await;
    let mut browser = Browser::new(&app);
    browser.post_form("/login", GOOD_FORM).await;
    let cookie = browser.session_cookie().expect("logged in");

    tokio::time::sleep(Duration::from_millis(5100)).await;
    // The cookie's `Max-Age` has run out too; a browser whose clock is behind, or that
    // ignores `Max-Age`, still sends it.
    let mut late = Browser::new(&app);
    late.set_cookie(COOKIE, &cookie);
    let page = late.get("/dashboard").await;

    assert_eq!(page.status, 401);
    assert_removes_the_cookie(&page);
    assert_eq!(late.session_cookie(), None);
}

#[tokio::test]
async fn a_cookie_for_a_session_that_is_gone_is_removed_from_the_browser() {
    let app = app_with(settings()).await;
    let mut browser = Browser::new(&app);
    browser.post_form("/login", GOOD_FORM).await;
    let old = browser.session_cookie().expect("logged in");
    browser.post_form("/logout", "").await;
    // A second tab still holding the old cookie: signed by us, but its row is gone.
    let mut tab = Browser::new(&app);
    tab.set_cookie(COOKIE, &old);

    let page = tab.get("/dashboard").await;

    assert_eq!(page.status, 401);
    assert_removes_the_cookie(&page);
    assert_eq!(tab.session_cookie(), None);
}

// ---- 10-13: the login -------------------------------------------------------------

#[tokio::test]
async fn the_password_is_checked_against_an_argon2id_hash() {
    let mut settings = settings();
    settings.admin_password_hash = hash("correct horse battery staple").into();
    let app = app_with(settings).await;

    let good = Browser::new(&app)
        .post_form(
            "/login",
            "username=admin&password=correct+horse+battery+staple",
        )
        .await;
    let demo = Browser::new(&app).post_form("/login", GOOD_FORM).await;

    assert_eq!(good.status, 200, "{}", good.body);
    assert_eq!(demo.status, 401, "only the hash decides: {}", demo.body);
}

/// The time a login attempt takes, the median of `n`.
async fn login_time(app: &axum::Router, body: &str, n: usize) -> Duration {
    let mut times = Vec::new();
    for _ in 0..n {
        let mut browser = Browser::new(app);
        let start = Instant::now();
        let page = browser.post_form("/login", body).await;
        times.push(start.elapsed());
        assert_eq!(page.status, 401);
    }
    times.sort();
    times[n / 2]
}

#[tokio::test]
async fn an_unknown_user_costs_as_much_as_a_wrong_password() {
    let app = app_with(settings()).await;

    let wrong_password = login_time(&app, "username=admin&password=12345", 5).await;
    let unknown_user = login_time(&app, "username=nobody&password=12345", 5).await;

    // Without the decoy hash an unknown user answers in well under a millisecond; with
    // it both take one argon2 verification. The bound is loose so a busy machine passes.
    let ratio = unknown_user.as_secs_f64() / wrong_password.as_secs_f64();
    assert!(
        ratio > 0.4,
        "unknown {unknown_user:?} vs wrong {wrong_password:?}"
    );
}

#[tokio::test]
async fn an_unknown_user_and_a_wrong_password_get_the_same_answer() {
    let app = app_with(settings()).await;

    let unknown = Browser::new(&app)
        .post_json("/login", r#"{"username":"root","password":"1234"}"#)
        .await;
    let wrong = Browser::new(&app)
        .post_json("/login", r#"{"username":"admin","password":"12"}"#)
        .await;

    assert_eq!((unknown.status, &unknown.body), (wrong.status, &wrong.body));
}

#[tokio::test]
async fn a_long_password_is_not_truncated() {
    let long = "x".repeat(1000);
    let mut settings = settings();
    settings.admin_password_hash = hash(&long).into();
    let app = app_with(settings).await;

    let exact = Browser::new(&app)
        .post_form("/login", &format!("username=admin&password={long}"))
        .await;
    let cut = Browser::new(&app)
        .post_form(
            "/login",
            &format!("username=admin&password={}", &long[..72]),
        )
        .await;
    let longer = Browser::new(&app)
        .post_form("/login", &format!("username=admin&password={long}y"))
        .await;

    assert_eq!(exact.status, 200);
    assert_eq!(
        cut.status, 401,
        "the first 72 bytes are not enough (bcrypt's limit)"
    );
    assert_eq!(longer.status, 401);
}

// ---- 14-17: requests and pages ----------------------------------------------------

/// Where a browser says a request comes from: `Sec-Fetch-Site`, and `Origin` (the only
/// label in browsers from before 2023). The server is `http://localhost:3000`.
const FROM_ANOTHER_SITE: &[(&str, &str)] = &[
    ("sec-fetch-site", "cross-site"),
    ("origin", "https://evil.example"),
];
/// Another origin of the same site: a sibling subdomain, or another port.
const FROM_A_SIBLING_ORIGIN: &[(&str, &str)] = &[
    ("sec-fetch-site", "same-site"),
    ("origin", "http://blog.localhost:3000"),
];
/// An older browser, which sends only `Origin`.
const FROM_ANOTHER_ORIGIN_OLD_BROWSER: &[(&str, &str)] = &[("origin", "http://localhost:4000")];
const FROM_OUR_OWN_PAGE: &[(&str, &str)] = &[
    ("sec-fetch-site", "same-origin"),
    ("origin", "http://localhost:3000"),
];
const FROM_OUR_OWN_PAGE_OLD_BROWSER: &[(&str, &str)] = &[("origin", "http://localhost:3000")];

/// Posts a form to `http://localhost:3000{path}` with the given labels.
async fn post_labelled(
    browser: &mut Browser,
    path: &str,
    body: &str,
    labels: &[(&str, &str)],
) -> Page {
    let mut request = Request::post(path)
        .header(header::HOST, "localhost:3000")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (name, value) in labels {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Body::from(body.to_string()))
        .expect("valid request");
    browser.send(request).await
}

const HOSTILE: [&[(&str, &str)]; 3] = [
    FROM_ANOTHER_SITE,
    FROM_A_SIBLING_ORIGIN,
    FROM_ANOTHER_ORIGIN_OLD_BROWSER,
];

#[tokio::test]
async fn a_login_posted_from_another_origin_is_forbidden_and_logs_nobody_in() {
    let app = app_with(settings()).await;
    for labels in HOSTILE {
        let mut browser = Browser::new(&app);

        let page = post_labelled(&mut browser, "/login", GOOD_FORM, labels).await;

        assert_eq!(page.status, 403, "{labels:?}");
        assert!(
            page.body.contains("sent from another site"),
            "{}",
            page.body
        );
        assert!(page.set_cookies().is_empty(), "no session was made");
        assert_eq!(browser.get("/dashboard").await.status, 401, "{labels:?}");
    }
}

#[tokio::test]
async fn a_forged_logout_from_another_site_does_not_log_the_user_out() {
    let app = app_with(settings()).await;
    let mut browser = Browser::new(&app);
    browser.post_form("/login", GOOD_FORM).await;

    for labels in HOSTILE {
        let forged = post_labelled(&mut browser, "/logout", "", labels).await;
        assert_eq!(forged.status, 403, "{labels:?}");
    }

    assert_eq!(
        browser.get("/dashboard").await.status,
        200,
        "still logged in"
    );
}

#[tokio::test]
async fn forms_from_our_own_pages_and_clients_that_send_no_label_are_accepted() {
    let app = app_with(settings()).await;
    for labels in [FROM_OUR_OWN_PAGE, FROM_OUR_OWN_PAGE_OLD_BROWSER, &[]] {
        let mut browser = Browser::new(&app);

        let login = post_labelled(&mut browser, "/login", GOOD_FORM, labels).await;
        let logout = post_labelled(&mut browser, "/logout", "", labels).await;

        assert_eq!(login.status, 200, "{labels:?}: {}", login.body);
        assert_eq!(logout.status, 200, "{labels:?}: {}", logout.body);
    }
}

#[tokio::test]
async fn pages_with_session_data_are_never_cached() {
    let mut browser = Browser::new(&app_with(settings()).await);
    let mut pages = vec![browser.get("/login").await, browser.get("/dashboard").await];
    pages.push(browser.post_form("/login", GOOD_FORM).await);
    pages.push(browser.get("/dashboard").await);
    pages.push(browser.get("/").await);

    for page in &pages {
        assert_eq!(page.headers["cache-control"], "no-store", "{}", page.body);
    }
    let css = browser.get("/style.css").await;
    assert_ne!(
        css.headers["cache-control"], "no-store",
        "the stylesheet may be cached"
    );
}

#[tokio::test]
async fn the_stylesheet_never_carries_the_session_cookie() {
    let mut browser = Browser::new(&app_with(settings()).await);
    browser.post_form("/login", GOOD_FORM).await;

    let css = browser.get("/style.css").await;

    assert_eq!(css.status, 200);
    assert_eq!(css.set_cookies(), Vec::<String>::new());
}

#[tokio::test]
async fn the_stylesheet_is_served_while_the_store_is_down() {
    let store = common::FlakyStore::default();
    let app = step5_hardened::app(store.clone(), settings());
    let mut browser = Browser::new(&app);
    browser.get("/").await;
    store.set_broken(true);

    let css = browser.get("/style.css").await;

    assert_eq!(css.status, 200, "{}", css.body);
    assert!(css.body.contains("body"), "{}", css.body);
}

#[tokio::test]
async fn no_response_that_sets_a_cookie_may_be_kept_by_a_shared_cache() {
    let mut browser = Browser::new(&app_with(settings()).await);
    let mut pages = Vec::new();
    for path in ["/", "/login", "/style.css", "/nowhere"] {
        pages.push(browser.get(path).await);
    }
    pages.push(browser.post_form("/login", GOOD_FORM).await);
    for path in ["/", "/dashboard", "/style.css", "/nowhere"] {
        pages.push(browser.get(path).await);
    }
    pages.push(browser.post_form("/logout", "").await);

    let with_cookie: Vec<&Page> = pages
        .iter()
        .filter(|p| !p.set_cookies().is_empty())
        .collect();
    assert!(with_cookie.len() >= 5, "the walk sets cookies");
    for page in with_cookie {
        let cache = page
            .headers
            .get("cache-control")
            .map(|v| v.to_str().expect("ASCII"));
        assert!(
            cache.is_some_and(
                |c| !c.contains("public") && (c.contains("no-store") || c.contains("private"))
            ),
            "a response with {:?} has Cache-Control {cache:?}",
            page.set_cookies()
        );
    }
}

#[tokio::test]
async fn every_page_tells_the_browser_to_be_strict() {
    let mut browser = Browser::new(&app_with(settings()).await);

    for page in [
        browser.get("/").await,
        browser.get("/login").await,
        browser.get("/nowhere").await,
    ] {
        let csp = page.headers["content-security-policy"]
            .to_str()
            .expect("ASCII");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(page.headers["x-content-type-options"], "nosniff");
        assert_eq!(page.headers["referrer-policy"], "same-origin");
        assert_eq!(page.headers["x-frame-options"], "DENY");
        assert_eq!(page.headers["cross-origin-opener-policy"], "same-origin");
        assert_eq!(page.headers["cross-origin-resource-policy"], "same-origin");
    }
}

#[test]
fn the_log_never_holds_a_session_id_or_a_password() {
    let password = "correct horse battery staple";
    let hash = hash(password);
    let server = Server::start(&[("ADMIN_PASSWORD_HASH", &hash), ("RUST_LOG", "debug")]);

    let visit = server.request("GET /?secret=in-a-link HTTP/1.1");
    let cookie = common::cookie_from(&visit).expect("a session");
    let login = server.request_with_body(
        &format!("POST /login HTTP/1.1\r\nCookie: {cookie}"),
        "application/x-www-form-urlencoded",
        "username=admin&password=correct+horse+battery+staple",
    );
    let logged_in = common::cookie_from(&login).expect("a new session");
    server.request(&format!("GET /dashboard HTTP/1.1\r\nCookie: {logged_in}"));
    let log = server.log_with("/dashboard");

    assert!(log.contains("logged in"), "the login was logged: {log}");
    for secret in [
        password,
        "correct+horse",
        "in-a-link",
        id_of(cookie.split_once('=').expect("pair").1),
        id_of(logged_in.split_once('=').expect("pair").1),
    ] {
        assert!(!log.contains(secret), "{secret:?} is in the log:\n{log}");
    }
}

/// The first line of `log` that contains `text`.
fn line_with<'log>(log: &'log str, text: &str) -> &'log str {
    log.lines()
        .find(|line| line.contains(text))
        .unwrap_or_else(|| panic!("no {text:?} in the log:\n{log}"))
}

#[test]
fn logins_and_logouts_are_logged_with_who_and_from_where_never_the_password() {
    let server = Server::start(&[]);

    let failed = server.request_with_body(
        "POST /login HTTP/1.1",
        "application/x-www-form-urlencoded",
        "username=mallory&password=hunter2hunter2",
    );
    let cookie = server.log_in();
    server.request(&format!("POST /logout HTTP/1.1\r\nCookie: {cookie}"));
    let refused = server.request_with_body(
        "POST /logout HTTP/1.1\r\nSec-Fetch-Site: cross-site",
        "application/x-www-form-urlencoded",
        "",
    );
    let log = server.log_with("refused a request from another site");

    assert!(failed.starts_with("HTTP/1.1 401"), "{failed}");
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    let failed = line_with(&log, "failed login");
    assert!(failed.contains("mallory"), "{failed}");
    for line in [
        failed,
        line_with(&log, "logged in"),
        line_with(&log, "logged out"),
        line_with(&log, "refused a request from another site"),
    ] {
        assert!(line.contains("client=127.0.0.1"), "{line}");
    }
    assert!(line_with(&log, "logged in").contains("user_id=1"), "{log}");
    assert!(
        line_with(&log, "logged out").contains("user_id=Some(1)"),
        "{log}"
    );
    assert!(!log.contains("hunter2"), "{log}");
}

// ---- 18: every request bounded in time -----------------------------------------------

/// A body that sends one byte every eight seconds: each byte well inside a timeout
/// between two pieces of a body, as slow as a "slowloris" client likes.
fn trickled(text: &'static str) -> Body {
    let (mut sender, body) =
        http_body_util::channel::Channel::<Bytes, std::convert::Infallible>::new(1);
    tokio::spawn(async move {
        for byte in text.bytes() {
            tokio::time::sleep(Duration::from_secs(8)).await;
            if sender.send_data(Bytes::from(vec![byte])).await.is_err() {
                return;
            }
        }
    });
    Body::new(body)
}

#[tokio::test(start_paused = true)]
async fn a_body_sent_a_byte_at_a_time_is_cut_off_at_the_deadline() {
    let mut browser = Browser::new(&common::app());
    let request = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(trickled(GOOD_FORM))
        .expect("valid request");
    let started = tokio::time::Instant::now();

    let page = browser.send(request).await;

    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("did not arrive whole"), "{}", page.body);
    assert!(
        started.elapsed() <= step5_hardened::BODY_DEADLINE + Duration::from_secs(1),
        "answered after {:?}",
        started.elapsed()
    );
}

/// A store that never answers, as a database that hangs would.
#[derive(Clone, Debug, Default)]
struct HungStore;

#[async_trait::async_trait]
impl SessionStore for HungStore {
    async fn create(&self, _: &mut Record) -> session_store::Result<()> {
        std::future::pending().await
    }
    async fn save(&self, _: &Record) -> session_store::Result<()> {
        std::future::pending().await
    }
    async fn load(&self, _: &Id) -> session_store::Result<Option<Record>> {
        std::future::pending().await
    }
    async fn delete(&self, _: &Id) -> session_store::Result<()> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_stuck_on_a_hung_store_ends_at_the_request_timeout() {
    let mut browser = Browser::new(&step5_hardened::app(HungStore, settings()));
    let started = tokio::time::Instant::now();

    let page = browser.get("/").await;

    assert_eq!(page.status, 408, "{}", page.body);
    assert!(page.body.contains("took too long"), "{}", page.body);
    assert!(started.elapsed() <= step5_hardened::REQUEST_TIMEOUT + Duration::from_secs(1));
}

/// Connects to `server` and sends `head` at once, then one byte of `rest` a second
/// from another thread, for as long as the connection lets it.
fn trickle_to(server: &Server, head: &str, rest: &'static str) -> TcpStream {
    let mut stream = TcpStream::connect(&server.addr).expect("server accepts connections");
    stream.write_all(head.as_bytes()).expect("the head is sent");
    let mut writer = stream.try_clone().expect("a second handle");
    std::thread::spawn(move || {
        for byte in rest.bytes() {
            std::thread::sleep(Duration::from_secs(1));
            if writer.write_all(&[byte]).is_err() {
                return;
            }
        }
    });
    stream
}

#[test]
fn headers_sent_a_line_at_a_time_are_cut_off_at_the_header_timeout() {
    let server = Server::start(&[]);
    let many_lines = "X-Slow: a\r\n".repeat(10);
    let mut stream = trickle_to(&server, "GET / HTTP/1.1\r\n", many_lines.leak());
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

#[cfg(unix)]
#[test]
fn a_shutdown_ends_within_its_grace_whatever_a_client_does() {
    let server = Server::start(&[]);
    let _client = trickle_to(
        &server,
        &format!(
            "POST /login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nu",
            server.addr
        ),
        "sername=admin&password=1234",
    );
    std::thread::sleep(Duration::from_secs(1));
    let mut server = server;
    let grace = step5_hardened::server::SHUTDOWN_GRACE;

    let pid = nix::unistd::Pid::from_raw(i32::try_from(server.child.id()).expect("a pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM is sent");
    let started = Instant::now();
    let mut status = None;
    while status.is_none() && started.elapsed() < grace + Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(100));
        status = server
            .child
            .try_wait()
            .expect("the server can be waited for");
    }

    let status =
        status.unwrap_or_else(|| panic!("still running {:?} after SIGTERM", started.elapsed()));
    assert!(status.success(), "{status:?}");
}

// ---- 10: the memory a burst of logins takes ------------------------------------------

/// The server's resident memory and its peak so far, in KiB, from Linux's `/proc`.
#[cfg(target_os = "linux")]
fn memory_kib(server: &Server) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id()))
        .expect("the server's /proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {status}"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Memory is read from `/proc`, so this runs on Linux only; the bound it checks comes from
/// how the password check is built, the same on every system.
#[cfg(target_os = "linux")]
#[test]
fn a_burst_of_logins_takes_no_more_memory_than_the_work_areas_set_aside() {
    let server = Server::start(&[]);
    server.request("GET / HTTP/1.1");
    let (before, _) = memory_kib(&server);

    let guesses: Vec<_> = (0..40)
        .map(|n| {
            let addr = server.addr.clone();
            std::thread::spawn(move || {
                let body = format!("username=admin&password=guess{n}");
                let mut stream = TcpStream::connect(&addr).expect("connects");
                let request = format!(
                    "POST /login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(request.as_bytes()).expect("sent");
                let mut answer = String::new();
                stream.read_to_string(&mut answer).expect("answered");
                answer
            })
        })
        .collect();
    for guess in guesses {
        let answer = guess.join().expect("the client thread ends");
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }
    let (after, peak) = memory_kib(&server);

    // The work areas (19 MiB each, one per core up to four) are set aside, and so
    // already counted, before the burst. What the burst adds is the requests' own
    // memory: a few MiB. Each check allocating its own 19 MiB left 400 MiB and more
    // behind.
    let grown = peak.max(after).saturating_sub(before);
    assert!(
        grown < 32 * 1024,
        "40 logins added {grown} KiB (from {before} KiB)"
    );
}

/// A flood of new visitors (each one's counter is a row) must leave no lasting cost on
/// disk: SQLite keeps its write-ahead log at the largest size a burst made it, unless told
/// to cut it back. A reader holding a snapshot stops the log from starting over, so the
/// burst below grows it past 64 MiB; once the reader is gone, the next write starts it over,
/// cut back to the limit.
#[tokio::test]
async fn a_burst_of_writes_leaves_the_write_ahead_log_cut_back_to_64_mib() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = store::open(&database_url(&dir)).await.expect("opens");
    let mut reader = sqlx::SqliteConnection::connect(&database_url(&dir))
        .await
        .expect("a second connection");
    sqlx::query("BEGIN")
        .execute(&mut reader)
        .await
        .expect("begins");
    sqlx::query("SELECT count(*) FROM tower_sessions")
        .execute(&mut reader)
        .await
        .expect("reads");
    let visit = |n: usize| {
        let mut data = std::collections::HashMap::new();
        data.insert(
            "views".to_string(),
            serde_json::json!("x".repeat(64 * 1024 + n)),
        );
        Record {
            id: Id::default(),
            data,
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        }
    };
    for n in 0..1_200 {
        store.create(&mut visit(n)).await.expect("stored");
    }
    let wal = dir.path().join("sessions.db-wal");
    let grown = std::fs::metadata(&wal).expect("a log").len();
    sqlx::query("COMMIT")
        .execute(&mut reader)
        .await
        .expect("ends the read");

    // One write checkpoints the log (SQLite does it by itself past 1000 pages), the next
    // starts it over.
    for n in 0..2 {
        store.create(&mut visit(n)).await.expect("stored");
    }

    let after = std::fs::metadata(&wal).expect("a log").len();
    assert!(grown > 64 << 20, "the burst grew the log to {grown} bytes");
    assert!(after <= 64 << 20, "the log stayed at {after} bytes");
}
