//! Real keys and signatures: an ECDSA P-256 key made per test, and one RSA-2048 key from
//! testdata (ring cannot generate RSA keys). The keys come from a JWKS file or from a small HTTP
//! server on 127.0.0.1 that serves the discovery document and the JWKS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

struct SigningKey {
    kid: String,
    alg: Algorithm,
    key: EncodingKey,
    jwk: Value,
}

fn ec_key(kid: &str) -> SigningKey {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let point = pair.public_key_raw();
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    });
    SigningKey { kid: kid.to_owned(), alg: Algorithm::ES256, key: EncodingKey::from_ec_der(&pair.serialize_der()), jwk }
}

fn rsa_key(kid: &str) -> SigningKey {
    let pem = include_str!("../../../testdata/oidc-rsa-key.pem");
    let der = STANDARD.decode(pem.lines().filter(|line| !line.starts_with("-----")).collect::<String>()).unwrap();
    let modulus = include_str!("../../../testdata/oidc-rsa-key.n").trim();
    // No `alg`: the key is good for any RSA algorithm.
    let jwk = json!({"kty": "RSA", "kid": kid, "n": modulus, "e": "AQAB"});
    SigningKey { kid: kid.to_owned(), alg: Algorithm::RS256, key: EncodingKey::from_rsa_der(&der), jwk }
}

fn jwks(keys: &[&SigningKey]) -> String {
    let encryption_key = json!({"kty": "RSA", "use": "enc", "kid": "enc", "n": "AQAB", "e": "AQAB"});
    let mut keys: Vec<Value> = keys.iter().map(|key| key.jwk.clone()).collect();
    keys.push(encryption_key);
    json!({ "keys": keys }).to_string()
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn claims(issuer: &str) -> Value {
    json!({
        "iss": issuer, "aud": ["other", "spoor"], "sub": "alice", "email": "alice@example.com",
        "groups": ["admins", "devs"], "iat": now(), "exp": now() + 300,
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn sign(key: &SigningKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.key).unwrap()
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", HeaderValue::try_from(format!("Bearer {token}")).unwrap());
    headers
}

fn file_config(issuer: &str, path: &std::path::Path) -> OidcAuthConfig {
    OidcAuthConfig {
        providers: vec![OidcProviderConfig {
            issuer_url: issuer.to_owned(),
            audience: "spoor".to_owned(),
            public_keys_file: Some(path.display().to_string()),
            ..Default::default()
        }],
        ..Default::default()
    }
}

const ISSUER: &str = "https://idp.example.com/realms/spoor";

#[tokio::test]
async fn keys_from_a_file_accept_good_tokens_and_refuse_bad_ones() {
    let (ec, rsa, stranger) = (ec_key("ec-1"), rsa_key("rsa-1"), ec_key("ec-1"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks(&[&ec, &rsa])).unwrap();
    let auth = OidcAuthenticator::new(&file_config(ISSUER, &path)).unwrap();
    let refusal = |token: String| {
        let auth = &auth;
        async move {
            let err = auth.authenticate(&bearer(&token)).await.unwrap_err();
            assert!(!err.0.contains(&token), "{err}");
            err.0
        }
    };

    assert_eq!(auth.authenticate(&HeaderMap::new()).await.unwrap_err().0, "missing or empty authorization header");
    let mut basic = HeaderMap::new();
    basic.insert("authorization", HeaderValue::from_static("Basic abc"));
    assert_eq!(auth.authenticate(&basic).await.unwrap_err().0, "invalid authorization header format");
    assert_eq!(refusal("not.a.jwt".to_owned()).await, "invalid token");

    let principal = auth.authenticate(&bearer(&sign(&ec, &claims(ISSUER)))).await.unwrap();
    assert_eq!(principal.subject.as_deref(), Some("alice"));
    assert!(auth.authenticate(&bearer(&sign(&rsa, &claims(ISSUER)))).await.is_ok());

    let expired = with(claims(ISSUER), "exp", json!(now() - 5));
    assert_eq!(refusal(sign(&ec, &expired)).await, "token has expired");
    assert_eq!(
        refusal(sign(&rsa, &with(claims(ISSUER), "aud", json!("someone-else")))).await,
        "token audience does not match"
    );
    assert_eq!(refusal(sign(&ec, &claims("https://evil.example.com"))).await, "token issuer does not match");
    assert_eq!(refusal(sign(&stranger, &claims(ISSUER))).await, "token signature is invalid");
    assert_eq!(refusal(sign(&ec_key("unknown"), &claims(ISSUER))).await, "no key of the issuer matches the token");
    let early = with(claims(ISSUER), "nbf", json!(now() + 3600));
    assert_eq!(refusal(sign(&ec, &early)).await, "token is not valid yet");
    let claims_without_exp = {
        let mut claims = claims(ISSUER);
        claims.as_object_mut().unwrap().remove("exp");
        claims
    };
    assert_eq!(refusal(sign(&ec, &claims_without_exp)).await, "token has no exp claim");
}

#[tokio::test]
async fn a_token_cannot_pick_a_symmetric_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    let rsa = rsa_key("rsa-1");
    std::fs::write(&path, jwks(&[&rsa])).unwrap();
    let auth = OidcAuthenticator::new(&file_config(ISSUER, &path)).unwrap();
    // HS256 keyed with the public modulus: the classic algorithm-confusion attack.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".to_owned());
    let key = EncodingKey::from_secret(rsa.jwk["n"].as_str().unwrap().as_bytes());
    let token = jsonwebtoken::encode(&header, &claims(ISSUER), &key).unwrap();
    assert!(auth.authenticate(&bearer(&token)).await.unwrap_err().0.starts_with("unsupported token algorithm"));
}

#[tokio::test]
async fn username_and_groups_claims() {
    let ec = ec_key("k");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks(&[&ec])).unwrap();
    let mut config = file_config(ISSUER, &path);
    config.providers[0].username_claim = Some("email".to_owned());
    config.providers[0].groups_claim = Some("groups".to_owned());
    let auth = OidcAuthenticator::new(&config).unwrap();
    let principal = auth.authenticate(&bearer(&sign(&ec, &claims(ISSUER)))).await.unwrap();
    assert_eq!(principal.subject.as_deref(), Some("alice@example.com"));
    assert_eq!(principal.groups, ["admins", "devs"]);
    let one_group = with(claims(ISSUER), "groups", json!("ops"));
    assert_eq!(auth.authenticate(&bearer(&sign(&ec, &one_group))).await.unwrap().groups, ["ops"]);
    let bad_groups = with(claims(ISSUER), "groups", json!(7));
    assert!(auth.authenticate(&bearer(&sign(&ec, &bad_groups))).await.is_err());
    let no_email = with(claims(ISSUER), "email", Value::Null);
    assert!(auth.authenticate(&bearer(&sign(&ec, &no_email))).await.unwrap_err().0.contains("\"email\""));
}

/// Serves fixed JSON bodies by path, one request per connection; counts the requests.
struct TestIssuer {
    url: String,
    bodies: Arc<Mutex<HashMap<String, String>>>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl TestIssuer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(HashMap::new()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let discovery = json!({"issuer": url, "jwks_uri": format!("{url}/keys")});
        bodies.lock().unwrap().insert("/.well-known/openid-configuration".to_owned(), discovery.to_string());
        let (served, seen) = (bodies.clone(), requests.clone());
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let (served, seen) = (served.clone(), seen.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        let read = stream.read(&mut buffer).await.unwrap();
                        if read == 0 {
                            return;
                        }
                        request.extend_from_slice(&buffer[..read]);
                    }
                    let path = String::from_utf8_lossy(&request).split_whitespace().nth(1).unwrap().to_owned();
                    seen.lock().unwrap().push(path.clone());
                    let response = match served.lock().unwrap().get(&path) {
                        Some(body) => format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        ),
                        None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned(),
                    };
                    stream.write_all(response.as_bytes()).await.unwrap();
                });
            }
        });
        Self { url, bodies, requests }
    }

    fn serve_keys(&self, jwks: String) {
        self.bodies.lock().unwrap().insert("/keys".to_owned(), jwks);
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    fn config(&self) -> OidcAuthConfig {
        OidcAuthConfig { issuer_url: self.url.clone(), audience: "spoor".to_owned(), ..Default::default() }
    }
}

