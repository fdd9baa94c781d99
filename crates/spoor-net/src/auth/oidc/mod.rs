//! `oidc`: checks the JWT in `Authorization: Bearer …` against an OpenID Connect issuer, as
//! collector-contrib's oidcauthextension: the signature (RSA, ECDSA P-256/P-384, Ed25519), `iss`,
//! `aud`, `exp` and `nbf`. A server authenticator only.

mod config;
mod keys;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderName};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

pub use config::{OidcAuthConfig, OidcProviderConfig};
use keys::{DEFAULT_REFETCH_INTERVAL, KeySet, KeySource, RemoteKeys, is_supported};

use super::watched_file::{DEFAULT_CHECK_INTERVAL, WatchedFile};
use super::{AuthError, Principal, ServerAuthenticator};
use crate::ConfigProblem;

/// How far in the future a token's `nbf` may be, for clocks that disagree (go-oidc's skew).
const NOT_BEFORE_SKEW: Duration = Duration::from_secs(300);

type Claims = Map<String, Value>;

#[derive(Debug)]
pub struct OidcAuthenticator {
    attribute: HeaderName,
    providers: Vec<Provider>,
}

#[derive(Debug)]
struct Provider {
    issuer: String,
    audience: Option<String>,
    username_claim: String,
    groups_claim: Option<String>,
    keys: KeySource,
}

impl OidcAuthenticator {
    /// Builds from a config: validates it, reads the key files and CA files. Remote keys are
    /// fetched on the first token, so a collector starts while its issuer is still down.
    pub fn new(config: &OidcAuthConfig) -> Result<Self, ConfigProblem> {
        Self::with_intervals(config, DEFAULT_REFETCH_INTERVAL)
    }

    pub(crate) fn with_intervals(config: &OidcAuthConfig, refetch_after: Duration) -> Result<Self, ConfigProblem> {
        config.validate()?;
        let attribute = HeaderName::try_from(config.attribute.as_str())
            .map_err(|_| ConfigProblem::new("attribute", "is not a valid header name"))?;
        let providers = config
            .provider_configs()
            .iter()
            .map(|(path, provider)| Provider::new(provider, refetch_after).map_err(|p| p.within(path)))
            .collect::<Result<_, _>>()?;
        Ok(Self { attribute, providers })
    }

    /// The provider whose issuer signed the token, read from the unverified `iss`: it only picks
    /// whose keys and rules verify the token.
    fn provider_for(&self, token: &str) -> Result<&Provider, AuthError> {
        if let [only] = self.providers.as_slice() {
            return Ok(only);
        }
        let issuer = unverified_issuer(token).ok_or_else(|| AuthError("invalid token".to_owned()))?;
        self.providers
            .iter()
            .find(|provider| provider.issuer == issuer)
            .ok_or_else(|| AuthError("no provider is configured for the token's issuer".to_owned()))
    }
}

#[async_trait]
impl ServerAuthenticator for OidcAuthenticator {
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        let value = headers
            .get(&self.attribute)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| AuthError(format!("missing or empty {} header", self.attribute)))?;
        let token = bearer_token(value.to_str().unwrap_or_default())?;
        self.provider_for(token)?.verify(token).await
    }
}

/// The token of `Bearer <token>`; the scheme is matched in any case.
fn bearer_token(value: &str) -> Result<&str, AuthError> {
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' ') => {
            Ok(token)
        }
        _ => Err(AuthError("invalid authorization header format".to_owned())),
    }
}

fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

