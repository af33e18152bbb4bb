//! The binary, started as a user starts it: several instances on one Redis, and the one
//! line it says when it cannot start. Each test starts a Redis server of its own
//! (`common::Redis`).

mod common;

use common::{Redis, TEST_SECRET, binary, free_port, status};

#[test]
fn a_login_through_one_instance_is_a_login_on_all_and_a_logout_through_any_is_final_on_all() {
    let redis = Redis::start(&[]);
    let instances: Vec<_> = (0..3).map(|_| binary(&redis)).collect();

    let cookie = instances[0].log_in();
    let stored = redis.keys();
    let dashboard =
        |n: usize| instances[n].request(&format!("GET /dashboard HTTP/1.1\r\nCookie: {cookie}"));
    let seen_by_others = [dashboard(1), dashboard(2)];
    let logout = instances[2].request_with_body(
        &format!("POST /logout HTTP/1.1\r\nCookie: {cookie}"),
        "application/x-www-form-urlencoded",
        "",
    );
    let after_logout = [dashboard(0), dashboard(1), dashboard(2)];

    assert_eq!(stored.len(), 1, "one key for the one session: {stored:?}");
    for page in &seen_by_others {
        assert!(page.contains("Welcome user 1 to the dashboard"), "{page}");
    }
    assert!(logout.contains("Logged out successfully"), "{logout}");
    for page in &after_logout {
        assert_eq!(status(page), "401", "{page}");
    }
    assert_eq!(
        redis.keys(),
        Vec::<String>::new(),
        "the logout deleted the key"
    );
}

/// Nothing listens on the port: the server says in one line what to start, and never
/// shows the password the URL carries.
#[test]
fn without_redis_the_server_stops_with_one_line_that_says_what_to_start() {
    let url = format!("redis://:hunter2@127.0.0.1:{}", free_port());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_appendix-redis-sessions"))
        .env("REDIS_URL", &url)
        .env("SESSION_SECRET", TEST_SECRET)
        .env("PORT", "0")
        .output()
        .expect("the binary runs");

    let stderr = String::from_utf8_lossy(&output.stderr);
    let log = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: no Redis answers at 127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("start one with `redis-server`"), "{stderr}");
    assert!(
        !stderr.contains("hunter2") && !log.contains("hunter2"),
        "{log}{stderr}"
    );
}

#[test]
fn without_a_shared_key_the_server_stops_with_one_line() {
    let redis = Redis::start(&[]);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_appendix-redis-sessions"))
        .env("REDIS_URL", redis.url())
        .env_remove("SESSION_SECRET")
        .env("PORT", "0")
        .output()
        .expect("the binary runs");

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("set SESSION_SECRET"), "{stderr}");
}
