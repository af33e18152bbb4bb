//! Settings read from the environment once, at start-up.
//!
//! Every setting has a default that is safe to run in a classroom; the ones that matter
//! in production (the cookie key, the password hash) say so in the log when they are
//! left out. A setting that is present but wrong stops the server with one line that
//! names it: a typo must never quietly fall back to a weaker default.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use argon2::PasswordHash;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tower_sessions::cookie::Key;

/// Everything `main` needs to start the server.
#[derive(Clone)]
pub struct Config {
    /// Where to listen. Always loopback: a lesson server is not meant to be reachable
    /// from the rest of the network.
    pub addr: SocketAddr,
    /// The SQLite database that holds the sessions, as a sqlx URL
    /// (`sqlite://path/to/file.db`).
    pub database_url: String,
    /// The key that signs session cookies, from `SESSION_SECRET`; `None` means "use the
    /// key generated and kept in the database".
    pub session_secret: Option<Key>,
    /// A session ends after this long without a request (`SESSION_IDLE_TIMEOUT_SECS`).
    pub idle_timeout: Duration,
    /// A session ends this long after login, however active (`SESSION_ABSOLUTE_TIMEOUT_SECS`).
    pub absolute_timeout: Duration,
    /// The demo user's password as an argon2id hash in PHC form (`ADMIN_PASSWORD_HASH`);
    /// `None` means the built-in hash of the demo password `1234`.
    pub admin_password_hash: Option<String>,
}

/// Written by hand so that printing a `Config` (in a log, a panic, a test failure) can
/// never print the secret.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            // A database server's URL may hold a password; a SQLite file's holds none.
            .field(
                "database_url",
                &if self.database_url.starts_with("sqlite:") {
                    self.database_url.as_str()
                } else {
                    "<not shown>"
                },
            )
            .field(
                "session_secret",
                &self.session_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("idle_timeout", &self.idle_timeout)
            .field("absolute_timeout", &self.absolute_timeout)
            .field("admin_password_hash", &self.admin_password_hash)
            .finish()
    }
}

impl Config {
    /// The default port, as in the Express tutorial's `app.listen(3000)`.
    pub const DEFAULT_PORT: u16 = 3000;

    /// OWASP ASVS 3.3.2 (level 2): at most 30 minutes without activity.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

    /// OWASP's session cheat sheet: 4 to 8 hours for an application used through a
    /// working day; after that, log in again whatever you were doing.
    pub const DEFAULT_ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(8 * 60 * 60);

    /// A secret shorter than this is refused: the signing and encryption keys the cookie
    /// crate derives from it are 32 bytes each.
    pub const MIN_SECRET_BYTES: usize = 64;

    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `var`, so tests can pass their own environment.
    /// The error is one line that names the variable and says what it must be.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        // A variable set to nothing counts as not set, as shells make that easy to do.
        let raw = &var;
        let var = |name: &str| var(name).filter(|value| !value.trim().is_empty());

