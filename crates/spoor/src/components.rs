//! The component factories: every component type spoor knows, decoded from its raw YAML into
//! a typed, validated config. `spoor validate` stops here; `service` builds from the result.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use spoor_config::{ComponentId, ComponentKind, Config, ConfigError, RawComponent};
use spoor_jaeger::receiver::{JaegerReceiverConfig, ZipkinReceiverConfig};
use spoor_jaeger::sampling::RemoteSamplingConfig;
use spoor_net::auth::{AUTHENTICATOR_TYPES, AuthenticatorConfig};
use spoor_otlp::exporter::{OtlpGrpcExporterConfig, OtlpHttpExporterConfig};
use spoor_otlp::receiver::OtlpReceiverConfig;
use spoor_pipeline::exporters::debug::DebugConfig;
use spoor_pipeline::extensions::health_check::HealthCheckConfig;
use spoor_pipeline::processors::batch::BatchConfig;
use spoor_pipeline::processors::memory;
use spoor_pipeline::processors::memory_limiter::{MemoryLimiterConfig, MemoryLimits};
use spoor_pipeline::queue::{QueueSettings, RetrySettings};
use spoor_query::JaegerQueryConfig;

use crate::storage::{StorageExporterConfig, StorageExtensionConfig};

pub enum ReceiverConfig {
    Otlp(Box<OtlpReceiverConfig>),
    Jaeger(Box<JaegerReceiverConfig>),
    Zipkin(Box<ZipkinReceiverConfig>),
    Nop,
}

pub enum ProcessorConfig {
    Batch(BatchConfig),
    MemoryLimiter { config: MemoryLimiterConfig, limits: MemoryLimits },
}

pub enum ExporterConfig {
    Debug(DebugConfig),
    Nop,
    OtlpGrpc(Box<OtlpGrpcExporterConfig>),
    OtlpHttp(Box<OtlpHttpExporterConfig>),
    JaegerStorage(StorageExporterConfig),
}

impl ExporterConfig {
    /// `sending_queue` and `retry_on_failure`; exporters without them deliver inline.
    pub fn delivery(&self) -> (QueueSettings, RetrySettings) {
        match self {
            Self::OtlpGrpc(config) => (config.sending_queue.clone(), config.retry_on_failure.clone()),
            Self::OtlpHttp(config) => (config.sending_queue.clone(), config.retry_on_failure.clone()),
            // The store acknowledges only durable writes; a failed write is retried with the
            // collector's defaults, and the pipeline waits rather than queueing in memory.
            Self::JaegerStorage(_) => {
                (QueueSettings { enabled: false, ..Default::default() }, RetrySettings::default())
            }
            Self::Debug(_) | Self::Nop => (
                QueueSettings { enabled: false, ..Default::default() },
                RetrySettings { enabled: false, ..Default::default() },
            ),
        }
    }
}

pub enum ExtensionConfig {
    Authenticator(Box<AuthenticatorConfig>),
    HealthCheck(HealthCheckConfig),
    RemoteSampling(Box<RemoteSamplingConfig>),
    JaegerStorage(StorageExtensionConfig),
    JaegerQuery(Box<JaegerQueryConfig>),
}

/// Every configured component, decoded and validated.
pub struct Components {
    pub receivers: BTreeMap<ComponentId, ReceiverConfig>,
    pub processors: BTreeMap<ComponentId, ProcessorConfig>,
    pub exporters: BTreeMap<ComponentId, ExporterConfig>,
    pub extensions: BTreeMap<ComponentId, ExtensionConfig>,
}

const RECEIVER_TYPES: &[&str] = &["jaeger", "nop", "otlp", "zipkin"];
const PROCESSOR_TYPES: &[&str] = &["batch", "memory_limiter"];
const EXPORTER_TYPES: &[&str] =
    &["debug", "jaeger_storage_exporter", "logging", "nop", "otlp", "otlp_grpc", "otlp_http", "otlphttp"];
const EXTENSION_TYPES: &[&str] =
    &["basicauth", "bearertokenauth", "health_check", "jaeger_query", "jaeger_storage", "oidc", "remote_sampling"];

