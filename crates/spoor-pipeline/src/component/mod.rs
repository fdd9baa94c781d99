//! Components that register themselves, as the collector's `component.Factory`: a factory per
//! type name decodes a component's raw YAML into a validated config once, and that config
//! builds the component. The binary holds one [`Registry`] of factories; nothing else names a
//! component type.
//!
//! A factory lives next to its component, in the component's crate. Its config comes back
//! opaque (`Box<dyn ValidatedExporter>` and the like), so the service builds, starts and stops
//! every component the same way, and asks the config what it needs to know (an exporter's
//! [`Delivery`], the storage backends a component uses) instead of matching on type names.

mod config;
mod context;
mod registry;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use spoor_config::ConfigError;

pub use self::config::{ConfigProblem, RawConfig, Validate, Validated};
pub use self::context::{BuildContext, BuildError, Named, Provided};
pub use self::registry::{Components, Factories, Registry, RegistryError};
pub use crate::processors::batch::Acknowledge;
use crate::queue::{QueueSettings, RetrySettings};
use crate::{Exporter, Receiver, StartError, TracesConsumer};

/// What every factory declares: the type name it builds, and the other names it accepts.
pub trait Factory: Send + Sync + 'static {
    /// The name in `type[/name]`, e.g. `otlp`.
    fn type_name(&self) -> &'static str;

    /// Other names users have in their files (`otlp_grpc` for `otlp`).
    fn aliases(&self) -> &'static [Alias] {
        &[]
    }
}

/// Another name of a component type; a deprecated one warns each time it is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alias {
    pub name: &'static str,
    /// The warning to log, e.g. "the logging exporter is deprecated, use the debug exporter instead".
    pub deprecation: Option<&'static str>,
}

impl Alias {
    pub const fn new(name: &'static str) -> Self {
        Self { name, deprecation: None }
    }

    pub const fn deprecated(name: &'static str, warning: &'static str) -> Self {
        Self { name, deprecation: Some(warning) }
    }
}

/// A storage backend named in a component's config (`trace_storage: main`); the service
/// checks that some extension provides it. `key` is relative to the component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUse {
    pub key: &'static str,
    pub backend: String,
}

// ---------------------------------------------------------------------------------------------
// Receivers

pub trait ReceiverFactory: Factory {
    /// Decodes and validates the component's config, once; errors name the YAML key.
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedReceiver>, ConfigError>;
}

pub trait ValidatedReceiver: Send + Sync {
    fn build(self: Box<Self>, cx: &BuildContext<'_>) -> Result<Box<dyn Receiver>, BuildError>;
}

// ---------------------------------------------------------------------------------------------
// Processors

pub trait ProcessorFactory: Factory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedProcessor>, ConfigError>;
}

/// Builds once per pipeline the processor is in, as the collector does.
pub trait ValidatedProcessor: Send + Sync {
    /// `acknowledge` is when the pipeline answers a request: a processor that holds data
    /// (batch) waits for `next` to take it in [`Acknowledge::AfterExport`] mode.
    fn build(
        &self,
        cx: &BuildContext<'_>,
        next: Arc<dyn TracesConsumer>,
        acknowledge: Acknowledge,
    ) -> Result<Arc<dyn Processor>, BuildError>;
}

/// A pipeline stage between the receivers and the exporters.
#[async_trait]
pub trait Processor: TracesConsumer {
    /// Passes on what it holds, before the exporters drain; returns the spans it could not.
    async fn shutdown(&self) -> u64 {
        0
    }
}

// ---------------------------------------------------------------------------------------------
// Exporters

pub trait ExporterFactory: Factory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedExporter>, ConfigError>;
}

pub trait ValidatedExporter: Send + Sync {
    /// How the exporter delivers: its queue, its retries, and when the pipeline may answer.
    fn delivery(&self) -> Delivery;

    /// The storage backends it writes to.
    fn stores_used(&self) -> Vec<StoreUse> {
        Vec::new()
    }

    fn build(self: Box<Self>, cx: &BuildContext<'_>) -> Result<Arc<dyn Exporter>, BuildError>;
}

/// An exporter's `sending_queue` and `retry_on_failure`, and when a pipeline that ends in it
/// acknowledges a request.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    pub queue: QueueSettings,
    pub retry: RetrySettings,
    pub acknowledge: Acknowledge,
}

impl Delivery {
    /// Each batch is exported inline, once: for exporters that cannot fail for a reason worth
    /// retrying (debug, nop).
    pub fn inline() -> Self {
        Self {
            queue: QueueSettings { enabled: false, ..Default::default() },
            retry: RetrySettings { enabled: false, ..Default::default() },
            acknowledge: Acknowledge::OnReceipt,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Extensions

pub trait ExtensionFactory: Factory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedExtension>, ConfigError>;
}

pub trait ValidatedExtension: Send + Sync {
    /// The storage backends it reads.
    fn stores_used(&self) -> Vec<StoreUse> {
        Vec::new()
    }

    /// The storage backends it opens, by name; extensions that provide stores start first.
    fn stores_provided(&self) -> Vec<String> {
        Vec::new()
    }

    /// Each local data directory it writes, by name, for `--data-dir` to move.
    fn data_paths(&mut self) -> Vec<(String, &mut PathBuf)> {
        Vec::new()
    }

    /// An authenticator extension's authenticator, built before any component that listens or
    /// sends, so that their `auth.authenticator` can name it.
    fn authenticator(&self) -> Option<Result<spoor_net::auth::Authenticator, spoor_net::ConfigProblem>> {
        None
    }

    fn build(self: Box<Self>, cx: &BuildContext<'_>) -> Result<Box<dyn Extension>, BuildError>;
}

#[async_trait]
pub trait Extension: Send + Sync {
    /// Binds, opens and loads what it needs; an error stops the process from starting.
    async fn start(&mut self) -> Result<(), StartError>;

    /// What the started extension offers the components built after it.
    fn provide(&self, _id: &spoor_config::ComponentId, _provided: &mut Provided) {}

    async fn shutdown(&mut self);
}
