//! Storage backends that register themselves: a factory per engine (`memory`, `embedded`)
//! decodes a backend's config (`jaeger_storage.backends.<name>.<engine>`) and opens the store.
//! Components find the opened stores by backend name with [`trace_store`].

use std::path::PathBuf;

use async_trait::async_trait;
use spoor_config::ConfigError;
use spoor_pipeline::Telemetry;
use spoor_pipeline::component::{BuildError, ConfigProblem, Factory, Named, RawConfig, Validate, Validated};

use crate::{EmbeddedConfig, MemoryConfig, StoreError, StoreMetricFamilies, TenantStores};

pub trait StorageFactory: Factory {
    /// Decodes and validates the engine's settings, once; errors name the YAML key.
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedBackend>, ConfigError>;
}

#[async_trait]
pub trait ValidatedBackend: Send + Sync {
    /// Where the backend keeps its data on local disk, for `--data-dir` to move.
    fn data_path(&mut self) -> Option<&mut PathBuf> {
        None
    }

    /// Opens the store; `name` is the backend's name, for logs and the metrics' `backend`
    /// label, and `telemetry` the registry its self-metrics join.
    async fn open(self: Box<Self>, name: &str, telemetry: &Telemetry) -> Result<TenantStores, StoreError>;
}

/// The opened store called `name`, from the build context's `stores`.
pub fn trace_store(stores: &Named, name: &str) -> Result<TenantStores, BuildError> {
    stores.get::<TenantStores>(name).ok_or_else(|| {
        BuildError(format!(
            "storage backend {name:?} is not open: add its jaeger_storage extension to service.extensions"
        ))
    })
}

fn problem(err: StoreError) -> ConfigProblem {
    let message = match err {
        StoreError::InvalidConfig(message) => message,
        other => other.to_string(),
    };
    ConfigProblem::new("", message)
}

// ---------------------------------------------------------------------------------------------
// memory

pub struct MemoryFactory;

impl Factory for MemoryFactory {
    fn type_name(&self) -> &'static str {
        "memory"
    }
}

impl Validate for MemoryConfig {
    fn check(&self) -> Result<(), ConfigProblem> {
        self.validate().map_err(problem)
    }
}

impl StorageFactory for MemoryFactory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedBackend>, ConfigError> {
        Ok(Box::new(ValidMemory(config.decode_validated()?)))
    }
}

struct ValidMemory(Validated<MemoryConfig>);

#[async_trait]
impl ValidatedBackend for ValidMemory {
    async fn open(self: Box<Self>, name: &str, _telemetry: &Telemetry) -> Result<TenantStores, StoreError> {
        tracing::info!(backend = name, max_traces = self.0.max_traces, "memory trace storage");
        TenantStores::memory(self.0.into_inner())
    }
}

// ---------------------------------------------------------------------------------------------
// embedded

pub struct EmbeddedFactory;

impl Factory for EmbeddedFactory {
    fn type_name(&self) -> &'static str {
        "embedded"
    }
}

impl Validate for EmbeddedConfig {
    fn check(&self) -> Result<(), ConfigProblem> {
        self.validate().map_err(problem)
    }
}

impl StorageFactory for EmbeddedFactory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedBackend>, ConfigError> {
        Ok(Box::new(ValidEmbedded(config.decode_validated::<EmbeddedConfig>()?.into_inner())))
    }
}

/// Holds the config itself, not a [`Validated`] one, so `--data-dir` can move its path.
struct ValidEmbedded(EmbeddedConfig);

#[async_trait]
impl ValidatedBackend for ValidEmbedded {
    fn data_path(&mut self) -> Option<&mut PathBuf> {
        Some(&mut self.0.path)
    }

    async fn open(self: Box<Self>, name: &str, telemetry: &Telemetry) -> Result<TenantStores, StoreError> {
        let path = self.0.path.clone();
        let metrics = StoreMetricFamilies::registered(telemetry);
        let stores = TenantStores::embedded_with_metrics(self.0, metrics, name).await?;
        tracing::info!(backend = name, path = %path.display(), "embedded trace storage opened");
        Ok(stores)
    }
}
