//! Test helpers shared by every crate that tests a listener (feature `testing`): a throwaway
//! PKI written as PEM files, and an authenticator that accepts one bearer token.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use async_trait::async_trait;
use http::HeaderMap;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use crate::auth::{AuthError, Principal, ServerAuthenticator};

/// A CA, a server certificate for `localhost`/`127.0.0.1` and a client certificate, written
/// as `ca.pem`, `server.pem`, `server.key`, `client.pem` and `client.key` into a fresh
/// directory that is removed on drop.
pub struct Pki {
    pub dir: PathBuf,
    pub ca_pem: String,
    pub server_pem: String,
    pub server_key_pem: String,
    pub client_pem: String,
    pub client_key_pem: String,
}

impl Pki {
    pub fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("spoor-pki-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, format!("spoor test ca {name}"));
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>, common_name: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, common_name);
            let cert = params.signed_by(&key, &issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_pem, server_key_pem) = leaf(vec!["localhost".into(), "127.0.0.1".into()], "localhost");
        let (client_pem, client_key_pem) = leaf(vec!["client".into()], "client");
        let pki = Self { dir, ca_pem: ca_cert.pem(), server_pem, server_key_pem, client_pem, client_key_pem };
        pki.write_files();
        pki
    }

    fn write_files(&self) {
        for (name, text) in [
            ("ca.pem", &self.ca_pem),
            ("server.pem", &self.server_pem),
            ("server.key", &self.server_key_pem),
            ("client.pem", &self.client_pem),
            ("client.key", &self.client_key_pem),
        ] {
            std::fs::write(self.dir.join(name), text).unwrap();
        }
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// The `tls` block of a server that presents this PKI's server certificate, and with
    /// `mutual` asks for a client certificate signed by its CA.
    pub fn server_tls(&self, mutual: bool) -> serde_json::Value {
        let mut tls = serde_json::json!({"cert_file": self.path("server.pem"), "key_file": self.path("server.key")});
        if mutual {
            tls["client_ca_file"] = self.path("ca.pem").into();
        }
        tls
    }

    /// Replaces this PKI's server certificate and key on disk with `other`'s, as a renewal
    /// by another CA would.
    pub fn install_server_certificate_of(&self, other: &Pki) {
        std::fs::write(self.dir.join("server.pem"), &other.server_pem).unwrap();
        std::fs::write(self.dir.join("server.key"), &other.server_key_pem).unwrap();
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Accepts requests whose `authorization` header is `Bearer <token>`.
pub struct FixedToken(pub String);

#[async_trait]
impl ServerAuthenticator for FixedToken {
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        let sent = headers.get(http::header::AUTHORIZATION).and_then(|value| value.to_str().ok());
        match sent.and_then(|value| value.strip_prefix("Bearer ")) {
            Some(token) if token == self.0 => Ok(Principal { subject: Some("test".to_owned()), groups: Vec::new() }),
            Some(_) => Err(AuthError("invalid bearer token".to_owned())),
            None => Err(AuthError("missing bearer token".to_owned())),
        }
    }
}