        let port = match var("PORT") {
            None => Self::DEFAULT_PORT,
            Some(value) => value.trim().parse::<u16>().map_err(|_| {
                format!("PORT must be a whole number from 0 to 65535, not {value:?}")
            })?,
        };
        // Without `DATABASE_URL`: `sessions.db` in the crate's folder, which `cargo run` names
        // in `CARGO_MANIFEST_DIR` (read now: a path fixed at build time would be wrong on
        // another computer), else in the current folder.
        let database_url = var("DATABASE_URL")
            .or_else(|| var("CARGO_MANIFEST_DIR").map(|dir| format!("sqlite://{dir}/sessions.db")))
            .unwrap_or_else(|| "sqlite://sessions.db".to_string());
        // The two secrets are the exception: a blank one is an error, not "unset". Taken
        // as unset, a blank `SESSION_SECRET` would quietly fall back to the key in the
        // database, and a blank `ADMIN_PASSWORD_HASH` to the demo password `1234`.
        let session_secret = raw("SESSION_SECRET")
            .map(|value| parse_secret(&value))
            .transpose()?;
        let idle_timeout = seconds(
            var("SESSION_IDLE_TIMEOUT_SECS"),
            "SESSION_IDLE_TIMEOUT_SECS",
        )?
        .unwrap_or(Self::DEFAULT_IDLE_TIMEOUT);
        let absolute_timeout = seconds(
            var("SESSION_ABSOLUTE_TIMEOUT_SECS"),
            "SESSION_ABSOLUTE_TIMEOUT_SECS",
        )?
        .unwrap_or(Self::DEFAULT_ABSOLUTE_TIMEOUT);
        if idle_timeout > absolute_timeout {
            return Err(format!(
                "SESSION_IDLE_TIMEOUT_SECS ({}) must not be longer than SESSION_ABSOLUTE_TIMEOUT_SECS ({})",
                idle_timeout.as_secs(),
                absolute_timeout.as_secs()
            ));
        }
        let admin_password_hash = raw("ADMIN_PASSWORD_HASH")
            .map(|hash| check_hash(&hash))
            .transpose()?;

        Ok(Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            database_url,
            session_secret,
            idle_timeout,
            absolute_timeout,
            admin_password_hash,
        })
    }
}

/// Decodes `SESSION_SECRET`. The error never repeats the value: it is a secret.
fn parse_secret(value: &str) -> Result<Key, String> {
    const HOW: &str = "make one with: openssl rand -base64 64";
    // `openssl rand -base64` wraps its output into lines; the line breaks are not data.
    let compact: String = value.split_whitespace().collect();
    let bytes = STANDARD
        .decode(compact)
        .map_err(|_| format!("SESSION_SECRET must be base64 ({HOW})"))?;
    if bytes.len() < Config::MIN_SECRET_BYTES {
        return Err(format!(
            "SESSION_SECRET must hold at least {} random bytes, it holds {} ({HOW})",
            Config::MIN_SECRET_BYTES,
            bytes.len()
        ));
    }
    // 64 random bytes hold about 57 different byte values, and fewer than 16 is
    // practically impossible (a chance far below 1 in 10^50). A key with so few is no
    // random key: 64 zero bytes, one character repeated, a short word repeated.
    let distinct = bytes.iter().collect::<std::collections::HashSet<_>>().len();
    if distinct < MIN_DISTINCT_BYTES {
        return Err(format!(
            "SESSION_SECRET is not random: it holds only {distinct} different byte values ({HOW})"
        ));
    }
    // The keys are derived from the whole secret (HKDF, a standard key derivation), so
    // every byte of it counts. Taken as it is, only its first 32 bytes would sign the
    // cookie, and a secret of 32 zero bytes followed by random ones would pass the check
    // above and sign with a key of zeros.
    Ok(Key::derive_from(&bytes))
}

/// The fewest different byte values a key from a random source can plausibly hold.
const MIN_DISTINCT_BYTES: usize = 16;

/// Reads a number of seconds from 1 up to a year. The upper bound keeps the expiry
/// arithmetic far from overflow; a session meant to last longer than a year is a mistake.
fn seconds(value: Option<String>, name: &str) -> Result<Option<Duration>, String> {
    const A_YEAR: u64 = 366 * 24 * 60 * 60;
    value
        .map(|value| match value.trim().parse::<u64>() {
            Ok(secs) if (1..=A_YEAR).contains(&secs) => Ok(Duration::from_secs(secs)),
            _ => Err(format!(
                "{name} must be a whole number of seconds from 1 to {A_YEAR} (a year), not {value:?}"
            )),
        })
        .transpose()
}

/// OWASP's password storage cheat sheet lists five argon2id settings of equal strength,
/// as (memory in KiB, passes): less memory must be paid for with more passes. A hash is
/// strong enough if it has at least the memory and the passes of one of them.
const OWASP_MINIMUMS: [(u32, u32); 5] = [
    (47_104, 1),
    (19_456, 2),
    (12_288, 3),
    (9_216, 4),
    (7_168, 5),
];

