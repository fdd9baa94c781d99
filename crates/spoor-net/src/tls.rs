//! TLS settings in the collector's `configtls` shape, shared by every listener (server side)
//! and the exporters (client side), and turned into rustls configs from PEM files or inline PEM.
//! A server's files are read again while it runs ([`ServerTls`]), so a renewed certificate is
//! served without a restart.
//!
//! Every config is built on the `ring` provider explicitly, so nothing depends on a
//! process-wide default provider being installed.

use std::io::BufReader;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(pub String);

/// The collector's `tls` block. On a server, `cert_file`/`key_file` are required and
/// `client_ca_file` turns on mutual TLS. On a client, `ca_file` replaces the built-in roots,
/// `insecure: true` means plaintext and `insecure_skip_verify` skips server verification.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// PEM file of CAs that verify the peer (a client's view of the server).
    pub ca_file: Option<String>,
    /// Inline PEM, instead of `ca_file`.
    pub ca_pem: Option<String>,
    /// Also trust the built-in web PKI roots when `ca_file` is set.
    pub include_system_ca_certs_pool: bool,
    /// PEM certificate chain of this side.
    pub cert_file: Option<String>,
    pub cert_pem: Option<String>,
    /// PEM private key of this side (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<String>,
    pub key_pem: Option<String>,
    /// Server only: PEM file of CAs that client certificates must chain to (mutual TLS).
    pub client_ca_file: Option<String>,
    /// Server only: read `client_ca_file` again when it changes (checked every second).
    pub client_ca_file_reload: bool,
    /// Client only: plaintext connection (no TLS at all).
    pub insecure: bool,
    /// Client only: do not verify the server's certificate.
    pub insecure_skip_verify: bool,
    /// Client only: the name checked against the server's certificate.
    pub server_name_override: Option<String>,
    /// `"1.2"` (the default) or `"1.3"`; older versions are not supported by rustls.
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    /// TLS 1.2 cipher suites to allow, by Go's names (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`);
    /// TLS 1.3's are always on, as in Go. Unknown or unsupported names are config errors.
    pub cipher_suites: Vec<String>,
    /// Key-exchange groups in order of preference: `X25519`, `P256`, `P384`.
    pub curve_preferences: Vec<String>,
    /// Server only: how often the certificate, key and CA files are checked and, when they
    /// changed, read again; never when unset.
    #[serde(with = "spoor_config::duration::option")]
    pub reload_interval: Option<Duration>,
}

