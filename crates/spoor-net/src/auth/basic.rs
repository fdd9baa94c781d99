//! `basicauth`: HTTP Basic authentication, as the collector-contrib extension of that name.
//! One extension is either a server authenticator (`htpasswd`) or a client one
//! (`client_auth`), never both.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::htpasswd::Htpasswd;
use super::secret::Secret;
use super::watched_file::{DEFAULT_CHECK_INTERVAL, WatchedFile};
use super::{AuthError, ClientAuthenticator, Principal, ServerAuthenticator};
use crate::ConfigProblem;

/// The config keys of collector-contrib's `extension/basicauthextension/config.go`, less
/// `client_auth.aws_secrets_manager`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    #[serde(default)]
    pub htpasswd: Option<HtpasswdConfig>,
    #[serde(default)]
    pub client_auth: Option<BasicClientAuthConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HtpasswdConfig {
    /// An htpasswd file, read once when the extension is built.
    #[serde(default)]
    pub file: Option<String>,
    /// htpasswd lines; a user here replaces the same user in `file`.
    #[serde(default)]
    pub inline: Secret,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicClientAuthConfig {
    #[serde(default)]
    pub username: String,
    /// A file holding the user name; it replaces `username` and is reloaded when it changes.
    #[serde(default)]
    pub username_file: Option<String>,
    #[serde(default)]
    pub password: Secret,
    /// A file holding the password; it replaces `password` and is reloaded when it changes.
    #[serde(default)]
    pub password_file: Option<String>,
}

impl BasicAuthConfig {
    /// Checks everything that can be checked without reading files, inline htpasswd included.
    pub fn validate(&self) -> Result<(), ConfigProblem> {
        match (&self.htpasswd, &self.client_auth) {
            (Some(_), Some(_)) => Err(ConfigProblem::new("", "only one of htpasswd or client_auth can be specified")),
            (None, None) => Err(ConfigProblem::new("", "no credential source provided: set htpasswd or client_auth")),
            (Some(htpasswd), None) => htpasswd.validate().map_err(|p| p.within("htpasswd")),
            (None, Some(client)) => client.validate().map_err(|p| p.within("client_auth")),
        }
    }
}

impl HtpasswdConfig {
    fn validate(&self) -> Result<(), ConfigProblem> {
        if self.file.as_deref().unwrap_or_default().is_empty() && self.inline.is_empty() {
            return Err(ConfigProblem::new("", "set file or inline"));
        }
        Htpasswd::parse(self.inline.expose()).map_err(|m| ConfigProblem::new("inline", m))?;
        Ok(())
    }
}

impl BasicClientAuthConfig {
    fn validate(&self) -> Result<(), ConfigProblem> {
        if self.username_file.is_none() && self.username.is_empty() {
            return Err(ConfigProblem::new("username", "no username provided"));
        }
        if self.username.contains(':') {
            return Err(ConfigProblem::new("username", "must not contain ':'"));
        }
        Ok(())
    }
}

/// The server side: checks `Authorization: Basic …` against the htpasswd entries.
#[derive(Debug)]
pub struct BasicAuthServer {
    htpasswd: Arc<Htpasswd>,
}

impl BasicAuthServer {
    pub fn new(config: &HtpasswdConfig) -> Result<Self, ConfigProblem> {
        config.validate()?;
        let mut htpasswd = match config.file.as_deref().filter(|f| !f.is_empty()) {
            Some(file) => {
                let text = std::fs::read_to_string(file)
                    .map_err(|err| ConfigProblem::new("file", format!("cannot read {file}: {err}")))?;
                Htpasswd::parse(&text).map_err(|m| ConfigProblem::new("file", format!("{file}: {m}")))?
            }
            None => Htpasswd::parse("").map_err(|m| ConfigProblem::new("file", m))?,
        };
        htpasswd.extend(Htpasswd::parse(config.inline.expose()).map_err(|m| ConfigProblem::new("inline", m))?);
        Ok(Self { htpasswd: Arc::new(htpasswd) })
    }
}

/// The user name and password of an `Authorization: Basic` header.
fn basic_credentials(headers: &HeaderMap) -> Result<(String, String), AuthError> {
    let value = headers.get(AUTHORIZATION).ok_or_else(|| AuthError("missing authorization header".to_owned()))?;
    let invalid = || AuthError("invalid basic credentials".to_owned());
    let (scheme, encoded) = value.to_str().map_err(|_| invalid())?.split_once(' ').ok_or_else(invalid)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthError("the authorization header does not use the Basic scheme".to_owned()));
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| invalid())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (user, password) = decoded.split_once(':').ok_or_else(invalid)?;
    Ok((user.to_owned(), password.to_owned()))
}

