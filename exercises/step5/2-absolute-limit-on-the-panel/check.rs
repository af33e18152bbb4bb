//! Exercise 5.2, "Say when the session ends for good": beside "Expires after N s without a
//! request.", the panel of a session that has started says how long the absolute timeout
//! leaves it, as "Ends for good in N s.". The check drives the app in-process with a 600 s
//! absolute timeout (and a 60 s idle one, so the two numbers differ).

mod common;

use std::time::Duration;

use common::{App, Browser, COOKIE};
use step5_hardened::Settings;
use tower_sessions::MemoryStore;
use tower_sessions::cookie::Key;

const ABSOLUTE_SECS: u64 = 600;
const SENTENCE: &str = "Ends for good in ";

fn app() -> App {
    let mut settings = Settings::new(Key::generate());
    settings.timeouts.idle = Duration::from_secs(60);
    settings.timeouts.absolute = Duration::from_secs(ABSOLUTE_SECS);
    App::new(step5_hardened::app(MemoryStore::default(), settings), COOKIE)
}

/// What follows "Ends for good in " on the page, up to the end of the sentence.
fn ends_in(page: &str) -> Option<String> {
    let (_, rest) = page.split_once(SENTENCE)?;
    Some(
        rest.split(['.', '<', '\n'])
            .next()
            .unwrap_or_default()
            .to_string(),
    )
}

/// The N of "Ends for good in N s." on the dashboard, or the verdict if it is not there.
async fn seconds_left(browser: &mut Browser) -> Result<u64, String> {
    let page = browser.get("/dashboard").await;
    if page.status != 200 {
        return Err(format!("GET /dashboard answers {}", page.status));
    }
    let Some(text) = ends_in(&page.body) else {
        return Err("the dashboard's panel has no such sentence".to_string());
    };
    text.trim()
        .trim_end_matches('s')
        .trim()
        .parse()
        .map_err(|_| format!("the dashboard says '{SENTENCE}{text}.'"))
}

#[tokio::test]
async fn the_panel_says_when_a_logged_in_session_ends_for_good() {
    let mut browser = Browser::new(&app());
    browser
        .post_form("/login", "username=admin&password=1234")
        .await;

    let first = seconds_left(&mut browser).await;

    let first = match first {
        Ok(secs) => secs,
        Err(what) => panic!(
            "after logging in with a {ABSOLUTE_SECS} s absolute timeout, the panel should say '{SENTENCE}N s.' with N about {ABSOLUTE_SECS}, but {what}"
        ),
    };
    assert!(
        (ABSOLUTE_SECS - 5..=ABSOLUTE_SECS).contains(&first),
        "just after logging in with a {ABSOLUTE_SECS} s absolute timeout (and a 60 s idle one), the panel should say '{SENTENCE}N s.' with N about {ABSOLUTE_SECS}, but it says '{SENTENCE}{first} s.'"
    );

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let later = seconds_left(&mut browser).await;

    assert!(
        later.as_ref().is_ok_and(|&later| later < first),
        "'{SENTENCE}N s.' should count down to a fixed end ({ABSOLUTE_SECS} s after the login, however busy the session), but it said {first} and, 2 s later, {}",
        later.map_or_else(|what| what, |secs| secs.to_string())
    );
}

#[tokio::test]
async fn a_browser_without_a_session_is_not_told_when_it_ends() {
    let app = app();
    let mut stranger = Browser::new(&app);
    let login_form = stranger.get("/login").await;

    let mut leaving = Browser::new(&app);
    leaving
        .post_form("/login", "username=admin&password=1234")
        .await;
    let logged_out = leaving.post_form("/logout", "").await;

    assert!(
        !login_form.body.contains(SENTENCE),
        "a browser with no session should not be told '{SENTENCE}N s.': it has no session to end, but GET /login says so"
    );
    assert!(
        !logged_out.body.contains(SENTENCE),
        "the page after logging out should not say '{SENTENCE}N s.': the session is gone, but it says so"
    );
}
