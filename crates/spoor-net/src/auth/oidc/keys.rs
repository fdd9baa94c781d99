//! The issuer's public keys: a JWKS from a local file (`public_keys_file`), or discovered at
//! `{issuer}/.well-known/openid-configuration` → `jwks_uri` and cached, fetched again when a
//! token names a key the cache does not have (the issuer rotated its keys).

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use super::super::AuthError;
use super::super::watched_file::WatchedFile;

/// At most one fetch per this interval, so tokens with made-up key ids cannot make the
/// collector hammer the issuer.
pub(crate) const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

const RSA_ALGORITHMS: &[Algorithm] =
    &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::PS384, Algorithm::PS512];

/// The signature algorithms accepted: asymmetric only, as the collector's.
pub(crate) fn is_supported(algorithm: Algorithm) -> bool {
    RSA_ALGORITHMS.contains(&algorithm) || matches!(algorithm, Algorithm::ES256 | Algorithm::ES384 | Algorithm::EdDSA)
}

struct VerifyKey {
    kid: Option<String>,
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

/// The usable signing keys of one JWKS.
pub(crate) struct KeySet {
    keys: Vec<VerifyKey>,
}

#[derive(Deserialize)]
struct RawKeySet {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// Parses a JWKS, skipping encryption keys, symmetric keys and key types it cannot use; a
    /// set left with no key is an error.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let raw: RawKeySet = serde_json::from_str(text).map_err(|err| format!("invalid JWKS: {err}"))?;
        let keys: Vec<VerifyKey> = raw.keys.into_iter().filter_map(verify_key).collect();
        if keys.is_empty() {
            return Err("the JWKS has no supported signing key".to_owned());
        }
        Ok(Self { keys })
    }

    fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|key| key.kid.as_deref() == Some(kid))
    }

    /// The keys that may have signed a token with this header: the one its `kid` names (any key
    /// when it names none) that can verify `algorithm`.
    pub(crate) fn candidates(&self, kid: Option<&str>, algorithm: Algorithm) -> Vec<&DecodingKey> {
        self.keys
            .iter()
            .filter(|key| kid.is_none() || key.kid.as_deref() == kid)
            .filter(|key| key.algorithms.contains(&algorithm))
            .map(|key| &key.key)
            .collect()
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.keys.iter().map(|key| (&key.kid, &key.algorithms))).finish()
    }
}

fn verify_key(value: serde_json::Value) -> Option<VerifyKey> {
    if value.get("use").and_then(|u| u.as_str()).is_some_and(|u| u != "sig") {
        return None;
    }
    let declared = value.get("alg").and_then(|a| a.as_str()).map(|a| Algorithm::from_str(a).ok());
    let jwk: Jwk = serde_json::from_value(value).ok()?;
    let family: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => RSA_ALGORITHMS.to_vec(),
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => vec![Algorithm::EdDSA],
        _ => return None,
    };
    let algorithms = match declared {
        None => family,
        Some(Some(algorithm)) if family.contains(&algorithm) => vec![algorithm],
        Some(_) => return None,
    };
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some(VerifyKey { kid: jwk.common.key_id, key, algorithms })
}

/// Where a provider's keys come from.
#[derive(Debug)]
pub(crate) enum KeySource {
    File(WatchedFile<KeySet>),
    Remote(RemoteKeys),
}

impl KeySource {
    /// The keys to check a token whose header names `kid`.
    pub(crate) async fn key_set(&self, kid: Option<&str>) -> Result<Arc<KeySet>, AuthError> {
        match self {
            Self::File(file) => Ok(file.current()),
            Self::Remote(remote) => remote.key_set(kid).await,
        }
    }
}

/// Keys discovered from the issuer and cached.
pub(crate) struct RemoteKeys {
    issuer: String,
    client: reqwest::Client,
    refetch_after: Duration,
    cached: RwLock<Option<Arc<KeySet>>>,
    fetch: tokio::sync::Mutex<FetchState>,
}

#[derive(Default)]
struct FetchState {
    jwks_uri: Option<String>,
    attempted_at: Option<Instant>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl RemoteKeys {
    /// `ca_pem` adds CA certificates for the issuer's HTTPS (`issuer_ca_path`).
    pub(crate) fn new(issuer: &str, ca_pem: Option<&[u8]>, refetch_after: Duration) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder().timeout(FETCH_TIMEOUT);
        if let Some(pem) = ca_pem {
            let certificates =
                reqwest::Certificate::from_pem_bundle(pem).map_err(|err| format!("invalid PEM certificates: {err}"))?;
            if certificates.is_empty() {
                return Err("holds no PEM certificate".to_owned());
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let client = builder.build().map_err(|err| format!("cannot build the HTTP client: {err}"))?;
        Ok(Self {
            issuer: issuer.to_owned(),
            client,
            refetch_after,
            cached: RwLock::new(None),
            fetch: tokio::sync::Mutex::new(FetchState::default()),
        })
    }

    fn cached(&self, kid: Option<&str>) -> Option<Arc<KeySet>> {
        let cached = self.cached.read().unwrap_or_else(PoisonError::into_inner).clone()?;
        (kid.is_none_or(|kid| cached.has_kid(kid))).then_some(cached)
    }

    async fn key_set(&self, kid: Option<&str>) -> Result<Arc<KeySet>, AuthError> {
        if let Some(keys) = self.cached(kid) {
            return Ok(keys);
        }
        let mut state = self.fetch.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(keys) = self.cached(kid) {
            return Ok(keys);
        }
        let stale = self.cached.read().unwrap_or_else(PoisonError::into_inner).clone();
        if state.attempted_at.is_some_and(|at| at.elapsed() < self.refetch_after) {
            return stale.ok_or_else(keys_unavailable);
        }
        state.attempted_at = Some(Instant::now());
        match self.fetch_keys(&mut state).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                *self.cached.write().unwrap_or_else(PoisonError::into_inner) = Some(keys.clone());
                Ok(keys)
            }
            Err(message) => {
                tracing::warn!(issuer = %self.issuer, %message, "cannot fetch the OIDC issuer's keys");
                // Forget the discovered URI: the issuer may have moved it.
                state.jwks_uri = None;
                stale.ok_or_else(keys_unavailable)
            }
        }
    }

    async fn fetch_keys(&self, state: &mut FetchState) -> Result<KeySet, String> {
        let jwks_uri = match &state.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let url = format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'));
                let discovery: Discovery =
                    serde_json::from_slice(&self.get(&url).await?).map_err(|err| format!("{url}: {err}"))?;
                if discovery.issuer != self.issuer {
                    return Err(format!("{url}: issuer {:?} does not match the configured one", discovery.issuer));
                }
                state.jwks_uri = Some(discovery.jwks_uri.clone());
                discovery.jwks_uri
            }
        };
        let body = self.get(&jwks_uri).await?;
        let text = std::str::from_utf8(&body).map_err(|_| format!("{jwks_uri}: not UTF-8"))?;
        KeySet::parse(text).map_err(|message| format!("{jwks_uri}: {message}"))
    }

    async fn get(&self, url: &str) -> Result<bytes::Bytes, String> {
        let response = self.client.get(url).send().await.map_err(|err| format!("{url}: {err}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("{url}: HTTP {status}"));
        }
        response.bytes().await.map_err(|err| format!("{url}: {err}"))
    }
}

impl fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKeys").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

fn keys_unavailable() -> AuthError {
    AuthError("the issuer's keys are unavailable".to_owned())
}
