//! Settings read from the environment once, at start-up.

use std::net::{Ipv4Addr, SocketAddr};

/// Everything `main` needs to start the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where to listen. Always loopback: a lesson server is not meant to be reachable
    /// from the rest of the network.
    pub addr: SocketAddr,
    /// The SQLite database that holds the sessions, as a sqlx URL
    /// (`sqlite://path/to/file.db`).
    pub database_url: String,
}

impl Config {
    /// The default port, as in the Express tutorial's `app.listen(3000)`.
    pub const DEFAULT_PORT: u16 = 3000;

    /// Reads `PORT` and `DATABASE_URL` from the process environment.
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
        Ok(Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            database_url,
        })
    }
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