impl Components {
    pub fn decode(config: &Config) -> Result<Self, ConfigError> {
        let mut components = Self {
            receivers: BTreeMap::new(),
            processors: BTreeMap::new(),
            exporters: BTreeMap::new(),
            extensions: BTreeMap::new(),
        };
        let decoder = Decoder { config };
        for raw in decoder.of_kind(ComponentKind::Receiver) {
            components.receivers.insert(raw.id.clone(), decoder.receiver(raw)?);
        }
        for raw in decoder.of_kind(ComponentKind::Processor) {
            components.processors.insert(raw.id.clone(), decoder.processor(raw)?);
        }
        for raw in decoder.of_kind(ComponentKind::Exporter) {
            components.exporters.insert(raw.id.clone(), decoder.exporter(raw)?);
        }
        for raw in decoder.of_kind(ComponentKind::Extension) {
            components.extensions.insert(raw.id.clone(), decoder.extension(raw)?);
        }
        if let Some(raw) = decoder.of_kind(ComponentKind::Connector).next() {
            return Err(decoder.at(raw, "", "connectors are not supported yet"));
        }
        for (id, _) in config.service.pipelines.iter().filter(|(id, _)| !id.starts_with("traces")) {
            tracing::warn!(pipeline = %id, "only traces pipelines are supported; this pipeline will not run");
        }
        decoder.check_storage_references(&components)?;
        Ok(components)
    }

    /// The backends of every `jaeger_storage` extension, by name.
    pub fn storage_backends(&self) -> impl Iterator<Item = (&String, &crate::storage::BackendConfig)> {
        self.extensions
            .values()
            .flat_map(|extension| match extension {
                ExtensionConfig::JaegerStorage(storage) => Some(storage.backends.iter()),
                _ => None,
            })
            .flatten()
    }
}

struct Decoder<'a> {
    config: &'a Config,
}

impl<'a> Decoder<'a> {
    fn of_kind(&self, kind: ComponentKind) -> impl Iterator<Item = &'a RawComponent> + use<'a> {
        self.config.components.get(&kind).into_iter().flat_map(|by_id| by_id.values())
    }

    fn decode<T: DeserializeOwned>(&self, raw: &RawComponent) -> Result<T, ConfigError> {
        self.config.document.decode(&raw.path, &raw.value)
    }

    /// An error about `key` inside the component (or the component itself when empty).
    fn at(&self, raw: &RawComponent, key: &str, message: impl Into<String>) -> ConfigError {
        let path = if key.is_empty() { raw.path.clone() } else { format!("{}.{key}", raw.path) };
        self.config.document.error(&path, message)
    }

    fn unknown_type(&self, raw: &RawComponent, known: &[&str]) -> ConfigError {
        self.at(raw, "", format!("unknown type {:?} (valid types: {})", raw.id.type_name(), known.join(", ")))
    }

    fn receiver(&self, raw: &RawComponent) -> Result<ReceiverConfig, ConfigError> {
        match raw.id.type_name() {
            "otlp" => {
                let config: OtlpReceiverConfig = self.decode(raw)?;
                config.validate().map_err(|problem| self.at(raw, &problem.path, problem.message))?;
                Ok(ReceiverConfig::Otlp(Box::new(config)))
            }
            "jaeger" => {
                let config: JaegerReceiverConfig = self.decode(raw)?;
                config.validate().map_err(|problem| self.at(raw, &problem.path, problem.message))?;
                Ok(ReceiverConfig::Jaeger(Box::new(config)))
            }
            "zipkin" => {
                let config: ZipkinReceiverConfig = self.decode(raw)?;
                config.validate().map_err(|problem| self.at(raw, &problem.path, problem.message))?;
                Ok(ReceiverConfig::Zipkin(Box::new(config)))
            }
            "nop" => Ok(ReceiverConfig::Nop),
            _ => Err(self.unknown_type(raw, RECEIVER_TYPES)),
        }
    }

    fn processor(&self, raw: &RawComponent) -> Result<ProcessorConfig, ConfigError> {
        match raw.id.type_name() {
            "batch" => {
                let config: BatchConfig = self.decode(raw)?;
                config.validate().map_err(|(key, message)| self.at(raw, key, message))?;
                Ok(ProcessorConfig::Batch(config))
            }
            "memory_limiter" => {
                let config: MemoryLimiterConfig = self.decode(raw)?;
                let limits =
                    config.limits(memory::total_memory_limit()).map_err(|(key, message)| self.at(raw, key, message))?;
                Ok(ProcessorConfig::MemoryLimiter { config, limits })
            }
            _ => Err(self.unknown_type(raw, PROCESSOR_TYPES)),
        }
    }

