//! The authenticator extensions by type name, and the built ones by component id: the service
//! builds each configured extension once, and listeners and exporters look theirs up by the id
//! in their `auth.authenticator` key.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::basic::{BasicAuthClient, BasicAuthConfig, BasicAuthServer};
use super::bearer::{BearerTokenAuth, BearerTokenAuthConfig};
use super::oidc::{OidcAuthConfig, OidcAuthenticator};
use super::{SharedClientAuthenticator, SharedServerAuthenticator};
use crate::ConfigProblem;

/// The extension types this module builds.
pub const AUTHENTICATOR_TYPES: &[&str] = &["basicauth", "bearertokenauth", "oidc"];

/// One authenticator extension's config, decoded.
#[derive(Debug, Clone)]
pub enum AuthenticatorConfig {
    Basic(BasicAuthConfig),
    BearerToken(BearerTokenAuthConfig),
    Oidc(Box<OidcAuthConfig>),
}

impl AuthenticatorConfig {
    /// Decodes the config of an extension of type `type_name` (`bearertokenauth`, without the
    /// `/name`). `Ok(None)` when the type is not an authenticator. A null value (`oidc:` with
    /// nothing after it) decodes as an empty mapping.
    pub fn decode(type_name: &str, value: &Value) -> Result<Option<Self>, ConfigProblem> {
        let value = if value.is_null() { Value::Object(Map::new()) } else { value.clone() };
        Ok(Some(match type_name {
            "basicauth" => Self::Basic(decode(value)?),
            "bearertokenauth" => Self::BearerToken(decode(value)?),
            "oidc" => Self::Oidc(Box::new(decode(value)?)),
            _ => return Ok(None),
        }))
    }

    /// Checks everything that can be checked without reading files or the network.
    pub fn validate(&self) -> Result<(), ConfigProblem> {
        match self {
            Self::Basic(config) => config.validate(),
            Self::BearerToken(config) => config.validate(),
            Self::Oidc(config) => config.validate(),
        }
    }

    /// Validates, reads the files the config names, and builds the authenticator.
    pub fn build(&self) -> Result<Authenticator, ConfigProblem> {
        self.validate()?;
        match self {
            Self::Basic(config) => Ok(Authenticator {
                server: match &config.htpasswd {
                    Some(htpasswd) => Some(Arc::new(BasicAuthServer::new(htpasswd).map_err(|p| p.within("htpasswd"))?)),
                    None => None,
                },
                client: match &config.client_auth {
                    Some(client) => Some(Arc::new(BasicAuthClient::new(client).map_err(|p| p.within("client_auth"))?)),
                    None => None,
                },
            }),
            Self::BearerToken(config) => {
                let auth = Arc::new(BearerTokenAuth::new(config)?);
                Ok(Authenticator { server: Some(auth.clone()), client: Some(auth) })
            }
            Self::Oidc(config) => {
                Ok(Authenticator { server: Some(Arc::new(OidcAuthenticator::new(config)?)), client: None })
            }
        }
    }
}

fn decode<T: DeserializeOwned>(value: Value) -> Result<T, ConfigProblem> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ConfigProblem::new(path, err.into_inner().to_string())
    })
}

/// A built extension: the server side, the client side, or both (`bearertokenauth`).
#[derive(Clone, Default)]
pub struct Authenticator {
    pub server: Option<SharedServerAuthenticator>,
    pub client: Option<SharedClientAuthenticator>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("server", &self.server.is_some())
            .field("client", &self.client.is_some())
            .finish()
    }
}

/// Why a component's `auth.authenticator` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("authenticator {0:?} not found: define it under extensions and list it in service.extensions")]
    NotFound(String),
    #[error("{0:?} is not a server authenticator")]
    NotServer(String),
    #[error("{0:?} is not a client authenticator")]
    NotClient(String),
}

/// The built authenticators by component id (`bearertokenauth/in`).
#[derive(Debug, Clone, Default)]
pub struct Authenticators {
    by_id: BTreeMap<String, Authenticator>,
}

impl Authenticators {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes, validates and builds the extension `id` (`type[/name]`) from its raw config.
    /// `Ok(false)` when its type is not an authenticator, for the caller's other factories.
    pub fn add(&mut self, id: &str, value: &Value) -> Result<bool, ConfigProblem> {
        let type_name = id.split('/').next().unwrap_or_default();
        let Some(config) = AuthenticatorConfig::decode(type_name, value)? else { return Ok(false) };
        self.insert(id, config.build()?);
        Ok(true)
    }

    pub fn insert(&mut self, id: impl Into<String>, authenticator: Authenticator) {
        self.by_id.insert(id.into(), authenticator);
    }

    /// For a listener's `auth.authenticator`.
    pub fn server(&self, id: &str) -> Result<SharedServerAuthenticator, LookupError> {
        let found = self.by_id.get(id).ok_or_else(|| LookupError::NotFound(id.to_owned()))?;
        found.server.clone().ok_or_else(|| LookupError::NotServer(id.to_owned()))
    }

    /// For an exporter's `auth.authenticator`.
    pub fn client(&self, id: &str) -> Result<SharedClientAuthenticator, LookupError> {
        let found = self.by_id.get(id).ok_or_else(|| LookupError::NotFound(id.to_owned()))?;
        found.client.clone().ok_or_else(|| LookupError::NotClient(id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn builds_by_id_and_hands_out_each_side() {
        let mut authenticators = Authenticators::new();
        assert!(authenticators.add("bearertokenauth/in", &json!({"token": "t0k"})).unwrap());
        assert!(
            authenticators.add("basicauth/out", &json!({"client_auth": {"username": "u", "password": 5}})).unwrap()
        );
        assert!(!authenticators.add("health_check", &Value::Null).unwrap());

        let server = authenticators.server("bearertokenauth/in").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer t0k"));
        assert!(server.authenticate(&headers).await.is_ok());
        assert!(authenticators.client("bearertokenauth/in").is_ok());

        let client = authenticators.client("basicauth/out").unwrap();
        assert_eq!(client.headers().await.unwrap()[0].1, "Basic dTo1");
        assert_eq!(
            authenticators.server("basicauth/out").err().unwrap(),
            LookupError::NotServer("basicauth/out".into())
        );
        assert!(matches!(authenticators.server("oidc").err().unwrap(), LookupError::NotFound(_)));
        assert!(!format!("{authenticators:?}").contains("t0k"));
    }

    #[test]
    fn decode_problems_carry_the_key_path() {
        let unknown = AuthenticatorConfig::decode("oidc", &json!({"issuer": "x"})).unwrap_err();
        assert_eq!(unknown.path, "issuer");
        assert!(unknown.message.contains("unknown field `issuer`"), "{unknown}");
        let nested =
            AuthenticatorConfig::decode("oidc", &json!({"providers": [{"issuer_url": "x", "aud": 1}]})).unwrap_err();
        assert_eq!(nested.path, "providers[0].aud");
        let empty = AuthenticatorConfig::decode("bearertokenauth", &Value::Null).unwrap().unwrap();
        assert!(empty.validate().unwrap_err().message.starts_with("no bearer token"));
        let mut authenticators = Authenticators::new();
        let problem = authenticators.add("oidc/x", &json!({"issuer_url": "https://idp", "audience": ""})).unwrap_err();
        assert_eq!(problem.path, "audience");
    }
}
