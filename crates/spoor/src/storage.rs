//! Jaeger v2's storage wiring: the `jaeger_storage` extension (named backends, each opened by
//! its engine's factory), and the `jaeger_storage_exporter` that writes a pipeline into one of
//! them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use spoor_config::{ComponentId, ConfigError};
use spoor_pipeline::component::{
    Acknowledge, BuildContext, BuildError, Delivery, ExporterFactory, Extension, ExtensionFactory, Factories, Factory,
    Provided, RawConfig, StoreUse, ValidatedExporter, ValidatedExtension,
};
use spoor_pipeline::queue::{QueueSettings, RetrySettings};
use spoor_pipeline::tenancy::{Tenancy, TenancyConfig};
use spoor_pipeline::{ExportError, Exporter, StartError, Telemetry, TraceBatch};
use spoor_store::factories::{StorageFactory, ValidatedBackend, trace_store};
use spoor_store::{StoreError, TenantStores};

// ---------------------------------------------------------------------------------------------
// jaeger_storage

/// `extensions.jaeger_storage`, as decoded before each backend goes to its engine's factory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorageConfig {
    #[serde(default)]
    backends: BTreeMap<String, serde_json::Map<String, Value>>,
    /// Jaeger's metrics storage (for SPM); accepted, not served.
    #[serde(default, rename = "metric_backends")]
    _metric_backends: Option<serde::de::IgnoredAny>,
}

/// The `jaeger_storage` extension's factory, holding the storage engines' factories.
pub struct JaegerStorageFactory {
    engines: Factories<dyn StorageFactory>,
}

impl JaegerStorageFactory {
    pub fn new(engines: Factories<dyn StorageFactory>) -> Self {
        Self { engines }
    }

    /// `backends.<name>`: exactly one engine, decoded by its factory.
    fn backend(
        &self,
        config: &RawConfig<'_>,
        name: &str,
        engines: &serde_json::Map<String, Value>,
    ) -> Result<Box<dyn ValidatedBackend>, ConfigError> {
        let key = format!("backends.{name}");
        let known = self.engines.names().join(", ");
        let mut configured = engines.iter();
        let (Some((engine, value)), None) = (configured.next(), configured.next()) else {
            let message = if engines.is_empty() { "configure one of" } else { "configure only one of" };
            return Err(config.error(&key, format!("{message}: {known}")));
        };
        let raw = config.child(&format!("{key}.{engine}"), value);
        let (factory, _) = self.engines.find(&raw, engine)?;
        factory.decode(&raw)
    }
}

impl Factory for JaegerStorageFactory {
    fn type_name(&self) -> &'static str {
        "jaeger_storage"
    }
}

impl ExtensionFactory for JaegerStorageFactory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedExtension>, ConfigError> {
        let raw: RawStorageConfig = config.decode()?;
        let mut backends = BTreeMap::new();
        for (name, engines) in &raw.backends {
            backends.insert(name.clone(), self.backend(config, name, engines)?);
        }
        Ok(Box::new(ValidStorage { backends }))
    }
}

struct ValidStorage {
    backends: BTreeMap<String, Box<dyn ValidatedBackend>>,
}

impl ValidatedExtension for ValidStorage {
    fn stores_provided(&self) -> Vec<String> {
        self.backends.keys().cloned().collect()
    }

    fn data_paths(&mut self) -> Vec<(String, &mut PathBuf)> {
        self.backends.iter_mut().filter_map(|(name, backend)| Some((name.clone(), backend.data_path()?))).collect()
    }

    fn build(self: Box<Self>, cx: &BuildContext<'_>) -> Result<Box<dyn Extension>, BuildError> {
        Ok(Box::new(StorageExtension {
            id: cx.id.to_string(),
            pending: self.backends,
            open: BTreeMap::new(),
            telemetry: cx.telemetry.clone(),
        }))
    }
}

/// Opens its backends on start and closes them on shutdown, after everything that uses them
/// has stopped.
struct StorageExtension {
    id: String,
    pending: BTreeMap<String, Box<dyn ValidatedBackend>>,
    open: BTreeMap<String, TenantStores>,
    /// Where the stores' self-metrics go.
    telemetry: Telemetry,
}

#[async_trait]
impl Extension for StorageExtension {
    async fn start(&mut self) -> Result<(), StartError> {
        for (name, backend) in std::mem::take(&mut self.pending) {
            let store = backend
                .open(&name, &self.telemetry)
                .await
                .map_err(|err| StartError(format!("backend {name}: {err}")))?;
            self.open.insert(name, store);
        }
        Ok(())
    }

    fn provide(&self, _id: &ComponentId, provided: &mut Provided) {
        for (name, store) in &self.open {
            provided.stores.insert(name.clone(), store.clone());
        }
    }

    async fn shutdown(&mut self) {
        for (name, store) in std::mem::take(&mut self.open) {
            if let Err(err) = store.close().await {
                tracing::error!(extension = %self.id, backend = %name, %err, "closing the trace storage failed");
            }
        }
    }
}

