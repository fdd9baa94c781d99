use std::time::Duration;

use http::HeaderMap;

use super::*;
use crate::auth::watched_file::tests::rewrite;

fn headers(name: &str, value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(HeaderName::try_from(name).unwrap(), HeaderValue::try_from(value).unwrap());
    headers
}

fn config(token: &str) -> BearerTokenAuthConfig {
    BearerTokenAuthConfig { token: Secret::new(token), ..Default::default() }
}

#[tokio::test]
async fn refuses_no_credentials_and_wrong_ones_and_accepts_the_token() {
    let auth = BearerTokenAuth::new(&config("s3cret")).unwrap();
    let missing = auth.authenticate(&HeaderMap::new()).await.unwrap_err();
    assert_eq!(missing.0, "missing authorization header");
    let wrong = auth.authenticate(&headers("authorization", "Bearer guess")).await.unwrap_err();
    assert!(!wrong.0.contains("guess") && !wrong.0.contains("s3cret"), "{wrong}");
    assert!(auth.authenticate(&headers("authorization", "Basic s3cret")).await.is_err());
    assert!(auth.authenticate(&headers("authorization", "s3cret")).await.is_err());
    assert_eq!(auth.authenticate(&headers("Authorization", "Bearer s3cret")).await.unwrap(), Principal::default());
}

#[tokio::test]
async fn any_of_several_tokens_with_a_custom_header_and_scheme() {
    let config = BearerTokenAuthConfig {
        header: "X-Api-Key".to_owned(),
        scheme: "Token".to_owned(),
        tokens: vec!["one".into(), "two".into()],
        ..Default::default()
    };
    let auth = BearerTokenAuth::new(&config).unwrap();
    assert!(auth.authenticate(&headers("x-api-key", "Token two")).await.is_ok());
    assert!(auth.authenticate(&headers("x-api-key", "Token one")).await.is_ok());
    assert!(auth.authenticate(&headers("authorization", "Token one")).await.is_err());
    let sent = auth.headers().await.unwrap();
    assert_eq!(sent[0].0, "x-api-key");
    assert_eq!(sent[0].1, "Token one");
    assert!(sent[0].1.is_sensitive());
}

#[tokio::test]
async fn an_empty_scheme_sends_the_bare_token() {
    let auth = BearerTokenAuth::new(&BearerTokenAuthConfig { scheme: String::new(), ..config("raw") }).unwrap();
    assert_eq!(auth.headers().await.unwrap()[0].1, "raw");
    assert!(auth.authenticate(&headers("authorization", "raw")).await.is_ok());
}

#[tokio::test]
async fn the_token_file_is_reloaded_when_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "first\n").unwrap();
    let config = BearerTokenAuthConfig { filename: Some(path.display().to_string()), ..config("ignored") };
    let auth = BearerTokenAuth::with_check_interval(&config, Duration::ZERO).unwrap();
    assert!(auth.authenticate(&headers("authorization", "Bearer first")).await.is_ok());
    assert!(auth.authenticate(&headers("authorization", "Bearer ignored")).await.is_err());
    assert_eq!(auth.headers().await.unwrap()[0].1, "Bearer first");

    rewrite(&path, "second\n\nthird\n");
    assert!(auth.authenticate(&headers("authorization", "Bearer first")).await.is_err());
    assert!(auth.authenticate(&headers("authorization", "Bearer second")).await.is_ok());
    assert!(auth.authenticate(&headers("authorization", "Bearer third")).await.is_ok());
    assert_eq!(auth.headers().await.unwrap()[0].1, "Bearer second");

    // An emptied file keeps the last tokens rather than locking everyone out.
    rewrite(&path, "");
    assert!(auth.authenticate(&headers("authorization", "Bearer second")).await.is_ok());
}

#[test]
fn a_missing_or_empty_token_file_is_a_config_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    let config = BearerTokenAuthConfig { filename: Some(path.display().to_string()), ..Default::default() };
    assert_eq!(BearerTokenAuth::new(&config).unwrap_err().path, "filename");
    std::fs::write(&path, "\n").unwrap();
    assert_eq!(BearerTokenAuth::new(&config).unwrap_err().message, "holds no token");
}

#[test]
fn validation_names_the_key() {
    let problem = |config: BearerTokenAuthConfig| config.validate().unwrap_err();
    assert_eq!(problem(BearerTokenAuthConfig::default()).path, "");
    assert_eq!(problem(BearerTokenAuthConfig { tokens: vec!["a".into()], ..config("b") }).path, "tokens");
    assert_eq!(problem(BearerTokenAuthConfig { header: "bad header".to_owned(), ..config("b") }).path, "header");
    let spaced = problem(config("has space"));
    assert_eq!(spaced.path, "token");
    assert!(!spaced.message.contains("has space"));
    assert_eq!(
        problem(BearerTokenAuthConfig { tokens: vec!["ok".into(), "".into()], ..Default::default() }).path,
        "tokens[1]"
    );
}

#[test]
fn debug_shows_no_token() {
    let config = BearerTokenAuthConfig { tokens: vec!["tok-a".into()], ..Default::default() };
    let auth = BearerTokenAuth::new(&config).unwrap();
    for text in [format!("{config:?}"), format!("{auth:?}")] {
        assert!(!text.contains("tok-a"), "{text}");
    }
}

#[test]
fn decodes_the_collector_keys_and_refuses_others() {
    let config: BearerTokenAuthConfig =
        serde_json::from_value(serde_json::json!({"token": "t", "scheme": "Bearer", "header": "Authorization"}))
            .unwrap();
    assert_eq!(config.token.expose(), "t");
    let err = serde_json::from_value::<BearerTokenAuthConfig>(serde_json::json!({"bearer_token": "t"})).unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}