impl Provider {
    fn new(config: &OidcProviderConfig, refetch_after: Duration) -> Result<Self, ConfigProblem> {
        let keys = match config.public_keys_file.as_deref().filter(|f| !f.is_empty()) {
            Some(file) => KeySource::File(
                WatchedFile::open(file, KeySet::parse, DEFAULT_CHECK_INTERVAL)
                    .map_err(|m| ConfigProblem::new("public_keys_file", m))?,
            ),
            None => {
                let ca_pem =
                    match config.issuer_ca_path.as_deref().filter(|p| !p.is_empty()) {
                        Some(path) => Some(std::fs::read(path).map_err(|err| {
                            ConfigProblem::new("issuer_ca_path", format!("cannot read {path}: {err}"))
                        })?),
                        None => None,
                    };
                let remote = RemoteKeys::new(&config.issuer_url, ca_pem.as_deref(), refetch_after)
                    .map_err(|m| ConfigProblem::new("issuer_ca_path", m))?;
                KeySource::Remote(remote)
            }
        };
        Ok(Self {
            issuer: config.issuer_url.clone(),
            audience: (!config.ignore_audience).then(|| config.audience.clone()),
            username_claim: config.username_claim.clone().filter(|c| !c.is_empty()).unwrap_or_else(|| "sub".to_owned()),
            groups_claim: config.groups_claim.clone().filter(|c| !c.is_empty()),
            keys,
        })
    }

    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError("invalid token".to_owned()))?;
        if !is_supported(header.alg) {
            return Err(AuthError(format!("unsupported token algorithm {:?}", header.alg)));
        }
        let keys = self.keys.key_set(header.kid.as_deref()).await?;
        let validation = self.validation(header.alg);
        let candidates = keys.candidates(header.kid.as_deref(), header.alg);
        if candidates.is_empty() {
            return Err(AuthError("no key of the issuer matches the token".to_owned()));
        }
        let mut failure = ErrorKind::InvalidSignature;
        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => return self.principal(&data.claims),
                // Another key of the set may have signed it.
                Err(err) if *err.kind() == ErrorKind::InvalidSignature => {}
                Err(err) => {
                    failure = err.into_kind();
                    break;
                }
            }
        }
        Err(refusal(&failure))
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        // go-oidc allows no leeway on `exp`; `nbf` is checked below with its skew.
        validation.leeway = 0;
        validation.validate_nbf = false;
        validation.set_issuer(&[&self.issuer]);
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.set_required_spec_claims(&["exp", "iss", "aud"]);
            }
            None => {
                validation.validate_aud = false;
                validation.set_required_spec_claims(&["exp", "iss"]);
            }
        }
        validation
    }

    fn principal(&self, claims: &Claims) -> Result<Principal, AuthError> {
        if let Some(not_before) = claims.get("nbf").and_then(Value::as_f64) {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
            if not_before > (now + NOT_BEFORE_SKEW).as_secs_f64() {
                return Err(AuthError("token is not valid yet".to_owned()));
            }
        }
        let subject = claims
            .get(&self.username_claim)
            .and_then(Value::as_str)
            .ok_or_else(|| AuthError(format!("the token has no string {:?} claim", self.username_claim)))?;
        let groups = match &self.groups_claim {
            Some(claim) => groups(claims.get(claim))?,
            None => Vec::new(),
        };
        Ok(Principal { subject: Some(subject.to_owned()), groups })
    }
}

/// A group claim holds one group name or a list of them; it may be absent.
fn groups(claim: Option<&Value>) -> Result<Vec<String>, AuthError> {
    let invalid = || AuthError("the groups claim is not a string or a list of strings".to_owned());
    match claim {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(group)) => Ok(vec![group.clone()]),
        Some(Value::Array(items)) => {
            items.iter().map(|item| item.as_str().map(str::to_owned).ok_or_else(invalid)).collect()
        }
        Some(_) => Err(invalid()),
    }
}

/// What the client is told; never the token or a claim's value.
fn refusal(kind: &ErrorKind) -> AuthError {
    AuthError(match kind {
        ErrorKind::ExpiredSignature => "token has expired".to_owned(),
        ErrorKind::InvalidAudience => "token audience does not match".to_owned(),
        ErrorKind::InvalidIssuer => "token issuer does not match".to_owned(),
        ErrorKind::InvalidSignature => "token signature is invalid".to_owned(),
        ErrorKind::ImmatureSignature => "token is not valid yet".to_owned(),
        ErrorKind::InvalidAlgorithm => "token algorithm does not match the key".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("token has no {claim} claim"),
        _ => "invalid token".to_owned(),
    })
}

#[cfg(test)]
mod tests;
