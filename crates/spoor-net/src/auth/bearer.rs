//! `bearertokenauth`: a static token, as the collector-contrib extension of that name. The
//! server side accepts a request whose header holds `scheme token` for any configured token;
//! the client side sends `scheme token` with every request.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::secret::{Secret, secrets_match};
use super::watched_file::{DEFAULT_CHECK_INTERVAL, WatchedFile};
use super::{AuthError, ClientAuthenticator, Principal, ServerAuthenticator};
use crate::ConfigProblem;

/// The config keys of collector-contrib's `extension/bearertokenauthextension/config.go`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BearerTokenAuthConfig {
    /// The header that carries the token. Default `Authorization`.
    #[serde(default = "default_header")]
    pub header: String,
    /// Put before the token with one space. Default `Bearer`; empty sends the token alone.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    #[serde(default)]
    pub token: Secret,
    /// Several tokens, any of which the server accepts; the client sends the first.
    #[serde(default)]
    pub tokens: Vec<Secret>,
    /// A file with one token a line, reloaded when it changes. When set, `token` and `tokens`
    /// are ignored, as in the collector.
    #[serde(default)]
    pub filename: Option<String>,
}

fn default_header() -> String {
    "Authorization".to_owned()
}

fn default_scheme() -> String {
    "Bearer".to_owned()
}

impl Default for BearerTokenAuthConfig {
    fn default() -> Self {
        Self {
            header: default_header(),
            scheme: default_scheme(),
            token: Secret::default(),
            tokens: Vec::new(),
            filename: None,
        }
    }
}

impl BearerTokenAuthConfig {
    /// Checks everything that can be checked without reading the token file.
    pub fn validate(&self) -> Result<(), ConfigProblem> {
        if self.token.is_empty() && self.tokens.is_empty() && self.filename.as_deref().unwrap_or_default().is_empty() {
            return Err(ConfigProblem::new("", "no bearer token provided: set token, tokens or filename"));
        }
        if !self.token.is_empty() && !self.tokens.is_empty() {
            return Err(ConfigProblem::new("tokens", "either tokens or token should be provided, not both"));
        }
        HeaderName::try_from(self.header.as_str())
            .map_err(|_| ConfigProblem::new("header", format!("{:?} is not a valid header name", self.header)))?;
        if !self.token.is_empty() {
            check_token(self.token.expose()).map_err(|m| ConfigProblem::new("token", m))?;
        }
        for (index, token) in self.tokens.iter().enumerate() {
            check_token(token.expose()).map_err(|m| ConfigProblem::new(format!("tokens[{index}]"), m))?;
        }
        if HeaderValue::try_from(format!("{} x", self.scheme)).is_err() {
            return Err(ConfigProblem::new("scheme", format!("{:?} is not a valid header value", self.scheme)));
        }
        Ok(())
    }
}

/// A token must fit in a header value; the message never quotes it.
fn check_token(token: &str) -> Result<(), String> {
    if token.is_empty() {
        return Err("is empty".to_owned());
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("holds spaces or characters that a header value cannot carry".to_owned());
    }
    Ok(())
}

/// The tokens of a token file: one a line, blank lines skipped.
fn parse_token_file(text: &str) -> Result<Vec<Secret>, String> {
    let mut tokens = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        check_token(line).map_err(|m| format!("line {}: the token {m}", index + 1))?;
        tokens.push(Secret::new(line));
    }
    if tokens.is_empty() {
        return Err("holds no token".to_owned());
    }
    Ok(tokens)
}

#[derive(Debug)]
enum Tokens {
    Fixed(Arc<Vec<Secret>>),
    File(WatchedFile<Vec<Secret>>),
}

impl Tokens {
    fn current(&self) -> Arc<Vec<Secret>> {
        match self {
            Self::Fixed(tokens) => tokens.clone(),
            Self::File(file) => file.current(),
        }
    }
}

/// The built `bearertokenauth` extension; it is both a server and a client authenticator.
#[derive(Debug)]
pub struct BearerTokenAuth {
    header: HeaderName,
    scheme: String,
    tokens: Tokens,
}

impl BearerTokenAuth {
    /// Builds from a validated config, reading the token file once.
    pub fn new(config: &BearerTokenAuthConfig) -> Result<Self, ConfigProblem> {
        Self::with_check_interval(config, DEFAULT_CHECK_INTERVAL)
    }

    pub(crate) fn with_check_interval(
        config: &BearerTokenAuthConfig,
        check_every: Duration,
    ) -> Result<Self, ConfigProblem> {
        config.validate()?;
        let header = HeaderName::try_from(config.header.as_str())
            .map_err(|_| ConfigProblem::new("header", "is not a valid header name"))?;
        let tokens = match config.filename.as_deref().filter(|f| !f.is_empty()) {
            Some(filename) => {
                if !config.token.is_empty() || !config.tokens.is_empty() {
                    tracing::warn!("bearertokenauth: a filename is set, so the configured token is ignored");
                }
                let file = WatchedFile::open(filename, parse_token_file, check_every)
                    .map_err(|m| ConfigProblem::new("filename", m))?;
                Tokens::File(file)
            }
            None if config.tokens.is_empty() => Tokens::Fixed(Arc::new(vec![config.token.clone()])),
            None => Tokens::Fixed(Arc::new(config.tokens.clone())),
        };
        Ok(Self { header, scheme: config.scheme.clone(), tokens })
    }

    fn credential(&self, token: &Secret) -> String {
        if self.scheme.is_empty() { token.expose().to_owned() } else { format!("{} {}", self.scheme, token.expose()) }
    }
}

#[async_trait]
impl ServerAuthenticator for BearerTokenAuth {
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        let sent =
            headers.get(&self.header).ok_or_else(|| AuthError(format!("missing {} header", self.header)))?.as_bytes();
        // Every token is compared, so the time does not tell which one was close.
        let matched = self
            .tokens
            .current()
            .iter()
            .fold(false, |matched, token| matched | secrets_match(sent, self.credential(token).as_bytes()));
        if matched { Ok(Principal::default()) } else { Err(AuthError("scheme or token does not match".to_owned())) }
    }
}

#[async_trait]
impl ClientAuthenticator for BearerTokenAuth {
    async fn headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, AuthError> {
        let tokens = self.tokens.current();
        let token = tokens.first().ok_or_else(|| AuthError("no bearer token available".to_owned()))?;
        let mut value = HeaderValue::try_from(self.credential(token))
            .map_err(|_| AuthError("the bearer token is not a valid header value".to_owned()))?;
        value.set_sensitive(true);
        Ok(vec![(self.header.clone(), value)])
    }
}

#[cfg(test)]
#[path = "bearer_tests.rs"]
mod tests;
