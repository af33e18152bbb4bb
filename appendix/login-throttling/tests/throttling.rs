//! The lesson: what the throttle does to logins, seen from outside. Step 5's app alone
//! answers every one of these logins with a password check.

mod common;

use std::future::{Future, pending, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use appendix_login_throttling::{Limits, Throttle, throttle_logins};
use axum::http::{HeaderValue, Method};
use axum::{Router, routing::post};
use common::{App, GOOD_FORM, addr, app, login, login_request, send};
use tokio::time::{sleep, timeout};
use tower::ServiceExt;

const FORM: &str = "application/x-www-form-urlencoded";

/// Step 5's app, throttled with the default limits but for what `change` changes.
fn app_with(change: impl FnOnce(&mut Limits)) -> App {
    let mut limits = Limits::default();
    change(&mut limits);
    app(limits)
}

/// The status code of a login from `from`, sent as a form.
async fn status(app: &App, from: u8, form: &str) -> u16 {
    login(app, addr(from), form).await.status.as_u16()
}

/// The status of a login with the right password from `from`, posted by another site.
async fn forged(app: &App, from: u8) -> u16 {
    let mut request = login_request(addr(from), FORM, GOOD_FORM);
    let cross_site = HeaderValue::from_static("cross-site");
    request.headers_mut().insert("sec-fetch-site", cross_site);
    send(app, request).await.status.as_u16()
}

#[tokio::test]
async fn repeated_failures_lock_the_account_however_its_name_is_sent() {
    let app = app(Limits::default());
    // Each guess from another address, as JSON (an object, or an array, which step 5 reads
    // too), in another case: one account all the same.
    let object = |name| format!(r#"{{"username":"{name}","password":"guess"}}"#);
    let guesses = ["admin", "ADMIN", "Admin", "aDmin"].map(object);
    let array = r#"["admiN","guess"]"#.to_string();
    for (n, body) in (0..).zip(guesses.into_iter().chain([array])) {
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
async fn locks_end_and_failing_whenever_one_ends_does_not_keep_the_owner_out() {
    // Back-offs of 0.4 s, then 0.8 s: 1.2 s of locks is the most one window gets.
    let ms = Duration::from_millis;
    let app = app_with(|limits| (limits.first_delay, limits.max_delay) = (ms(400), ms(1200)));
    let guess = async |wait| {
        sleep(wait).await;
        status(&app, 7, "username=admin&password=guess").await
    };
    for _ in 0..5 {
        assert_eq!(guess(ms(0)).await, 401);
    }
    assert_eq!(status(&app, 1, GOOD_FORM).await, 429, "locked for 0.4 s");

    assert_eq!(guess(ms(450)).await, 401, "over; locked for 0.8 s");
    assert_eq!(guess(ms(850)).await, 401, "1.2 s spent: 0.4 s, not 1.6");
    sleep(ms(450)).await;

    assert_eq!(status(&app, 1, GOOD_FORM).await, 200);
}

#[tokio::test]
async fn a_successful_login_forgets_the_account_s_failures() {
    let app = app(Limits::default());
    // Eight failures, but never five in a row.
    for _ in 0..2 {
        for _ in 0..4 {
            status(&app, 1, "username=admin&password=typo").await;
        }
        assert_eq!(status(&app, 1, GOOD_FORM).await, 200);
    }
}

#[tokio::test]
async fn only_logins_whose_password_is_checked_spend_an_address_s_budget() {
    let app = app_with(|limits| limits.address_attempts = 3);
    // A hostile page's posts, and bodies that are not a login: no password is checked.
    for _ in 0..5 {
        assert_eq!(forged(&app, 7).await, 403);
    }
    let large = login(&app, addr(7), &format!("username=a&password={:020000}", 0)).await;
    assert!(large.body.contains("Request too large"), "step 5's page");
    let not_a_login = send(&app, login_request(addr(7), "text/plain", GOOD_FORM)).await;
    assert_eq!([large.status, not_a_login.status], [413, 415]);
    // A sprayer: one password on many accounts, from the same address.
    for n in 0..3 {
        let form = format!("username=user{n}&password=Summer2026");
        assert_eq!(status(&app, 7, &form).await, 401);
    }

    let sprayer = login(&app, addr(7), GOOD_FORM).await;
    let neighbour = status(&app, 8, GOOD_FORM).await;
    let mut page = login_request(addr(7), "text/plain", "");
    *page.method_mut() = Method::GET;
    let page = send(&app, page).await;

    assert_eq!(sprayer.status, 429);
    assert!(sprayer.headers.contains_key("retry-after"));
    assert_eq!(neighbour, 200, "another address is not affected");
    assert_eq!(page.status, 200, "GET /login is never throttled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_guesses_from_one_address_get_no_more_password_checks_than_allowed() {
    let app = app_with(|limits| limits.address_attempts = 5);
    // Twenty guesses at once from one address, each for another username.
    let mut guesses = tokio::task::JoinSet::new();
    for n in 0..20 {
        let app = app.clone();
        let form = format!("username=user{n}&password=Summer2026");
        guesses.spawn(async move { status(&app, 11, &form).await });
    }
    let statuses = guesses.join_all().await;

    // Every answer that is not a 429 is a password that was checked.
    let checked = statuses.iter().filter(|&&s| s != 429).count();
    assert_eq!(checked, 5, "{statuses:?}");
    assert!(statuses.iter().all(|s| [401, 429].contains(s)));
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
                status(&app, 1, "username=admin&password=123").await;
            }
            status(&app, 1, GOOD_FORM).await
        });
    }

    assert!(students.join_all().await.iter().all(|&s| s == 200));
}

#[tokio::test]
async fn a_full_address_map_refuses_only_the_addresses_it_does_not_hold() {
    let app = app_with(|limits| limits.max_entries = 2);
    // Posts from a hostile page, from many addresses, take no room: no password is checked.
    for n in 100..120 {
        assert_eq!(forged(&app, n).await, 403);
    }
    assert_eq!(status(&app, 1, GOOD_FORM).await, 200);
    assert_eq!(status(&app, 2, GOOD_FORM).await, 200);

    let newcomer = status(&app, 3, GOOD_FORM).await;
    let known = status(&app, 1, GOOD_FORM).await;

    assert_eq!(newcomer, 429, "fails closed for an address it cannot count");
    assert_eq!(known, 200, "an address it holds is counted as before");
}

#[tokio::test]
async fn made_up_names_neither_crowd_out_nor_free_an_account_that_exists() {
    // Room for four made-up names; one failure locks, for longer than the test.
    let app = app_with(|limits| {
        (limits.max_entries, limits.account_failures) = (4, 1);
        limits.first_delay = Duration::from_secs(600);
    });
    let fail = async |name: &str| {
        let status = status(&app, 1, &format!("username={name}&password=x")).await;
        assert!([401, 429].contains(&status), "{status}");
    };
    for n in 0..5 {
        fail(&format!("name{n}")).await;
    }
    assert_eq!(status(&app, 1, GOOD_FORM).await, 200, "admin has room");
    fail("admin").await;
    for n in 10..15 {
        fail(&format!("name{n}")).await;
    }

    assert_eq!(status(&app, 2, GOOD_FORM).await, 429, "admin stays locked");
}

#[tokio::test]
async fn a_login_its_client_abandons_counts_as_what_step_5_answered() {
    let app = app_with(|limits| limits.account_failures = 1);
    let abandon = async |form: &'static str| {
        let mut answer = pin!(send(&app, login_request(addr(1), FORM, form)));
        // One step: the throttle lets the login in, and step 5 starts checking the
        // password. Then the client hangs up, and the server drops the request.
        let first_step = poll_fn(|cx| Poll::Ready(answer.as_mut().poll(cx))).await;
        assert!(first_step.is_pending(), "the password check takes a while");
    };

    abandon(GOOD_FORM).await;
    assert_eq!(status(&app, 2, GOOD_FORM).await, 200, "no failure");
    abandon("username=admin&password=guess").await;
    assert_eq!(status(&app, 3, GOOD_FORM).await, 429, "a failure");
}

#[tokio::test(start_paused = true)]
async fn a_login_waits_only_behind_its_own_account_and_not_for_ever() {
    // A stand-in for step 5 that never answers a login for a made-up name.
    let stuck = async |body: String| {
        if !body.contains("admin") {
            pending::<()>().await;
        }
        "Logged in"
    };
    let stand_in = Router::new().route("/login", post(stuck));
    let app = App::new(
        throttle_logins(stand_in, Throttle::new(Limits::default())),
        "no-cookie",
    );
    for n in 0..300 {
        let form = format!("username=user{n}&password=x");
        let router = app.router().clone();
        tokio::spawn(router.oneshot(login_request(addr(1), FORM, form)));
    }
    // Time stands still, so this returns once every one of those logins waits.
    sleep(Duration::from_millis(1)).await;

    let owner = timeout(Duration::from_secs(1), status(&app, 2, GOOD_FORM)).await;
    let behind = timeout(
        Duration::from_secs(60),
        status(&app, 3, "username=bob&password=x"),
    );

    assert_eq!(owner.ok(), Some(200), "admin waits in a queue of its own");
    assert_eq!(behind.await.ok(), Some(429), "a wait has an end");
}
