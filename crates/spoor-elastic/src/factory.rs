//! The storage engine `elasticsearch` (alias `opensearch`), registered in the binary's list of
//! engines in one line.

use async_trait::async_trait;
use spoor_config::ConfigError;
use spoor_pipeline::Telemetry;
use spoor_pipeline::component::{Alias, ConfigProblem, Factory, RawConfig, Validate, Validated};
use spoor_store::factories::{StorageFactory, ValidatedBackend};
use spoor_store::{StoreError, TenantStores};

use crate::config::ElasticConfig;
use crate::store::ElasticStore;

pub struct ElasticFactory;

impl Factory for ElasticFactory {
    fn type_name(&self) -> &'static str {
        "elasticsearch"
    }

    fn aliases(&self) -> &'static [Alias] {
        const ALIASES: &[Alias] = &[Alias::new("opensearch")];
        ALIASES
    }
}

impl Validate for ElasticConfig {
    fn check(&self) -> Result<(), ConfigProblem> {
        self.validate().map_err(|message| ConfigProblem::new("", message))
    }
}

impl StorageFactory for ElasticFactory {
    fn decode(&self, config: &RawConfig<'_>) -> Result<Box<dyn ValidatedBackend>, ConfigError> {
        Ok(Box::new(ValidElastic(config.decode_validated()?)))
    }
}

struct ValidElastic(Validated<ElasticConfig>);

#[async_trait]
impl ValidatedBackend for ValidElastic {
    /// One store for the default tenant: the documents carry no tenant, so tenants are not kept
    /// apart (a request for one is refused rather than mixed in).
    async fn open(self: Box<Self>, name: &str, _telemetry: &Telemetry) -> Result<TenantStores, StoreError> {
        let store = ElasticStore::open(self.0.into_inner()).await?;
        tracing::info!(backend = name, flavor = %store.flavor(), "elasticsearch trace storage opened");
        Ok(TenantStores::from(std::sync::Arc::new(store)))
    }
}