    fn exporter(&self, raw: &RawComponent) -> Result<ExporterConfig, ConfigError> {
        match raw.id.type_name() {
            "debug" => self.debug_exporter(raw),
            "logging" => {
                tracing::warn!(exporter = %raw.id, "the logging exporter is deprecated, use the debug exporter instead");
                self.debug_exporter(raw)
            }
            "nop" => {
                let _: spoor_pipeline::exporters::nop::NopConfig = self.decode(raw)?;
                Ok(ExporterConfig::Nop)
            }
            "otlp" | "otlp_grpc" => {
                let config: OtlpGrpcExporterConfig = self.decode(raw)?;
                config.validate().map_err(|err| self.at(raw, err.key(), err.message()))?;
                Ok(ExporterConfig::OtlpGrpc(Box::new(config)))
            }
            "otlphttp" | "otlp_http" => {
                let config: OtlpHttpExporterConfig = self.decode(raw)?;
                config.validate().map_err(|err| self.at(raw, err.key(), err.message()))?;
                Ok(ExporterConfig::OtlpHttp(Box::new(config)))
            }
            "jaeger_storage_exporter" => {
                let config: StorageExporterConfig = self.decode(raw)?;
                config.validate().map_err(|(key, message)| self.at(raw, &key, message))?;
                Ok(ExporterConfig::JaegerStorage(config))
            }
            _ => Err(self.unknown_type(raw, EXPORTER_TYPES)),
        }
    }

    /// The query service and the storage exporters must name a configured backend.
    fn check_storage_references(&self, components: &Components) -> Result<(), ConfigError> {
        let defined = |name: &str| components.storage_backends().any(|(backend, _)| backend == name);
        let mut references = Vec::new();
        for raw in self.of_kind(ComponentKind::Exporter) {
            if let Some(ExporterConfig::JaegerStorage(exporter)) = components.exporters.get(&raw.id) {
                references.push((raw, "trace_storage", exporter.trace_storage.as_str()));
            }
        }
        for raw in self.of_kind(ComponentKind::Extension) {
            if let Some(ExtensionConfig::JaegerQuery(query)) = components.extensions.get(&raw.id) {
                references.push((raw, "storage.traces", query.storage.traces.as_str()));
            }
        }
        for (raw, key, name) in references {
            if !defined(name) {
                return Err(self.at(
                    raw,
                    key,
                    format!("storage backend {name:?} is not defined in jaeger_storage.backends"),
                ));
            }
        }
        Ok(())
    }

    fn debug_exporter(&self, raw: &RawComponent) -> Result<ExporterConfig, ConfigError> {
        let config: DebugConfig = self.decode(raw)?;
        config.verbosity().map_err(|message| self.at(raw, "verbosity", message))?;
        Ok(ExporterConfig::Debug(config))
    }

    fn extension(&self, raw: &RawComponent) -> Result<ExtensionConfig, ConfigError> {
        match raw.id.type_name() {
            "health_check" => {
                let config: HealthCheckConfig = self.decode(raw)?;
                config.validate().map_err(|problem| self.at(raw, &problem.path, problem.message))?;
                Ok(ExtensionConfig::HealthCheck(config))
            }
            type_name if AUTHENTICATOR_TYPES.contains(&type_name) => {
                let config = AuthenticatorConfig::decode(type_name, &raw.value)
                    .map_err(|problem| self.at(raw, &problem.path, problem.message))?
                    .ok_or_else(|| self.unknown_type(raw, EXTENSION_TYPES))?;
                config.validate().map_err(|problem| self.at(raw, &problem.path, problem.message))?;
                Ok(ExtensionConfig::Authenticator(Box::new(config)))
            }
            "remote_sampling" => {
                let config: RemoteSamplingConfig = self.decode(raw)?;
                config.validate().map_err(|problem| self.at(raw, &problem.path, problem.message))?;
                Ok(ExtensionConfig::RemoteSampling(Box::new(config)))
            }
            "jaeger_storage" => {
                let config: StorageExtensionConfig = self.decode(raw)?;
                for (name, backend) in &config.backends {
                    backend.engine().map_err(|message| self.at(raw, &format!("backends.{name}"), message))?;
                }
                Ok(ExtensionConfig::JaegerStorage(config))
            }
            "jaeger_query" => {
                let config: JaegerQueryConfig = self.decode(raw)?;
                config.validate().map_err(|problem| self.at(raw, &problem.path, problem.message))?;
                Ok(ExtensionConfig::JaegerQuery(Box::new(config)))
            }
            _ => Err(self.unknown_type(raw, EXTENSION_TYPES)),
        }
    }
}