impl TlsSettings {
    /// A server config that presents `cert_file`/`key_file`, requires client certificates when
    /// `client_ca_file` is set, and offers `alpn` protocols (e.g. `h2`, `http/1.1`).
    pub fn server_config(&self, alpn: &[&[u8]]) -> Result<ServerConfig, TlsError> {
        let chain = self.own_certificates()?;
        let key = self.own_key()?;
        let (Some(chain), Some(key)) = (chain, key) else {
            return Err(TlsError("tls: cert_file and key_file are required on a server".to_owned()));
        };
        let provider = self.provider()?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&self.protocol_versions()?)
            .map_err(|err| TlsError(format!("tls: {err}")))?;
        let builder = match &self.client_ca_file {
            Some(path) => {
                let roots = root_store(load_certificates(&read_file(path)?, path)?)?;
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|err| TlsError(format!("tls: client_ca_file {path}: {err}")))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|err| TlsError(format!("tls: invalid certificate or key: {err}")))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }

    /// A client config, or `None` when `insecure: true` asks for plaintext.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Result<Option<ClientConfig>, TlsError> {
        if self.insecure {
            return Ok(None);
        }
        let provider = self.provider()?;
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&self.protocol_versions()?)
            .map_err(|err| TlsError(format!("tls: {err}")))?;
        let builder = if self.insecure_skip_verify {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(SkipServerVerification {
                algorithms: provider.signature_verification_algorithms,
            }))
        } else {
            builder.with_root_certificates(self.client_roots()?)
        };
        let mut config = match (self.own_certificates()?, self.own_key()?) {
            (Some(chain), Some(key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|err| TlsError(format!("tls: invalid client certificate or key: {err}")))?,
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err(TlsError("tls: cert_file and key_file must be set together".to_owned()));
            }
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Some(config))
    }

    fn client_roots(&self) -> Result<RootCertStore, TlsError> {
        let custom = match (&self.ca_file, &self.ca_pem) {
            (Some(path), _) => Some(load_certificates(&read_file(path)?, path)?),
            (None, Some(pem)) => Some(load_certificates(pem.as_bytes(), "ca_pem")?),
            (None, None) => None,
        };
        let mut roots = RootCertStore::empty();
        if custom.is_none() || self.include_system_ca_certs_pool {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for cert in custom.unwrap_or_default() {
            roots.add(cert).map_err(|err| TlsError(format!("tls: invalid CA certificate: {err}")))?;
        }
        Ok(roots)
    }

    fn own_certificates(&self) -> Result<Option<Vec<CertificateDer<'static>>>, TlsError> {
        match (&self.cert_file, &self.cert_pem) {
            (Some(path), _) => load_certificates(&read_file(path)?, path).map(Some),
            (None, Some(pem)) => load_certificates(pem.as_bytes(), "cert_pem").map(Some),
            (None, None) => Ok(None),
        }
    }

    fn own_key(&self) -> Result<Option<PrivateKeyDer<'static>>, TlsError> {
        match (&self.key_file, &self.key_pem) {
            (Some(path), _) => load_key(&read_file(path)?, path).map(Some),
            (None, Some(pem)) => load_key(pem.as_bytes(), "key_pem").map(Some),
            (None, None) => Ok(None),
        }
    }

    /// Checks `min_version`/`max_version` without reading any file.
    pub fn check_versions(&self) -> Result<(), TlsError> {
        self.protocol_versions().map(drop)
    }

    fn protocol_versions(&self) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, TlsError> {
        let min = parse_version(self.min_version.as_deref(), 12)?;
        let max = parse_version(self.max_version.as_deref(), 13)?;
        let versions: Vec<_> = [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (min..=max).contains(v))
            .map(|(_, version)| version)
            .collect();
        if versions.is_empty() {
            return Err(TlsError("tls: min_version is greater than max_version".to_owned()));
        }
        Ok(versions)
    }

    /// Checks `cipher_suites` and `curve_preferences` without reading any file.
    pub fn check_algorithms(&self) -> Result<(), TlsError> {
        self.provider().map(drop)
    }

    /// The `ring` provider, narrowed to `cipher_suites` and ordered by `curve_preferences`. As
    /// in Go's crypto/tls, the list applies to TLS 1.2 only: TLS 1.3's suites are always on.
    fn provider(&self) -> Result<Arc<CryptoProvider>, TlsError> {
        let mut provider = rustls::crypto::ring::default_provider();
        if !self.cipher_suites.is_empty() {
            for name in &self.cipher_suites {
                let known = provider.cipher_suites.iter().any(|suite| suite_name(suite) == go_suite_name(name));
                if !known {
                    return Err(TlsError(format!("tls: cipher_suites: unsupported cipher suite {name:?}")));
                }
            }
            provider.cipher_suites.retain(|suite| {
                suite.version() == &rustls::version::TLS13
                    || self.cipher_suites.iter().any(|name| suite_name(suite) == go_suite_name(name))
            });
        }
        if !self.curve_preferences.is_empty() {
            let mut groups = Vec::with_capacity(self.curve_preferences.len());
            for name in &self.curve_preferences {
                let wanted = match name.as_str() {
                    "X25519" => rustls::NamedGroup::X25519,
                    "P256" | "P-256" => rustls::NamedGroup::secp256r1,
                    "P384" | "P-384" => rustls::NamedGroup::secp384r1,
                    other => {
                        return Err(TlsError(format!(
                            "tls: curve_preferences: unsupported curve {other:?} (X25519, P256 or P384)"
                        )));
                    }
                };
                groups.extend(provider.kx_groups.iter().find(|group| group.name() == wanted).copied());
            }
            provider.kx_groups = groups;
        }
        Ok(Arc::new(provider))
    }
}

/// A suite's IANA name as rustls spells it (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`).
fn suite_name(suite: &rustls::SupportedCipherSuite) -> String {
    format!("{:?}", suite.suite())
}

/// Go's spelling of a suite as the IANA name: Go leaves `_SHA256` off the ChaCha20 suites.
fn go_suite_name(name: &str) -> String {
    match name.trim() {
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256".to_owned(),
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256".to_owned(),
        other => other.to_owned(),
    }
}

fn parse_version(text: Option<&str>, default: u8) -> Result<u8, TlsError> {
    match text.map(str::trim) {
        None | Some("") => Ok(default),
        Some("1.2") => Ok(12),
        Some("1.3") => Ok(13),
        Some("1.0" | "1.1") => Ok(12).inspect(|_| {
            tracing::warn!("tls: TLS 1.0 and 1.1 are not supported; using 1.2 as the minimum");
        }),
        Some(other) => Err(TlsError(format!("tls: unsupported TLS version {other:?} (use \"1.2\" or \"1.3\")"))),
    }
}

fn read_file(path: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|err| TlsError(format!("tls: cannot read {path}: {err}")))
}

fn load_certificates(pem: &[u8], source: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut BufReader::new(pem))
        .collect::<Result<_, _>>()
        .map_err(|err| TlsError(format!("tls: invalid PEM in {source}: {err}")))?;
    if certs.is_empty() {
        return Err(TlsError(format!("tls: no certificate found in {source}")));
    }
    Ok(certs)
}

