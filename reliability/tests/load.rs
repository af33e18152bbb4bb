//! Load: many clients at once, each with its own session, against steps 4 and 5 served
//! in-process over real TCP. Every client logs in, then counts its own visits: the count
//! must go up by exactly one per request, which it would not if any session ever
//! reached another client. Zero errors allowed.
//!
//! A flood of new visitors must also leave no lasting cost on disk, and a burst of logins
//! no lasting cost in memory.
//!
//! `RELIABILITY_CLIENTS` (default 200) and `RELIABILITY_LOAD_SECS` (default 3 s, 10 s with
//! `RELIABILITY_LONG=1`) size the run.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reliability::{Client, Step, cheap_password_hash, heavy_test, load_clients, load_duration};
use sqlx::Connection;
use test_kit::Server;
use tokio::sync::{Barrier, Mutex};
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};

/// What one run saw, over all clients.
#[derive(Default)]
struct Tally {
    requests: u64,
    errors: Vec<String>,
    session_cookies: Vec<String>,
}

impl Tally {
    fn error(&mut self, client: usize, what: String) {
        self.errors.push(format!("client {client}: {what}"));
    }
}

/// One client's whole life: log in, wait for everybody, count visits until `deadline`,
/// log out. Every surprise is written into `tally` and ends this client.
async fn one_client(
    id: usize,
    addr: std::net::SocketAddr,
    start: Arc<Barrier>,
    duration: Duration,
    tally: Arc<Mutex<Tally>>,
) {
    let mut client = Client::new(addr);
    let mut requests = 1; // the login
    let login = client.log_in().await;
    // Everybody waits here even after a failed login, or the others would wait forever.
    start.wait().await;
    let fail = |what: String| {
        let tally = Arc::clone(&tally);
        async move { tally.lock().await.error(id, what) }
    };
    match login {
        Ok(reply) if reply.status == 200 => {}
        Ok(reply) => return fail(format!("login answered {}", reply.status)).await,
        Err(err) => return fail(format!("login failed: {err}")).await,
    }
    let cookie = client.cookie_header();

    let deadline = Instant::now() + duration;
    let mut views = 0;
    for round in 1u64.. {
        if Instant::now() >= deadline {
            break;
        }
        requests += 1;
        // Every tenth request reads the dashboard instead: still logged in, still user 1.
        if round % 10 == 0 {
            match client.get("/dashboard").await {
                Ok(reply) if reply.body.contains("Welcome user 1 to the dashboard") => continue,
                Ok(reply) => return fail(format!("the dashboard answered {}", reply.status)).await,
                Err(err) => return fail(err).await,
            }
        }
        views += 1;
        let reply = match client.get("/").await {
            Ok(reply) => reply,
            Err(err) => return fail(err).await,
        };
        if reply.status != 200 || reply.visits() != Some(views) {
            let seen = (reply.status, reply.visits());
            return fail(format!("expected visit {views}, saw {seen:?}")).await;
        }
        if client.cookie_header() != cookie {
            return fail("the session cookie changed under load".into()).await;
        }
    }

    requests += 2; // the logout and the check after it
    match client.log_out().await {
        Ok(reply) if reply.status == 200 => {}
        Ok(reply) => return fail(format!("logout answered {}", reply.status)).await,
        Err(err) => return fail(format!("logout failed: {err}")).await,
    }
    match client.get("/dashboard").await {
        Ok(reply) if reply.status == 401 => {}
        Ok(reply) => {
            return fail(format!(
                "after logout the dashboard answered {}",
                reply.status
            ))
            .await;
        }
        Err(err) => return fail(err).await,
    }
    let mut tally = tally.lock().await;
    tally.requests += requests;
    tally.session_cookies.push(cookie);
}

