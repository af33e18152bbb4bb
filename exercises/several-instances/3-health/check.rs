//! Exercise several-instances.3, "Tell the load balancer": `GET /health` answers `200`
//! while the session store answers and `503` when it does not, without starting a session.
//! The check runs the app on a store it can break, as the database going away would.

mod common;

use common::{Browser, FlakyStore, settings};

#[tokio::test]
async fn health_is_200_while_the_store_answers() {
    let store = FlakyStore::default();
    let app = appendix_several_instances::app(store, settings());

    let page = Browser::new(&app).get("/health").await;

    assert!(
        page.status == 200,
        "GET /health should answer 200 while the session store works, but it answers {}",
        page.status
    );
}

#[tokio::test]
async fn health_is_503_when_the_store_fails() {
    let store = FlakyStore::default();
    let app = appendix_several_instances::app(store.clone(), settings());
    store.set_broken(true);

    let page = Browser::new(&app).get("/health").await;

    assert!(
        page.status == 503,
        "GET /health should answer 503 Service Unavailable when the session store fails (so the load balancer sends visitors elsewhere), but it answers {}",
        page.status
    );
}

#[tokio::test]
async fn health_checks_start_no_session() {
    let app = appendix_several_instances::app(FlakyStore::default(), settings());

    let page = Browser::new(&app).get("/health").await;

    assert!(
        page.set_cookies().is_empty(),
        "GET /health should set no cookie: a load balancer asks every few seconds and must not get (or make a row for) a session each time, but it sets {:?}",
        page.set_cookies()
    );
}