fn load_key(pem: &[u8], source: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    rustls_pemfile::private_key(&mut BufReader::new(pem))
        .map_err(|err| TlsError(format!("tls: invalid PEM in {source}: {err}")))?
        .ok_or_else(|| TlsError(format!("tls: no private key found in {source}")))
}

fn root_store(certs: Vec<CertificateDer<'static>>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|err| TlsError(format!("tls: invalid CA certificate: {err}")))?;
    }
    Ok(roots)
}

/// `insecure_skip_verify`: accepts any server certificate but still checks that the handshake
/// is signed by it, as Go's `InsecureSkipVerify` does.
#[derive(Debug)]
struct SkipServerVerification {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for SkipServerVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unknown_keys() {
        let err = serde_json::from_value::<TlsSettings>(serde_json::json!({"cert": "x"}));
        assert!(err.is_err());
    }

    #[test]
    fn insecure_client_is_plaintext() {
        let settings = TlsSettings { insecure: true, ..Default::default() };
        assert!(settings.client_config(&[]).unwrap().is_none());
    }

    #[test]
    fn server_needs_certificate_and_key() {
        let err = TlsSettings::default().server_config(&[]).unwrap_err();
        assert!(err.0.contains("cert_file and key_file"), "{err}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let settings = TlsSettings {
            cert_file: Some("/nonexistent/cert.pem".to_owned()),
            key_file: Some("/nonexistent/key.pem".to_owned()),
            ..Default::default()
        };
        let err = settings.server_config(&[]).unwrap_err();
        assert!(err.0.contains("/nonexistent/cert.pem"), "{err}");
    }

    #[test]
    fn version_bounds() {
        let settings = TlsSettings { min_version: Some("1.3".to_owned()), ..Default::default() };
        assert_eq!(settings.protocol_versions().unwrap().len(), 1);
        let settings = TlsSettings {
            min_version: Some("1.3".to_owned()),
            max_version: Some("1.2".to_owned()),
            ..Default::default()
        };
        assert!(settings.protocol_versions().is_err());
    }

    /// Runs a TLS handshake in memory; returns the suite agreed, or the first error.
    fn handshake(server: ServerConfig, client: ClientConfig) -> Result<rustls::CipherSuite, String> {
        let name = ServerName::try_from("localhost").unwrap();
        let mut server = rustls::ServerConnection::new(Arc::new(server)).unwrap();
        let mut client = rustls::ClientConnection::new(Arc::new(client), name).unwrap();
        for _ in 0..10 {
            let mut bytes = Vec::new();
            client.write_tls(&mut bytes).unwrap();
            server.read_tls(&mut bytes.as_slice()).unwrap();
            server.process_new_packets().map_err(|err| err.to_string())?;
            let mut bytes = Vec::new();
            server.write_tls(&mut bytes).unwrap();
            client.read_tls(&mut bytes.as_slice()).unwrap();
            client.process_new_packets().map_err(|err| err.to_string())?;
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok(client.negotiated_cipher_suite().unwrap().suite());
            }
        }
        Err("handshake did not finish".to_owned())
    }

    #[test]
    fn cipher_suites_and_curves_narrow_what_is_negotiated() {
        let pki = crate::testing::Pki::new("suites");
        let server = |suites: &[&str], curves: &[&str]| TlsSettings {
            cert_file: Some(pki.path("server.pem")),
            key_file: Some(pki.path("server.key")),
            max_version: Some("1.2".to_owned()),
            cipher_suites: suites.iter().map(|s| (*s).to_owned()).collect(),
            curve_preferences: curves.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        };
        let client = |suites: &[&str]| {
            let settings = TlsSettings {
                ca_file: Some(pki.path("ca.pem")),
                cipher_suites: suites.iter().map(|s| (*s).to_owned()).collect(),
                ..Default::default()
            };
            settings.client_config(&[]).unwrap().unwrap()
        };
        let aes128 = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256";
        let chacha = "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305";
        let agreed = handshake(server(&[aes128], &[]).server_config(&[]).unwrap(), client(&[])).unwrap();
        assert_eq!(agreed, rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
        let agreed = handshake(server(&[chacha], &["P256"]).server_config(&[]).unwrap(), client(&[])).unwrap();
        assert_eq!(agreed, rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256);
        assert!(handshake(server(&[aes128], &[]).server_config(&[]).unwrap(), client(&[chacha])).is_err());

        let unknown = server(&["TLS_RSA_WITH_RC4_128_SHA"], &[]).check_algorithms().unwrap_err();
        assert!(unknown.0.contains("cipher_suites"), "{unknown}");
        let curve = server(&[], &["P521"]).check_algorithms().unwrap_err();
        assert!(curve.0.contains("curve_preferences"), "{curve}");
    }
}
