//! `cargo xtask secret` and `cargo xtask hash`: step 5's two secret settings, made the
//! same way on macOS, Windows and Linux with nothing but the Rust toolchain (no `openssl`,
//! no `argon2` program to install).

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use rand::rngs::OsRng;

/// A `SESSION_SECRET`: 64 random bytes from the operating system, in base64 (what
/// `openssl rand -base64 64` prints, on one line).
pub fn secret() -> String {
    let mut bytes = [0u8; 64];
    OsRng.fill_bytes(&mut bytes);
    format!("{}\n", STANDARD.encode(bytes))
}

/// An `ADMIN_PASSWORD_HASH`: the argon2id hash of `password` with OWASP's minimum
/// settings (19 MiB of memory, 2 passes, 1 lane) and a fresh random salt, in PHC form.
pub fn hash(password: &str) -> Result<String, String> {
    let params = Params::new(19_456, 2, 1, None).map_err(|err| err.to_string())?;
    let salt = SaltString::generate(&mut OsRng);
    let hash = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .map_err(|err| format!("cannot hash the password: {err}"))?;
    Ok(format!("{hash}\n"))
}

/// The password `hash` reads: the first line of standard input, without its line break.
pub fn read_password() -> Result<String, String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        eprint!("password to hash (shown as you type; Enter to finish): ");
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|err| format!("cannot read the password: {err}"))?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err("no password given: type it after the command, then Enter".to_string());
    }
    Ok(password.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier;
    use argon2::password_hash::PasswordHash;

    #[test]
    fn a_secret_is_64_random_bytes_in_base64_on_one_line() {
        let (first, second) = (secret(), secret());
        let bytes = STANDARD.decode(first.trim_end()).expect("base64");
        assert_eq!(bytes.len(), 64);
        assert_eq!(first.lines().count(), 1);
        assert_ne!(first, second, "each secret is new");
    }

    #[test]
    fn a_hash_is_argon2id_at_owasps_minimum_and_accepts_only_its_password() {
        let printed = hash("correct horse").expect("hashed");
        let parsed = PasswordHash::new(printed.trim_end()).expect("PHC form");
        assert_eq!(parsed.algorithm, argon2::ARGON2ID_IDENT);
        assert!(
            printed.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{printed}"
        );
        let argon2 = Argon2::default();
        assert!(argon2.verify_password(b"correct horse", &parsed).is_ok());
        assert!(argon2.verify_password(b"correct horse!", &parsed).is_err());
    }
}
