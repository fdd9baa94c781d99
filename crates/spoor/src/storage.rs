//! Jaeger v2's storage wiring: the `jaeger_storage` extension (named backends), the
//! `jaeger_storage_exporter` that writes a pipeline into one of them, and the backends' start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::Deserialize;
use spoor_pipeline::tenancy::{Tenancy, TenancyConfig};
use spoor_pipeline::{ExportError, Exporter, TraceBatch};
use spoor_store::{EmbeddedConfig, MemoryConfig, StoreError, TenantStores};

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
    /// Jaeger's `multi_tenancy` block (as `jaeger_query` takes it): each batch is written into
    /// the store of the tenant its metadata names (a receiver with `include_metadata`, and a
    /// batch processor with the header in `metadata_keys`, carry it here). A batch without a
    /// single allowed tenant is refused for good.
    #[serde(default)]
    pub multi_tenancy: TenancyConfig,
    /// Accepted as Jaeger v2 does; writes go straight to the backend, which acknowledges
    /// only what it has made durable.
    #[serde(default, rename = "queue")]
    _queue: Option<serde::de::IgnoredAny>,
}

impl StorageExporterConfig {
    /// `multi_tenancy`'s checks; the error is `(key, message)` within the exporter.
    pub fn validate(&self) -> Result<Tenancy, (String, String)> {
        self.multi_tenancy.build().map_err(|(key, message)| (format!("multi_tenancy.{key}"), message))
    }
}

/// Opens a backend: its store for the default tenant, and the others' as they come.
pub async fn open(name: &str, backend: &BackendConfig) -> Result<TenantStores, StoreError> {
    let engine = backend.engine().map_err(StoreError::InvalidConfig)?;
    Ok(match engine {
        Backend::Memory(memory) => {
            tracing::info!(backend = name, max_traces = memory.max_traces, "memory trace storage");
            TenantStores::memory(memory.clone())?
        }
        Backend::Embedded(embedded) => {
            let stores = TenantStores::embedded(embedded.clone()).await?;
            tracing::info!(backend = name, path = %embedded.path.display(), "embedded trace storage opened");
            stores
        }
    })
}

/// Writes each batch into its tenant's store; a failed write is retried by the exporter queue.
pub struct StorageExporter {
    stores: TenantStores,
    tenancy: Tenancy,
}

impl StorageExporter {
    pub fn new(stores: TenantStores, tenancy: Tenancy) -> Self {
        Self { stores, tenancy }
    }
}

#[async_trait]
impl Exporter for StorageExporter {
    /// A batch without a valid tenant is a permanent error, which the queue counts in
    /// `otelcol_exporter_send_failed_spans`.
    async fn export(&self, batch: &TraceBatch) -> Result<(), ExportError> {
        let values: Vec<&str> = match self.tenancy.header() {
            Some(header) => batch.metadata().get(header).iter().map(String::as_str).collect(),
            None => Vec::new(),
        };
        let tenant = self.tenancy.tenant_of(&values).map_err(|err| ExportError::Permanent(err.to_string()))?;
        let store = self.stores.store(tenant).await.map_err(store_error)?;
        store.write(batch).await.map_err(store_error)
    }

    fn has_room(&self) -> bool {
        self.stores.has_room()
    }
}

fn store_error(err: StoreError) -> ExportError {
    match err {
        StoreError::InvalidQuery(message) => ExportError::Permanent(message),
        other => ExportError::retryable(other.to_string()),
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

    fn exporter_config(json: serde_json::Value) -> StorageExporterConfig {
        serde_json::from_value(json).unwrap()
    }

    #[tokio::test]
    async fn exporter_writes_each_tenant_into_its_store_and_refuses_a_batch_without_one() {
        let config = exporter_config(serde_json::json!({
            "trace_storage": "main", "multi_tenancy": {"enabled": true, "tenants": ["acme"]}
        }));
        let stores = TenantStores::memory(MemoryConfig::default()).unwrap();
        let exporter = StorageExporter::new(stores.clone(), config.validate().unwrap());
        let span = spoor_pipeline::otlp::Span { trace_id: vec![1; 16], span_id: vec![2; 8], ..Default::default() };
        let resource = spoor_pipeline::otlp::ResourceSpans {
            scope_spans: vec![spoor_pipeline::otlp::ScopeSpans { spans: vec![span], ..Default::default() }],
            ..Default::default()
        };
        let batch = TraceBatch::new(vec![resource]);
        let tenant = |value| spoor_pipeline::ClientMetadata::from_pairs([("x-tenant", value)]);
        exporter.export(&batch.clone().with_metadata(tenant("acme"))).await.unwrap();
        assert!(stores.store(Some("acme")).await.unwrap().get_trace([1; 16], None).await.unwrap().is_some());
        assert!(stores.default_store().get_trace([1; 16], None).await.unwrap().is_none());
        let refusals = [
            (batch.clone(), "missing tenant header"),
            (batch.clone().with_metadata(tenant("initech")), "unknown tenant"),
        ];
        for (batch, words) in refusals {
            assert_eq!(exporter.export(&batch).await, Err(ExportError::Permanent(words.to_owned())));
        }
    }

    #[test]
    fn exporter_multi_tenancy_is_checked_with_its_path() {
        let config = exporter_config(serde_json::json!({
            "trace_storage": "main", "multi_tenancy": {"enabled": true, "header": "not a header"}
        }));
        assert_eq!(config.validate().unwrap_err().0, "multi_tenancy.header");
        assert!(
            serde_json::from_value::<StorageExporterConfig>(serde_json::json!({
                "trace_storage": "main", "multi_tenancy": {"enable": true}
            }))
            .is_err()
        );
    }
}
