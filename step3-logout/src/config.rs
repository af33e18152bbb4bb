//! Settings read from the environment once, at start-up.

use std::net::{Ipv4Addr, SocketAddr};

/// Everything `main` needs to start the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where to listen. Always loopback: a lesson server is not meant to be reachable
    /// from the rest of the network.
    pub addr: SocketAddr,
}

impl Config {
    /// The default port, as in the Express tutorial's `app.listen(3000)`.
    pub const DEFAULT_PORT: u16 = 3000;

    /// Reads `PORT` from the process environment.
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
        Ok(Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
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
}
