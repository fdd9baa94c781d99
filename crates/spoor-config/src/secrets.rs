//! Which config values are secrets, and how they are kept out of printed configs and error
//! messages.
//!
//! The collector marks such fields with the `configopaque.String` type, which prints as
//! `[REDACTED]`. spoor's component configs are decoded by their own crates, so the rule lives
//! here instead, by key name: [`SECRET_KEYS`] is the one list. A component whose config has a
//! new secret (an authenticator's credential, a backend's API key) adds its key there.
//!
//! A value is judged after `${env:}`/`${file:}` expansion, so a reference inside a secret key
//! is as secret as a literal.

use serde_json::{Map, Value};

/// What a secret is printed as, as the collector prints `configopaque.String`.
pub const REDACTED: &str = "[REDACTED]";

/// How a key marks a value secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKey {
    /// The value of this key, in any mapping: `password: x`.
    Key(&'static str),
    /// The value of `key` in a mapping that is the value of `parent`: `htpasswd: {inline: x}`.
    Nested { parent: &'static str, key: &'static str },
    /// Every value of a mapping at this key: `headers: {Authorization: x}`.
    MapValues(&'static str),
}

/// Every secret key of every component, in one place. Keys follow the collector's and Jaeger's
/// names; a scalar under one is redacted, as is each scalar of a sequence under one, and a
/// mapping under a [`SecretKey::Key`] is looked into rather than hidden whole (Jaeger's
/// `bearer_token: {file_path: ...}` holds a path, which is not secret).
pub const SECRET_KEYS: &[SecretKey] = &[
    // bearertokenauth's `token` and `tokens`, and Elasticsearch/OpenSearch bearer tokens.
    SecretKey::Key("token"),
    SecretKey::Key("tokens"),
    SecretKey::Key("bearer_token"),
    // basicauth's `client_auth.password`, Kafka SASL and Elasticsearch basic auth.
    SecretKey::Key("password"),
    // oauth2client.
    SecretKey::Key("client_secret"),
    // The Elasticsearch exporter's `api_key`.
    SecretKey::Key("api_key"),
    // configtls: inline PEMs are `configopaque.String` in the collector (`key_file` and the
    // other `*_file` keys are paths and stay visible).
    SecretKey::Key("key_pem"),
    SecretKey::Key("cert_pem"),
    SecretKey::Key("ca_pem"),
    // basicauth's server side: an inline htpasswd file holds password hashes.
    SecretKey::Nested { parent: "htpasswd", key: "inline" },
    // confighttp/configgrpc client `headers` are `map[string]configopaque.String`: all of
    // them, since a tenant or API-key header is as much a credential as `Authorization`.
    SecretKey::MapValues("headers"),
];

/// How a value is treated, from the key it sits under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Secrecy {
    Public,
    /// Scalars are secret; mappings are looked into.
    Secret,
    /// Every value of this mapping is secret.
    SecretValues,
}

fn secrecy(parent: Option<&str>, key: &str) -> Secrecy {
    let mut secrecy = Secrecy::Public;
    for rule in SECRET_KEYS {
        match *rule {
            SecretKey::Key(name) if name == key => return Secrecy::Secret,
            SecretKey::Nested { parent: outer, key: name } if name == key && parent == Some(outer) => {
                return Secrecy::Secret;
            }
            SecretKey::MapValues(name) if name == key => secrecy = Secrecy::SecretValues,
            _ => {}
        }
    }
    secrecy
}

/// A copy of `value` with every secret replaced by [`REDACTED`].
pub fn redact(value: &Value) -> Value {
    let mut copy = value.clone();
    visit(&mut copy, None, Secrecy::Public, &mut |secret| *secret = Value::String(REDACTED.to_owned()));
    copy
}

