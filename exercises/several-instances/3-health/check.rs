//! Exercise several-instances.3, "Tell the load balancer": `GET /health` answers `200`
//! while the session store answers and `503` when it does not, without starting a session.
//! The check runs an instance on a throwaway PostgreSQL server, then stops that server, as
//! a database going away would.

mod common;

use common::Instance;
use common::postgres::Postgres;

#[test]
fn health_is_200_while_the_store_answers_and_503_once_it_is_gone() {
    let postgres = Postgres::start();
    let server = Instance::start(&postgres.url());

    let up = server.get("/health", "");
    drop(postgres);
    let down = server.get("/health", "");

    assert!(
        up.status() == "200",
        "GET /health should answer 200 while the session store works, but it answers {}",
        up.status()
    );
    assert!(
        down.status() == "503",
        "GET /health should answer 503 Service Unavailable when the session store fails (so the load balancer sends visitors elsewhere), but it answers {}",
        down.status()
    );
}

#[test]
fn health_checks_start_no_session() {
    let postgres = Postgres::start();
    let server = Instance::start(&postgres.url());

    let page = server.get("/health", "");

    assert!(
        page.cookie().is_none(),
        "GET /health should set no cookie: a load balancer asks every few seconds and must not get (or make a row for) a session each time, but it sets {:?}",
        page.cookie()
    );
}
