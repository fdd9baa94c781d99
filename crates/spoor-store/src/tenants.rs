//! [`TenantStores`]: one store per tenant, as Jaeger v2's memory store keeps a map per tenant
//! (`internal/storage/v2/memory`). The routing lives here, once: a backend only knows how to
//! open a store, and [`TenantStores`] opens one per tenant on its first use.
//!
//! The default tenant (the empty name, used when multi-tenancy is off) is the backend's store
//! as it always was: for `embedded`, `<path>` itself, so existing data stays readable. Another
//! tenant's embedded store lives in `<path>/tenants/<tenant>/`; a memory tenant gets its own
//! [`MemoryStore`] with the backend's `max_traces`.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::Mutex;

use crate::{EmbeddedConfig, EmbeddedStore, MemoryConfig, MemoryStore, StoreError, StoreMetricFamilies, TraceStore};

/// The directory, under an embedded backend's `path`, that holds a directory per tenant.
pub const TENANTS_DIR: &str = "tenants";

/// Opens the store of a tenant that is not the default one.
type Opener = dyn Fn(String) -> BoxFuture<'static, Result<Arc<dyn TraceStore>, StoreError>> + Send + Sync;

/// A backend's stores, one per tenant. Cheap to clone: clones share the stores.
#[derive(Clone)]
pub struct TenantStores {
    inner: Arc<Inner>,
}

struct Inner {
    default: Arc<dyn TraceStore>,
    /// `None`: the backend keeps no tenants apart, and asking for one is an error.
    opener: Option<Box<Opener>>,
    tenants: Mutex<HashMap<String, Arc<dyn TraceStore>>>,
    /// The open tenants' stores, for [`TenantStores::has_room`], which cannot await the lock.
    open: std::sync::RwLock<Vec<Arc<dyn TraceStore>>>,
}

impl From<Arc<dyn TraceStore>> for TenantStores {
    /// One store for the default tenant and no other.
    fn from(store: Arc<dyn TraceStore>) -> Self {
        Self::with_opener(store, None)
    }
}

impl<S: TraceStore> From<Arc<S>> for TenantStores {
    /// One store for the default tenant and no other.
    fn from(store: Arc<S>) -> Self {
        Self::with_opener(store, None)
    }
}

impl TenantStores {
    fn with_opener(default: Arc<dyn TraceStore>, opener: Option<Box<Opener>>) -> Self {
        let inner = Inner { default, opener, tenants: Mutex::default(), open: Default::default() };
        Self { inner: Arc::new(inner) }
    }

    /// Memory stores, each with `config`'s `max_traces`.
    pub fn memory(config: MemoryConfig) -> Result<Self, StoreError> {
        let default: Arc<dyn TraceStore> = Arc::new(MemoryStore::new(config.clone())?);
        let opener = move |_tenant: String| {
            let config = config.clone();
            Box::pin(async move { Ok(Arc::new(MemoryStore::new(config)?) as Arc<dyn TraceStore>) })
                as BoxFuture<'static, _>
        };
        Ok(Self::with_opener(default, Some(Box::new(opener))))
    }

    /// Embedded stores: the default tenant in `config.path`, another in
    /// `config.path/tenants/<tenant>`, opened on first use with the same settings.
    pub async fn embedded(config: EmbeddedConfig) -> Result<Self, StoreError> {
        Self::embedded_with_metrics(config, StoreMetricFamilies::default(), "").await
    }

    /// Embedded stores as [`embedded`](Self::embedded), each reporting to `metrics` labelled
    /// by `backend` and its tenant (empty for the default one).
    pub async fn embedded_with_metrics(
        config: EmbeddedConfig,
        metrics: StoreMetricFamilies,
        backend: &str,
    ) -> Result<Self, StoreError> {
        let default = EmbeddedStore::open_with_metrics(config.clone(), metrics.store(backend, "")).await?;
        let default: Arc<dyn TraceStore> = Arc::new(default);
        let backend = backend.to_owned();
        let opener = move |tenant: String| {
            let mut config = config.clone();
            let (metrics, backend) = (metrics.clone(), backend.clone());
            Box::pin(async move {
                check_directory_name(&tenant)?;
                config.path = config.path.join(TENANTS_DIR).join(&tenant);
                let store = EmbeddedStore::open_with_metrics(config, metrics.store(&backend, &tenant)).await?;
                tracing::info!(tenant, "embedded trace storage opened for a tenant");
                Ok(Arc::new(store) as Arc<dyn TraceStore>)
            }) as BoxFuture<'static, _>
        };
        Ok(Self::with_opener(default, Some(Box::new(opener))))
    }

    /// The default tenant's store: the backend's own.
    pub fn default_store(&self) -> Arc<dyn TraceStore> {
        self.inner.default.clone()
    }

