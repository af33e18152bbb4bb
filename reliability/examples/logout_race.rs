//! A demonstration, not a test: how often a logout is undone by other tabs of the same
//! browser that load pages at the same moment.
//!
//! ```text
//! cargo run -p reliability --example logout_race
//! ```
//!
//! tower-sessions loads a session when a request starts and saves it when the request
//! ends. Step 4 saves with tower-sessions-sqlx-store's "insert or update", so a tab whose
//! request loaded the session before the logout writes it back afterwards: the old cookie
//! is logged in again. Whether a round hits that window depends on timing, so this prints
//! how many rounds did rather than asserting a number. Step 5's save only updates a row
//! that still exists; `tests/concurrency.rs` asserts that it is never undone there.

use reliability::{Step, race_logout_against_requests};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    const ROUNDS: usize = 20;
    const OTHER_TABS: usize = 6;
    for step in Step::BOTH {
        let undone = race_logout_against_requests(step, ROUNDS, OTHER_TABS).await;
        println!(
            "{}: {undone} of {ROUNDS} logouts undone by {OTHER_TABS} tabs loading pages at the same moment",
            step.name()
        );
    }
}
