//! `auth`, as configgrpc's and confighttp's client auth: the exporter names a client
//! authenticator extension, and the headers it gives are added to every request.
//!
//! The headers are asked for per request, because an authenticator may reload its token from
//! a file. Where `headers:` sets the same header, the authenticator's value wins, as in the
//! collector (see [`ClientAuth::headers`]).

use http::{HeaderName, HeaderValue};
use spoor_net::AuthSettings;
use spoor_net::auth::{Authenticators, SharedClientAuthenticator};
use spoor_pipeline::ExportError;

use super::ExporterBuildError;

const KEY: &str = "auth.authenticator";

/// An exporter's `auth`, from the config's id to the authenticator it names.
pub(crate) enum ClientAuth {
    /// No `auth` key: requests carry only `headers:`.
    Off,
    /// `auth.authenticator` names this id, and the exporter was not given the authenticators
    /// to resolve it against.
    Unresolved(String),
    Resolved {
        id: String,
        authenticator: SharedClientAuthenticator,
    },
}

impl ClientAuth {
    /// What the config asks for; an empty id fails here, a wrong one in [`Self::resolve`].
    pub(crate) fn from_settings(auth: Option<&AuthSettings>) -> Result<Self, ExporterBuildError> {
        match auth {
            None => Ok(Self::Off),
            Some(auth) if auth.authenticator.trim().is_empty() => {
                Err(ExporterBuildError(format!("{KEY}: must name an authenticator extension")))
            }
            Some(auth) => Ok(Self::Unresolved(auth.authenticator.trim().to_owned())),
        }
    }

    /// Looks the id up among the client authenticators; `Off` stays off.
    pub(crate) fn resolve(self, authenticators: &Authenticators) -> Result<Self, ExporterBuildError> {
        let id = match self {
            Self::Off => return Ok(Self::Off),
            Self::Unresolved(id) | Self::Resolved { id, .. } => id,
        };
        let authenticator = authenticators.client(&id).map_err(|err| ExporterBuildError(format!("{KEY}: {err}")))?;
        Ok(Self::Resolved { id, authenticator })
    }

    /// The headers for one request. A failing authenticator (a token file that went missing)
    /// makes the export retryable: the file may be back by the next attempt.
    pub(crate) async fn headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, ExportError> {
        match self {
            Self::Off => Ok(Vec::new()),
            // Sending without the credentials the config asks for would only be refused, or,
            // worse, accepted somewhere it should not be.
            Self::Unresolved(id) => Err(ExportError::Permanent(format!(
                "{KEY}: {id:?} was not resolved: the exporter was built without its authenticators"
            ))),
            Self::Resolved { id, authenticator } => authenticator
                .headers()
                .await
                .map_err(|err| ExportError::retryable(format!("{KEY}: {id:?} cannot authenticate the request: {err}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use spoor_net::auth::{AuthError, Authenticator, ClientAuthenticator};

    use super::*;

    struct Failing;

    #[async_trait]
    impl ClientAuthenticator for Failing {
        async fn headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, AuthError> {
            Err(AuthError("token file is gone".to_owned()))
        }
    }

    fn settings(id: &str) -> AuthSettings {
        AuthSettings { authenticator: id.to_owned() }
    }

    #[tokio::test]
    async fn resolves_client_authenticators_by_id() {
        let mut authenticators = Authenticators::new();
        authenticators.add("bearertokenauth/out", &serde_json::json!({"token": "t0k"})).unwrap();
        let auth = ClientAuth::from_settings(Some(&settings(" bearertokenauth/out "))).unwrap();
        let headers = auth.resolve(&authenticators).unwrap().headers().await.unwrap();
        assert_eq!(headers, vec![(http::header::AUTHORIZATION, HeaderValue::from_static("Bearer t0k"))]);
        let off = ClientAuth::from_settings(None).unwrap().resolve(&Authenticators::new()).unwrap();
        assert!(off.headers().await.unwrap().is_empty());
    }

    #[test]
    fn a_missing_empty_or_server_only_authenticator_names_the_key() {
        let mut authenticators = Authenticators::new();
        let server_only =
            Authenticator { server: Some(Arc::new(spoor_net::testing::FixedToken("x".into()))), client: None };
        authenticators.insert("oidc", server_only);
        for (id, needle) in [("bearertokenauth/nope", "not found"), ("oidc", "not a client authenticator")] {
            let err = ClientAuth::from_settings(Some(&settings(id))).unwrap().resolve(&authenticators).err().unwrap();
            assert_eq!(err.key(), KEY, "{err}");
            assert!(err.message().contains(id) && err.message().contains(needle), "{err}");
        }
        let empty = ClientAuth::from_settings(Some(&settings(" "))).err().unwrap();
        assert_eq!(empty.key(), KEY);
    }

    #[tokio::test]
    async fn a_failing_authenticator_is_retryable_and_an_unresolved_one_permanent() {
        let resolved = ClientAuth::Resolved { id: "x".to_owned(), authenticator: Arc::new(Failing) };
        match resolved.headers().await {
            Err(ExportError::Retryable { message, .. }) => assert!(message.contains("token file is gone"), "{message}"),
            other => panic!("{other:?}"),
        }
        let unresolved = ClientAuth::Unresolved("bearertokenauth/out".to_owned());
        assert!(matches!(unresolved.headers().await, Err(ExportError::Permanent(_))));
    }
}
