//! Settings read from the environment once, at start-up.
//!
//! Every setting has a default that is fine in a classroom; the two that matter in
//! production (the cookie key, the password hash) say so in the log when they are left
//! out. A setting that is present but wrong stops the server with one line that names it:
//! a typo must never quietly fall back to a weaker default.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use argon2::PasswordHash;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use tower_sessions::cookie::Key;

/// Everything `main` needs to start the server. The two secrets are `secrecy` types, so
/// printing a `Config` (in a log line, a panic, a failed test) shows `[REDACTED]` in their
/// place, never the value.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen. Always loopback: a lesson server is not meant to be reachable
    /// from the rest of the network.
    pub addr: SocketAddr,
    /// The SQLite database that holds the sessions, as a sqlx URL
    /// (`sqlite://path/to/file.db`).
    pub database_url: String,
    /// The random bytes the cookie-signing key is made from (`SESSION_SECRET`); `None`
    /// means a random key made at start-up.
    pub session_secret: Option<SecretSlice<u8>>,
    /// A session ends after this long without a request (`SESSION_IDLE_TIMEOUT_SECS`).
    pub idle_timeout: Duration,
    /// A session ends this long after login, however active (`SESSION_ABSOLUTE_TIMEOUT_SECS`).
    pub absolute_timeout: Duration,
    /// The demo user's password as an argon2id hash in PHC form (`ADMIN_PASSWORD_HASH`);
    /// `None` means the built-in hash of the demo password `1234`.
    pub admin_password_hash: Option<SecretString>,
}

impl Config {
    /// The default port, as in the Express tutorial's `app.listen(3000)`.
    pub const DEFAULT_PORT: u16 = 3000;

    /// OWASP ASVS 3.3.2 (level 2): at most 30 minutes without activity.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

    /// OWASP's session cheat sheet: 4 to 8 hours for an application used through a
    /// working day; after that, log in again whatever you were doing.
    pub const DEFAULT_ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(8 * 60 * 60);

    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `var`, so tests can pass their own environment.
    /// The error is one line that names the variable and says what it must be.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
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
            .filter(|url| !url.trim().is_empty())
            .or_else(|| var("CARGO_MANIFEST_DIR").map(|dir| format!("sqlite://{dir}/sessions.db")))
            .unwrap_or_else(|| "sqlite://sessions.db".to_string());
        // sqlx would take a bare word as a file name and create it; insist on the scheme
        // so a typo or a URL for another database is reported, not obeyed.
        if !database_url.starts_with("sqlite:") {
            return Err(format!(
                "DATABASE_URL must be a SQLite URL such as sqlite://sessions.db, not {database_url:?}"
            ));
        }
        // A blank timeout counts as not set, as shells make that easy to do. A blank secret
        // is an error: taken as unset, a blank `ADMIN_PASSWORD_HASH` would quietly let the
        // demo password `1234` in.
        let set = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        let session_secret = var("SESSION_SECRET")
            .map(|value| parse_secret(&value))
            .transpose()?;
        let idle_timeout = seconds(
            set("SESSION_IDLE_TIMEOUT_SECS"),
            "SESSION_IDLE_TIMEOUT_SECS",
        )?
        .unwrap_or(Self::DEFAULT_IDLE_TIMEOUT);
        let absolute_timeout = seconds(
            set("SESSION_ABSOLUTE_TIMEOUT_SECS"),
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
        let admin_password_hash = var("ADMIN_PASSWORD_HASH")
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

    /// The key that signs the session cookies, made from `SESSION_SECRET`; `None` if it is
    /// not set.
    pub fn cookie_key(&self) -> Option<Key> {
        // The key is derived from the whole secret (HKDF, a standard key derivation), so
        // every byte of it counts. Taken as it is, only its first 32 bytes would sign the
        // cookie, and a secret of 32 zero bytes followed by random ones would pass the
        // checks below and sign with a key of zeros.
        let secret = self.session_secret.as_ref()?;
        Some(Key::derive_from(secret.expose_secret()))
    }
}

/// Decodes `SESSION_SECRET`. The error never repeats the value: it is a secret.
fn parse_secret(value: &str) -> Result<SecretSlice<u8>, String> {
    const HOW: &str = "make one with: cargo xtask secret";
    // `openssl rand -base64` wraps its output into lines; the line breaks are not data.
    let compact: String = value.split_whitespace().collect();
    let bytes = STANDARD
        .decode(compact)
        .map_err(|_| format!("SESSION_SECRET must be base64 ({HOW})"))?;
    // The cookie crate derives a signing and an encryption key of 32 bytes each from it.
    if bytes.len() < 64 {
        return Err(format!(
            "SESSION_SECRET must hold at least 64 random bytes, it holds {} ({HOW})",
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
    Ok(bytes.into())
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

/// Accepts only an argon2id hash in PHC form (`$argon2id$v=19$m=...`) at least as costly
/// as OWASP's minimum: 19 MiB of memory and 2 passes. A costlier hash is the owner's
/// choice: it makes each login slower, and the password check runs only a few at once
/// (`password.rs`), so it cannot take the server's memory with it.
fn check_hash(hash: &str) -> Result<SecretString, String> {
    const FORM: &str = "ADMIN_PASSWORD_HASH must be an argon2id hash in PHC form \
                        ($argon2id$v=19$m=...), at least m=19456,t=2 (make one with: cargo xtask hash)";
    let hash = hash.trim();
    let parsed = PasswordHash::new(hash).map_err(|_| FORM.to_string())?;
    let params = argon2::Params::try_from(&parsed).map_err(|_| FORM.to_string())?;
    // Version 19 (0x13) is the current one; 0x10 has a known weakness, and a hash without
    // `v=` is read as 0x10.
    if parsed.algorithm != argon2::ARGON2ID_IDENT
        || parsed.version != Some(19)
        || params.m_cost() < 19_456
        || params.t_cost() < 2
    {
        return Err(FORM.to_string());
    }
    Ok(hash.into())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let url = "sqlite:///tmp/other.db".to_string();
        let config = Config::from_vars(|name| (name == "DATABASE_URL").then(|| url.clone()));
        assert_eq!(config.map(|c| c.database_url), Ok(url));
    }

    #[test]
    fn a_database_url_for_another_database_is_refused() {
        let url = "postgres://localhost/sessions".to_string();
        let err = Config::from_vars(|name| (name == "DATABASE_URL").then(|| url.clone()))
            .expect_err("not SQLite");
        assert!(
            err.starts_with("DATABASE_URL must be a SQLite URL"),
            "{err}"
        );
    }
}
