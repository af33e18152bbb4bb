//! The two ports, read from the environment.

use std::net::{Ipv4Addr, SocketAddr};

/// Where the proxy listens and where it forwards to. Both are on loopback: the proxy is for
/// a browser on this computer, and the lesson servers listen on `127.0.0.1` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `HTTPS_PORT`: the port of `https://localhost:PORT`.
    pub https_port: u16,
    /// `TARGET_PORT`: the port the lesson's app listens on (its own `PORT` setting).
    pub target_port: u16,
}

impl Settings {
    /// 3443, the usual "HTTPS for development" port next to 443.
    pub const DEFAULT_HTTPS_PORT: u16 = 3443;
    /// 3000, where every lesson listens unless its `PORT` says otherwise.
    pub const DEFAULT_TARGET_PORT: u16 = 3000;

    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, String> {
        // A value that is not valid UTF-8 is read lossily, so it is reported as a bad
        // value instead of being taken as "not set".
        Self::from_vars(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// Reads the settings through `var`, so tests can pass their own environment. The
    /// error is one line that names the variable and says what it must be.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        // A variable set to nothing counts as not set, as shells make that easy to do.
        let var = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        let port = |name: &str, default: u16, lowest: u16| match var(name) {
            None => Ok(default),
            Some(value) => value
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|port| *port >= lowest)
                .ok_or_else(|| {
                    format!("{name} must be a whole number from {lowest} to 65535, not {value:?}")
                }),
        };
        // `HTTPS_PORT=0` lets the system pick a free port (the start-up lines show it);
        // the app's port must be a real one.
        let https_port = port("HTTPS_PORT", Self::DEFAULT_HTTPS_PORT, 0)?;
        let target_port = port("TARGET_PORT", Self::DEFAULT_TARGET_PORT, 1)?;
        if https_port == target_port {
            return Err(format!(
                "HTTPS_PORT and TARGET_PORT must differ (both are {https_port}): the app \
                 listens on TARGET_PORT, this proxy on HTTPS_PORT"
            ));
        }
        Ok(Self {
            https_port,
            target_port,
        })
    }

    /// Where the proxy listens: loopback only, so nothing on the network can reach it.
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.https_port))
    }

    /// Where the app listens.
    pub fn target_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.target_port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<Settings, String> {
        Settings::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn without_settings_it_listens_on_3443_and_forwards_to_3000() {
        let settings = from(&[]).expect("defaults");
        assert_eq!(settings.listen_addr().to_string(), "127.0.0.1:3443");
        assert_eq!(settings.target_addr().to_string(), "127.0.0.1:3000");
    }

    #[test]
    fn both_ports_can_be_set() {
        let settings =
            from(&[("HTTPS_PORT", "8443"), ("TARGET_PORT", " 4000 ")]).expect("valid ports");
        assert_eq!(settings.listen_addr().to_string(), "127.0.0.1:8443");
        assert_eq!(settings.target_addr().to_string(), "127.0.0.1:4000");
    }

    #[test]
    fn a_bad_port_is_one_line_that_names_the_variable() {
        for (name, value) in [
            ("HTTPS_PORT", "https"),
            ("HTTPS_PORT", "70000"),
            ("TARGET_PORT", "0"),
            ("TARGET_PORT", "-1"),
        ] {
            let err = from(&[(name, value)]).expect_err(value);
            assert!(err.starts_with(&format!("{name} must be")), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn the_proxy_cannot_forward_to_its_own_port() {
        let err = from(&[("HTTPS_PORT", "3000")]).expect_err("same port");
        assert!(err.contains("must differ"), "{err}");
    }
}
