//! Step 5's guarantees on Redis: a logout is final on every instance, even against a
//! request already under way; both timeouts hold, and Redis's own expiry deletes the
//! sessions; a Redis that goes away gives the error page, and coming back, the app again.
//! The instances here are apps in the test's process, each on connections of its own.

mod common;

use std::time::{Duration, Instant};

use common::{App, Browser, Redis, dashboard, instance, logged_in, settings, store};
use step5_hardened::Timeouts;
use test_kit::{Operation, TestStore};

#[tokio::test]
async fn a_slow_request_that_began_before_a_logout_on_another_instance_cannot_bring_the_session_back()
 {
    let redis = Redis::start(&[]);
    let settings = settings();
    // Instance A's store is seen through a test store, to hold one of its saves back.
    let store = TestStore::new(store(&redis).await);
    let a = App::new(
        step5_hardened::app(store.clone(), settings.clone()),
        step5_hardened::COOKIE_NAME,
    );
    let b = instance(&redis, settings).await;
    let (_, cookie) = logged_in(&a).await;

    // On A, a tab loads the visit counter: its session is read, then its save held back.
    let save = store.hold_next(Operation::Save);
    let mut slow_tab = Browser::new(&a);
    slow_tab.set_session_cookie(&cookie);
    let slow = tokio::spawn(async move { slow_tab.get("/").await });
    save.reached().await;
    // Meanwhile another tab logs out, through B.
    let mut tab = Browser::new(&b);
    tab.set_session_cookie(&cookie);
    let logout = tab.post_form("/logout", "").await;
    let after_logout = redis.keys();
    save.release();
    slow.await.expect("the slow request finishes");

    assert!(
        logout.body.contains("Logged out successfully"),
        "{}",
        logout.body
    );
    assert!(
        after_logout.is_empty(),
        "the logout deleted the key: {after_logout:?}"
    );
    let after_save = redis.keys();
    assert!(
        after_save.is_empty(),
        "the slow save wrote no key back: {after_save:?}"
    );
    assert_eq!(dashboard(&a, &cookie).await, 401);
    assert_eq!(dashboard(&b, &cookie).await, 401);
}

/// With idle and absolute timeouts of a few seconds, as `SESSION_IDLE_TIMEOUT_SECS` and
/// `SESSION_ABSOLUTE_TIMEOUT_SECS` set them. Redis's expiries are real time: these tests
/// wait for them.
async fn app_with_timeouts(redis: &Redis, idle: u64, absolute: u64) -> App {
    let mut settings = settings();
    settings.timeouts = Timeouts {
        idle: Duration::from_secs(idle),
        absolute: Duration::from_secs(absolute),
    };
    instance(redis, settings).await
}

#[tokio::test]
async fn an_idle_session_is_deleted_by_redis_itself_when_its_timeout_passes() {
    let redis = Redis::start(&[]);
    let app = app_with_timeouts(&redis, 2, 60).await;
    let (_, cookie) = logged_in(&app).await;
    let keys = redis.keys();
    let ttl = redis.cli(&["TTL", &keys[0]]);

    tokio::time::sleep(Duration::from_secs(3)).await;
    // DBSIZE counts the keys Redis holds without reading any (reading one that has
    // expired would delete it): 0 means Redis deleted the session by itself.
    let left = redis.cli(&["DBSIZE"]);
    let page = dashboard(&app, &cookie).await;

    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        ttl == "1" || ttl == "2",
        "the key expires with the session: TTL {ttl}"
    );
    assert_eq!(left, "0", "Redis deleted the expired session");
    assert_eq!(page, 401);
}

#[tokio::test]
async fn an_active_session_still_ends_at_the_absolute_timeout() {
    let redis = Redis::start(&[]);
    let app = app_with_timeouts(&redis, 3, 5).await;
    let (mut browser, _) = logged_in(&app).await;
    let login = Instant::now();

    // A page every second, well inside the idle timeout, for longer than the absolute one.
    let mut pages = Vec::new();
    while login.elapsed() < Duration::from_secs(7) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let status = browser.get("/dashboard").await.status.as_u16();
        pages.push((login.elapsed().as_secs_f32(), status));
    }

    // The session began in the second of the login: it ends 4 to 5 s after it.
    let before: Vec<_> = pages.iter().filter(|(at, _)| *at < 4.0).collect();
    let after: Vec<_> = pages.iter().filter(|(at, _)| *at > 5.0).collect();
    assert!(
        !before.is_empty() && before.iter().all(|(_, status)| *status == 200),
        "{pages:?}"
    );
    assert!(
        !after.is_empty() && after.iter().all(|(_, status)| *status == 401),
        "{pages:?}"
    );
    assert_eq!(redis.cli(&["DBSIZE"]), "0", "no session is left in Redis");
}

#[tokio::test]
async fn while_redis_is_down_visitors_get_the_500_page_and_the_app_recovers_when_it_is_back() {
    let mut redis = Redis::start(&["--appendonly", "yes"]);
    let app = instance(&redis, settings()).await;
    let (_, cookie) = logged_in(&app).await;

    redis.crash();
    let mut tab = Browser::new(&app);
    tab.set_session_cookie(&cookie);
    let down = tab.get("/dashboard").await;
    redis.start_again();
    // The same app, not restarted: its connections are made again by themselves.
    let back = tab.get("/dashboard").await;

    assert_eq!(down.status, 500, "{}", down.body);
    assert!(down.body.contains("Session store failed"), "{}", down.body);
    assert_eq!(back.status, 200, "{}", back.body);
    assert!(back.body.contains("Welcome user 1"), "{}", back.body);
}