async fn load(step: Step, password_hash: Option<String>) {
    let _heavy = heavy_test().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = reliability::sqlite_url(&dir.path().join("sessions.db"));
    let served = reliability::serve(step.app_with_password_hash(&url, password_hash).await).await;
    let clients = load_clients();
    let duration = load_duration();

    let start = Arc::new(Barrier::new(clients));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let began = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|id| {
            tokio::spawn(one_client(
                id,
                served.addr,
                Arc::clone(&start),
                duration,
                Arc::clone(&tally),
            ))
        })
        .collect();
    for task in tasks {
        task.await.expect("a client task does not panic");
    }
    let took = began.elapsed();

    let tally = tally.lock().await;
    let distinct: HashSet<_> = tally.session_cookies.iter().collect();
    println!(
        "{}: {clients} clients for {duration:?} (whole run {took:.1?}): {} requests, {:.0}/s, {} errors",
        step.name(),
        tally.requests,
        tally.requests as f64 / took.as_secs_f64(),
        tally.errors.len()
    );
    assert!(
        tally.errors.is_empty(),
        "{} errors, the first: {:#?}",
        tally.errors.len(),
        &tally.errors[..tally.errors.len().min(5)]
    );
    assert_eq!(
        distinct.len(),
        clients,
        "every client had a session of its own"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_each_count_only_their_own_visits_in_step_4() {
    load(Step::Four, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_each_count_only_their_own_visits_in_step_5() {
    // CI checks the password with a cheap hash: step 5 runs one argon2 check per core
    // at a time, and 200 real checks (slow on purpose, slower still in a debug build)
    // would take seconds before the load even starts. Long mode uses the real demo hash.
    let hash = (!reliability::long_mode()).then(cheap_password_hash);
    load(Step::Five, hash).await;
}

/// Step 5: a flood of new visitors (each one's counter is a row) must leave no lasting cost on
/// disk: SQLite keeps its write-ahead log at the largest size a burst made it, unless told
/// to cut it back. A reader holding a snapshot stops the log from starting over, so the
/// burst below grows it past 64 MiB; once the reader is gone, the next write starts it over,
/// cut back to the limit.
#[tokio::test]
async fn a_burst_of_writes_leaves_the_write_ahead_log_cut_back_to_64_mib() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = reliability::sqlite_url(&dir.path().join("sessions.db"));
    let store = step5_hardened::store::open(&url).await.expect("opens");
    let mut reader = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("a second connection");
    sqlx::query("BEGIN")
        .execute(&mut reader)
        .await
        .expect("begins");
    sqlx::query("SELECT count(*) FROM tower_sessions")
        .execute(&mut reader)
        .await
        .expect("reads");
    let visit = |n: usize| {
        let mut data = std::collections::HashMap::new();
        data.insert(
            "views".to_string(),
            serde_json::json!("x".repeat(64 * 1024 + n)),
        );
        Record {
            id: Id::default(),
            data,
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        }
    };
    for n in 0..1_200 {
        store.create(&mut visit(n)).await.expect("stored");
    }
    let wal = dir.path().join("sessions.db-wal");
    let grown = std::fs::metadata(&wal).expect("a log").len();
    sqlx::query("COMMIT")
        .execute(&mut reader)
        .await
        .expect("ends the read");

    // One write checkpoints the log (SQLite does it by itself past 1000 pages), the next
    // starts it over.
    for n in 0..2 {
        store.create(&mut visit(n)).await.expect("stored");
    }

    let after = std::fs::metadata(&wal).expect("a log").len();
    assert!(grown > 64 << 20, "the burst grew the log to {grown} bytes");
    assert!(after <= 64 << 20, "the log stayed at {after} bytes");
}

/// Step 5: many simultaneous wrong passwords cost the argon2 work areas set aside at
/// start-up and little more (`PasswordCheck` in `src/password.rs`). Memory is read from `/proc`, so this runs on Linux only; the bound it checks comes from
/// how the password check is built, the same on every system.
#[cfg(target_os = "linux")]
#[test]
fn a_burst_of_logins_takes_no_more_memory_than_the_work_areas_set_aside() {
    let server = Server::start(Step::Five.binary(), &[]);
    server.request("GET / HTTP/1.1");
    let (before, _) = server.memory_kib();

    let guesses: Vec<_> = (0..40)
        .map(|n| {
            let addr = server.addr.clone();
            std::thread::spawn(move || {
                let body = format!("username=admin&password=guess{n}");
                let mut stream = TcpStream::connect(&addr).expect("connects");
                let request = format!(
                    "POST /login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(request.as_bytes()).expect("sent");
                let mut answer = String::new();
                stream.read_to_string(&mut answer).expect("answered");
                answer
            })
        })
        .collect();
    for guess in guesses {
        let answer = guess.join().expect("the client thread ends");
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }
    let (after, peak) = server.memory_kib();

    // The work areas (19 MiB each, one per core up to four) are set aside, and so
    // already counted, before the burst. What the burst adds is the requests' own
    // memory: a few MiB. Each check allocating its own 19 MiB left 400 MiB and more
    // behind.
    let grown = peak.max(after).saturating_sub(before);
    assert!(
        grown < 32 * 1024,
        "40 logins added {grown} KiB (from {before} KiB)"
    );
}