#[async_trait]
impl ServerAuthenticator for BasicAuthServer {
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        let (user, password) = basic_credentials(headers)?;
        let htpasswd = self.htpasswd.clone();
        let checked_user = user.clone();
        // bcrypt takes milliseconds on purpose; keep it off the async workers.
        let verified = tokio::task::spawn_blocking(move || htpasswd.verify(&checked_user, &password))
            .await
            .map_err(|_| AuthError("authentication failed".to_owned()))?;
        if verified {
            Ok(Principal { subject: Some(user), groups: Vec::new() })
        } else {
            Err(AuthError("invalid username or password".to_owned()))
        }
    }

    fn challenge(&self) -> &'static str {
        "Basic realm=\"spoor\", charset=\"UTF-8\""
    }
}

#[derive(Debug)]
enum Credential {
    Fixed(Arc<Secret>),
    File(WatchedFile<Secret>),
}

impl Credential {
    fn new(value: &Secret, file: Option<&str>, check_every: Duration) -> Result<Self, String> {
        match file.filter(|f| !f.is_empty()) {
            Some(file) => Ok(Self::File(WatchedFile::open(file, read_line, check_every)?)),
            None => Ok(Self::Fixed(Arc::new(value.clone()))),
        }
    }

    fn current(&self) -> Arc<Secret> {
        match self {
            Self::Fixed(value) => value.clone(),
            Self::File(file) => file.current(),
        }
    }
}

/// A credential file's content without its line ending.
fn read_line(text: &str) -> Result<Secret, String> {
    Ok(Secret::new(text.trim_end_matches(['\n', '\r'])))
}

/// The client side: sends `Authorization: Basic base64(username:password)`.
#[derive(Debug)]
pub struct BasicAuthClient {
    username: Credential,
    password: Credential,
}

impl BasicAuthClient {
    pub fn new(config: &BasicClientAuthConfig) -> Result<Self, ConfigProblem> {
        Self::with_check_interval(config, DEFAULT_CHECK_INTERVAL)
    }

    pub(crate) fn with_check_interval(
        config: &BasicClientAuthConfig,
        check_every: Duration,
    ) -> Result<Self, ConfigProblem> {
        config.validate()?;
        let username = Secret::new(config.username.clone());
        Ok(Self {
            username: Credential::new(&username, config.username_file.as_deref(), check_every)
                .map_err(|m| ConfigProblem::new("username_file", m))?,
            password: Credential::new(&config.password, config.password_file.as_deref(), check_every)
                .map_err(|m| ConfigProblem::new("password_file", m))?,
        })
    }
}

#[async_trait]
impl ClientAuthenticator for BasicAuthClient {
    async fn headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, AuthError> {
        let (username, password) = (self.username.current(), self.password.current());
        let encoded = STANDARD.encode(format!("{}:{}", username.expose(), password.expose()));
        let mut value = HeaderValue::try_from(format!("Basic {encoded}"))
            .map_err(|_| AuthError("the basic credentials are not a valid header value".to_owned()))?;
        value.set_sensitive(true);
        Ok(vec![(AUTHORIZATION, value)])
    }
}

#[cfg(test)]
#[path = "basic_tests.rs"]
mod tests;