/// The most memory one login may take, in KiB: 256 MiB. Every login runs the hash with
/// the memory the hash asks for, and as many run at once as the machine has cores, so
/// this times the cores is what a burst of logins can take. 256 MiB is four times RFC
/// 9106's memory-constrained choice (64 MiB) and thirteen times OWASP's minimum; a hash
/// asking for gigabytes would let a handful of login attempts exhaust the server.
const MAX_MEMORY_KIB: u32 = 256 * 1024;

/// The most passes (`t`) and lanes (`p`) a hash may ask for.
const MAX_PASSES: u32 = 10;
const MAX_LANES: u32 = 8;

/// Accepts only an argon2id hash in PHC form (`$argon2id$v=19$m=...`) whose settings
/// are at least OWASP's minimum and at most [`MAX_MEMORY_KIB`] of memory.
fn check_hash(hash: &str) -> Result<String, String> {
    const FORM: &str =
        "ADMIN_PASSWORD_HASH must be an argon2id hash in PHC form ($argon2id$v=19$m=...)";
    let hash = hash.trim();
    let parsed = PasswordHash::new(hash).map_err(|_| FORM.to_string())?;
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return Err(FORM.to_string());
    }
    // Version 0x13 (19) is the current one; 0x10 has a known weakness and a hash
    // without `v=` is read as 0x10.
    if parsed.version != Some(19) {
        return Err("ADMIN_PASSWORD_HASH must be argon2 version 19 (v=19)".to_string());
    }
    let params = argon2::Params::try_from(&parsed).map_err(|_| FORM.to_string())?;
    let (memory, passes) = (params.m_cost(), params.t_cost());
    if !OWASP_MINIMUMS
        .iter()
        .any(|&(m, t)| memory >= m && passes >= t)
    {
        return Err(format!(
            "ADMIN_PASSWORD_HASH is too weak (m={memory},t={passes}): use at least OWASP's m=19456,t=2,p=1"
        ));
    }
    // Passes and lanes cost time, not memory: a hash with a million passes would hold a
    // core for minutes on every login. Ten passes of OWASP's minimum memory take a few
    // hundred milliseconds; eight lanes is what RFC 9106 suggests at most.
    if passes > MAX_PASSES || params.p_cost() > MAX_LANES {
        return Err(format!(
            "ADMIN_PASSWORD_HASH takes too long per login (t={passes},p={}): at most t={MAX_PASSES},p={MAX_LANES}",
            params.p_cost()
        ));
    }
    if memory > MAX_MEMORY_KIB {
        return Err(format!(
            "ADMIN_PASSWORD_HASH asks for too much memory per login (m={memory} KiB): at most m={MAX_MEMORY_KIB} (256 MiB)"
        ));
    }
    Ok(hash.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, String> {
        Config::from_vars(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        })
    }

    #[test]
    fn port_defaults_to_3000_on_loopback() {
        let config = Config::from_vars(|_| None).expect("the defaults are valid");
        assert_eq!(
            config.addr,
            "127.0.0.1:3000".parse().expect("valid address")
        );
    }

    #[test]
    fn port_overrides_the_default() {
        let config = Config::from_vars(|name| (name == "PORT").then(|| "4000".to_string()));
        assert_eq!(config.map(|c| c.addr.port()), Ok(4000));
    }

    #[test]
    fn a_bad_port_is_a_one_line_error_naming_the_variable() {
        let err = Config::from_vars(|_| Some("eighty".to_string())).expect_err("not a number");
        assert!(err.starts_with("PORT must be"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn the_database_is_in_the_crate_folder_under_cargo_run_else_in_the_working_folder() {
        // `cargo run` names the crate's folder in `CARGO_MANIFEST_DIR` when it starts us.
        let under_cargo = Config::from_vars(|name| {
            (name == "CARGO_MANIFEST_DIR").then(|| "/course/lesson".to_string())
        });
        let alone = Config::from_vars(|_| None);
        assert_eq!(
            under_cargo.map(|c| c.database_url),
            Ok("sqlite:///course/lesson/sessions.db".to_string())
        );
        assert_eq!(
            alone.map(|c| c.database_url),
            Ok("sqlite://sessions.db".to_string())
        );
    }

    #[test]
    fn database_url_overrides_the_default() {
        let config = Config::from_vars(|name| {
            (name == "DATABASE_URL").then(|| "sqlite:///tmp/other.db".to_string())
        });
        assert_eq!(
            config.map(|c| c.database_url),
            Ok("sqlite:///tmp/other.db".to_string())
        );
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
            let err =
                with(&[("SESSION_SECRET", &STANDARD.encode(&bytes))]).expect_err("no randomness");
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
    fn a_hash_below_owasps_minimum_is_refused() {
        for settings in [
            "v=19$m=8,t=1,p=1",
            "v=19$m=19456,t=1,p=1",
            "v=19$m=12288,t=2,p=1",
        ] {
            let err =
                with(&[("ADMIN_PASSWORD_HASH", &phc("argon2id", settings))]).expect_err(settings);
            assert!(err.starts_with("ADMIN_PASSWORD_HASH is too weak"), "{err}");
        }
    }

    #[test]
    fn a_hash_of_an_old_argon2_version_is_refused() {
        for settings in ["v=16$m=19456,t=2,p=1", "m=19456,t=2,p=1"] {
            let err =
                with(&[("ADMIN_PASSWORD_HASH", &phc("argon2id", settings))]).expect_err(settings);
            assert!(err.contains("version 19"), "{err}");
        }
    }

    #[test]
    fn a_hash_that_takes_gigabytes_per_login_is_refused() {
        let hash = phc("argon2id", "v=19$m=4194304,t=1,p=1");
        let err = with(&[("ADMIN_PASSWORD_HASH", &hash)]).expect_err("4 GiB");
        assert!(err.contains("too much memory"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn printing_the_settings_shows_no_secret_and_no_database_password() {
        let secret = STANDARD.encode(random_bytes());
        let config = with(&[
            ("SESSION_SECRET", &secret),
            ("DATABASE_URL", "postgres://app:hunter2@db/sessions"),
        ])
        .expect("valid settings");

        let printed = format!("{config:?}");

        assert!(!printed.contains(&secret), "{printed}");
        assert!(!printed.contains("hunter2"), "{printed}");
    }

    #[test]
    fn a_hash_that_takes_minutes_per_login_is_refused() {
        for settings in ["v=19$m=19456,t=1000000,p=1", "v=19$m=19456,t=2,p=64"] {
            let err =
                with(&[("ADMIN_PASSWORD_HASH", &phc("argon2id", settings))]).expect_err(settings);
            assert!(err.contains("takes too long per login"), "{err}");
        }
    }

    #[test]
    fn every_byte_of_the_secret_counts() {
        let key = |bytes: &[u8]| {
            with(&[("SESSION_SECRET", &STANDARD.encode(bytes))])
                .expect("a valid secret")
                .session_secret
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
    fn owasps_equivalent_settings_and_the_demo_hash_are_accepted() {
        for settings in [
            "v=19$m=19456,t=2,p=1",
            "v=19$m=47104,t=1,p=1",
            "v=19$m=7168,t=5,p=1",
            "v=19$m=262144,t=3,p=4",
        ] {
            let hash = phc("argon2id", settings);
            assert_eq!(
                with(&[("ADMIN_PASSWORD_HASH", &hash)]).map(|c| c.admin_password_hash),
                Ok(Some(hash))
            );
        }
        assert!(with(&[("ADMIN_PASSWORD_HASH", crate::DEMO_PASSWORD_HASH)]).is_ok());
    }
}
