//! Secrets in configs: a string whose `Debug` never shows it, and a comparison whose time does
//! not depend on where the inputs differ.

use std::fmt;

use serde::{Deserialize, Deserializer, de};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A token, password or htpasswd text from a config. Its `Debug` prints `[redacted]`, so a
/// config or an authenticator can derive `Debug` and be logged.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that sends or checks it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "[redacted]" })
    }
}

/// Reads a string, or a number or boolean as its text, as the collector's weakly typed decoding
/// does (`password: 1234`); a wrong type's error never echoes the value.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretVisitor)
    }
}

struct SecretVisitor;

impl de::Visitor<'_> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Secret, E> {
        Ok(Secret::new(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Secret, E> {
        Ok(Secret::new(value.to_string()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Secret, E> {
        Ok(Secret::new(value.to_string()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Secret, E> {
        Ok(Secret::new(value.to_string()))
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Secret, E> {
        Ok(Secret::new(value.to_string()))
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

/// Whether `sent` equals `expected`, in time that depends on neither value: both are hashed
/// first, so not even the length of the expected secret leaks.
pub(crate) fn secrets_match(sent: &[u8], expected: &[u8]) -> bool {
    let sent = Sha256::digest(sent);
    let expected = Sha256::digest(expected);
    sent.ct_eq(&expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Secret::default()), "\"\"");
    }

    #[test]
    fn decodes_strings_and_scalars() {
        let secret: Secret = serde_json::from_value(serde_json::json!("abc")).unwrap();
        assert_eq!(secret.expose(), "abc");
        let secret: Secret = serde_json::from_value(serde_json::json!(1234)).unwrap();
        assert_eq!(secret.expose(), "1234");
        let err = serde_json::from_value::<Secret>(serde_json::json!(["abc"])).unwrap_err();
        assert!(!err.to_string().contains("abc"), "{err}");
    }

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(secrets_match(b"abc", b"abc"));
        assert!(!secrets_match(b"abc", b"abd"));
        assert!(!secrets_match(b"abc", b"abcd"));
        assert!(!secrets_match(b"", b"abc"));
    }
}
