//! Several instances of the app, as behind a load balancer, share one PostgreSQL session
//! store: a login through one is a login on all, a logout through any ends it on all.
//!
//! Each test starts a throwaway PostgreSQL server of its own (`common::postgres`), so
//! these tests need the PostgreSQL programs installed; without them they fail and say
//! what to install.

mod common;

use appendix_several_instances::store;
use common::Server;
use common::postgres::Postgres;
use sqlx::PgPool;
use time::OffsetDateTime;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};

/// `count` instances of the app on one PostgreSQL database, started one after another.
fn instances(postgres: &Postgres, count: usize) -> Vec<Server> {
    (0..count)
        .map(|_| Server::start(&[("DATABASE_URL", &postgres.url())]))
        .collect()
}

fn dashboard(server: &Server, cookie: &str) -> String {
    server.request(&format!("GET /dashboard HTTP/1.1\r\nCookie: {cookie}"))
}

async fn count_rows(url: &str, table: &str) -> i64 {
    let pool = PgPool::connect(url)
        .await
        .expect("the test can reach PostgreSQL");
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&pool)
        .await
        .expect("the table exists")
}

#[test]
fn a_login_through_one_instance_is_a_login_on_all_and_a_logout_through_any_ends_it_on_all() {
    let postgres = Postgres::start();
    let servers = instances(&postgres, 3);

    let cookie = servers[0].log_in();
    let seen_by_others: Vec<String> = servers[1..]
        .iter()
        .map(|server| dashboard(server, &cookie))
        .collect();
    let logout = servers[2].log_out(&cookie);
    let after_logout: Vec<String> = servers
        .iter()
        .map(|server| dashboard(server, &cookie))
        .collect();

    for page in &seen_by_others {
        assert!(page.contains("Welcome user 1 to the dashboard"), "{page}");
    }
    assert!(logout.contains("Logged out successfully"), "{logout}");
    for page in &after_logout {
        assert!(page.starts_with("HTTP/1.1 401"), "{page}");
    }
}

#[test]
fn the_visit_count_is_one_count_across_instances() {
    let postgres = Postgres::start();
    let servers = instances(&postgres, 3);
    let first = servers[0].request("GET / HTTP/1.1");
    let cookie = common::cookie_from(&first).expect("the first visit starts a session");

    // The next five visits go round the three instances, as a load balancer sends them.
    let mut last = String::new();
    for n in 1..=5 {
        last = servers[n % 3].request(&format!("GET / HTTP/1.1\r\nCookie: {cookie}"));
    }

    assert!(last.contains("Number of visits: 6"), "{last}");
}

#[test]
fn a_form_from_one_instance_can_be_posted_to_another() {
    let postgres = Postgres::start();
    let servers = instances(&postgres, 2);
    let form = servers[0].request("GET /login HTTP/1.1");
    let cookie = common::cookie_from(&form).expect("a session");
    let token = common::csrf_token_in(&form).expect("a token");

    // The CSRF token lives in the shared session, so any instance can check it.
    let login = servers[1].request_with_body(
        &format!("POST /login HTTP/1.1\r\nCookie: {cookie}"),
        "application/x-www-form-urlencoded",
        &format!("username=admin&password=1234&_csrf={token}"),
    );

    assert!(login.contains("Logged in successfully"), "{login}");
}

#[tokio::test]
async fn instances_started_at_the_same_moment_all_start_and_sign_with_one_stored_key() {
    let postgres = Postgres::start();
    let url = postgres.url();

    // Three instances on an empty database: all of them create the tables and a key.
    let servers: Vec<Server> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| Server::start(&[("DATABASE_URL", &url)])))
            .collect();
        starting
            .into_iter()
            .map(|start| start.join().expect("every instance starts"))
            .collect()
    });

    // A cookie signed by each instance verifies on the next one.
    for (n, server) in servers.iter().enumerate() {
        let cookie = server.log_in();
        let page = dashboard(&servers[(n + 1) % 3], &cookie);
        assert!(page.contains("Welcome user 1"), "{page}");
    }
    assert_eq!(count_rows(&url, "tower_sessions.session_secret").await, 1);
}

