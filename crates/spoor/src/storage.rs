//! Jaeger v2's storage wiring: the `jaeger_storage` extension (named backends), the
//! `jaeger_storage_exporter` that writes a pipeline into one of them, and the backends' start.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use spoor_pipeline::{ExportError, Exporter, TraceBatch};
use spoor_store::{EmbeddedConfig, EmbeddedStore, MemoryConfig, MemoryStore, StoreError, TraceStore};

/// `extensions.jaeger_storage`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageExtensionConfig {
    #[serde(default)]
    pub backends: BTreeMap<String, BackendConfig>,
    /// Jaeger's metrics storage (for SPM); accepted, not served.
    #[serde(default, rename = "metric_backends")]
    _metric_backends: Option<serde::de::IgnoredAny>,
}

/// One named backend: exactly one of the engines.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    #[serde(default)]
    pub memory: Option<MemoryConfig>,
    #[serde(default)]
    pub embedded: Option<EmbeddedConfig>,
}

/// The engine a backend is configured with.
pub enum Backend<'a> {
    Memory(&'a MemoryConfig),
    Embedded(&'a EmbeddedConfig),
}

impl BackendConfig {
    /// The one engine configured, or the reason the backend is invalid.
    pub fn engine(&self) -> Result<Backend<'_>, String> {
        match (&self.memory, &self.embedded) {
            (Some(memory), None) => memory.validate().map(|()| Backend::Memory(memory)).map_err(|e| e.to_string()),
            (None, Some(embedded)) => {
                embedded.validate().map(|()| Backend::Embedded(embedded)).map_err(|e| e.to_string())
            }
            (None, None) => Err("configure one of: memory, embedded".to_owned()),
            (Some(_), Some(_)) => Err("configure only one of: memory, embedded".to_owned()),
        }
    }
}

/// `exporters.jaeger_storage_exporter`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageExporterConfig {
    pub trace_storage: String,
    /// Accepted as Jaeger v2 does; writes go straight to the backend, which acknowledges
    /// only what it has made durable.
    #[serde(default, rename = "queue")]
    _queue: Option<serde::de::IgnoredAny>,
}

pub async fn open(name: &str, backend: &BackendConfig) -> Result<Arc<dyn TraceStore>, StoreError> {
    let engine = backend.engine().map_err(StoreError::InvalidConfig)?;
    Ok(match engine {
        Backend::Memory(memory) => {
            tracing::info!(backend = name, max_traces = memory.max_traces, "memory trace storage");
            Arc::new(MemoryStore::new(memory.clone())?)
        }
        Backend::Embedded(embedded) => {
            let store = EmbeddedStore::open(embedded.clone()).await?;
            tracing::info!(backend = name, path = %embedded.path.display(), "embedded trace storage opened");
            Arc::new(store)
        }
    })
}

/// Writes each batch into a store; a failed write is retried by the exporter queue.
pub struct StorageExporter {
    store: Arc<dyn TraceStore>,
}

impl StorageExporter {
    pub fn new(store: Arc<dyn TraceStore>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl Exporter for StorageExporter {
    async fn export(&self, batch: &TraceBatch) -> Result<(), ExportError> {
        self.store.write(batch).await.map_err(|err| match err {
            StoreError::InvalidQuery(message) => ExportError::Permanent(message),
            other => ExportError::retryable(other.to_string()),
        })
    }

    fn has_room(&self) -> bool {
        self.store.has_room()
    }
}
