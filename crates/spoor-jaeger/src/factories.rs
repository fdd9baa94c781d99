//! The factories of the `jaeger` and `zipkin` receivers and the `remote_sampling` extension.
//! A `jaeger` receiver serves the strategies of the first `remote_sampling` extension that
//! runs.

use async_trait::async_trait;
use spoor_config::{ComponentId, ConfigError};
use spoor_pipeline::component::{
    BuildContext, BuildError, ConfigProblem, Extension, ExtensionFactory, Factory, Provided, RawConfig,
    ReceiverFactory, Validate, Validated, ValidatedExtension, ValidatedReceiver,
};
use spoor_pipeline::{Receiver, StartError};

use crate::receiver::{JaegerReceiver, JaegerReceiverConfig, ZipkinReceiver, ZipkinReceiverConfig};
use crate::sampling::{RemoteSamplingConfig, RemoteSamplingExtension, StrategyProvider};

// ---------------------------------------------------------------------------------------------
// jaeger receiver

pub struct JaegerReceiverFactory;

impl Factory for JaegerReceiverFactory {
    fn type_name(&self) -> &'static str {
        crate::receiver::JAEGER_TYPE_NAME
    }
}

impl Validate for JaegerReceiverConfig {
    fn check(&self) -> Result<(), ConfigProblem> {
        self.validate()
    }
}

impl ReceiverFactory for JaegerReceiverFactory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedReceiver>, ConfigError> {
        Ok(Box::new(ValidJaeger(config.decode_validated()?)))
    }
}

struct ValidJaeger(Validated<JaegerReceiverConfig>);

impl ValidatedReceiver for ValidJaeger {
    fn build(self: Box<Self>, cx: &BuildContext<'_>) -> Result<Box<dyn Receiver>, BuildError> {
        let mut receiver = JaegerReceiver::new(cx.id.to_string(), self.0, cx.telemetry.clone())
            .with_authenticators(cx.authenticators.clone());
        if let Some((_, strategies)) = cx.extensions.all::<StrategyProvider>().next() {
            receiver.set_sampling(strategies);
        }
        Ok(Box::new(receiver))
    }
}

// ---------------------------------------------------------------------------------------------
// zipkin receiver

pub struct ZipkinReceiverFactory;

impl Factory for ZipkinReceiverFactory {
    fn type_name(&self) -> &'static str {
        crate::receiver::ZIPKIN_TYPE_NAME
    }
}

impl Validate for ZipkinReceiverConfig {
    fn check(&self) -> Result<(), ConfigProblem> {
        self.validate()
    }
}

impl ReceiverFactory for ZipkinReceiverFactory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedReceiver>, ConfigError> {
        Ok(Box::new(ValidZipkin(config.decode_validated()?)))
    }
}

struct ValidZipkin(Validated<ZipkinReceiverConfig>);

impl ValidatedReceiver for ValidZipkin {
    fn build(self: Box<Self>, cx: &BuildContext<'_>) -> Result<Box<dyn Receiver>, BuildError> {
        let receiver = ZipkinReceiver::new(cx.id.to_string(), self.0, cx.telemetry.clone());
        Ok(Box::new(receiver.with_authenticators(cx.authenticators.clone())))
    }
}

// ---------------------------------------------------------------------------------------------
// remote_sampling extension

pub struct RemoteSamplingFactory;

impl Factory for RemoteSamplingFactory {
    fn type_name(&self) -> &'static str {
        crate::sampling::TYPE_NAME
    }
}

impl Validate for RemoteSamplingConfig {
    fn check(&self) -> Result<(), ConfigProblem> {
        self.validate()
    }
}

impl ExtensionFactory for RemoteSamplingFactory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedExtension>, ConfigError> {
        Ok(Box::new(ValidRemoteSampling(config.decode_validated()?)))
    }
}

struct ValidRemoteSampling(Validated<RemoteSamplingConfig>);

impl ValidatedExtension for ValidRemoteSampling {
    fn build(self: Box<Self>, cx: &BuildContext<'_>) -> Result<Box<dyn Extension>, BuildError> {
        let extension = RemoteSamplingExtension::new(cx.id.to_string(), self.0)
            .map_err(BuildError)?
            .with_authenticators(cx.authenticators.clone());
        Ok(Box::new(Sampling(extension)))
    }
}

struct Sampling(RemoteSamplingExtension);

#[async_trait]
impl Extension for Sampling {
    async fn start(&mut self) -> Result<(), StartError> {
        self.0.start().await.map_err(StartError)
    }

    /// The strategies, for the `jaeger` receivers' `/api/sampling`.
    fn provide(&self, id: &ComponentId, provided: &mut Provided) {
        provided.extensions.insert(id.to_string(), self.0.provider());
    }

    async fn shutdown(&mut self) {
        self.0.shutdown().await;
    }
}
