//! Several instances of the app, as behind a load balancer, share one PostgreSQL session
//! store. Each test starts a throwaway PostgreSQL server of its own (`common::postgres`):
//! without the PostgreSQL programs installed they fail and say what to install.

mod common;

use appendix_several_instances::PgStore;
use common::Instance;
use common::postgres::Postgres;
use sqlx::PgPool;
use time::OffsetDateTime;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};

#[test]
fn a_login_through_one_instance_is_a_login_on_all_and_a_logout_through_any_is_final_on_all() {
    let postgres = Postgres::start();
    // Started at the same moment on an empty database, with the same SESSION_SECRET.
    let servers: Vec<Instance> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| Instance::start(&postgres.url())))
            .collect();
        let started = starting.into_iter().map(|start| start.join());
        started.map(|s| s.expect("every instance starts")).collect()
    });

    let cookie = servers[0].log_in();
    let seen_by_others: Vec<_> = servers[1..]
        .iter()
        .map(|server| server.get("/dashboard", &cookie))
        .collect();
    let logout = servers[2].post("/logout", &cookie, "").text;
    let after_logout: Vec<_> = servers
        .iter()
        .map(|server| server.get("/dashboard", &cookie))
        .collect();

    for page in &seen_by_others {
        let text = &page.text;
        assert!(text.contains("Welcome user 1 to the dashboard"), "{text}");
    }
    assert!(logout.contains("Logged out successfully"), "{logout}");
    for page in &after_logout {
        assert_eq!(page.status(), "401", "{}", page.text);
    }
}

/// Instances that start together on an empty database all create the session table at
/// once, and `CREATE ... IF NOT EXISTS` races (see `create_tables`). Here eight start at
/// once, twenty times, each time on a new, empty database.
#[tokio::test]
async fn creating_the_tables_is_safe_however_many_instances_start_at_once() {
    let postgres = Postgres::start();
    let admin = PgPool::connect(&postgres.url())
        .await
        .expect("PostgreSQL answers");

    let mut failures = Vec::new();
    for round in 0..20 {
        let database = format!("fresh_{round}");
        sqlx::query(&format!("CREATE DATABASE {database}"))
            .execute(&admin)
            .await
            .expect("a new database");
        let url = postgres.url_of(&database);
        let opening: Vec<_> = (0..8)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { appendix_several_instances::open(&url).await })
            })
            .collect();
        for opened in opening {
            if let Err(err) = opened.await.expect("the task ends") {
                failures.push(format!("round {round}: {err}"));
            }
        }
    }

    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_restarted_instance_keeps_its_visitors_logged_in() {
    let postgres = Postgres::start();
    let first = Instance::start(&postgres.url());
    let cookie = first.log_in();

    // Killed, as a crash or a deployment would, and started again.
    drop(first);
    let again = Instance::start(&postgres.url());
    let page = again.get("/dashboard", &cookie);

    // The session is in the database, and the key that signed its cookie in the
    // environment of both.
    assert!(page.text.contains("Welcome user 1"), "{}", page.text);
}

#[test]
fn an_instance_on_postgres_without_a_shared_key_stops_with_one_line() {
    let postgres = Postgres::start();
    let output = common::command(&postgres.url())
        .env_remove("SESSION_SECRET")
        .output()
        .expect("the binary runs");

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("SESSION_SECRET"), "{stderr}");
}

#[test]
fn any_other_url_goes_to_step_5s_sqlite_store() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}", folder.path().join("sessions.db").display());
    let server = Instance::start(&url);

    let cookie = server.log_in();
    let page = server.get("/dashboard", &cookie);

    assert!(page.text.contains("Welcome user 1"), "{}", page.text);
    assert!(folder.path().join("sessions.db").exists());
}

/// A password in `DATABASE_URL`, in any of the places a PostgreSQL URL can carry one, is
/// never printed.
#[test]
fn an_unreachable_postgres_stops_the_server_with_one_line_that_shows_no_password() {
    let host = format!("127.0.0.1:{}", common::postgres::free_port());
    let urls = [
        format!("postgres://app:hunter2@{host}/sessions"),
        format!("postgresql://{host}/sessions?user=app&password=hunter2"),
        format!("postgres://app@{host}/sessions?pass%77ord=hunter2"),
        // Misspelt: sqlx ignores it, and would log it with its value.
        format!("postgres://app@{host}/sessions?passwd=hunter2"),
    ];
    // Started together: each waits 5 s for PostgreSQL before it gives up.
    let started: Vec<_> = urls
        .iter()
        .map(|url| common::command(url).spawn().expect("the binary runs"))
        .collect();

    for child in started {
        let output = child.wait_with_output().expect("the binary ends");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let log = String::from_utf8_lossy(&output.stdout);

        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        let start = "error: cannot open the session database postgres";
        assert!(
            stderr.starts_with(start) && stderr.contains("***"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("hunter2") && !log.contains("hunter2"),
            "{log}{stderr}"
        );
    }
}

fn record(id: Id, views: i32, expires_in: time::Duration) -> Record {
    Record {
        id,
        data: [("views".to_string(), views.into())].into(),
        expiry_date: OffsetDateTime::now_utc() + expires_in,
    }
}

async fn open(postgres: &Postgres) -> PgStore {
    appendix_several_instances::open(&postgres.url())
        .await
        .expect("the store opens")
}

#[tokio::test]
async fn a_save_on_postgres_never_brings_back_a_deleted_or_expired_session() {
    let postgres = Postgres::start();
    let store = open(&postgres).await;
    let hour = time::Duration::hours(1);
    let mut live = record(Id::default(), 1, hour);
    let mut logged_out = record(Id::default(), 1, hour);
    let mut expired = record(Id::default(), 1, time::Duration::seconds(-1));
    for record in [&mut live, &mut logged_out, &mut expired] {
        store.create(record).await.expect("stored");
    }
    store.delete(&logged_out.id).await.expect("deleted");

    // Each save carries an expiry an hour away, as a request that read the session
    // before it ended would (on this instance or on another one).
    for record in [&mut live, &mut logged_out, &mut expired] {
        record.data.insert("views".to_string(), 2.into());
        record.expiry_date = OffsetDateTime::now_utc() + hour;
        store
            .save(record)
            .await
            .expect("a save of a gone session is not an error");
    }

    let loaded = store.load(&live.id).await.expect("loads");
    assert_eq!(loaded.map(|r| r.data["views"].clone()), Some(2.into()));
    assert_eq!(store.load(&logged_out.id).await.expect("loads"), None);
    assert_eq!(store.load(&expired.id).await.expect("loads"), None);
}

#[tokio::test]
async fn a_new_session_whose_id_is_taken_on_postgres_gets_a_fresh_one() {
    let postgres = Postgres::start();
    let store = open(&postgres).await;
    let hour = time::Duration::hours(1);

    let (mut first, mut second) = (record(Id(7), 1, hour), record(Id(7), 2, hour));
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
