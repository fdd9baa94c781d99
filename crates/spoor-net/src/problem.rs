//! Config errors of a listener or component, with the key they are about.

use std::collections::BTreeMap;

use serde::Deserialize;

/// What is wrong with a config, with the key path inside the component
/// (`protocols.grpc.endpoint`), so that the caller can point at the YAML line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigProblem {
    pub path: String,
    pub message: String,
}

impl ConfigProblem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }

    /// The same problem, seen from the block that holds this one (`protocols.http`).
    pub fn within(mut self, prefix: &str) -> Self {
        self.path = match (prefix.is_empty(), self.path.is_empty()) {
            (true, _) => self.path,
            (false, true) => prefix.to_owned(),
            (false, false) => format!("{prefix}.{}", self.path),
        };
        self
    }
}

/// Keys left over after a listener's own keys and the kit's flattened ones were taken.
/// serde cannot combine `flatten` with `deny_unknown_fields`, so a listener config that flattens
/// [`crate::HttpServerSettings`] ends with `#[serde(flatten)] other: OtherKeys` and calls
/// [`OtherKeys::check`] in its validation.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OtherKeys(BTreeMap<String, serde_json::Value>);

impl OtherKeys {
    pub fn check(&self) -> Result<(), ConfigProblem> {
        match self.0.keys().next() {
            Some(key) => Err(ConfigProblem::new(key, format!("unknown field `{key}`"))),
            None => Ok(()),
        }
    }
}