#[test]
fn instances_with_different_secrets_do_not_accept_each_others_cookies() {
    use base64::Engine;
    let postgres = Postgres::start();
    // Two different random keys (a key without randomness is refused at start-up).
    let secret = || {
        let mut bytes = [0u8; 64];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let (first, second) = (secret(), secret());
    let start = |secret: &str| {
        Server::start(&[
            ("DATABASE_URL", &postgres.url()),
            ("SESSION_SECRET", secret),
        ])
    };
    let servers = [start(&first), start(&second)];

    let cookie = servers[0].log_in();
    let page = dashboard(&servers[1], &cookie);

    // The session is in the shared database, but the second instance cannot verify the
    // cookie that names it: every instance must be given the same SESSION_SECRET.
    assert!(page.starts_with("HTTP/1.1 401"), "{page}");
}

#[tokio::test]
async fn a_save_on_postgres_never_brings_back_a_deleted_or_expired_session() {
    let postgres = Postgres::start();
    let store = store::open_any(&postgres.url())
        .await
        .expect("the store opens");
    let new_record = |expires_in: time::Duration| Record {
        id: Id::default(),
        data: [("views".to_string(), 1.into())].into(),
        expiry_date: OffsetDateTime::now_utc() + expires_in,
    };
    let mut live = new_record(time::Duration::hours(1));
    let mut logged_out = new_record(time::Duration::hours(1));
    let mut expired = new_record(time::Duration::seconds(-1));
    for record in [&mut live, &mut logged_out, &mut expired] {
        store.create(record).await.expect("stored");
    }
    store.delete(&logged_out.id).await.expect("deleted");

    // Each save carries an expiry an hour away, as a request that read the session
    // before it ended would (on this instance or on another one).
    for record in [&mut live, &mut logged_out, &mut expired] {
        record.data.insert("views".to_string(), 2.into());
        record.expiry_date = OffsetDateTime::now_utc() + time::Duration::hours(1);
        store
            .save(record)
            .await
            .expect("a save of a gone session is not an error");
    }

    let loaded = store.load(&live.id).await.expect("loads");
    assert_eq!(loaded.map(|r| r.data["views"].clone()), Some(2.into()));
    assert_eq!(store.load(&logged_out.id).await.expect("loads"), None);
    assert_eq!(store.load(&expired.id).await.expect("loads"), None);
    assert_eq!(
        count_rows(&postgres.url(), "tower_sessions.session").await,
        2,
        "the expired row waits for the clean-up"
    );
}

#[tokio::test]
async fn a_new_session_whose_id_is_taken_on_postgres_gets_a_fresh_one() {
    let postgres = Postgres::start();
    let store = store::open_any(&postgres.url())
        .await
        .expect("the store opens");
    let record = |views: i32| Record {
        id: Id(7),
        data: [("views".to_string(), views.into())].into(),
        expiry_date: OffsetDateTime::now_utc() + time::Duration::hours(1),
    };

    let (mut first, mut second) = (record(1), record(2));
    store.create(&mut first).await.expect("stored");
    store.create(&mut second).await.expect("stored");

    assert_ne!(
        first.id, second.id,
        "the second session has an id of its own"
    );
    for (session, views) in [(&first, 1), (&second, 2)] {
        let loaded = store.load(&session.id).await.expect("loads");
        assert_eq!(loaded.map(|r| r.data["views"].clone()), Some(views.into()));
    }
}

#[test]
fn an_unreachable_postgres_stops_the_server_with_one_line_that_hides_the_password() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let url = format!("postgres://app:hunter2@127.0.0.1:{port}/sessions");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_appendix-several-instances"))
        .env("DATABASE_URL", &url)
        .env("PORT", "0")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: cannot open the session database \"postgres://app:***@127.0.0.1:{port}/sessions\""
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
