//! Checklist items 14 to 18: requests and pages. What another site can make a browser
//! send, what a page lets a browser or a cache do, what the log keeps, and how long any
//! request may take.

use std::time::Duration;

use crate::common::{
    BINARY, Browser, Operation, Server, TestStore, app, app_on, app_with, cookie_from, settings,
};
use crate::{GOOD_FORM, hash, id_of};
use axum::http::{Request, header};
use test_kit::{line_with, trickled_body};

/// Checklist item 14: a form posted from another origin is refused and changes nothing.
#[tokio::test]
async fn a_form_posted_from_another_origin_is_forbidden_and_changes_nothing() {
    let app = app_with(settings()).await;
    let mut user = Browser::new(&app);
    user.post_form("/login", GOOD_FORM).await;
    for labels in HOSTILE {
        let mut browser = Browser::new(&app);

        let login = browser.post_form_with("/login", GOOD_FORM, labels).await;
        let logout = user.post_form_with("/logout", "", labels).await;

        assert_eq!(login.status, 403, "{labels:?}");
        assert_eq!(logout.status, 403, "{labels:?}");
        assert!(
            login.body.contains("sent from another site"),
            "{}",
            login.body
        );
        assert!(login.set_cookies().is_empty(), "no session was made");
        assert_eq!(browser.get("/dashboard").await.status, 401, "{labels:?}");
        assert_eq!(user.get("/dashboard").await.status, 200, "still logged in");
    }
}

/// Checklist item 15: `Cache-Control: no-store` on the pages that show session data, and
/// nothing that sets a cookie kept by a shared cache.
#[tokio::test]
async fn pages_with_session_data_are_never_cached() {
    let mut browser = Browser::new(&app_with(settings()).await);
    let mut pages = Vec::new();
    for path in ["/", "/login", "/dashboard", "/nowhere"] {
        pages.push(browser.get(path).await);
    }
    pages.push(browser.post_form("/login", GOOD_FORM).await);
    for path in ["/", "/dashboard", "/nowhere"] {
        pages.push(browser.get(path).await);
    }
    // Logged in, a session layer around the stylesheet would refresh the cookie.
    let css = browser.get("/style.css").await;
    pages.push(browser.post_form("/logout", "").await);

    assert!(pages.iter().filter(|p| !p.set_cookies().is_empty()).count() >= 4);
    for page in &pages {
        assert_eq!(page.headers["cache-control"], "no-store", "{}", page.body);
    }
    assert_eq!(css.status, 200);
    assert_eq!(css.set_cookies(), Vec::<String>::new(), "never a cookie");
    assert_ne!(css.headers["cache-control"], "no-store", "it may be cached");
}

/// Checklist item 16: the security headers, on every page.
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

/// Checklist item 17: the log says who logged in or out and from where, without ids or
/// passwords.
#[test]
fn the_log_tells_who_logged_in_and_out_but_never_a_session_id_or_a_password() {
    let password = "correct horse battery staple";
    let hash = hash(password);
    let server = Server::start(
        BINARY,
        &[("ADMIN_PASSWORD_HASH", &hash), ("RUST_LOG", "debug")],
    );
    let post = |head: &str, form: &str| {
        server.request_with_body(head, "application/x-www-form-urlencoded", form)
    };

    let failed = post("POST /login HTTP/1.1", "username=mallory&password=hunter2");
    let visit = server.request("GET /?secret=in-a-link HTTP/1.1");
    let cookie = cookie_from(&visit).expect("a session");
    let login = post(
        &format!("POST /login HTTP/1.1\r\nCookie: {cookie}"),
        "username=admin&password=correct+horse+battery+staple",
    );
    let logged_in = cookie_from(&login).expect("a new session");
    server.request(&format!("GET /dashboard HTTP/1.1\r\nCookie: {logged_in}"));
    let logout = format!("POST /logout HTTP/1.1\r\nCookie: {logged_in}");
    let refused = post(&format!("{logout}\r\nSec-Fetch-Site: cross-site"), "");
    post(&logout, "");
    let log = server.log_with("logged out");

    assert!(failed.starts_with("HTTP/1.1 401"), "{failed}");
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert!(line_with(&log, "failed login").contains("mallory"), "{log}");
    assert!(line_with(&log, "logged in").contains("user_id=1"), "{log}");
    assert!(line_with(&log, "logged out").contains("user_id=Some(1)"));
    let refusal = "refused a request from another site";
    // Each at `info` or above, so in the log at the default level too.
    for event in ["failed login", "logged in", "logged out", refusal] {
        let line = line_with(&log, event);
        assert!(line.contains("client=127.0.0.1"), "{line}");
        assert!(!line.contains("DEBUG"), "{line}");
    }
    for secret in [
        password,
        "correct+horse",
        "hunter2",
        "in-a-link",
        id_of(cookie.split_once('=').expect("pair").1),
        id_of(logged_in.split_once('=').expect("pair").1),
    ] {
        assert!(!log.contains(secret), "{secret:?} is in the log:\n{log}");
    }
}

