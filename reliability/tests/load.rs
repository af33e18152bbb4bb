//! Load: many clients at once, each with its own session, against steps 4 and 5 served
//! in-process over real TCP. Every client logs in, then counts its own visits: the count
//! must go up by exactly one per request, which it would not if any session ever
//! reached another client. Zero errors allowed.
//!
//! `RELIABILITY_CLIENTS` (default 200) and `RELIABILITY_LOAD_SECS` (default 3 s, 10 s with
//! `RELIABILITY_LONG=1`) size the run.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reliability::{Client, Step, cheap_password_hash, heavy_test, load_clients, load_duration};
use tokio::sync::{Barrier, Mutex};

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