#[tokio::test]
async fn keys_are_discovered_cached_and_fetched_again_for_an_unknown_kid() {
    let issuer = TestIssuer::start().await;
    let (first, second) = (ec_key("first"), rsa_key("second"));
    issuer.serve_keys(jwks(&[&first]));
    let auth = OidcAuthenticator::with_intervals(&issuer.config(), Duration::ZERO).unwrap();

    assert!(auth.authenticate(&HeaderMap::new()).await.is_err());
    assert!(issuer.requests().is_empty(), "nothing is fetched before the first token");
    let principal = auth.authenticate(&bearer(&sign(&first, &claims(&issuer.url)))).await.unwrap();
    assert_eq!(principal.subject.as_deref(), Some("alice"));
    assert!(auth.authenticate(&bearer(&sign(&first, &claims(&issuer.url)))).await.is_ok());
    assert_eq!(issuer.requests(), ["/.well-known/openid-configuration", "/keys"]);

    // The issuer rotates in a new key: a token naming it makes the cache fetch the keys again.
    issuer.serve_keys(jwks(&[&first, &second]));
    assert!(auth.authenticate(&bearer(&sign(&second, &claims(&issuer.url)))).await.is_ok());
    assert_eq!(issuer.requests().len(), 3);

    let expired = with(claims(&issuer.url), "exp", json!(now() - 60));
    assert_eq!(auth.authenticate(&bearer(&sign(&first, &expired))).await.unwrap_err().0, "token has expired");
    let wrong_audience = with(claims(&issuer.url), "aud", json!("grafana"));
    assert!(auth.authenticate(&bearer(&sign(&second, &wrong_audience))).await.is_err());
    assert!(auth.authenticate(&bearer(&sign(&ec_key("first"), &claims(&issuer.url)))).await.is_err());
    assert_eq!(issuer.requests().len(), 3, "known key ids need no fetch");
}

