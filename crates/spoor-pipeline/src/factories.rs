//! The factories of this crate's components: the `nop` receiver, the `batch` and
//! `memory_limiter` processors, the `debug` (alias `logging`) and `nop` exporters, and the
//! `health_check` extension.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use spoor_config::ConfigError;
use spoor_net::Server;
use spoor_net::auth::{Authenticator, AuthenticatorConfig, Authenticators};

use crate::component::{
    Acknowledge, Alias, BuildContext, BuildError, ConfigProblem, Delivery, ExporterFactory, Extension,
    ExtensionFactory, Factory, Processor, ProcessorFactory, RawConfig, ReceiverFactory, Validate, Validated,
    ValidatedExporter, ValidatedExtension, ValidatedProcessor, ValidatedReceiver,
};
use crate::exporters::debug::{DebugConfig, DebugExporter};
use crate::exporters::nop::{NopConfig, NopExporter};
use crate::extensions::health_check::{self, HealthCheckConfig, Readiness};
use crate::processors::batch::{BatchConfig, BatchProcessor};
use crate::processors::memory;
use crate::processors::memory_limiter::{MemoryLimiter, MemoryLimiterConfig, MemoryLimits};
use crate::receiver::NopReceiver;
use crate::{Exporter, Receiver, StartError, TracesConsumer};

// ---------------------------------------------------------------------------------------------
// nop receiver

pub struct NopReceiverFactory;

impl Factory for NopReceiverFactory {
    fn type_name(&self) -> &'static str {
        "nop"
    }
}

impl ReceiverFactory for NopReceiverFactory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedReceiver>, ConfigError> {
        let NopConfig {} = config.decode()?;
        Ok(Box::new(ValidNopReceiver))
    }
}

struct ValidNopReceiver;

impl ValidatedReceiver for ValidNopReceiver {
    fn build(self: Box<Self>, _cx: &BuildContext<'_>) -> Result<Box<dyn Receiver>, BuildError> {
        Ok(Box::new(NopReceiver))
    }
}

// ---------------------------------------------------------------------------------------------
// batch

pub struct BatchFactory;

impl Factory for BatchFactory {
    fn type_name(&self) -> &'static str {
        "batch"
    }
}

impl Validate for BatchConfig {
    fn check(&self) -> Result<(), ConfigProblem> {
        self.validate().map_err(|(key, message)| ConfigProblem::new(key, message))
    }
}

impl ProcessorFactory for BatchFactory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedProcessor>, ConfigError> {
        Ok(Box::new(config.decode_validated::<BatchConfig>()?))
    }
}

impl ValidatedProcessor for Validated<BatchConfig> {
    fn build(
        &self,
        cx: &BuildContext<'_>,
        next: Arc<dyn TracesConsumer>,
        acknowledge: Acknowledge,
    ) -> Result<Arc<dyn Processor>, BuildError> {
        let name = cx.id.to_string();
        let metrics = cx.telemetry.processor(&name);
        let send_size = cx.telemetry.batch_send_size(&name);
        let config = BatchConfig::clone(self);
        Ok(Arc::new(BatchProcessor::new(name, config, next, metrics, send_size, acknowledge)))
    }
}

#[async_trait]
impl Processor for BatchProcessor {
    async fn shutdown(&self) -> u64 {
        BatchProcessor::shutdown(self).await
    }
}

// ---------------------------------------------------------------------------------------------
// memory_limiter

pub struct MemoryLimiterFactory;

impl Factory for MemoryLimiterFactory {
    fn type_name(&self) -> &'static str {
        "memory_limiter"
    }
}

impl ProcessorFactory for MemoryLimiterFactory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedProcessor>, ConfigError> {
        let limiter: MemoryLimiterConfig = config.decode()?;
        let limits =
            limiter.limits(memory::total_memory_limit()).map_err(|(key, message)| config.error(key, message))?;
        Ok(Box::new(ValidMemoryLimiter { limits, check_interval: limiter.check_interval }))
    }
}

/// The limits resolved against the machine once, when the config is checked.
struct ValidMemoryLimiter {
    limits: MemoryLimits,
    check_interval: Duration,
}

impl ValidatedProcessor for ValidMemoryLimiter {
    fn build(
        &self,
        cx: &BuildContext<'_>,
        next: Arc<dyn TracesConsumer>,
        _acknowledge: Acknowledge,
    ) -> Result<Arc<dyn Processor>, BuildError> {
        let metrics = cx.telemetry.processor(&cx.id.to_string());
        Ok(Arc::new(MemoryLimiter::new(self.limits, self.check_interval, next, metrics)))
    }
}

impl Processor for MemoryLimiter {}

// ---------------------------------------------------------------------------------------------
// debug

pub struct DebugFactory;

impl Factory for DebugFactory {
    fn type_name(&self) -> &'static str {
        "debug"
    }

    fn aliases(&self) -> &'static [Alias] {
        const ALIASES: &[Alias] =
            &[Alias::deprecated("logging", "the logging exporter is deprecated, use the debug exporter instead")];
        ALIASES
    }
}