/// `--data-dir`: moves every local data directory under `dir`, whatever `path` the config
/// gives. A single one uses `dir` itself; with several, each gets `dir/<backend>` so that no
/// two share a WAL. Returns each backend moved with its new path.
pub fn relocate_data<'a>(
    paths: impl IntoIterator<Item = (String, &'a mut PathBuf)>,
    dir: &Path,
) -> Vec<(String, PathBuf)> {
    let mut paths: Vec<_> = paths.into_iter().collect();
    let shared = paths.len() > 1;
    paths
        .iter_mut()
        .map(|(name, path)| {
            **path = if shared { dir.join(name.as_str()) } else { dir.to_path_buf() };
            (name.clone(), path.clone())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// jaeger_storage_exporter

/// `exporters.jaeger_storage_exporter`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageExporterConfig {
    trace_storage: String,
    /// Jaeger's `multi_tenancy` block (as `jaeger_query` takes it; a spoor extension here):
    /// each batch is written into the store of the tenant its metadata names (a receiver with
    /// `include_metadata`, and a batch processor with the header in `metadata_keys`, carry it
    /// here). A batch without a single allowed tenant is refused for good.
    #[serde(default)]
    multi_tenancy: TenancyConfig,
    /// Accepted as Jaeger v2 does; writes go straight to the backend, which acknowledges
    /// only what it has made durable.
    #[serde(default, rename = "queue")]
    _queue: Option<serde::de::IgnoredAny>,
}

pub struct StorageExporterFactory;

impl Factory for StorageExporterFactory {
    fn type_name(&self) -> &'static str {
        "jaeger_storage_exporter"
    }
}

impl ExporterFactory for StorageExporterFactory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedExporter>, ConfigError> {
        let decoded = config.decode::<StorageExporterConfig>()?;
        let tenancy = decoded
            .multi_tenancy
            .build()
            .map_err(|(key, message)| config.error(&format!("multi_tenancy.{key}"), message))?;
        Ok(Box::new(ValidStorageExporter { trace_storage: decoded.trace_storage, tenancy }))
    }
}

struct ValidStorageExporter {
    trace_storage: String,
    tenancy: Tenancy,
}

impl ValidatedExporter for ValidStorageExporter {
    /// The store acknowledges only durable writes, so the pipeline answers once the write is
    /// done (the WAL, not the batch processor's memory, is what a kill -9 cannot take back).
    /// A failed write is not retried here: the refusal (`StoreError::Unavailable` with its
    /// delay, for a full disk or a failed fsync) goes back to the client at once as 503 with
    /// Retry-After or gRPC `UNAVAILABLE`, and the client retries. Retrying inside the
    /// acknowledgement path would hold every request, and shutdown, for minutes.
    fn delivery(&self) -> Delivery {
        Delivery {
            queue: QueueSettings { enabled: false, ..Default::default() },
            retry: RetrySettings { enabled: false, ..Default::default() },
            acknowledge: Acknowledge::AfterExport,
        }
    }

    fn stores_used(&self) -> Vec<StoreUse> {
        vec![StoreUse { key: "trace_storage", backend: self.trace_storage.clone() }]
    }

    fn build(self: Box<Self>, cx: &BuildContext<'_>) -> Result<Arc<dyn Exporter>, BuildError> {
        Ok(Arc::new(StorageExporter::new(trace_store(cx.stores, &self.trace_storage)?, self.tenancy)))
    }
}

/// Writes each batch into its tenant's store; a failed write is answered to the sender, who
/// retries it.
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
        StoreError::Unavailable { message, retry_after } => ExportError::Retryable { message, retry_after },
        other => ExportError::retryable(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use spoor_pipeline::component::Components;

    use super::*;

    fn decode(backends: &str) -> Result<Components, ConfigError> {
        let yaml = format!(
            "extensions:\n  jaeger_storage:\n    backends:\n{backends}\n\
             receivers: {{nop: }}\nexporters: {{nop: }}\n\
             service:\n  extensions: [jaeger_storage]\n  pipelines:\n    traces: {{receivers: [nop], exporters: [nop]}}\n"
        );
        let config = spoor_config::load_sources(&[("test.yaml".to_owned(), yaml)])?;
        crate::components::factories().unwrap().decode(&config)
    }

    fn relocate(backends: &str) -> Vec<(String, PathBuf)> {
        let mut components = decode(backends).unwrap();
        relocate_data(components.data_paths(), Path::new("/data"))
    }

    #[test]
    fn data_dir_overrides_a_literal_path() {
        let moved = relocate("      main: {embedded: {path: /var/lib/elsewhere}}\n      cache: {memory: }");
        assert_eq!(moved, vec![("main".to_owned(), PathBuf::from("/data"))]);
    }

    #[test]
    fn several_embedded_backends_get_a_directory_each() {
        let moved = relocate("      a: {embedded: {path: x}}\n      b: {embedded: {path: x}}");
        assert_eq!(moved, vec![("a".to_owned(), PathBuf::from("/data/a")), ("b".to_owned(), PathBuf::from("/data/b"))]);
    }

    #[test]
    fn nothing_to_move_without_an_embedded_backend() {
        assert!(relocate("      cache: {memory: }").is_empty());
    }

    #[test]
    fn a_backend_names_exactly_one_known_engine() {
        let none = decode("      main: {}").err().unwrap();
        assert_eq!(none.path, "extensions.jaeger_storage.backends.main");
        assert_eq!(none.message, "configure one of: elasticsearch, embedded, memory, opensearch");
        let two = decode("      main: {memory: , embedded: }").err().unwrap();
        assert_eq!(two.message, "configure only one of: elasticsearch, embedded, memory, opensearch");
        let unknown = decode("      main: {cassandra: }").err().unwrap();
        assert_eq!(unknown.path, "extensions.jaeger_storage.backends.main.cassandra");
        assert!(unknown.message.contains("(valid types: elasticsearch, embedded, memory, opensearch)"), "{unknown}");
    }

    #[test]
    fn an_engine_is_validated_by_its_factory() {
        let err = decode("      main: {memory: {max_traces: 0}}").err().unwrap();
        assert_eq!(err.path, "extensions.jaeger_storage.backends.main.memory");
        assert_eq!(err.message, "max_traces must be greater than zero");
    }
}
