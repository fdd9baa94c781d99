use std::time::Duration;

use super::*;
use crate::auth::watched_file::tests::rewrite;

fn basic(user: &str, password: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let value = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
    headers.insert(AUTHORIZATION, HeaderValue::try_from(value).unwrap());
    headers
}

fn server(file: Option<String>, inline: &str) -> BasicAuthServer {
    BasicAuthServer::new(&HtpasswdConfig { file, inline: Secret::new(inline) }).unwrap()
}

#[tokio::test]
async fn refuses_no_credentials_and_wrong_ones_and_accepts_bcrypt_and_sha() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".htpasswd");
    let bcrypt_hash = bcrypt::hash("bcrypt-pass", 4).unwrap().replacen("$2b$", "$2y$", 1);
    std::fs::write(&path, format!("alice:{bcrypt_hash}\nbob:{{SHA}}5en6G6MezRroT3XKqkdPOmY/BfQ=\n")).unwrap();
    let auth = server(Some(path.display().to_string()), "bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=");

    assert_eq!(auth.authenticate(&HeaderMap::new()).await.unwrap_err().0, "missing authorization header");
    let wrong = auth.authenticate(&basic("alice", "guess")).await.unwrap_err();
    assert_eq!(wrong.0, "invalid username or password");
    assert!(auth.authenticate(&basic("mallory", "bcrypt-pass")).await.is_err());
    let accepted = auth.authenticate(&basic("alice", "bcrypt-pass")).await.unwrap();
    assert_eq!(accepted.subject.as_deref(), Some("alice"));
    // The inline entry for bob ("password") replaces the file's ("secret").
    assert!(auth.authenticate(&basic("bob", "secret")).await.is_err());
    assert!(auth.authenticate(&basic("bob", "password")).await.is_ok());

    let mut bearer = HeaderMap::new();
    bearer.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
    assert!(auth.authenticate(&bearer).await.unwrap_err().0.contains("Basic scheme"));
    let mut garbage = HeaderMap::new();
    garbage.insert(AUTHORIZATION, HeaderValue::from_static("basic !!!"));
    assert_eq!(auth.authenticate(&garbage).await.unwrap_err().0, "invalid basic credentials");
}

#[tokio::test]
async fn the_client_sends_what_the_server_accepts() {
    let client = BasicAuthClient::new(&BasicClientAuthConfig {
        username: "carol".to_owned(),
        password: "open sesame".into(),
        ..Default::default()
    })
    .unwrap();
    let sent = client.headers().await.unwrap();
    assert_eq!(sent[0].0, AUTHORIZATION);
    assert!(sent[0].1.is_sensitive());
    let mut headers = HeaderMap::new();
    headers.insert(sent[0].0.clone(), sent[0].1.clone());
    assert!(server(None, "carol:open sesame").authenticate(&headers).await.is_ok());
    assert!(server(None, "carol:other").authenticate(&headers).await.is_err());
}

#[tokio::test]
async fn the_client_rereads_its_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("password");
    std::fs::write(&path, "first\n").unwrap();
    let config = BasicClientAuthConfig {
        username: "dave".to_owned(),
        password_file: Some(path.display().to_string()),
        ..Default::default()
    };
    let client = BasicAuthClient::with_check_interval(&config, Duration::ZERO).unwrap();
    let expect = |password: &str| format!("Basic {}", STANDARD.encode(format!("dave:{password}")));
    assert_eq!(client.headers().await.unwrap()[0].1, expect("first").as_str());
    rewrite(&path, "second\n");
    assert_eq!(client.headers().await.unwrap()[0].1, expect("second").as_str());
}

#[test]
fn validation_names_the_key_and_the_line() {
    let problem = |config: BasicAuthConfig| config.validate().unwrap_err();
    let both = BasicAuthConfig { htpasswd: Some(HtpasswdConfig::default()), client_auth: Some(Default::default()) };
    assert!(problem(both).message.starts_with("only one of"));
    assert!(problem(BasicAuthConfig::default()).message.starts_with("no credential source"));
    let inline = HtpasswdConfig { inline: "ok:plain\nx:$6$salt$hash".into(), file: None };
    let inline = problem(BasicAuthConfig { htpasswd: Some(inline), client_auth: None });
    assert_eq!(inline.path, "htpasswd.inline");
    assert!(inline.message.starts_with("line 2: unsupported"), "{inline}");
    let empty = problem(BasicAuthConfig { htpasswd: Some(HtpasswdConfig::default()), client_auth: None });
    assert_eq!(empty.path, "htpasswd");
    let colon = BasicClientAuthConfig { username: "a:b".to_owned(), ..Default::default() };
    assert_eq!(problem(BasicAuthConfig { htpasswd: None, client_auth: Some(colon) }).path, "client_auth.username");
}

#[test]
fn a_bad_htpasswd_file_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".htpasswd");
    std::fs::write(&path, "a:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\nb:$5$x$y\n").unwrap();
    let config = HtpasswdConfig { file: Some(path.display().to_string()), inline: Secret::default() };
    let problem = BasicAuthServer::new(&config).unwrap_err();
    assert_eq!(problem.path, "file");
    assert!(
        problem
            .message
            .ends_with("line 2: unsupported password hash format (use bcrypt, {SHA}, {SSHA}, $apr1$ or $1$)")
    );
}

#[test]
fn debug_shows_no_password_or_htpasswd_content() {
    let config: BasicAuthConfig = serde_json::from_value(serde_json::json!({
        "htpasswd": {"inline": "erin:plain-pass"}
    }))
    .unwrap();
    let auth = BasicAuthServer::new(config.htpasswd.as_ref().unwrap()).unwrap();
    let client_config =
        BasicClientAuthConfig { username: "u".to_owned(), password: "plain-pass".into(), ..Default::default() };
    let client = BasicAuthClient::new(&client_config).unwrap();
    for text in [format!("{config:?}"), format!("{auth:?}"), format!("{client_config:?}"), format!("{client:?}")] {
        assert!(!text.contains("plain-pass"), "{text}");
    }
}

#[test]
fn refuses_unknown_keys() {
    let err = serde_json::from_value::<BasicAuthConfig>(serde_json::json!({"htpasswd": {"path": "x"}})).unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}
