//! Authenticators, as the collector's auth extensions: a server authenticator checks the
//! headers of every request a listener receives (HTTP headers or gRPC metadata), and a client
//! authenticator adds the headers an exporter sends.
//!
//! Extensions of type `bearertokenauth`, `basicauth` and `oidc` are decoded and validated by
//! their factories; the service builds each once and hands listeners and exporters an
//! `Arc<dyn ServerAuthenticator>` or `Arc<dyn ClientAuthenticator>` by component id.

use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderMap, HeaderName, HeaderValue};

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
}

#[async_trait]
pub trait ClientAuthenticator: Send + Sync + 'static {
    /// The headers to add to each outgoing request.
    async fn headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, AuthError>;
}

pub type SharedServerAuthenticator = Arc<dyn ServerAuthenticator>;
pub type SharedClientAuthenticator = Arc<dyn ClientAuthenticator>;

/// The authenticator extensions the service built, by component id (`bearertokenauth/in`).
#[derive(Clone, Default)]
pub struct Authenticators {
    server: std::collections::BTreeMap<String, SharedServerAuthenticator>,
    client: std::collections::BTreeMap<String, SharedClientAuthenticator>,
}

impl Authenticators {
    pub fn add_server(&mut self, id: impl Into<String>, authenticator: SharedServerAuthenticator) {
        self.server.insert(id.into(), authenticator);
    }

    pub fn add_client(&mut self, id: impl Into<String>, authenticator: SharedClientAuthenticator) {
        self.client.insert(id.into(), authenticator);
    }

    pub fn server(&self, id: &str) -> Result<SharedServerAuthenticator, String> {
        self.server
            .get(id)
            .cloned()
            .ok_or_else(|| format!("authenticator {id:?} is not a configured server authenticator extension"))
    }

    pub fn client(&self, id: &str) -> Result<SharedClientAuthenticator, String> {
        self.client
            .get(id)
            .cloned()
            .ok_or_else(|| format!("authenticator {id:?} is not a configured client authenticator extension"))
    }
}
