//! The factory of the `jaeger_query` extension: the query service over the storage backend
//! that `storage.traces` names.

use async_trait::async_trait;
use spoor_config::ConfigError;
use spoor_pipeline::StartError;
use spoor_pipeline::component::{
    BuildContext, BuildError, ConfigProblem, Extension, ExtensionFactory, Factory, RawConfig, StoreUse, Validate,
    Validated, ValidatedExtension,
};
use spoor_store::factories::trace_store;

use crate::{JaegerQueryConfig, QueryServer};

pub struct JaegerQueryFactory;

impl Factory for JaegerQueryFactory {
    fn type_name(&self) -> &'static str {
        "jaeger_query"
    }
}

impl Validate for JaegerQueryConfig {
    fn check(&self) -> Result<(), ConfigProblem> {
        self.validate()
    }
}

impl ExtensionFactory for JaegerQueryFactory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedExtension>, ConfigError> {
        Ok(Box::new(ValidQuery(config.decode_validated()?)))
    }
}

struct ValidQuery(Validated<JaegerQueryConfig>);

impl ValidatedExtension for ValidQuery {
    fn stores_used(&self) -> Vec<StoreUse> {
        vec![StoreUse { key: "storage.traces", backend: self.0.storage.traces.clone() }]
    }

    fn build(self: Box<Self>, cx: &BuildContext<'_>) -> Result<Box<dyn Extension>, BuildError> {
        let store = trace_store(cx.stores, &self.0.storage.traces)?;
        let server = QueryServer::new(self.0.into_inner(), store).with_authenticators(cx.authenticators.clone());
        Ok(Box::new(QueryExtension(server)))
    }
}

struct QueryExtension(QueryServer);

#[async_trait]
impl Extension for QueryExtension {
    async fn start(&mut self) -> Result<(), StartError> {
        self.0.start().await.map_err(|err| StartError(err.to_string()))?;
        if let Some(http) = self.0.http_addr() {
            tracing::info!("open http://{http}/ for the UI and the Jaeger API");
        }
        Ok(())
    }

    async fn shutdown(&mut self) {
        self.0.shutdown().await;
    }
}
