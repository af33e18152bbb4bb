//! The lesson: what the throttle does to logins, seen from outside. Step 5's app alone
//! answers every one of these logins with a password check.

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use appendix_login_throttling::Limits;
use common::{GOOD_FORM, addr, app, login, login_request, send};

#[tokio::test]
async fn repeated_failures_lock_the_account_even_against_the_right_password() {
    let app = app(Limits::default());
    // Each guess from another address, as JSON, in another case: one account all the same.
    for (n, name) in (0..).zip(["admin", "ADMIN", "Admin", "aDmin", "admiN"]) {
        let body = format!(r#"{{"username":"{name}","password":"guess"}}"#);
        let request = login_request(addr(n), "application/json", body);
        assert_eq!(send(&app, request).await.status, 401);
    }

    let answer = login(&app, addr(99), GOOD_FORM).await;

    assert_eq!(answer.status, 429, "{}", answer.body);
    let retry_after = answer.headers["retry-after"].to_str().ok();
    let retry_after: u64 = retry_after.and_then(|s| s.parse().ok()).expect("seconds");
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    let page = &answer.body;
    assert!(page.contains("Too many login attempts"), "{page}");
    assert!(page.contains("then try again"), "{page}");
    // The refusal page is as strict as step 5's own pages.
    assert!(answer.headers.contains_key("content-security-policy"));
    assert_eq!(answer.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn the_account_opens_again_when_the_back_off_ends() {
    let app = app(Limits::default());
    for n in 0..5 {
        login(&app, addr(n), "username=admin&password=guess").await;
    }
    assert_eq!(login(&app, addr(9), GOOD_FORM).await.status, 429);

    // The first back-off is one second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let answer = login(&app, addr(9), GOOD_FORM).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn a_successful_login_forgets_the_account_s_failures() {
    let app = app(Limits::default());
    for _ in 0..4 {
        login(&app, addr(1), "username=admin&password=typo").await;
    }
    assert_eq!(login(&app, addr(1), GOOD_FORM).await.status, 200);
    for _ in 0..4 {
        login(&app, addr(1), "username=admin&password=typo").await;
    }

    // Eight failures, but never five in a row.
    assert_eq!(login(&app, addr(1), GOOD_FORM).await.status, 200);
}

#[tokio::test]
async fn one_address_spraying_many_accounts_is_throttled() {
    let app = app(Limits {
        address_attempts: 10,
        ..Limits::default()
    });
    for n in 0..10 {
        let form = format!("username=user{n}&password=Summer2026");
        assert_eq!(login(&app, addr(7), &form).await.status, 401);
    }

    let sprayer = login(&app, addr(7), GOOD_FORM).await;
    let neighbour = login(&app, addr(8), GOOD_FORM).await;

    assert_eq!(sprayer.status, 429);
    assert!(sprayer.headers.contains_key("retry-after"));
    assert_eq!(neighbour.status, 200, "another address is not affected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_guesses_from_one_address_get_no_more_password_checks_than_allowed() {
    let app = app(Limits {
        address_attempts: 5,
        ..Limits::default()
    });
    // Twenty guesses at once from one address, each for another username, so none waits
    // for another's account.
    let mut guesses = tokio::task::JoinSet::new();
    for n in 0..20 {
        let app = app.clone();
        guesses.spawn(async move {
            let form = format!("username=user{n}&password=Summer2026");
            login(&app, addr(11), &form).await.status
        });
    }
    let statuses = guesses.join_all().await;

    // Every answer that is not a 429 is a password that was checked.
    let checked = statuses.iter().filter(|s| s.as_u16() != 429).count();
    assert_eq!(checked, 5, "{statuses:?}");
    assert!(statuses.iter().all(|s| [401, 429].contains(&s.as_u16())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_classroom_behind_one_address_is_not_throttled() {
    let app = app(Limits::default());
    // Forty students on one NAT address; a quarter of them mistype the password once,
    // and everybody logs in.
    let mut students = tokio::task::JoinSet::new();
    for n in 0..40 {
        let app = app.clone();
        students.spawn(async move {
            if n % 4 == 0 {
                login(&app, addr(1), "username=admin&password=123").await;
            }
            login(&app, addr(1), GOOD_FORM).await.status
        });
    }

    for status in students.join_all().await {
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn a_full_map_of_locked_accounts_never_frees_admin() {
    // Room for eight usernames; locks long enough to outlast the test.
    let app = app(Limits {
        max_entries: 8,
        first_delay: Duration::from_secs(600),
        ..Limits::default()
    });
    // Five guessers, taking turns, so that the addresses' map has room.
    let mut from = 0;
    let mut lock = async |name: &str| {
        for _ in 0..5 {
            from = from % 5 + 1;
            let form = format!("username={name}&password=guess");
            let status = login(&app, addr(from), &form).await.status;
            assert!([401, 429].contains(&status.as_u16()), "{status}");
        }
    };
    lock("admin").await;
    for n in 0..7 {
        lock(&format!("made-up-{n}")).await;
    }

    // The map is full of locks: a new name cannot be counted, so it is refused; and
    // nothing made room by forgetting admin's lock.
    let newcomer = login(&app, addr(200), "username=newcomer&password=guess").await;
    let owner = login(&app, addr(201), GOOD_FORM).await;

    assert_eq!(newcomer.status, 429, "fails closed when full");
    assert_eq!(owner.status, 429, "admin is still locked");
}

/// A log that the test can read: what this thread logs while the guard lives.
fn capture_log() -> (tempfile::NamedTempFile, tracing::subscriber::DefaultGuard) {
    let log = tempfile::NamedTempFile::new().expect("a temporary file");
    let file = Arc::new(log.reopen().expect("the file opens again"));
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(file);
    (log, tracing::subscriber::set_default(subscriber.finish()))
}

#[tokio::test]
async fn a_login_abandoned_before_its_answer_is_logged_and_counted_as_a_failure() {
    let app = app(Limits::default());
    let (log, _guard) = capture_log();
    for n in 0..5 {
        let request = login_request(addr(n), "application/x-www-form-urlencoded", GOOD_FORM);
        let mut answer = pin!(send(&app, request));
        // One step: the throttle lets the login in, and step 5 starts checking the
        // password. Then the client hangs up, and the server drops the request.
        let first_step = std::future::poll_fn(|cx| Poll::Ready(answer.as_mut().poll(cx))).await;
        assert!(first_step.is_pending(), "the password check takes a while");
    }

    let answer = login(&app, addr(99), GOOD_FORM).await;

    assert_eq!(answer.status, 429, "five abandoned logins lock the account");
    let log = std::fs::read_to_string(log.path()).expect("the log is readable");
    let aborted = "aborted login counted as a failed login";
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(aborted)).collect();
    assert_eq!(lines.len(), 5, "{log}");
    let who = r#"username="admin" client=203.0.113.4"#;
    assert!(lines[4].contains(who), "{log}");
}

#[tokio::test]
async fn bodies_step_5_refuses_get_step_5_s_answer_and_other_pages_are_not_throttled() {
    let app = app(Limits {
        address_attempts: 1,
        ..Limits::default()
    });
    let too_large = format!("username=admin&password={}", "x".repeat(20_000));

    let large = login(&app, addr(1), &too_large).await;
    let spent = login(&app, addr(2), GOOD_FORM).await;
    let refused = login(&app, addr(2), GOOD_FORM).await;
    let mut page = login_request(addr(2), "text/plain", "");
    *page.method_mut() = axum::http::Method::GET;
    let page = send(&app, page).await;

    assert_eq!(large.status, 413, "{}", large.body);
    assert!(large.body.contains("Request too large"), "step 5's page");
    assert_eq!((spent.status.as_u16(), refused.status.as_u16()), (200, 429));
    assert_eq!(page.status, 200, "GET /login is never throttled");
}
