//! Checklist items 14 to 18: requests and pages. What another site can make a browser
//! send, what a page lets a browser or a cache do, what the log keeps, and how long any
//! request may take.

use std::time::Duration;

use crate::common::{
    BINARY, Browser, Operation, Page, Server, TestStore, app, app_on, app_with, cookie_from,
    settings,
};
use crate::{GOOD_FORM, hash, id_of};
use axum::http::{Request, header};
use test_kit::{line_with, trickled_body};

/// Checklist item 14: a form posted from another origin is refused and changes nothing.
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

/// Checklist item 15: `Cache-Control: no-store` on the pages that show session data.
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

/// Checklist item 17: the log says what happened without ids or passwords.
#[test]
fn the_log_never_holds_a_session_id_or_a_password() {
    let password = "correct horse battery staple";
    let hash = hash(password);
    let server = Server::start(
        BINARY,
        &[("ADMIN_PASSWORD_HASH", &hash), ("RUST_LOG", "debug")],
    );

    let visit = server.request("GET /?secret=in-a-link HTTP/1.1");
    let cookie = cookie_from(&visit).expect("a session");
    let login = server.request_with_body(
        &format!("POST /login HTTP/1.1\r\nCookie: {cookie}"),
        "application/x-www-form-urlencoded",
        "username=admin&password=correct+horse+battery+staple",
    );
    let logged_in = cookie_from(&login).expect("a new session");
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

const HOSTILE: [&[(&str, &str)]; 3] = [
    FROM_ANOTHER_SITE,
    FROM_A_SIBLING_ORIGIN,
    FROM_ANOTHER_ORIGIN_OLD_BROWSER,
];

/// Posts a form to `http://localhost:3000{path}` with the given labels.
async fn post_labelled(
    browser: &mut Browser,
    path: &str,
    body: &str,
    labels: &[(&str, &str)],
) -> Page {
    let mut headers = vec![("host", "localhost:3000")];
    headers.extend_from_slice(labels);
    browser.post_form_with(path, body, &headers).await
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
async fn the_stylesheet_never_carries_the_session_cookie() {
    let mut browser = Browser::new(&app_with(settings()).await);
    browser.post_form("/login", GOOD_FORM).await;

    let css = browser.get("/style.css").await;

    assert_eq!(css.status, 200);
    assert_eq!(css.set_cookies(), Vec::<String>::new());
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

#[test]
fn logins_and_logouts_are_logged_with_who_and_from_where_never_the_password() {
    let server = Server::start(BINARY, &[]);

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
