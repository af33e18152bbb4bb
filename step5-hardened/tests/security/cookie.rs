//! Checklist items 1 to 4: the cookie. What the browser holds must say nothing, give
//! nothing away and be impossible to forge.

use std::time::Duration;

use crate::common::{BINARY, Browser, Server, app_with, database_url, settings};
use crate::{GOOD_FORM, id_of, set_cookie};
use argon2::password_hash::rand_core::{OsRng, RngCore};
use step5_hardened::Timeouts;
use tower_sessions::cookie::Cookie;

/// Checklist item 1: `Secure`, `HttpOnly`, `SameSite`, `Path=/`, no `Domain`.
#[tokio::test]
async fn the_session_cookie_is_secure_httponly_lax_and_host_only() {
    let page = Browser::new(&app_with(settings()).await).get("/").await;

    let cookie = set_cookie(&page);
    for attribute in ["; Secure", "; HttpOnly", "; SameSite=Lax", "; Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(!cookie.to_lowercase().contains("domain="), "{cookie}");
}

/// Checklist item 2: a `__Host-` name, not the `id` that fingerprints the stack.
#[tokio::test]
async fn the_cookie_name_does_not_reveal_the_framework() {
    let page = Browser::new(&app_with(settings()).await).get("/").await;

    let cookie = set_cookie(&page);
    assert!(cookie.starts_with("__Host-session="), "{cookie}");
}

/// Checklist item 3: no `Max-Age` longer than the idle timeout.
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
        let cookie = Cookie::parse(set_cookie(&page)).expect("a cookie");
        let max_age = cookie.max_age().expect("the cookie has a Max-Age");
        assert!(max_age.whole_seconds() <= 600, "{cookie}");
    }
}

/// Checklist item 4: the cookie is signed with a key from the environment.
#[tokio::test]
async fn a_cookie_with_a_forged_signature_or_none_is_no_session() {
    let app = app_with(settings()).await;
    let mut browser = Browser::new(&app);
    browser.post_form("/login", GOOD_FORM).await;
    let cookie = browser.session_cookie().expect("logged in");
    // The real id with one character of the signature changed, and the bare id.
    let first = if cookie.starts_with('A') { "B" } else { "A" };
    let forged = format!("{first}{}", &cookie[1..]);

    for value in [forged.as_str(), id_of(&cookie)] {
        let mut attacker = Browser::new(&app);
        attacker.set_session_cookie(value);
        assert_eq!(attacker.get("/dashboard").await.status, 401, "{value}");
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
        assert!(!page.body.contains(&id), "the id is in: {}", page.body);
        assert!(page.headers.get("location").is_none());
    }
}

/// A `SESSION_SECRET` as `openssl rand -base64 64` makes one.
fn random_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 64];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `cargo run` with `envs` on the database at `url`: what `/dashboard` answers `cookie`.
fn dashboard_after_restart(url: &str, envs: &[(&str, &str)], cookie: &str) -> String {
    let mut envs = envs.to_vec();
    envs.push(("DATABASE_URL", url));
    let server = Server::start(BINARY, &envs);
    server.request(&format!("GET /dashboard HTTP/1.1\r\nCookie: {cookie}"))
}

#[test]
fn sessions_survive_a_restart_only_with_the_same_configured_secret() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let secret = random_secret();
    let unsigned = Server::start(BINARY, &[("DATABASE_URL", &url)]);
    let random_key_cookie = unsigned.log_in();
    let log = unsigned.log_with("SESSION_SECRET is not set");
    unsigned.terminate();
    let signed = Server::start(
        BINARY,
        &[("DATABASE_URL", &url), ("SESSION_SECRET", &secret)],
    );
    let cookie = signed.log_in();
    signed.terminate();

    let no_secret = dashboard_after_restart(&url, &[], &random_key_cookie);
    let same = dashboard_after_restart(&url, &[("SESSION_SECRET", &secret)], &cookie);
    let rotated = dashboard_after_restart(&url, &[("SESSION_SECRET", &random_secret())], &cookie);

    assert!(
        log.contains("every session ends when the server stops"),
        "{log}"
    );
    assert!(no_secret.starts_with("HTTP/1.1 401"), "{no_secret}");
    assert!(same.contains("Welcome user 1 to the dashboard"), "{same}");
    assert!(
        rotated.starts_with("HTTP/1.1 401"),
        "a new key ends every session: {rotated}"
    );
}