#[tokio::test]
async fn unknown_key_ids_do_not_hammer_the_issuer() {
    let issuer = TestIssuer::start().await;
    let key = ec_key("known");
    issuer.serve_keys(jwks(&[&key]));
    let auth = OidcAuthenticator::new(&issuer.config()).unwrap();
    assert!(auth.authenticate(&bearer(&sign(&key, &claims(&issuer.url)))).await.is_ok());
    for _ in 0..5 {
        let forged = sign(&ec_key("made-up"), &claims(&issuer.url));
        assert!(auth.authenticate(&bearer(&forged)).await.is_err());
    }
    assert_eq!(issuer.requests().len(), 2);
}

#[tokio::test]
async fn an_unreachable_issuer_refuses_without_detail() {
    let issuer = TestIssuer::start().await;
    let auth = OidcAuthenticator::new(&issuer.config()).unwrap();
    // No /keys: discovery works, the JWKS is a 404.
    let err = auth.authenticate(&bearer(&sign(&ec_key("k"), &claims(&issuer.url)))).await.unwrap_err();
    assert_eq!(err.0, "the issuer's keys are unavailable");
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_is_refused() {
    let issuer = TestIssuer::start().await;
    let key = ec_key("k");
    issuer.serve_keys(jwks(&[&key]));
    let mut config = issuer.config();
    config.issuer_url = format!("{}/", issuer.url);
    let auth = OidcAuthenticator::new(&config).unwrap();
    let token = sign(&key, &claims(&config.issuer_url));
    assert_eq!(auth.authenticate(&bearer(&token)).await.unwrap_err().0, "the issuer's keys are unavailable");
}

#[tokio::test]
async fn several_providers_are_chosen_by_the_token_issuer() {
    let (a, b) = (ec_key("a"), ec_key("b"));
    let dir = tempfile::tempdir().unwrap();
    let (path_a, path_b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    std::fs::write(&path_a, jwks(&[&a])).unwrap();
    std::fs::write(&path_b, jwks(&[&b])).unwrap();
    let mut config = file_config("https://a.example.com", &path_a);
    config.providers.extend(file_config("https://b.example.com", &path_b).providers);
    let auth = OidcAuthenticator::new(&config).unwrap();
    assert!(auth.authenticate(&bearer(&sign(&a, &claims("https://a.example.com")))).await.is_ok());
    assert!(auth.authenticate(&bearer(&sign(&b, &claims("https://b.example.com")))).await.is_ok());
    assert!(auth.authenticate(&bearer(&sign(&a, &claims("https://b.example.com")))).await.is_err());
    let stranger = auth.authenticate(&bearer(&sign(&a, &claims("https://c.example.com")))).await.unwrap_err();
    assert_eq!(stranger.0, "no provider is configured for the token's issuer");
}

#[test]
fn validation_names_the_key() {
    let problem = |value: Value| {
        let config: OidcAuthConfig = serde_json::from_value(value).unwrap();
        config.validate().unwrap_err()
    };
    assert!(problem(json!({})).message.starts_with("no provider configured"));
    assert_eq!(problem(json!({"issuer_url": "https://idp"})).path, "audience");
    assert!(
        OidcAuthConfig { ignore_audience: true, issuer_url: "https://idp".into(), ..Default::default() }
            .validate()
            .is_ok()
    );
    assert_eq!(problem(json!({"audience": "a"})).path, "issuer_url");
    assert_eq!(problem(json!({"audience": "a", "issuer_url": "ftp://idp"})).path, "issuer_url");
    assert_eq!(problem(json!({"providers": [{"issuer_url": "https://idp"}]})).path, "providers[0].audience");
    let duplicate = problem(json!({
        "issuer_url": "https://idp", "audience": "a",
        "providers": [{"issuer_url": "https://idp", "audience": "b"}],
    }));
    assert_eq!(duplicate.path, "providers[0].issuer_url");
    assert_eq!(
        problem(json!({"attribute": "bad header", "issuer_url": "https://idp", "audience": "a"})).path,
        "attribute"
    );
}

#[test]
fn build_problems_name_the_file_key() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let problem = OidcAuthenticator::new(&file_config(ISSUER, &missing)).unwrap_err();
    assert_eq!(problem.path, "providers[0].public_keys_file");
    std::fs::write(&missing, r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#).unwrap();
    let problem = OidcAuthenticator::new(&file_config(ISSUER, &missing)).unwrap_err();
    assert_eq!(problem.message, "the JWKS has no supported signing key");
    let config = OidcAuthConfig {
        issuer_url: ISSUER.to_owned(),
        audience: "a".to_owned(),
        issuer_ca_path: Some(dir.path().join("ca.pem").display().to_string()),
        ..Default::default()
    };
    assert_eq!(OidcAuthenticator::new(&config).unwrap_err().path, "issuer_ca_path");
}
