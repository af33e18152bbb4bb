//! The settings of the lesson, each checked at start-up (`src/config.rs`): the cookie key
//! (`SESSION_SECRET`, checklist item 4), the password hash (`ADMIN_PASSWORD_HASH`, item 10)
//! and the two timeouts (items 7 and 8). A value that is set but wrong is refused with one
//! line that names the variable and never repeats a secret.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret;
use step5_hardened::Config;

fn with(pairs: &[(&str, &str)]) -> Result<Config, String> {
    Config::from_vars(|name| {
        pairs
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_string())
    })
}

/// 64 bytes as a random source would give them (different values, no pattern).
fn random_bytes() -> Vec<u8> {
    (0..64u8)
        .map(|n| n.wrapping_mul(97).wrapping_add(13))
        .collect()
}

/// A syntactically valid argon2 PHC string with the given algorithm and settings.
fn phc(algorithm: &str, settings: &str) -> String {
    format!(
        "${algorithm}${settings}$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
    )
}

const IDLE: &str = "SESSION_IDLE_TIMEOUT_SECS";
const SECRET: &str = "SESSION_SECRET";
const HASH: &str = "ADMIN_PASSWORD_HASH";

/// Checks that `name=value` stops the server with one line that names the variable, says
/// `what`, and does not repeat the value (a secret must not reach a log through its error).
fn assert_refused(name: &str, value: &str, what: &str) {
    let err = with(&[(name, value)]).expect_err(value);
    assert!(
        err.starts_with(name) && err.contains(what),
        "{name}={value:?}: {err}"
    );
    assert!(!err.contains('\n'), "{name}={value:?}: {err}");
    if name != IDLE && value.trim().len() > 2 {
        assert!(!err.contains(value), "{err} repeats the value");
    }
}

#[test]
fn each_wrong_setting_is_refused_in_one_line_that_names_it_and_never_repeats_a_secret() {
    for value in ["0", "-5", "half an hour", "1.5", "99999999999999999"] {
        assert_refused(IDLE, value, "must be a whole number of seconds");
    }
    let idle_longer = [(IDLE, "7200"), ("SESSION_ABSOLUTE_TIMEOUT_SECS", "3600")];
    let err = with(&idle_longer).expect_err("idle longer than absolute");
    assert!(err.contains("must not be longer"), "{err}");

    // Too short, not base64, or bytes without randomness: never a weak key.
    let base64 = |bytes: &[u8]| STANDARD.encode(bytes);
    assert_refused(SECRET, &base64(b"mysecretkey"), "at least 64 random bytes");
    assert_refused(SECRET, "mysecretkey!!", "must be base64");
    for bytes in [vec![0u8; 64], vec![7u8; 64], b"abcd".repeat(16)] {
        assert_refused(SECRET, &base64(&bytes), "is not random");
    }

    // Not argon2id, below OWASP's minimum (m=19456 KiB, t=2), or an old argon2 version.
    let not_argon2id = ["1234".to_string(), phc("argon2i", "v=19$m=19456,t=2,p=1")];
    let too_weak = [
        "v=19$m=8,t=1,p=1",
        "v=19$m=19456,t=1,p=1",
        "v=19$m=12288,t=2,p=1",
    ];
    let too_old = ["v=16$m=19456,t=2,p=1", "m=19456,t=2,p=1"];
    let argon2id = too_weak.iter().chain(&too_old).map(|s| phc("argon2id", s));
    for hash in not_argon2id.into_iter().chain(argon2id) {
        assert_refused(HASH, &hash, "must be an argon2id hash");
        assert_refused(HASH, &hash, "at least m=19456,t=2");
    }

    // A blank secret is an error, never taken as "not set" (which has a default).
    for name in [SECRET, HASH] {
        for blank in ["", "   ", "\n"] {
            assert_refused(name, blank, "");
        }
    }
}

#[test]
fn good_settings_are_taken_as_given_and_the_timeouts_default_to_owasps() {
    let defaults = with(&[]).expect("the defaults are valid");
    assert_eq!(defaults.idle_timeout, Duration::from_secs(30 * 60));
    assert_eq!(defaults.absolute_timeout, Duration::from_secs(8 * 60 * 60));

    let timeouts = with(&[
        ("SESSION_IDLE_TIMEOUT_SECS", "60"),
        ("SESSION_ABSOLUTE_TIMEOUT_SECS", "600"),
    ])
    .expect("valid timeouts");
    assert_eq!(timeouts.idle_timeout, Duration::from_secs(60));
    assert_eq!(timeouts.absolute_timeout, Duration::from_secs(600));

    // OWASP's minimum, a costlier hash, and the demo hash.
    let minimum = phc("argon2id", "v=19$m=19456,t=2,p=1");
    let costlier = phc("argon2id", "v=19$m=262144,t=3,p=4");
    for hash in [&minimum, &costlier, step5_hardened::DEMO_PASSWORD_HASH] {
        let config = with(&[("ADMIN_PASSWORD_HASH", hash)]).expect(hash);
        let accepted = config.admin_password_hash.expect("the hash is used");
        assert_eq!(accepted.expose_secret(), hash);
    }
}

#[test]
fn printing_the_settings_shows_neither_secret() {
    let secret = STANDARD.encode(random_bytes());
    let config = with(&[
        ("SESSION_SECRET", &secret),
        ("ADMIN_PASSWORD_HASH", step5_hardened::DEMO_PASSWORD_HASH),
    ])
    .expect("valid settings");

    let printed = format!("{config:?}");

    assert!(!printed.contains(&secret), "{printed}");
    assert!(!printed.contains("argon2id"), "{printed}");
    assert!(printed.contains("REDACTED"), "{printed}");
}

#[test]
fn every_byte_of_the_secret_counts() {
    let key = |bytes: &[u8]| {
        with(&[("SESSION_SECRET", &STANDARD.encode(bytes))])
            .expect("a valid secret")
            .cookie_key()
            .expect("the secret is used")
    };
    let secret = random_bytes();
    let mut last_byte_changed = secret.clone();
    last_byte_changed[63] ^= 1;
    assert_ne!(key(&secret).signing(), key(&last_byte_changed).signing());
    // 32 zero bytes, then random ones: the cookies are not signed with zeros.
    let mut zeros_first = random_bytes();
    zeros_first[..32].fill(0);
    assert_ne!(key(&zeros_first).signing(), &[0u8; 32]);
}
