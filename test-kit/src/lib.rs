//! The course's test kit: the helpers every step's tests and every add-on's tests share,
//! in one crate that they use as a dev-dependency (as zero2prod's `tests/api/helpers.rs`
//! serves all its test modules).
//!
//! - [`Browser`] visits an [`App`] in-process: requests go straight into the router, the
//!   cookies it sets come back on the next request, and each answer is a [`Page`].
//! - [`Server`] starts the real binary on a free port, as `cargo run` would, to test what
//!   only the binary shows: its configuration, its log, its shutdown.
//! - [`serve`] serves a router over TCP inside the test process, for a real browser or
//!   an HTTP client (the `e2e` and `reliability` crates).
//! - [`TestStore`] is a session store that a test can make fail, hang or hold, to show
//!   what a visitor sees when the database is down or slow.
//!
//! A step's `tests/common/mod.rs` names what is its own (its router, its binary, its
//! session cookie's name) and re-exports the rest:
//!
//! ```text
//! pub const COOKIE: &str = "id";
//! pub fn app() -> App {
//!     App::new(step1_basic::app(MemoryStore::default()), COOKIE)
//! }
//! ```
//!
//! Everything here panics instead of returning errors: these are test helpers, and a panic
//! that says what the server did is the most useful failure.

mod browser;
mod serve;
mod server;
mod store;

pub use browser::{App, Browser, CookieJar, Page, trickled_body};
pub use serve::{Served, serve};
pub use server::{Server, cookie_from, line_with};
pub use store::{Hold, Operation, TestStore};

/// The demo user's login as a form, the one steps 2 to 5 and the add-ons all accept.
pub const GOOD_FORM: &str = "username=admin&password=1234";

/// The `SESSION_SECRET` the test servers get when they must keep their sessions across a
/// restart (without one, step 5 signs with a random key, new at every start): 64 bytes in
/// base64, as `cargo xtask secret` prints them, made once for the tests.
pub const TEST_SECRET: &str =
    "x/lbrfz/35qk862GRk+PivPUGfWpagnx+Mrty7Qkf6QZ93U59fUUw9CuT4o3mZchJYlR09KxtG+GNtHqV/lrcQ==";