/// The text of every non-empty secret in `value`, to scrub from messages.
pub(crate) fn secrets_in(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut copy = value.clone();
    visit(&mut copy, None, Secrecy::Public, &mut |secret| {
        let text = match secret {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        if !text.is_empty() {
            found.push(text);
        }
    });
    found
}

/// Replaces each secret in `message`, as it is and as `{:?}` quotes it (serde's "invalid type:
/// string \"...\"" does), with [`REDACTED`]. Longer secrets go first, so one that contains
/// another is not left half shown.
pub(crate) fn scrub(message: &str, secrets: &[String]) -> String {
    let mut secrets: Vec<&String> = secrets.iter().collect();
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    let mut message = message.to_owned();
    for secret in secrets {
        let quoted = format!("{secret:?}");
        let inner = &quoted[1..quoted.len() - 1];
        message = message.replace(secret.as_str(), REDACTED);
        if inner != secret {
            message = message.replace(inner, REDACTED);
        }
    }
    message
}

fn visit(value: &mut Value, key: Option<&str>, secrecy: Secrecy, on_secret: &mut dyn FnMut(&mut Value)) {
    match value {
        Value::Null => {}
        Value::Object(entries) => visit_mapping(entries, key, secrecy, on_secret),
        Value::Array(items) => {
            for item in items {
                visit(item, key, secrecy, on_secret);
            }
        }
        scalar => {
            if secrecy != Secrecy::Public {
                on_secret(scalar);
            }
        }
    }
}

fn visit_mapping(
    entries: &mut Map<String, Value>,
    parent: Option<&str>,
    secrecy: Secrecy,
    on_secret: &mut dyn FnMut(&mut Value),
) {
    for (key, child) in entries.iter_mut() {
        let child_secrecy = match secrecy {
            // Every header is secret, whatever its name.
            Secrecy::SecretValues => Secrecy::Secret,
            Secrecy::Public | Secrecy::Secret => self::secrecy(parent, key),
        };
        visit(child, Some(key), child_secrecy, on_secret);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn redacts_secret_keys_anywhere() {
        let config = json!({
            "extensions": {
                "bearertokenauth": {"token": "t0k", "filename": "/run/token"},
                "basicauth/server": {"htpasswd": {"inline": "u:hash", "file": "/etc/htpasswd"}},
                "basicauth/client": {"client_auth": {"username": "u", "password": 1234}},
                "oauth2client": {"client_id": "id", "client_secret": "cs"},
            },
            "exporters": {
                "otlphttp": {
                    "endpoint": "https://x",
                    "headers": {"Authorization": "Bearer b", "X-Scope-OrgID": "tenant", "n": 7},
                    "tls": {"key_file": "/k.pem", "key_pem": "-----BEGIN", "insecure": false},
                },
            },
            "receivers": {"x": {"token": null, "tokens": ["a", "b"], "bearer_token": {"file_path": "/p"}}},
        });
        let redacted = redact(&config);
        let r = REDACTED;
        assert_eq!(redacted["extensions"]["bearertokenauth"], json!({"token": r, "filename": "/run/token"}));
        assert_eq!(
            redacted["extensions"]["basicauth/server"]["htpasswd"],
            json!({"inline": r, "file": "/etc/htpasswd"})
        );
        assert_eq!(redacted["extensions"]["basicauth/client"]["client_auth"], json!({"username": "u", "password": r}));
        assert_eq!(redacted["extensions"]["oauth2client"], json!({"client_id": "id", "client_secret": r}));
        let exporter = &redacted["exporters"]["otlphttp"];
        assert_eq!(exporter["headers"], json!({"Authorization": r, "X-Scope-OrgID": r, "n": r}));
        assert_eq!(exporter["tls"], json!({"key_file": "/k.pem", "key_pem": r, "insecure": false}));
        assert_eq!(exporter["endpoint"], "https://x");
        let receiver = &redacted["receivers"]["x"];
        assert_eq!(receiver, &json!({"token": null, "tokens": [r, r], "bearer_token": {"file_path": "/p"}}));
    }

    #[test]
    fn inline_alone_is_not_secret() {
        let config = json!({"processors": {"x": {"inline": "visible"}}});
        assert_eq!(redact(&config), config);
    }

    #[test]
    fn scrubs_secrets_as_written_and_as_quoted() {
        let secrets = vec!["pa\"ss".to_owned(), "7".to_owned(), "s3cr3t".to_owned(), "s3cr3t-long".to_owned()];
        let message = r#"invalid type: string "pa\"ss", expected u64; s3cr3t-long; `7`"#;
        assert_eq!(
            scrub(message, &secrets),
            "invalid type: string \"[REDACTED]\", expected u64; [REDACTED]; `[REDACTED]`"
        );
    }

    #[test]
    fn collects_the_text_of_every_secret() {
        let config = json!({"a": {"password": 42, "headers": {"h": "v", "e": ""}}, "token": "t"});
        let mut found = secrets_in(&config);
        found.sort();
        assert_eq!(found, ["42", "t", "v"]);
    }
}
