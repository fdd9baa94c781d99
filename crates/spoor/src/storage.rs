//! Jaeger v2's storage wiring: the `jaeger_storage` extension (named backends), the
//! `jaeger_storage_exporter` that writes a pipeline into one of them, and the backends' start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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

/// `--data-dir`: moves every embedded backend's data under `dir`, whatever `path` the config
/// gives. A single embedded backend uses `dir` itself; with several, each gets `dir/<backend>`
/// so that no two share a WAL. Returns each backend moved with its new path.
pub fn relocate_embedded<'a>(
    extensions: impl IntoIterator<Item = &'a mut StorageExtensionConfig>,
    dir: &Path,
) -> Vec<(String, PathBuf)> {
    let mut embedded: Vec<(&String, &mut EmbeddedConfig)> = extensions
        .into_iter()
        .flat_map(|extension| extension.backends.iter_mut())
        .filter_map(|(name, backend)| backend.embedded.as_mut().map(|config| (name, config)))
        .collect();
    let shared = embedded.len() > 1;
    embedded
        .iter_mut()
        .map(|(name, config)| {
            config.path = if shared { dir.join(name.as_str()) } else { dir.to_path_buf() };
            (name.to_string(), config.path.clone())
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn extension(backends: &[(&str, BackendConfig)]) -> StorageExtensionConfig {
        StorageExtensionConfig {
            backends: backends.iter().map(|(name, backend)| (name.to_string(), backend.clone())).collect(),
            ..Default::default()
        }
    }

    fn embedded(path: &str) -> BackendConfig {
        BackendConfig { embedded: Some(EmbeddedConfig::with_path(path)), memory: None }
    }

    fn memory() -> BackendConfig {
        BackendConfig { memory: Some(MemoryConfig::default()), embedded: None }
    }

    #[test]
    fn data_dir_overrides_a_literal_path() {
        let mut storage = extension(&[("main", embedded("/var/lib/elsewhere")), ("cache", memory())]);
        let moved = relocate_embedded([&mut storage], Path::new("/data"));
        assert_eq!(moved, vec![("main".to_owned(), PathBuf::from("/data"))]);
        assert_eq!(storage.backends["main"].embedded.as_ref().unwrap().path, Path::new("/data"));
        assert!(storage.backends["cache"].embedded.is_none());
    }

    #[test]
    fn several_embedded_backends_get_a_directory_each() {
        let mut first = extension(&[("a", embedded("x"))]);
        let mut second = extension(&[("b", embedded("x"))]);
        let moved = relocate_embedded([&mut first, &mut second], Path::new("/data"));
        assert_eq!(moved, vec![("a".to_owned(), PathBuf::from("/data/a")), ("b".to_owned(), PathBuf::from("/data/b"))]);
    }

    #[test]
    fn nothing_to_move_without_an_embedded_backend() {
        let mut storage = extension(&[("cache", memory())]);
        assert!(relocate_embedded([&mut storage], Path::new("/data")).is_empty());
    }
}
