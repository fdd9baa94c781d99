//! Authenticators, as the collector's auth extensions: a server authenticator checks the
//! headers of every request a listener receives (HTTP headers or gRPC metadata), and a client
//! authenticator adds the headers an exporter sends.
//!
//! Extensions of type `bearertokenauth`, `basicauth` and `oidc` are decoded and validated by
//! their factories; the service builds each once and hands listeners and exporters an
//! `Arc<dyn ServerAuthenticator>` or `Arc<dyn ClientAuthenticator>` by component id:
//! [`Authenticators::add`] decodes, validates and builds `extensions.<id>`, and
//! [`Authenticators::server`] / [`Authenticators::client`] resolve an `auth.authenticator`.
//!
//! The config keys are collector-contrib's (`bearertokenauthextension`, `basicauthextension`,
//! `oidcauthextension`), with `deny_unknown_fields`. Files named in a config (token file,
//! client password files, OIDC `public_keys_file`) are reloaded when they change; the
//! htpasswd file is read once, as in the collector. No `Debug` here prints a secret.

mod basic;
mod bearer;
mod htpasswd;
mod md5_crypt;
mod oidc;
mod registry;
mod secret;
mod watched_file;

use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderMap, HeaderName, HeaderValue};

pub use basic::{BasicAuthClient, BasicAuthConfig, BasicAuthServer, BasicClientAuthConfig, HtpasswdConfig};
pub use bearer::{BearerTokenAuth, BearerTokenAuthConfig};
pub use oidc::{OidcAuthConfig, OidcAuthenticator, OidcProviderConfig};
pub use registry::{AUTHENTICATOR_TYPES, Authenticator, AuthenticatorConfig, Authenticators, LookupError};
pub use secret::Secret;

/// Why a request was refused. The message goes back to the client, so it never contains the
/// credentials that were sent or expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AuthError(pub String);

/// Who the caller is, once authenticated; listeners with `include_metadata: true` carry it
/// with the batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    /// The user name or token subject, when the authenticator knows one.
    pub subject: Option<String>,
    /// Group or role claims (OIDC `groups_claim`).
    pub groups: Vec<String>,
}

#[async_trait]
pub trait ServerAuthenticator: Send + Sync + 'static {
    /// Checks one request's headers (for gRPC, its metadata as HTTP/2 headers).
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthError>;

    /// The `WWW-Authenticate` challenge of an HTTP refusal: `Basic` makes a browser ask for a
    /// user name and password, so the web UI works behind basicauth.
    fn challenge(&self) -> &'static str {
        "Bearer realm=\"spoor\""
    }
}

#[async_trait]
pub trait ClientAuthenticator: Send + Sync + 'static {
    /// The headers to add to each outgoing request.
    async fn headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, AuthError>;
}

pub type SharedServerAuthenticator = Arc<dyn ServerAuthenticator>;
pub type SharedClientAuthenticator = Arc<dyn ClientAuthenticator>;