    /// The store of `tenant` (`None`: the default tenant), opened on first use.
    pub async fn store(&self, tenant: Option<&str>) -> Result<Arc<dyn TraceStore>, StoreError> {
        let Some(tenant) = tenant else { return Ok(self.default_store()) };
        let mut tenants = self.inner.tenants.lock().await;
        if let Some(store) = tenants.get(tenant) {
            return Ok(store.clone());
        }
        let Some(opener) = &self.inner.opener else {
            return Err(StoreError::InvalidConfig("this storage backend keeps no tenants apart".to_owned()));
        };
        let store = opener(tenant.to_owned()).await?;
        tenants.insert(tenant.to_owned(), store.clone());
        self.inner.open.write().unwrap_or_else(|e| e.into_inner()).push(store.clone());
        Ok(store)
    }

    /// Whether every open store has room (see [`TraceStore::has_room`]).
    pub fn has_room(&self) -> bool {
        self.inner.default.has_room()
            && self.inner.open.read().unwrap_or_else(|e| e.into_inner()).iter().all(|store| store.has_room())
    }

    /// Closes every open store; the first error is returned after all were asked.
    pub async fn close(&self) -> Result<(), StoreError> {
        let mut result = self.inner.default.close().await;
        let open = self.inner.open.read().unwrap_or_else(|e| e.into_inner()).clone();
        for store in open {
            let closed = store.close().await;
            if result.is_ok() {
                result = closed;
            }
        }
        result
    }
}

/// A tenant name becomes a directory: it must be one plain path component.
fn check_directory_name(tenant: &str) -> Result<(), StoreError> {
    let plain = !tenant.is_empty()
        && tenant != "."
        && tenant != ".."
        && tenant.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain {
        Ok(())
    } else {
        Err(StoreError::InvalidQuery(format!(
            "tenant {tenant:?} cannot name a directory: use letters, digits, '-', '_' and '.'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TraceQuery;
    use spoor_pipeline::TraceBatch;

    fn batch_of(trace_id: [u8; 16], service: &str) -> TraceBatch {
        crate::synth::one_span(trace_id, service, "op")
    }

    async fn services(stores: &TenantStores, tenant: Option<&str>) -> Vec<String> {
        stores.store(tenant).await.unwrap().services().await.unwrap()
    }

    async fn keeps_tenants_apart(stores: TenantStores) {
        let trace_id = [7u8; 16];
        stores.store(Some("acme")).await.unwrap().write(&batch_of(trace_id, "acme-svc")).await.unwrap();
        stores.store(Some("globex")).await.unwrap().write(&batch_of(trace_id, "globex-svc")).await.unwrap();
        assert_eq!(services(&stores, Some("acme")).await, ["acme-svc"]);
        assert_eq!(services(&stores, Some("globex")).await, ["globex-svc"]);
        assert!(services(&stores, None).await.is_empty());
        let acme = stores.store(Some("acme")).await.unwrap().get_trace(trace_id, None).await.unwrap().unwrap();
        assert_eq!(acme.resource_spans.len(), 1);
        let query = TraceQuery { service_name: "globex-svc".into(), ..Default::default() };
        assert!(stores.store(Some("acme")).await.unwrap().find_traces(&query).await.unwrap().is_empty());
        assert!(stores.store(Some("initech")).await.unwrap().get_trace(trace_id, None).await.unwrap().is_none());
        assert!(stores.has_room());
        stores.close().await.unwrap();
    }

    #[tokio::test]
    async fn memory_keeps_tenants_apart() {
        keeps_tenants_apart(TenantStores::memory(MemoryConfig::default()).unwrap()).await;
    }

    #[tokio::test]
    async fn embedded_keeps_tenants_apart_in_a_directory_each() {
        let dir = tempfile::tempdir().unwrap();
        let config = EmbeddedConfig::with_path(dir.path());
        keeps_tenants_apart(TenantStores::embedded(config.clone()).await.unwrap()).await;
        assert!(dir.path().join("tenants/acme/wal").is_dir());
        assert!(dir.path().join("tenants/globex/wal").is_dir());
        // Reopened, each tenant reads its own data back; the default tenant stays at `path`.
        let stores = TenantStores::embedded(config).await.unwrap();
        assert_eq!(services(&stores, Some("acme")).await, ["acme-svc"]);
        assert!(services(&stores, None).await.is_empty());
        stores.close().await.unwrap();
    }

    #[tokio::test]
    async fn embedded_refuses_a_tenant_that_is_no_plain_directory_name() {
        let dir = tempfile::tempdir().unwrap();
        let stores = TenantStores::embedded(EmbeddedConfig::with_path(dir.path())).await.unwrap();
        for tenant in ["..", "a/b", "", "x\\y"] {
            assert!(stores.store(Some(tenant)).await.is_err(), "{tenant:?}");
        }
        stores.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_single_store_has_no_other_tenant() {
        let store: Arc<dyn TraceStore> = Arc::new(MemoryStore::new(MemoryConfig::default()).unwrap());
        let stores = TenantStores::from(store);
        assert!(stores.store(None).await.is_ok());
        assert!(stores.store(Some("acme")).await.is_err());
    }
}
