//! What a restart of Redis does to the sessions, with each of its ways to keep its data on
//! disk: none (Redis as a cache), snapshots (Debian's package as installed), and the
//! append-only file. A "crash" is Redis killed with SIGKILL; a "restart" is a clean stop,
//! as `systemctl restart redis-server` does.

mod common;

use common::{Redis, dashboard, instance, log_out, logged_in, settings};

#[tokio::test]
async fn without_persistence_a_restart_of_redis_loses_every_session() {
    let mut redis = Redis::start(&["--save", "", "--appendonly", "no"]);
    let app = instance(&redis, settings()).await;
    let (_, cookie) = logged_in(&app).await;

    redis.stop();
    redis.start_again();

    assert_eq!(dashboard(&app, &cookie).await, 401, "the session is gone");
}

/// Redis's built-in snapshot rules (Debian's `redis.conf` keeps them): a snapshot of the
/// whole memory an hour after a change, 5 minutes after 100, a minute after 10 000; and
/// one at every clean stop. No append-only file.
const SNAPSHOTS: [&str; 4] = ["--save", "3600 1 300 100 60 10000", "--appendonly", "no"];

#[tokio::test]
async fn with_snapshots_only_a_clean_restart_keeps_every_session() {
    let mut redis = Redis::start(&SNAPSHOTS);
    let app = instance(&redis, settings()).await;
    let (_, cookie) = logged_in(&app).await;

    redis.stop();
    redis.start_again();

    assert_eq!(
        dashboard(&app, &cookie).await,
        200,
        "the snapshot at the stop kept it"
    );
}

#[tokio::test]
async fn with_snapshots_only_a_crash_goes_back_to_the_last_snapshot_undoing_logins_and_logouts() {
    let mut redis = Redis::start(&SNAPSHOTS);
    let app = instance(&redis, settings()).await;
    let (_, kept) = logged_in(&app).await;
    let (_, logged_out) = logged_in(&app).await;
    // One of the snapshots Redis takes every few minutes, made now.
    redis.cli(&["SAVE"]);
    let (_, lost) = logged_in(&app).await;
    log_out(&app, &logged_out).await;

    redis.crash();
    redis.start_again();

    assert_eq!(
        dashboard(&app, &kept).await,
        200,
        "a session in the snapshot survives"
    );
    assert_eq!(
        dashboard(&app, &lost).await,
        401,
        "a login after the snapshot is lost"
    );
    assert_eq!(
        dashboard(&app, &logged_out).await,
        200,
        "a logout after the snapshot is undone: whoever kept the cookie is logged in again"
    );
}

/// `appendfsync everysec`, Redis's default with the append-only file: every write is in
/// the file before Redis answers, and on the disk within a second.
#[tokio::test]
async fn with_the_append_only_file_a_crash_loses_nothing_and_a_logout_stays_final() {
    let mut redis = Redis::start(&["--appendonly", "yes"]);
    let app = instance(&redis, settings()).await;
    let (_, kept) = logged_in(&app).await;
    let (_, logged_out) = logged_in(&app).await;
    log_out(&app, &logged_out).await;

    redis.crash();
    redis.start_again();

    assert_eq!(
        dashboard(&app, &kept).await,
        200,
        "the login was in the file"
    );
    assert_eq!(dashboard(&app, &logged_out).await, 401, "so was the logout");
}
