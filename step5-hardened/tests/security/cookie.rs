//! Checklist items 1 to 4: the cookie. What the browser holds must say nothing, give
//! nothing away and be impossible to forge.

use std::time::Duration;

use crate::common::{BINARY, Browser, Server, app_with, database_url, settings};
use crate::{GOOD_FORM, id_of, set_cookie};
use argon2::password_hash::rand_core::{OsRng, RngCore};
use step5_hardened::Timeouts;

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

/// Checklist item 4: the cookie is signed with a key from the environment.
#[tokio::test]
async fn a_cookie_with_a_forged_signature_is_no_session() {
    let mut browser = Browser::new(&app_with(settings()).await);
    browser.post_form("/login", GOOD_FORM).await;
    let cookie = browser.session_cookie().expect("logged in");
    // Keep the real id, change one character of the signature.
    let first = if cookie.starts_with('A') { "B" } else { "A" };
    let forged = format!("{first}{}", &cookie[1..]);

    let mut attacker = Browser::new(&app_with(settings()).await);
    attacker.set_session_cookie(&forged);
    let page = attacker.get("/dashboard").await;

    assert_eq!(page.status, 401);
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
async fn a_bare_session_id_without_its_signature_is_no_session() {
    let app = app_with(settings()).await;
    let mut browser = Browser::new(&app);
    browser.post_form("/login", GOOD_FORM).await;
    let cookie = browser.session_cookie().expect("logged in");

    let mut attacker = Browser::new(&app);
    attacker.set_session_cookie(id_of(&cookie));
    let page = attacker.get("/dashboard").await;

    assert_eq!(page.status, 401);
}

/// A `SESSION_SECRET` as `openssl rand -base64 64` makes one.
fn random_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 64];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn a_short_or_malformed_secret_stops_the_server_with_one_line() {
    for secret in ["mysecretkey", "bXlzZWNyZXRrZXk=", "not base64 at all!"] {
        let output = std::process::Command::new(BINARY)
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
    let server = Server::start(BINARY, &[("DATABASE_URL", &url)]);
    let cookie = server.log_in();
    let log = server.log_with("SESSION_SECRET is not set");
    assert!(
        log.contains("every session ends when the server stops"),
        "{log}"
    );

    server.terminate();
    let restarted = Server::start(BINARY, &[("DATABASE_URL", &url)]);

    let page = restarted.request(&format!("GET /dashboard HTTP/1.1\r\nCookie: {cookie}"));
    assert!(page.starts_with("HTTP/1.1 401"), "{page}");
}

#[test]
fn sessions_signed_with_a_configured_secret_survive_a_restart_and_die_with_a_new_one() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = database_url(&dir);
    let secret = random_secret();
    let server = Server::start(
        BINARY,
        &[("DATABASE_URL", &url), ("SESSION_SECRET", &secret)],
    );
    let cookie = server.log_in();
    server.terminate();

    let same = Server::start(
        BINARY,
        &[("DATABASE_URL", &url), ("SESSION_SECRET", &secret)],
    );
    let kept = same.request(&format!("GET /dashboard HTTP/1.1\r\nCookie: {cookie}"));
    same.terminate();
    let rotated = Server::start(
        BINARY,
        &[("DATABASE_URL", &url), ("SESSION_SECRET", &random_secret())],
    );
    let dropped = rotated.request(&format!("GET /dashboard HTTP/1.1\r\nCookie: {cookie}"));

    assert!(kept.contains("Welcome user 1 to the dashboard"), "{kept}");
    assert!(
        dropped.starts_with("HTTP/1.1 401"),
        "a new key ends every session: {dropped}"
    );
}
