//! A self-signed certificate for `localhost`, made at start and kept in memory.
//!
//! A certificate binds a name (`localhost`) to a public key, and is normally signed by an
//! authority the browser already trusts: that signature is what lets the browser believe
//! it is talking to the real site. Nobody can get such a certificate for `localhost` (no
//! authority vouches for a name every computer has), so this one is signed by its own key:
//! "self-signed". The connection is still encrypted, but the browser cannot tell who made
//! the certificate, so it warns once and asks you to decide. You can: you just started the
//! program that made it, and its fingerprint is printed in your terminal.

use std::sync::Arc;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

/// The names the certificate is valid for: what a browser on this computer may type.
pub const NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// How long the certificate is valid. It lives only as long as the program, so a month
/// is plenty; Apple's systems refuse server certificates valid for more than 825 days.
const VALID_FOR: Duration = Duration::days(30);

/// The certificate and its private key. The key never leaves this process: no file is
/// written, and a new pair is made at every start.
pub struct SelfSigned {
    /// The certificate in DER, as sent to the browser in the TLS handshake.
    pub cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl SelfSigned {
    /// Makes a new key pair (ECDSA P-256) and a certificate for [`NAMES`] signed with it.
    pub fn generate() -> Result<Self, rcgen::Error> {
        let mut params = CertificateParams::new(NAMES.map(String::from))?;
        let mut name = DistinguishedName::new();
        // What the browser's certificate view shows as the certificate's name.
        name.push(DnType::CommonName, "localhost (local-https, self-signed)");
        params.distinguished_name = name;
        // Valid from a day ago, so a clock a little behind does not reject it.
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + VALID_FOR;
        // A certificate for a web server, not for signing other certificates. Safari
        // refuses a server certificate that does not say "server authentication".
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];

        let key_pair = KeyPair::generate()?;
        let cert = params.self_signed(&key_pair)?;
        Ok(Self {
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key_pair.serialize_der()),
        })
    }

    /// The SHA-256 of the certificate, as browsers show it in their certificate view
    /// ("SHA-256 Fingerprint"): 32 bytes in hex, two digits each, separated by spaces.
    /// The same numbers there and in the terminal mean the browser got this certificate
    /// and not another one.
    pub fn sha256_fingerprint(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.cert.as_ref());
        let pairs: Vec<String> = digest
            .as_ref()
            .iter()
            .map(|byte| format!("{byte:02X}"))
            .collect();
        pairs.join(" ")
    }

    /// The TLS settings of the server side: this certificate and key, TLS 1.2 and 1.3
    /// with rustls' safe defaults, the `ring` crypto provider named explicitly (so nothing
    /// depends on which provider happens to be compiled in), and HTTP/1.1 announced as the
    /// only protocol, since that is all the proxy speaks.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert.clone()],
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_32_hex_pairs_and_differs_for_each_certificate() {
        let first = SelfSigned::generate().expect("certificate");
        let second = SelfSigned::generate().expect("certificate");
        let fingerprint = first.sha256_fingerprint();
        let pairs: Vec<&str> = fingerprint.split(' ').collect();
        assert_eq!(pairs.len(), 32, "{fingerprint}");
        assert!(
            pairs
                .iter()
                .all(|pair| pair.len() == 2 && pair.chars().all(|c| c.is_ascii_hexdigit())),
            "{fingerprint}"
        );
        assert_ne!(fingerprint, second.sha256_fingerprint());
    }
}
