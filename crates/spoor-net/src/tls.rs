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
    /// Accepted for compatibility and ignored with a warning: rustls picks safe suites.
    pub cipher_suites: Vec<String>,
    /// Accepted for compatibility and ignored with a warning: rustls picks the curves.
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
        self.warn_ignored();
        let chain = self.own_certificates()?;
        let key = self.own_key()?;
        let (Some(chain), Some(key)) = (chain, key) else {
            return Err(TlsError("tls: cert_file and key_file are required on a server".to_owned()));
        };
        let provider = provider();
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
        self.warn_ignored();
        let provider = provider();
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

    fn warn_ignored(&self) {
        if !self.cipher_suites.is_empty() || !self.curve_preferences.is_empty() {
            tracing::warn!("tls: cipher_suites and curve_preferences are ignored; rustls chooses them");
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
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
}