impl ExporterFactory for DebugFactory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedExporter>, ConfigError> {
        let debug: DebugConfig = config.decode()?;
        debug.verbosity().map_err(|message| config.error("verbosity", message))?;
        Ok(Box::new(ValidDebug(debug)))
    }
}

struct ValidDebug(DebugConfig);

impl ValidatedExporter for ValidDebug {
    fn delivery(&self) -> Delivery {
        Delivery::inline()
    }

    fn build(self: Box<Self>, cx: &BuildContext<'_>) -> Result<Arc<dyn Exporter>, BuildError> {
        Ok(Arc::new(DebugExporter::new(cx.id.to_string(), &self.0).map_err(BuildError)?))
    }
}

// ---------------------------------------------------------------------------------------------
// nop exporter

pub struct NopExporterFactory;

impl Factory for NopExporterFactory {
    fn type_name(&self) -> &'static str {
        "nop"
    }
}

impl ExporterFactory for NopExporterFactory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedExporter>, ConfigError> {
        let nop: NopConfig = config.decode()?;
        Ok(Box::new(ValidNopExporter(nop)))
    }
}

struct ValidNopExporter(NopConfig);

impl ValidatedExporter for ValidNopExporter {
    fn delivery(&self) -> Delivery {
        Delivery::inline()
    }

    fn build(self: Box<Self>, _cx: &BuildContext<'_>) -> Result<Arc<dyn Exporter>, BuildError> {
        Ok(Arc::new(NopExporter::new(&self.0)))
    }
}

// ---------------------------------------------------------------------------------------------
// health_check

pub struct HealthCheckFactory;

impl Factory for HealthCheckFactory {
    fn type_name(&self) -> &'static str {
        "health_check"
    }
}

impl ExtensionFactory for HealthCheckFactory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedExtension>, ConfigError> {
        let health: HealthCheckConfig = config.decode()?;
        health.validate().map_err(|problem| config.error(&problem.path, problem.message))?;
        Ok(Box::new(ValidHealthCheck(health)))
    }
}

struct ValidHealthCheck(HealthCheckConfig);

impl ValidatedExtension for ValidHealthCheck {
    fn build(self: Box<Self>, cx: &BuildContext<'_>) -> Result<Box<dyn Extension>, BuildError> {
        Ok(Box::new(HealthCheckExtension {
            id: cx.id.to_string(),
            config: Some(self.0),
            readiness: cx.readiness.clone(),
            authenticators: cx.authenticators.clone(),
            server: None,
        }))
    }
}

struct HealthCheckExtension {
    id: String,
    config: Option<HealthCheckConfig>,
    readiness: Readiness,
    authenticators: Authenticators,
    server: Option<Server>,
}

#[async_trait]
impl Extension for HealthCheckExtension {
    async fn start(&mut self) -> Result<(), StartError> {
        let Some(config) = self.config.take() else {
            return Err(StartError(format!("{}: already started", self.id)));
        };
        let server = health_check::start(config, self.readiness.clone(), &self.authenticators)
            .await
            .map_err(|err| StartError(err.to_string()))?;
        tracing::info!(extension = %self.id, endpoint = %server.local_addr(), "health check listening");
        self.server = Some(server);
        Ok(())
    }

    async fn shutdown(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// authenticators: bearertokenauth, basicauth and oidc (spoor-net holds them)

/// One authenticator extension type; the service builds its authenticator before anything that
/// listens or sends, and the extension itself then has nothing left to run.
pub struct AuthenticatorFactory(pub &'static str);

impl Factory for AuthenticatorFactory {
    fn type_name(&self) -> &'static str {
        self.0
    }
}

impl ExtensionFactory for AuthenticatorFactory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedExtension>, ConfigError> {
        let value = if config.value().is_null() { &serde_json::Value::Null } else { config.value() };
        let decoded = AuthenticatorConfig::decode(self.0, value)
            .map_err(|problem| config.error(&problem.path, problem.message))?
            .ok_or_else(|| config.error("", format!("{} is not an authenticator type", self.0)))?;
        decoded.validate().map_err(|problem| config.error(&problem.path, problem.message))?;
        Ok(Box::new(ValidAuthenticator(decoded)))
    }
}

struct ValidAuthenticator(AuthenticatorConfig);

impl ValidatedExtension for ValidAuthenticator {
    fn authenticator(&self) -> Option<Result<Authenticator, spoor_net::ConfigProblem>> {
        Some(self.0.build())
    }

    fn build(self: Box<Self>, _cx: &BuildContext<'_>) -> Result<Box<dyn Extension>, BuildError> {
        Ok(Box::new(BuiltAuthenticator))
    }
}

struct BuiltAuthenticator;

#[async_trait]
impl Extension for BuiltAuthenticator {
    async fn start(&mut self) -> Result<(), StartError> {
        Ok(())
    }

    async fn shutdown(&mut self) {}
}
