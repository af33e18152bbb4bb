//! The lesson: one test binary for the step's checklist ("The checklist" in this step's
//! README.md), with a module per group of items. Each module opens with one headline test
//! per item, in the checklist's order, named after the attack it stops; the tests after
//! them look at the same items more closely. Step 4's app has none of these protections;
//! these tests do not even compile against it, since its `app` takes no security settings.
//!
//! ```text
//! cargo test -p step5-hardened --test security              # every item
//! cargo test -p step5-hardened --test security lifecycle::  # items 5 to 9
//! ```

#[path = "../common/mod.rs"]
mod common;

mod cookie; // items 1-4
mod lifecycle; // items 5-9
mod login; // items 10-13
mod requests; // items 14-18

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use common::Page;

pub use test_kit::GOOD_FORM;

/// The length of the HMAC-SHA256 signature in front of the id in a signed cookie.
const SIGNATURE_LEN: usize = 44;

/// The last `Set-Cookie` header of `page`: the session cookie, on this app's pages.
fn set_cookie(page: &Page) -> String {
    page.set_cookies()
        .pop()
        .expect("the response sets the session cookie")
}

/// The bare session id inside a signed cookie value.
fn id_of(cookie_value: &str) -> &str {
    &cookie_value[SIGNATURE_LEN..]
}

/// An argon2id hash of `password`, as `cargo xtask hash` makes one.
fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("hashing works")
        .to_string()
}
