//! The factories of the `otlp` receiver and the `otlp` (alias `otlp_grpc`) and `otlphttp`
//! (alias `otlp_http`) exporters.

use std::sync::Arc;

use spoor_config::ConfigError;
use spoor_pipeline::component::{
    Alias, BuildContext, BuildError, ConfigProblem, Delivery, ExporterFactory, Factory, RawConfig, ReceiverFactory,
    Validate, Validated, ValidatedExporter, ValidatedReceiver,
};
use spoor_pipeline::{Exporter, Receiver};

use crate::exporter::{
    ExporterBuildError, OtlpGrpcExporter, OtlpGrpcExporterConfig, OtlpHttpExporter, OtlpHttpExporterConfig,
};
use crate::receiver::{OtlpReceiver, OtlpReceiverConfig};

// ---------------------------------------------------------------------------------------------
// otlp receiver

pub struct OtlpReceiverFactory;

impl Factory for OtlpReceiverFactory {
    fn type_name(&self) -> &'static str {
        crate::receiver::TYPE_NAME
    }
}

impl Validate for OtlpReceiverConfig {
    fn check(&self) -> Result<(), ConfigProblem> {
        self.validate()
    }
}

impl ReceiverFactory for OtlpReceiverFactory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedReceiver>, ConfigError> {
        Ok(Box::new(ValidOtlpReceiver(config.decode_validated()?)))
    }
}

struct ValidOtlpReceiver(Validated<OtlpReceiverConfig>);

impl ValidatedReceiver for ValidOtlpReceiver {
    fn build(self: Box<Self>, cx: &BuildContext<'_>) -> Result<Box<dyn Receiver>, BuildError> {
        let receiver = OtlpReceiver::new(cx.id.to_string(), self.0, cx.telemetry.clone());
        Ok(Box::new(receiver.with_authenticators(cx.authenticators.clone())))
    }
}

// ---------------------------------------------------------------------------------------------
// otlp and otlphttp exporters

fn problem(err: ExporterBuildError) -> ConfigProblem {
    ConfigProblem::new(err.key(), err.message())
}

pub struct OtlpGrpcExporterFactory;

impl Factory for OtlpGrpcExporterFactory {
    fn type_name(&self) -> &'static str {
        "otlp"
    }

    fn aliases(&self) -> &'static [Alias] {
        const ALIASES: &[Alias] = &[Alias::new("otlp_grpc")];
        ALIASES
    }
}

impl Validate for OtlpGrpcExporterConfig {
    fn check(&self) -> Result<(), ConfigProblem> {
        self.validate().map_err(problem)
    }
}

impl ExporterFactory for OtlpGrpcExporterFactory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedExporter>, ConfigError> {
        Ok(Box::new(ValidOtlpGrpc(config.decode_validated()?)))
    }
}

struct ValidOtlpGrpc(Validated<OtlpGrpcExporterConfig>);

impl ValidatedExporter for ValidOtlpGrpc {
    fn delivery(&self) -> Delivery {
        Delivery { queue: self.0.sending_queue.clone(), retry: self.0.retry_on_failure.clone(), ..Default::default() }
    }

    fn build(self: Box<Self>, cx: &BuildContext<'_>) -> Result<Arc<dyn Exporter>, BuildError> {
        let exporter = OtlpGrpcExporter::new(cx.id.to_string(), &self.0)
            .and_then(|exporter| exporter.with_authenticators(cx.authenticators.clone()))
            .map_err(BuildError::new)?;
        Ok(Arc::new(exporter))
    }
}

pub struct OtlpHttpExporterFactory;

impl Factory for OtlpHttpExporterFactory {
    fn type_name(&self) -> &'static str {
        "otlphttp"
    }

    fn aliases(&self) -> &'static [Alias] {
        const ALIASES: &[Alias] = &[Alias::new("otlp_http")];
        ALIASES
    }
}

impl Validate for OtlpHttpExporterConfig {
    fn check(&self) -> Result<(), ConfigProblem> {
        self.validate().map_err(problem)
    }
}

impl ExporterFactory for OtlpHttpExporterFactory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedExporter>, ConfigError> {
        Ok(Box::new(ValidOtlpHttp(config.decode_validated()?)))
    }
}

struct ValidOtlpHttp(Validated<OtlpHttpExporterConfig>);

impl ValidatedExporter for ValidOtlpHttp {
    fn delivery(&self) -> Delivery {
        Delivery { queue: self.0.sending_queue.clone(), retry: self.0.retry_on_failure.clone(), ..Default::default() }
    }

    fn build(self: Box<Self>, cx: &BuildContext<'_>) -> Result<Arc<dyn Exporter>, BuildError> {
        let exporter = OtlpHttpExporter::new(cx.id.to_string(), &self.0)
            .and_then(|exporter| exporter.with_authenticators(cx.authenticators.clone()))
            .map_err(BuildError::new)?;
        Ok(Arc::new(exporter))
    }
}
