//! A component's raw config on its way to a validated one.

use std::ops::Deref;

use serde::de::DeserializeOwned;
use serde_json::Value;
use spoor_config::{ConfigError, Document};
pub use spoor_net::ConfigProblem;

/// One component's raw YAML and the document it came from, so that every error names the
/// YAML path and line.
#[derive(Clone)]
pub struct RawConfig<'a> {
    document: &'a Document,
    path: String,
    value: &'a Value,
}

impl<'a> RawConfig<'a> {
    /// `path` is where `value` sits in the document, e.g. `exporters.otlp/backend`.
    pub fn new(document: &'a Document, path: impl Into<String>, value: &'a Value) -> Self {
        Self { document, path: path.into(), value }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn value(&self) -> &'a Value {
        self.value
    }

    pub fn document(&self) -> &'a Document {
        self.document
    }

    /// Decodes the whole config into `T`; an empty value decodes as `{}`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        self.document.decode(&self.path, self.value)
    }

    /// Decodes `T` and checks it with [`Validate`].
    pub fn decode_validated<T: DeserializeOwned + Validate>(&self) -> Result<Validated<T>, ConfigError> {
        Validated::new(self.decode()?).map_err(|problem| self.problem(problem))
    }

    /// An error about `key` inside the component (the component itself when `key` is empty).
    pub fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let path = match key {
            "" => self.path.to_owned(),
            key if key.starts_with('[') => format!("{}{key}", self.path),
            key => format!("{}.{key}", self.path),
        };
        self.document.error(&path, message)
    }

    pub fn problem(&self, problem: ConfigProblem) -> ConfigError {
        self.error(&problem.path, problem.message)
    }

    /// The raw config of `key` inside this one (a named storage backend, say).
    pub fn child(&self, key: &str, value: &'a Value) -> RawConfig<'a> {
        RawConfig { document: self.document, path: format!("{}.{key}", self.path), value }
    }
}

/// The checks a config needs beyond what decoding does.
pub trait Validate {
    fn check(&self) -> Result<(), ConfigProblem>;
}

/// A config that passed [`Validate::check`]: components take this, so nothing re-checks it.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated<T>(T);

impl<T: Validate> Validated<T> {
    pub fn new(config: T) -> Result<Self, ConfigProblem> {
        config.check()?;
        Ok(Self(config))
    }
}

impl<T> Validated<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Validated<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}
