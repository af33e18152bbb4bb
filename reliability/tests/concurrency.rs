//! Concurrency on one session: two tabs of one browser send requests at the same time.
//!
//! tower-sessions loads a session at the start of a request and saves the whole record
//! at the end, with no locking between requests. Two `GET /` at once both read
//! `views = n` and both write `n + 1`: one visit is lost. That is what a student sees
//! (the counter may skip back or stand still when two tabs reload at once), and these
//! tests pin it down honestly instead of pretending it cannot happen. Where it would
//! matter for security, a logout, they check that step 5 is safe. (Simultaneous wrong
//! passwords are the login throttle's concern, and it is tested with the add-on that
//! adds it, `appendix/login-throttling`.)

use reliability::{Client, Step, fresh, race_logout_against_requests, tab_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_reloading_at_once_may_lose_visits_but_never_fail() {
    const PER_TAB: u64 = 50;
    for step in Step::BOTH {
        let (served, _dir) = fresh(step).await;
        let mut first = Client::new(served.addr);
        assert_eq!(first.log_in().await.expect("login").status, 200);

        let tabs = [tab_of(served.addr, &first), tab_of(served.addr, &first)];
        let tasks: Vec<_> = tabs
            .into_iter()
            .map(|mut tab| {
                tokio::spawn(async move {
                    let mut statuses = Vec::new();
                    for _ in 0..PER_TAB {
                        statuses.push(tab.get("/").await.expect("the server answers").status);
                    }
                    statuses
                })
            })
            .collect();
        for task in tasks {
            let statuses = task.await.expect("a tab does not panic");
            assert!(statuses.iter().all(|s| *s == 200), "{step:?}: {statuses:?}");
        }
        let last = first.get("/").await.expect("the server answers");

        // Documented behaviour: the count never runs ahead of the requests, and the last
        // request counts itself on top of whatever was saved. Anything in between is
        // possible: a slow tab can even write back a count older than the other tab's.
        let sent = 2 * PER_TAB + 1;
        let shown = last.visits().expect("the counter page");
        println!(
            "{}: {sent} visits from two tabs, the counter shows {shown} ({} lost to the race)",
            step.name(),
            sent - shown
        );
        assert!((2..=sent).contains(&shown), "{step:?}: {shown}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_step_5_a_logout_racing_other_tabs_never_brings_the_session_back() {
    let rounds = 20;
    let resurrected = race_logout_against_requests(Step::Five, rounds, 6).await;
    println!("step5-hardened: {resurrected} of {rounds} logouts undone by a racing tab");
    assert_eq!(resurrected, 0);
}
