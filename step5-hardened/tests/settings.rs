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

#[test]
fn the_timeouts_default_to_owasps_thirty_minutes_and_eight_hours() {
    let config = with(&[]).expect("the defaults are valid");
    assert_eq!(config.idle_timeout, Duration::from_secs(1800));
    assert_eq!(config.absolute_timeout, Duration::from_secs(28_800));
}

#[test]
fn the_timeouts_are_read_in_seconds() {
    let config = with(&[
        ("SESSION_IDLE_TIMEOUT_SECS", "60"),
        ("SESSION_ABSOLUTE_TIMEOUT_SECS", "600"),
    ])
    .expect("valid timeouts");
    assert_eq!(
        (
            config.idle_timeout.as_secs(),
            config.absolute_timeout.as_secs()
        ),
        (60, 600)
    );
}

#[test]
fn a_zero_or_garbled_timeout_is_refused() {
    for value in ["0", "-5", "half an hour", "1.5", "99999999999999999"] {
        let err = with(&[("SESSION_IDLE_TIMEOUT_SECS", value)]).expect_err(value);
        assert!(
            err.starts_with("SESSION_IDLE_TIMEOUT_SECS must be"),
            "{err}"
        );
    }
}

#[test]
fn an_idle_timeout_longer_than_the_absolute_one_is_refused() {
    let err = with(&[
        ("SESSION_IDLE_TIMEOUT_SECS", "7200"),
        ("SESSION_ABSOLUTE_TIMEOUT_SECS", "3600"),
    ])
    .expect_err("idle > absolute");
    assert!(err.contains("must not be longer"), "{err}");
}

/// 64 bytes as a random source would give them (different values, no pattern).
fn random_bytes() -> Vec<u8> {
    (0..64u8)
        .map(|n| n.wrapping_mul(97).wrapping_add(13))
        .collect()
}

#[test]
fn a_64_byte_base64_secret_is_accepted() {
    let secret = STANDARD.encode(random_bytes());
    let config = with(&[("SESSION_SECRET", &secret)]).expect("64 bytes is enough");
    assert!(config.session_secret.is_some());
}

#[test]
fn a_short_secret_is_refused_without_repeating_it() {
    let secret = STANDARD.encode(b"mysecretkey");
    let err = with(&[("SESSION_SECRET", &secret)]).expect_err("11 bytes");
    assert!(
        err.starts_with("SESSION_SECRET must hold at least 64"),
        "{err}"
    );
    assert!(!err.contains(&secret), "{err}");
}

#[test]
fn a_secret_that_is_not_base64_is_refused_without_repeating_it() {
    let err = with(&[("SESSION_SECRET", "mysecretkey!!")]).expect_err("not base64");
    assert!(err.starts_with("SESSION_SECRET must be base64"), "{err}");
    assert!(!err.contains("mysecretkey"), "{err}");
}

#[test]
fn a_password_hash_that_is_not_argon2id_is_refused() {
    for hash in [
        "1234",
        "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    ] {
        let err = with(&[("ADMIN_PASSWORD_HASH", hash)]).expect_err(hash);
        assert!(
            err.starts_with("ADMIN_PASSWORD_HASH must be an argon2id hash"),
            "{err}"
        );
    }
}

#[test]
fn a_blank_secret_is_refused_not_taken_as_unset() {
    for name in ["SESSION_SECRET", "ADMIN_PASSWORD_HASH"] {
        for blank in ["", "   ", "\n"] {
            let err = with(&[(name, blank)]).expect_err("blank");
            assert!(err.starts_with(name), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }
}

#[test]
fn a_key_without_randomness_is_refused() {
    let pattern: Vec<u8> = b"abcd".repeat(16);
    for bytes in [vec![0u8; 64], vec![7u8; 64], pattern] {
        let err = with(&[("SESSION_SECRET", &STANDARD.encode(&bytes))]).expect_err("no randomness");
        assert!(err.starts_with("SESSION_SECRET is not random"), "{err}");
    }
}

/// A syntactically valid argon2 PHC string with the given algorithm and settings.
fn phc(algorithm: &str, settings: &str) -> String {
    format!(
        "${algorithm}${settings}$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
    )
}

#[test]
fn a_hash_below_owasps_minimum_or_of_an_old_argon2_version_is_refused() {
    for settings in [
        "v=19$m=8,t=1,p=1",
        "v=19$m=19456,t=1,p=1",
        "v=19$m=12288,t=2,p=1",
        "v=16$m=19456,t=2,p=1",
        "m=19456,t=2,p=1",
    ] {
        let err = with(&[("ADMIN_PASSWORD_HASH", &phc("argon2id", settings))]).expect_err(settings);
        assert!(
            err.starts_with("ADMIN_PASSWORD_HASH must be an argon2id hash"),
            "{err}"
        );
        assert!(err.contains("at least m=19456,t=2"), "{err}");
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

#[test]
fn owasps_minimum_a_costlier_hash_and_the_demo_hash_are_accepted() {
    for settings in ["v=19$m=19456,t=2,p=1", "v=19$m=262144,t=3,p=4"] {
        let hash = phc("argon2id", settings);
        let config = with(&[("ADMIN_PASSWORD_HASH", &hash)]).expect(settings);
        let accepted = config.admin_password_hash.expect("the hash is used");
        assert_eq!(accepted.expose_secret(), hash);
    }
    assert!(with(&[("ADMIN_PASSWORD_HASH", step5_hardened::DEMO_PASSWORD_HASH)]).is_ok());
}
