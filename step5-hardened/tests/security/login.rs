//! Checklist items 10 to 13: the login. (Item 12, throttling repeated failures, is the
//! login-throttling add-on's: step 5's own login is not throttled.)

use std::time::{Duration, Instant};

use crate::common::{App, Browser, app_with, settings};
use crate::{GOOD_FORM, hash};

/// Checklist item 10: the password is checked against an argon2id hash.
#[tokio::test]
async fn the_password_is_checked_against_an_argon2id_hash() {
    let mut settings = settings();
    settings.admin_password_hash = hash("horse battery staple").into();
    let app = app_with(settings).await;

    let form = "username=admin&password=horse+battery+staple";
    let good = Browser::new(&app).post_form("/login", form).await;
    let demo = Browser::new(&app).post_form("/login", GOOD_FORM).await;

    assert_eq!(good.status, 200, "{}", good.body);
    assert_eq!(demo.status, 401, "only the hash decides: {}", demo.body);
}

/// Checklist item 11: one answer for an unknown user and a wrong password.
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

/// Checklist item 13: long passwords work and are not cut short.
#[tokio::test]
async fn a_long_password_is_not_truncated() {
    let long = "x".repeat(1000);
    let mut settings = settings();
    settings.admin_password_hash = hash(&long).into();
    let app = app_with(settings).await;

    // bcrypt reads only the first 72 bytes; argon2 reads them all.
    for (password, status) in [
        (&long[..], 200),
        (&long[..72], 401),
        (&format!("{long}y"), 401),
    ] {
        let form = format!("username=admin&password={password}");
        let page = Browser::new(&app).post_form("/login", &form).await;
        assert_eq!(
            page.status,
            status,
            "a password of {} bytes",
            password.len()
        );
    }
}

/// The time a failed login with `body` takes.
async fn login_time(app: &App, body: &str) -> Duration {
    let start = Instant::now();
    let page = Browser::new(app).post_form("/login", body).await;
    assert_eq!(page.status, 401);
    start.elapsed()
}

#[tokio::test]
async fn an_unknown_user_costs_as_much_as_a_wrong_password() {
    let app = app_with(settings()).await;

    // Five of each, taken in turns so both meet the same load, and the fastest of each
    // compared: a busy machine only ever makes a try slower.
    let (mut wrong_password, mut unknown_user) = (Duration::MAX, Duration::MAX);
    for _ in 0..5 {
        let wrong = login_time(&app, "username=admin&password=12345").await;
        wrong_password = wrong_password.min(wrong);
        let unknown = login_time(&app, "username=nobody&password=12345").await;
        unknown_user = unknown_user.min(unknown);
    }

    // Without the decoy hash an unknown user answers in well under a millisecond; with
    // it both take one argon2 verification (tens of milliseconds).
    let ratio = unknown_user.as_secs_f64() / wrong_password.as_secs_f64();
    assert!(
        ratio > 0.4,
        "unknown {unknown_user:?} vs wrong {wrong_password:?}"
    );
}