/// Checklist item 18: every request is bounded in time.
#[tokio::test(start_paused = true)]
async fn a_request_stuck_on_a_hung_store_ends_at_the_request_timeout() {
    let store = TestStore::default();
    store.hang(Operation::ALL);
    let mut browser = Browser::new(&app_on(store));
    let started = tokio::time::Instant::now();

    let page = browser.get("/").await;

    assert_eq!(page.status, 408, "{}", page.body);
    assert!(page.body.contains("took too long"), "{}", page.body);
    assert!(started.elapsed() <= step5_hardened::REQUEST_TIMEOUT + Duration::from_secs(1));
}

/// Where a browser says a form comes from: `Sec-Fetch-Site`, and `Origin` (the only label
/// in browsers from before 2023). The test browser's server is `http://localhost:3000`.
const HOSTILE: [&[(&str, &str)]; 3] = [
    // Another site.
    &[
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://evil.example"),
    ],
    // Another origin of the same site: a sibling subdomain, or another port.
    &[
        ("sec-fetch-site", "same-site"),
        ("origin", "http://blog.localhost:3000"),
    ],
    // Another origin, from an older browser that sends only `Origin`.
    &[("origin", "http://localhost:4000")],
];

/// Our own page, from a browser of today and from an older one; and a client that sends
/// no label at all, as curl.
const FRIENDLY: [&[(&str, &str)]; 3] = [
    &[
        ("sec-fetch-site", "same-origin"),
        ("origin", "http://localhost:3000"),
    ],
    &[("origin", "http://localhost:3000")],
    &[],
];

#[tokio::test]
async fn forms_from_our_own_pages_and_clients_that_send_no_label_are_accepted() {
    let app = app_with(settings()).await;
    for labels in FRIENDLY {
        let mut browser = Browser::new(&app);

        let login = browser.post_form_with("/login", GOOD_FORM, labels).await;
        let logout = browser.post_form_with("/logout", "", labels).await;

        assert_eq!(login.status, 200, "{labels:?}: {}", login.body);
        assert_eq!(logout.status, 200, "{labels:?}: {}", logout.body);
    }
}

#[tokio::test]
async fn the_stylesheet_is_served_while_the_store_is_down() {
    let store = TestStore::default();
    let mut browser = Browser::new(&app_on(store.clone()));
    browser.get("/").await;
    store.fail(Operation::ALL);

    let css = browser.get("/style.css").await;

    assert_eq!(css.status, 200, "{}", css.body);
    assert!(css.body.contains("body"), "{}", css.body);
}

#[tokio::test(start_paused = true)]
async fn a_body_sent_a_byte_at_a_time_is_cut_off_at_the_deadline() {
    let mut browser = Browser::new(&app());
    let request = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        // A byte every eight seconds: each well inside a timeout between two pieces of a
        // body, as slow as a "slowloris" client likes.
        .body(trickled_body(GOOD_FORM, Duration::from_secs(8)))
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
